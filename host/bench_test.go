package host_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/engine/wazero"
	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
)

// BenchmarkActivation measures what every activation pays before the guest
// does any work, on each engine × guest language (the faults test guest),
// named ENGINE/LANGUAGE/START ("wasmtime" and "wat" only in builds with
// cgo). START "image" is what activations do: instantiate the module baked
// with its init image. START "uploaded" is the module as uploaded, which
// runs its _initialize, if it has one (a Go guest's runtime start; Rust's
// and the hand-written guest's are light): what every activation paid
// before init images, and what one pays for a module that has none.
func BenchmarkActivation(b *testing.B) {
	for _, name := range testEngines {
		for _, lang := range guestLangs {
			b.Run(name+"/"+lang, func(b *testing.B) {
				ctx := context.Background()
				eng, err := benchEngine(ctx, name)
				if err != nil {
					b.Fatal(err)
				}
				defer eng.Close(ctx)
				wasm := testmodules.Bytes(b, (&combo{lang: lang}).guest("faults"))
				exec, err := executor.New(&executor.Config{Store: openStore(b, "sqlite"), Engine: eng, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				insp, err := exec.Modules().Inspect(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				prep, err := exec.Modules().Load(ctx, insp.Digest)
				if err != nil {
					b.Fatal(err)
				}
				if prep.Image == nil {
					b.Fatalf("the %s guest has no init image: %s", lang, prep.NoImage)
				}
				uploaded, err := eng.Compile(ctx, wasm)
				if err != nil {
					b.Fatal(err)
				}
				defer uploaded.Close(ctx)
				b.Run("image", func(b *testing.B) { benchInstantiate(b, prep.Module) })
				b.Run("uploaded", func(b *testing.B) { benchInstantiate(b, uploaded) })
			})
		}
	}
}

func benchInstantiate(b *testing.B, mod engine.Module) {
	ctx := context.Background()
	initialize := false
	for _, f := range mod.Exports() {
		initialize = initialize || f.Name == abi.ExportInitialize
	}
	cfg := &engine.InstanceConfig{Stdout: io.Discard, Stderr: io.Discard}
	b.ReportAllocs()
	for b.Loop() {
		inst, err := mod.Instantiate(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if initialize {
			if _, err := inst.Call(ctx, abi.ExportInitialize); err != nil {
				b.Fatal(err)
			}
		}
		inst.Close(ctx)
	}
}

// BenchmarkCheckpoint measures one checkpoint host call from a step's body
// (the faults guest's checkpoints workflow), per engine × guest language:
// one run makes b.N calls, so the run's own cost (about one activation) is
// spread over them.
func BenchmarkCheckpoint(b *testing.B) {
	for _, name := range testEngines {
		for _, lang := range guestLangs {
			b.Run(name+"/"+lang, func(b *testing.B) {
				c := &combo{lang: lang, engine: name, st: openStore(b, "sqlite")}
				bn := setup(b, c.st, setupOpts{engine: name, quiet: true}, c.guest("faults"))
				b.ResetTimer()
				id := bn.start(b, "faults", "checkpoints", map[string]any{"n": b.N})
				benchWait(b, bn, id)
			})
		}
	}
}

func benchEngine(ctx context.Context, name string) (engine.Engine, error) {
	if name == "wasmtime" {
		return newWasmtime(ctx)
	}
	return wazero.New(ctx, &wazero.Config{
		MemoryLimitPages: host.Limits{}.WithDefaults().MemoryPages,
		HostModule:       abi.ImportModule,
		HostFuncs:        executor.HostFuncs(),
	})
}

// BenchmarkRun measures one whole run of a one-line workflow, from StartRun
// to completed, through the scheduler, the executor and the store: a claim,
// an activation, and the completion write.
func BenchmarkRun(b *testing.B) {
	benchStores(b, func(b *testing.B, st store.Store) {
		bn := benchHost(b, st, "faults")
		b.ResetTimer()
		for b.Loop() {
			id := bn.start(b, "faults", "ok", nil)
			benchWait(b, bn, id)
		}
	})
}

// BenchmarkSteps measures steps per second through the executor: runs of
// 500 trivial steps of the bench example, each step journaled (one store
// round trip per completed step), one run at a time.
func BenchmarkSteps(b *testing.B) {
	const perRun = 500
	benchStores(b, func(b *testing.B, st store.Store) {
		bn := benchHost(b, st, "bench")
		steps := 0
		b.ResetTimer()
		for b.Loop() {
			id := bn.start(b, "bench", "steps", map[string]any{"steps": perRun})
			benchWait(b, bn, id)
			steps += perRun
		}
		b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
	})
}

func benchStores(b *testing.B, f func(b *testing.B, st store.Store)) {
	for _, kind := range storeKinds {
		b.Run(kind, func(b *testing.B) { f(b, openStore(b, kind)) })
	}
}

func benchHost(b *testing.B, st store.Store, modules ...string) *bundle {
	return setup(b, st, setupOpts{workers: 4, poll: 10 * time.Millisecond, quiet: true}, modules...)
}

func benchWait(b *testing.B, bn *bundle, id string) {
	run, err := flowtest.Wait(context.Background(), bn.host, id, time.Minute, store.StatusCompleted, store.StatusFailed)
	if err != nil {
		b.Fatal(err)
	}
	if run.Status != store.StatusCompleted {
		b.Fatal(fmt.Errorf("run %s %s: %s", id, run.Status, run.Error))
	}
}

// BenchmarkResume measures the activation that resumes a run after a
// durable sleep, once the run has completed K trivial steps (the bench
// example with sleep_ms): from the claim that takes the woken run to the
// commit of its completion, named STORE/ENGINE/K=N/START. START "warm" is
// the default (the Go guest parks, and the run wakes in the same process,
// in the same instance); "snapshot" keeps no warm instances, so the
// activation reads and restores the run's snapshot, as another process
// would; "replay" turns snapshots off, so the activation replays all K
// steps. ns/op is the whole run, K steps included; resume-ns is the
// resuming activation alone.
//
// Before it times anything, each case resumes a few short runs at once
// (resumeWarmups): the first use of a statement on a pooled connection
// costs Postgres one more round trip to prepare it, once in the life of
// the connection, and a case of three runs would otherwise time mostly
// that.
func BenchmarkResume(b *testing.B) {
	for _, kind := range storeKinds {
		for _, eng := range testEngines {
			for _, k := range []int{10, 1000, 20000} {
				for _, start := range []string{"warm", "snapshot", "replay"} {
					b.Run(fmt.Sprintf("%s/%s/K=%d/%s", kind, eng, k, start), func(b *testing.B) {
						ts := &resumeTimer{}
						bn := setup(b, openStore(b, kind), setupOpts{engine: eng, workers: 4, poll: 10 * time.Millisecond, quiet: true,
							noSnapshots: start == "replay", noWarm: start == "snapshot", wrap: func(s store.Store) store.Store { ts.Store = s; return ts }}, "bench")
						warmResumes(b, bn)
						var total time.Duration
						for b.Loop() {
							id := bn.start(b, "bench", "steps", map[string]any{"steps": k, "sleep_ms": 20})
							benchWait(b, bn, id)
							total += ts.resume(b, id)
						}
						b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "resume-ns")
					})
				}
			}
		}
	}
}

// resumeWarmups is how many short runs warmResumes resumes at once: more
// than the host's workers, so that every connection of the pool they use
// has run the statements of a resume.
const resumeWarmups = 8

// warmResumes runs resumeWarmups one-step runs with a sleep at once, and
// a few after each other, to their end.
func warmResumes(b *testing.B, bn *bundle) {
	var ids []string
	for range resumeWarmups {
		ids = append(ids, bn.start(b, "bench", "steps", map[string]any{"steps": 1, "sleep_ms": 20}))
	}
	for _, id := range ids {
		benchWait(b, bn, id)
	}
	for range 3 {
		benchWait(b, bn, bn.start(b, "bench", "steps", map[string]any{"steps": 1, "sleep_ms": 20}))
	}
}

// resumeTimer times each run's second activation: from the start of the
// claim that took it to the end of the write that finished the run.
type resumeTimer struct {
	store.Store
	mu       sync.Mutex
	claimed  map[string]time.Time
	finished map[string]time.Time
}

func (s *resumeTimer) RunClaim(ctx context.Context, p *store.RunClaimParams) ([]*store.Run, error) {
	t := time.Now()
	runs, err := s.Store.RunClaim(ctx, p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimed == nil {
		s.claimed, s.finished = map[string]time.Time{}, map[string]time.Time{}
	}
	for _, r := range runs {
		if r.Activations == 2 {
			s.claimed[r.ID] = t
		}
	}
	return runs, err
}

func (s *resumeTimer) RunApply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	res, err := s.Store.RunApply(ctx, p)
	if err == nil && p.Status.Terminal() {
		s.mu.Lock()
		s.finished[p.RunID] = time.Now()
		s.mu.Unlock()
	}
	return res, err
}

// resume returns the time of the run's second activation, once the run
// is seen completed. The write that completed it may not have returned to
// RunApply yet: the store shows a commit before the committing call
// returns, so resume waits a little for the timer to record it.
func (s *resumeTimer) resume(b *testing.B, id string) time.Duration {
	for deadline := time.Now().Add(5 * time.Second); ; {
		s.mu.Lock()
		c, ok1 := s.claimed[id]
		f, ok2 := s.finished[id]
		s.mu.Unlock()
		switch {
		case ok1 && ok2:
			return f.Sub(c)
		case time.Now().After(deadline):
			b.Fatalf("run %s: no second activation timed (claimed %v, finished %v)", id, ok1, ok2)
		}
		time.Sleep(time.Millisecond)
	}
}

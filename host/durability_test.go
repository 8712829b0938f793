package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/executor"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
)

// Must show 1: the export example interrupted at 20 random points of its
// cursor loop completes with every item processed exactly once, and each
// completed step's body ran once.
func TestExportResumesFromCursorAfterInterrupts(t *testing.T) {
	testExportResumesFromCursorAfterInterrupts(t, "export")
}

// testExportResumesFromCursorAfterInterrupts runs the export scenario with
// an export guest (see testmodules.Path): every language's export example
// must pass it.
func testExportResumesFromCursorAfterInterrupts(t *testing.T, guest string) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		const items = 300
		points := map[int]bool{}
		for len(points) < 20 {
			points[1+rand.IntN(items-2)] = true
		}
		var mu sync.Mutex
		saved := map[int]int{} // cursor position -> times saved
		observe := flowtest.Observe(func(p *executor.Point) {
			if p.Kind == executor.PointDuringStep && p.Step == "write_files" && p.Cursor != nil {
				mu.Lock()
				saved[exportCursorNext(t, p.Cursor)]++
				mu.Unlock()
			}
		})
		interrupt := flowtest.InterruptDuringStep("write_files", func(cursor []byte) bool {
			return points[exportCursorNext(t, cursor)]
		})
		b := setup(t, st, setupOpts{engine: eng, hooks: flowtest.Combine(observe, interrupt)}, guest)
		id := b.start(t, "export", "export", map[string]any{"items": items})
		run := b.wait(t, id, 60*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("run %s: %s", run.Status, run.Error)
		}

		var out struct {
			Processed int `json:"processed"`
			Sum       int `json:"sum"`
		}
		if err := json.Unmarshal(run.Output, &out); err != nil {
			t.Fatalf("output %s: %v", run.Output, err)
		}
		if out.Processed != items || out.Sum != items*(items-1)/2 {
			t.Errorf("output %s: want processed=%d sum=%d", run.Output, items, items*(items-1)/2)
		}
		mu.Lock()
		for i := 1; i <= items; i++ {
			if saved[i] != 1 {
				t.Errorf("item %d: its cursor was saved %d times, want exactly once", i-1, saved[i])
			}
		}
		mu.Unlock()

		evs := b.events(t, id)
		interrupts := 0
		for _, e := range evs {
			if e.Type == store.EventRunSuspended && e.Step == "write_files" && data(t, e)["reason"] == "interrupt" {
				interrupts++
			}
		}
		if interrupts != 20 {
			t.Errorf("write_files was interrupted %d times, want 20", interrupts)
		}
		for _, step := range []string{"write_files", "zip_files", "upload_files"} {
			if n := count(evs, store.EventStepCompleted, step); n != 1 {
				t.Errorf("step %s completed %d times, want 1", step, n)
			}
		}
		// write_files was started once and resumed 20 times; the other steps'
		// bodies ran once each.
		if n := count(evs, store.EventStepStarted, "write_files"); n != 21 {
			t.Errorf("write_files started %d times, want 21 (1 + 20 resumptions)", n)
		}
		for _, step := range []string{"zip_files", "upload_files"} {
			if n := count(evs, store.EventStepStarted, step); n != 1 {
				t.Errorf("step %s body ran %d times, want 1", step, n)
			}
		}
		// upload_files is isolated: it is the first thing its activation runs.
		var prev store.EventType
		for _, e := range evs {
			if e.Type == store.EventStepStarted && e.Step == "upload_files" && prev != store.EventActivationStarted {
				t.Errorf("isolated step upload_files started after %s, want right after activation_started", prev)
			}
			if e.Type != store.EventCheckpoint {
				prev = e.Type
			}
		}
		// Checkpoints are coalesced: far fewer checkpoint events than items.
		if n := count(evs, store.EventCheckpoint, "write_files"); n > 21 {
			t.Errorf("%d checkpoint events for %d items: checkpoints were not coalesced", n, items)
		}
	})
}

// exportCursorNext returns the index of the next item to process from an
// export cursor.
func exportCursorNext(t *testing.T, cursor []byte) int {
	var c struct {
		Next *int `json:"next"`
	}
	if err := json.Unmarshal(cursor, &c); err != nil || c.Next == nil {
		t.Errorf("export cursor %s has no next item index: %v", cursor, err)
		return -1
	}
	return *c.Next
}

// Must show 2: a crash between an effect's start and its completion leads to
// one re-execution with the same idempotency key and an effect_uncertain
// event.
func TestEffectUncertainAfterCrashRunsAgainWithSameKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, hooks: flowtest.CrashBeforeEffectEnd("effects", "first"), lease: time.Second}, "faults")
		id := b.start(t, "faults", "effects", nil)
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("run %s: %s", run.Status, run.Error)
		}
		evs := b.events(t, id)
		var startedKeys []string
		var uncertain []*store.Event
		for _, e := range evs {
			if e.Type == store.EventEffectStarted && data(t, e)["effect"] == "first" {
				startedKeys = append(startedKeys, data(t, e)["key"].(string))
			}
			if e.Type == store.EventEffectUncertain {
				uncertain = append(uncertain, e)
			}
		}
		if len(startedKeys) != 2 || startedKeys[0] != startedKeys[1] {
			t.Fatalf("effect first started with keys %v, want twice with the same key", startedKeys)
		}
		if len(uncertain) != 1 || data(t, uncertain[0])["key"] != startedKeys[0] {
			t.Fatalf("effect_uncertain events %d, want 1 with key %s", len(uncertain), startedKeys[0])
		}
		if n := count(evs, store.EventEffectCompleted, ""); n != 2 {
			t.Errorf("%d effects completed, want 2 (first once, second once)", n)
		}
		if !strings.Contains(string(run.Output), startedKeys[0]) {
			t.Errorf("output %s does not carry the key %s the effect ran with", run.Output, startedKeys[0])
		}
		effects, err := st.EffectListByRun(context.Background(), &store.EffectListByRunParams{RunID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(effects) != 2 || effects[0].Executions != 2 || effects[1].Executions != 1 {
			t.Errorf("effect executions: want [2 1], got %v", executions(effects))
		}
	})
}

func executions(effects []*store.Effect) []int {
	var n []int
	for _, e := range effects {
		n = append(n, e.Executions)
	}
	return n
}

// swapDigest is a store whose claims hand out runs pinned to another module
// from their second activation on: as if the code under the run changed.
type swapDigest struct {
	store.Store
	mu       sync.Mutex
	from, to string
}

func (s *swapDigest) RunClaim(ctx context.Context, p *store.RunClaimParams) ([]*store.Run, error) {
	runs, err := s.Store.RunClaim(ctx, p)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range runs {
		if r.ModuleDigest == s.from && r.Activations >= 2 {
			r.ModuleDigest = s.to
		}
	}
	return runs, err
}

// Must show 3: resuming a run with code whose step order changed fails it
// with a nondeterminism error naming the expected and found steps.
func TestChangedStepOrderFailsWithNondeterminism(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		swap := &swapDigest{Store: st}
		b := setup(t, st, setupOpts{engine: eng, hooks: flowtest.InterruptAfterStep("b"), wrap: func(s store.Store) store.Store { swap.Store = s; return swap }}, "steps")
		ctx := context.Background()
		reordered, _, err := b.host.PushModule(ctx, &host.PushModuleParams{Name: "steps-reordered", Wasm: testmodules.Bytes(t, "steps-reordered")})
		if err != nil {
			t.Fatal(err)
		}
		orig, err := st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "steps"})
		if err != nil {
			t.Fatal(err)
		}
		swap.mu.Lock()
		swap.from, swap.to = orig.Digest, reordered.Digest
		swap.mu.Unlock()

		id := b.start(t, "steps", "abc", nil)
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusFailed {
			t.Fatalf("run %s, want failed with nondeterminism", run.Status)
		}
		want := `the journal has step "b" but the code asked for step "c"`
		if !strings.Contains(run.Error, "nondeterminism") || !strings.Contains(run.Error, want) {
			t.Errorf("error %q does not name the expected and found steps (%s)", run.Error, want)
		}
		evs := b.events(t, id)
		if n := count(evs, store.EventNondeterminism, ""); n != 1 {
			t.Errorf("%d nondeterminism events, want 1", n)
		}
	})
}

// Must show 4: a guest that loops forever is stopped at the activation
// deadline; one that grows memory past the limit, and one that passes an
// out-of-bounds pointer, each fail their run with a readable reason while
// other runs complete.
func TestFaultyGuestsFailOnlyTheirOwnRun(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, limits: executor.Limits{ActivationTimeout: 6 * time.Second, MemoryPages: 512}}, "faults")
		faults := map[string]string{
			"loop":   "activation exceeded its time limit of 6s (--activation-timeout)",
			"oom":    "out of memory",
			"badptr": "out-of-bounds pointer",
			"panic":  "boom",
		}
		ids := map[string]string{}
		for wf := range faults {
			ids[wf] = b.start(t, "faults", wf, nil)
		}
		var ok []string
		for i := 0; i < 10; i++ {
			ok = append(ok, b.start(t, "faults", "ok", nil))
		}
		for wf, want := range faults {
			run := b.wait(t, ids[wf], 60*time.Second, store.StatusCompleted, store.StatusFailed)
			if run.Status != store.StatusFailed || !strings.Contains(run.Error, want) {
				t.Errorf("%s: run %s with error %q, want failed with %q", wf, run.Status, run.Error, want)
			}
		}
		for _, id := range ok {
			run := b.wait(t, id, 60*time.Second, store.StatusCompleted, store.StatusFailed)
			if run.Status != store.StatusCompleted || string(run.Output) != `{"ok":true}` {
				t.Errorf("ok run %s: %s %s %q", id, run.Status, run.Output, run.Error)
			}
		}
	})
}

// Must show 5: malformed bytes, a module without the ABI exports, and a wrong
// ABI version are each refused with an error that says which.
func TestInvalidModulesAreRefusedWithTheReason(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng})
		cases := []struct {
			name string
			wasm []byte
			want string
		}{
			{"refuses bytes that are not wasm", []byte("this is not wasm at all"), "not a WebAssembly module"},
			{"refuses truncated wasm", append([]byte("\x00asm\x01\x00\x00\x00"), 0x01, 0x05), "invalid WebAssembly module"},
			{"refuses a module without the ABI exports", []byte("\x00asm\x01\x00\x00\x00"), "does not export wasmflow_abi_version, wasmflow_describe, wasmflow_run, memory"},
			{"refuses a module of another ABI version", testmodules.Bytes(t, "abi99"), "declares ABI version 99; this host supports version 1"},
		}
		for _, c := range cases {
			_, _, err := b.host.PushModule(context.Background(), &host.PushModuleParams{Name: "bad", Wasm: c.wasm})
			if !errors.Is(err, host.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got %v, want ErrInvalid with %q", c.name, err, c.want)
			}
		}
		mods, err := st.ModuleList(context.Background(), &store.ModuleListParams{})
		if err != nil || len(mods) != 0 {
			t.Errorf("refused modules were stored: %v %v", mods, err)
		}
	})
}

func TestRetriesAStepPerItsPolicy(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng}, "faults")
		id := b.start(t, "faults", "flaky", nil)
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("run %s: %s", run.Status, run.Error)
		}
		evs := b.events(t, id)
		if f, r := count(evs, store.EventStepFailed, ""), count(evs, store.EventRetryScheduled, ""); f != 2 || r != 2 {
			t.Errorf("step_failed %d, retry_scheduled %d; want 2 and 2", f, r)
		}
		if !strings.Contains(string(run.Output), "3") {
			t.Errorf("output %s: want the attempt that succeeded (3)", run.Output)
		}
	})
}

func TestSleepAndSignal(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng}, "faults")
		sleepy := b.start(t, "faults", "sleepy", nil)
		waiting := b.start(t, "faults", "await", map[string]any{"timeout_ms": 60000})
		timedOut := b.start(t, "faults", "await", map[string]any{"timeout_ms": 100})

		run := b.wait(t, sleepy, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Errorf("sleepy: %s %s", run.Status, run.Error)
		}
		evs := b.events(t, sleepy)
		if count(evs, store.EventTimerScheduled, "") != 1 || count(evs, store.EventTimerFired, "") != 1 {
			t.Errorf("sleepy: want one timer scheduled and fired")
		}

		b.wait(t, waiting, 30*time.Second, store.StatusWaiting)
		if _, err := b.host.Signal(context.Background(), waiting, "go", json.RawMessage(`{"hello":"world"}`)); err != nil {
			t.Fatal(err)
		}
		run = b.wait(t, waiting, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted || !strings.Contains(string(run.Output), `"world"`) {
			t.Errorf("await: %s %s %q", run.Status, run.Output, run.Error)
		}

		run = b.wait(t, timedOut, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted || !strings.Contains(string(run.Output), "timed_out") {
			t.Errorf("await with timeout: %s %s %q", run.Status, run.Output, run.Error)
		}
	})
}

func TestOversizedOutputFailsTheRunWithTheLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, limits: executor.Limits{Payload: 64 << 10}}, "faults")
		id := b.start(t, "faults", "big", map[string]any{"bytes": 100 << 10})
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		want := fmt.Sprintf("over the %d-byte payload limit (--max-payload)", 64<<10)
		if run.Status != store.StatusFailed || !strings.Contains(run.Error, want) {
			t.Errorf("run %s %q, want failed with %q", run.Status, run.Error, want)
		}
	})
}

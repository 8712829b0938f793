package host_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/postgres"
	"github.com/wasmflow/wasmflow/store/sqlite"
)

func TestMain(m *testing.M) { pgtest.Main(m, testmodules.RemoveCompileCache) }

// forEachStore runs f once per store implementation × engine, each with a
// fresh database, in subtests named "sqlite/wazero", "postgres/wasmtime", ...
// The wasmtime column is there only in builds with cgo (see engines).
func forEachStore(t *testing.T, f func(t *testing.T, st store.Store, eng string)) {
	t.Helper()
	for _, eng := range testEngines {
		for _, kind := range storeKinds {
			t.Run(kind+"/"+eng, func(t *testing.T) {
				t.Parallel()
				f(t, openStore(t, kind), eng)
			})
		}
	}
}

var storeKinds = []string{"sqlite", "postgres"}

// snapshotsOff runs every host in the test binary with suspension snapshots
// off (WASMFLOW_TEST_SNAPSHOTS=off): make test runs the conformance suite
// both ways.
var snapshotsOff = os.Getenv("WASMFLOW_TEST_SNAPSHOTS") == "off"

// openStore opens a fresh, empty store of a kind, closed when the test ends.
func openStore(tb testing.TB, kind string) store.Store {
	tb.Helper()
	var st store.Store
	var err error
	switch kind {
	case "sqlite":
		st, err = sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "wasmflow.db"))
	case "postgres":
		st, err = postgres.Open(context.Background(), pgtest.URL(tb))
	default:
		tb.Fatalf("no store kind %q", kind)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

type bundle struct {
	host *host.Host
	st   store.Store
}

type setupOpts struct {
	engine  string       // host.Config.Engine; "" is the default (wazero)
	workers int          // host.Config.Workers; 0 is the default
	quiet   bool         // discard the host's log (benchmarks)
	logger  *slog.Logger // the host's logger; default: warnings to the test log
	hooks   host.Hooks
	limits  host.Limits
	lease   time.Duration
	poll    time.Duration
	wrap    func(store.Store) store.Store
	// cacheDir is the host's compile and image cache; default: the one the
	// test binary shares.
	cacheDir string
	// noSnapshots turns suspension snapshots off (host.Config.NoSnapshots).
	noSnapshots bool
	// noWarm keeps no warm instances, so that every resumption restores a
	// snapshot (or replays).
	noWarm bool
	// resumeDelay is host.Config.ResumeDelay.
	resumeDelay time.Duration
}

// setup starts a host with workers on st and pushes the named guests (see
// testmodules.Path), each as a module named after the guest's base name:
// "export" and "rust/export" are both pushed as module "export".
func setup(t testing.TB, st store.Store, o setupOpts, modules ...string) *bundle {
	t.Helper()
	ctx := context.Background()
	if o.wrap != nil {
		st = o.wrap(st)
	}
	if o.lease == 0 {
		o.lease = 2 * time.Second
	}
	if o.poll == 0 {
		o.poll = 50 * time.Millisecond
	}
	var logTo io.Writer = testWriter{t}
	if o.quiet {
		logTo = io.Discard
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	o.noSnapshots = o.noSnapshots || snapshotsOff
	if o.cacheDir == "" {
		o.cacheDir = testmodules.CompileCache(t)
	}
	h, err := host.New(ctx, &host.Config{
		Store:         st,
		Engine:        o.engine,
		CacheDir:      o.cacheDir,
		NoSnapshots:   o.noSnapshots,
		ResumeDelay:   o.resumeDelay,
		WarmInstances: map[bool]int{true: -1}[o.noWarm],
		Workers:       o.workers,
		Limits:        o.limits,
		Hooks:         o.hooks,
		LeaseDuration: o.lease,
		PollInterval:  o.poll,
		Logger:        logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		h.Shutdown(sctx)
		h.Close(ctx)
	})
	for _, name := range modules {
		if _, _, err := h.PushModule(ctx, &host.PushModuleParams{Name: path.Base(name), Wasm: testmodules.Bytes(t, name)}); err != nil {
			t.Fatalf("push %s: %v", name, err)
		}
	}
	return &bundle{host: h, st: st}
}

// start starts a run and returns its id.
func (b *bundle) start(t testing.TB, module, workflow string, input any) string {
	t.Helper()
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := b.host.StartRun(context.Background(), &host.StartRunParams{Module: module, Workflow: workflow, Input: in})
	if err != nil {
		t.Fatalf("start %s/%s: %v", module, workflow, err)
	}
	return run.ID
}

// wait waits for a run to reach one of statuses.
func (b *bundle) wait(t *testing.T, id string, timeout time.Duration, statuses ...store.RunStatus) *store.Run {
	t.Helper()
	run, err := flowtest.Wait(context.Background(), b.host, id, timeout, statuses...)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// events returns a run's events.
func (b *bundle) events(t *testing.T, id string) []*store.Event {
	t.Helper()
	evs, err := b.host.Events(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// count counts events of a type, optionally for one step.
func count(evs []*store.Event, typ store.EventType, step string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ && (step == "" || e.Step == step) {
			n++
		}
	}
	return n
}

func data(t *testing.T, e *store.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatalf("event %d data %s: %v", e.Seq, e.Data, err)
	}
	return m
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

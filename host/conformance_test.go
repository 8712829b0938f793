package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
)

// The conformance suite: durability scenarios every guest language must
// pass on every engine and store. Each language provides the test guests
// that modules/TESTGUESTS.md specifies (faults, steps, steps-reordered);
// subtests are named LANGUAGE/ENGINE/STORE, so a failure names its
// combination: TestConformanceCursor/rust/wasmtime/postgres.

// guestLangs are the guest languages: Go and Rust through their SDKs, and
// "wat", written in WebAssembly text from abi/ABI.md alone (in builds with
// cgo, which compile it; see engines_cgo_test.go).
var guestLangs = []string{"go", "rust"}

// combo is one guest language × engine × store, with a fresh store.
type combo struct {
	lang, engine string
	st           store.Store
}

// guest returns the testmodules name of a test guest in c's language.
func (c *combo) guest(name string) string {
	if c.lang == "go" {
		return name
	}
	return c.lang + "/" + name
}

// setup starts a host on c's engine and store, with the named test guests
// of c's language pushed under their plain names ("faults", "steps").
func (c *combo) setup(t *testing.T, o setupOpts, guests ...string) *bundle {
	t.Helper()
	o.engine = c.engine
	names := make([]string, len(guests))
	for i, g := range guests {
		names[i] = c.guest(g)
	}
	return setup(t, c.st, o, names...)
}

// forEachCombo runs f for every guest language × engine × store.
func forEachCombo(t *testing.T, f func(t *testing.T, c *combo)) {
	t.Helper()
	forEachComboOf(t, guestLangs, f)
}

// forEachComboOf runs f for each of langs × every engine × store.
func forEachComboOf(t *testing.T, langs []string, f func(t *testing.T, c *combo)) {
	t.Helper()
	t.Parallel()
	for _, lang := range langs {
		for _, eng := range testEngines {
			for _, kind := range storeKinds {
				t.Run(lang+"/"+eng+"/"+kind, func(t *testing.T) {
					t.Parallel()
					f(t, &combo{lang: lang, engine: eng, st: openStore(t, kind)})
				})
			}
		}
	}
}

// jsonEqual reports whether got holds the JSON value want.
func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expected JSON %s: %v", want, err)
	}
	return json.Unmarshal(got, &g) == nil && reflect.DeepEqual(g, w)
}

// completed waits for a run to end and fails the test unless it completed
// with the output want.
func (b *bundle) completed(t *testing.T, id, want string) *store.Run {
	t.Helper()
	run := b.wait(t, id, 60*time.Second, store.StatusCompleted, store.StatusFailed)
	if run.Status != store.StatusCompleted {
		t.Fatalf("run %s: %s", run.Status, run.Error)
	}
	if !jsonEqual(t, run.Output, want) {
		t.Errorf("output %s, want %s", run.Output, want)
	}
	return run
}

// A step interrupted at random points of its cursor loop resumes from the
// last saved cursor each time: every item is processed and saved exactly
// once, and checkpoints are coalesced.
func TestConformanceCursor(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		const items = 200
		ci := interruptCursorAtRandom(t, "count", items, 10)
		b := c.setup(t, setupOpts{hooks: ci.hooks}, "faults")
		id := b.start(t, "faults", "cursor", map[string]any{"items": items})
		b.completed(t, id, fmt.Sprintf(`{"processed":%d,"sum":%d}`, items, items*(items-1)/2))
		ci.check(t, b.events(t, id))
		if c.parks() {
			for _, a := range started(t, b, id)[1:] {
				if !resumedParked(a) {
					t.Errorf("an activation after an interrupt started %v, want where the guest parked (warm or from its snapshot)", a)
				}
			}
		}
	})
}

// resumedParked says activation_started data d is of an activation that
// resumed a parked guest rather than replaying.
func resumedParked(d map[string]any) bool {
	return d["start"] == executor.StartSnapshot || d["start"] == executor.StartWarm
}

// parks reports whether c's guests park at suspensions: the Go SDK's do,
// unless the suite runs with snapshots off.
func (c *combo) parks() bool { return c.lang == "go" && !snapshotsOff }

// cursorInterrupts interrupts a step's cursor loop, whose cursors are
// {"next":N,...}, at random items, and counts the saves of each position.
type cursorInterrupts struct {
	step   string
	items  int
	points map[int]bool // cursor positions to interrupt at
	hooks  host.Hooks
	mu     sync.Mutex
	saved  map[int]int // cursor position -> times saved
}

// interruptCursorAtRandom interrupts step at n distinct random items of
// items (never the first or the last).
func interruptCursorAtRandom(t *testing.T, step string, items, n int) *cursorInterrupts {
	ci := &cursorInterrupts{step: step, items: items, points: map[int]bool{}, saved: map[int]int{}}
	for len(ci.points) < n {
		ci.points[1+rand.IntN(items-2)] = true
	}
	observe := flowtest.Observe(func(p *host.Point) {
		if p.Kind == host.PointDuringStep && p.Step == step && p.Cursor != nil {
			ci.mu.Lock()
			ci.saved[cursorNext(t, p.Cursor)]++
			ci.mu.Unlock()
		}
	})
	interrupt := flowtest.InterruptDuringStep(step, func(cursor []byte) bool {
		return ci.points[cursorNext(t, cursor)]
	})
	ci.hooks = flowtest.Combine(observe, interrupt)
	return ci
}

// check checks the completed run's events: every item's cursor saved
// exactly once, the step interrupted once per point, started once and again
// after each interrupt the run replayed (one resumed from a snapshot goes on
// inside the step), completed once, and its checkpoints coalesced.
func (ci *cursorInterrupts) check(t *testing.T, evs []*store.Event) {
	t.Helper()
	ci.mu.Lock()
	for i := 1; i <= ci.items; i++ {
		if ci.saved[i] != 1 {
			t.Errorf("item %d: its cursor was saved %d times, want exactly once", i-1, ci.saved[i])
		}
	}
	ci.mu.Unlock()
	interrupts := 0
	for _, e := range evs {
		if e.Type == store.EventRunSuspended && e.Step == ci.step && data(t, e)["reason"] == "interrupt" {
			interrupts++
		}
	}
	n := len(ci.points)
	if interrupts != n {
		t.Errorf("%s was interrupted %d times, want %d", ci.step, interrupts, n)
	}
	// Activations that began while the step was in progress and replayed
	// start it again.
	replays, inStep := 0, false
	for _, e := range evs {
		switch {
		case e.Step == ci.step && e.Type == store.EventStepStarted:
			inStep = true
		case e.Step == ci.step && e.Type == store.EventStepCompleted:
			inStep = false
		case inStep && e.Type == store.EventActivationStarted && !resumedParked(data(t, e)):
			replays++
		}
	}
	if got := count(evs, store.EventStepStarted, ci.step); got != replays+1 {
		t.Errorf("%s started %d times, want %d (1 + one resumption per interrupt that replayed)", ci.step, got, replays+1)
	}
	if got := count(evs, store.EventStepCompleted, ci.step); got != 1 {
		t.Errorf("%s completed %d times, want 1", ci.step, got)
	}
	if got := count(evs, store.EventCheckpoint, ci.step); got > n+1 {
		t.Errorf("%d checkpoint events for %d items: checkpoints were not coalesced", got, ci.items)
	}
}

// cursorNext returns the index of the next item from a {"next":N,...}
// cursor.
func cursorNext(t *testing.T, cursor []byte) int {
	var c struct {
		Next *int `json:"next"`
	}
	if err := json.Unmarshal(cursor, &c); err != nil || c.Next == nil {
		t.Errorf("cursor %s has no next item index: %v", cursor, err)
		return -1
	}
	return *c.Next
}

// A run interrupted after a step resumes in a new activation that replays
// the recorded steps from the journal instead of running them again.
func TestConformanceInterruptAfterStep(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{hooks: flowtest.InterruptAfterStep("b")}, "steps")
		id := b.start(t, "steps", "abc", nil)
		run := b.completed(t, id, `["a","b","c"]`)
		if run.Activations != 2 {
			t.Errorf("%d activations, want 2", run.Activations)
		}
		ranOnce(t, b.events(t, id), "a", "b", "c")
	})
}

// ranOnce checks that each step's body ran once and completed once.
func ranOnce(t *testing.T, evs []*store.Event, steps ...string) {
	t.Helper()
	for _, step := range steps {
		if n := count(evs, store.EventStepStarted, step); n != 1 {
			t.Errorf("step %s body ran %d times, want 1", step, n)
		}
		if n := count(evs, store.EventStepCompleted, step); n != 1 {
			t.Errorf("step %s completed %d times, want 1", step, n)
		}
	}
}

// An isolated step starts in an activation of its own: it is the first
// thing that activation runs.
func TestConformanceIsolatedStep(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "faults")
		id := b.start(t, "faults", "isolated", nil)
		run := b.completed(t, id, `["before","alone","after"]`)
		if run.Activations < 2 {
			t.Errorf("%d activations, want at least 2 (the isolated step gets its own)", run.Activations)
		}
		startsItsActivation(t, b.events(t, id), "alone")
	})
}

// startsItsActivation checks that an isolated step's body started right
// after its activation did, with nothing else run live before it.
func startsItsActivation(t *testing.T, evs []*store.Event, step string) {
	t.Helper()
	var prev store.EventType
	found := false
	for _, e := range evs {
		if e.Type == store.EventStepStarted && e.Step == step {
			found = true
			if prev != store.EventActivationStarted {
				t.Errorf("isolated step %s started after %s, want right after activation_started", step, prev)
			}
		}
		if e.Type != store.EventCheckpoint {
			prev = e.Type
		}
	}
	if !found {
		t.Errorf("the isolated step %s never started", step)
	}
}

// A crash between an effect's start and its completion leads to one
// re-execution with the same idempotency key and an effect_uncertain event.
func TestConformanceUncertainEffect(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{hooks: flowtest.CrashBeforeEffectEnd("effects", "first"), lease: time.Second}, "faults")
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
		var out map[string]string
		if err := json.Unmarshal(run.Output, &out); err != nil || out["first"] != startedKeys[0] || out["second"] == "" || out["second"] == out["first"] {
			t.Errorf("output %s: want first=%s (the key the effect ran with) and another key for second", run.Output, startedKeys[0])
		}
		effects, err := c.st.EffectListByRun(context.Background(), &store.EffectListByRunParams{RunID: id})
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

// Resuming a run with code whose step order changed fails it with a
// nondeterminism error naming the expected and found steps.
func TestConformanceNondeterminism(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		swap := &swapDigest{}
		b := c.setup(t, setupOpts{hooks: flowtest.InterruptAfterStep("b"), wrap: func(s store.Store) store.Store { swap.Store = s; return swap }}, "steps")
		ctx := context.Background()
		reordered, _, err := b.host.PushModule(ctx, &host.PushModuleParams{Name: "steps-reordered", Wasm: testmodules.Bytes(t, c.guest("steps-reordered"))})
		if err != nil {
			t.Fatal(err)
		}
		orig, err := c.st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "steps"})
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
		if n := count(b.events(t, id), store.EventNondeterminism, ""); n != 1 {
			t.Errorf("%d nondeterminism events, want 1", n)
		}
	})
}

// A guest that loops forever is stopped at the activation deadline; one
// that grows memory past the limit, one that passes an out-of-bounds
// pointer and one that panics each fail their run with a readable reason,
// while other runs complete.
func TestConformanceFaultyGuestsFailOnlyTheirOwnRun(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{limits: host.Limits{ActivationTimeout: 6 * time.Second, MemoryPages: 512}}, "faults")
		faults := map[string]string{
			"loop":   "activation exceeded its time limit of 6s without reaching a checkpoint",
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
			if run.Status != store.StatusCompleted || !jsonEqual(t, run.Output, `{"ok":true}`) {
				t.Errorf("ok run %s: %s %s %q", id, run.Status, run.Output, run.Error)
			}
		}
	})
}

// An output over the payload limit fails its run with the limit.
func TestConformancePayloadLimit(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{limits: host.Limits{Payload: 64 << 10}}, "faults")
		id := b.start(t, "faults", "big", map[string]any{"bytes": 100 << 10})
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		want := fmt.Sprintf("over the %d-byte payload limit", 64<<10)
		if run.Status != store.StatusFailed || !strings.Contains(run.Error, want) {
			t.Errorf("run %s %q, want failed with %q", run.Status, run.Error, want)
		}
		small := b.start(t, "faults", "big", map[string]any{"bytes": 3})
		b.completed(t, small, `"xxx"`)
	})
}

// A failing step is retried per its policy until it succeeds.
func TestConformanceRetries(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "faults")
		id := b.start(t, "faults", "flaky", nil)
		b.completed(t, id, `{"attempt":3}`)
		evs := b.events(t, id)
		if f, r := count(evs, store.EventStepFailed, ""), count(evs, store.EventRetryScheduled, ""); f != 2 || r != 2 {
			t.Errorf("step_failed %d, retry_scheduled %d; want 2 and 2", f, r)
		}
	})
}

// Durable sleep, a signal that arrives, and a signal wait that times out.
func TestConformanceSleepAndSignal(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "faults")
		sleepy := b.start(t, "faults", "sleepy", nil)
		waiting := b.start(t, "faults", "await", map[string]any{"timeout_ms": 60000})
		timedOut := b.start(t, "faults", "await", map[string]any{"timeout_ms": 100})

		b.completed(t, sleepy, `{"slept":true}`)
		evs := b.events(t, sleepy)
		if count(evs, store.EventTimerScheduled, "") != 1 || count(evs, store.EventTimerFired, "") != 1 {
			t.Errorf("sleepy: want one timer scheduled and fired")
		}

		b.wait(t, waiting, 30*time.Second, store.StatusWaiting)
		if _, err := b.host.Signal(context.Background(), waiting, "go", json.RawMessage(`{"hello":"world"}`)); err != nil {
			t.Fatal(err)
		}
		b.completed(t, waiting, `{"hello":"world"}`)
		b.completed(t, timedOut, `{"timed_out":true}`)
	})
}

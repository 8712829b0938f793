//go:build cgo

package host_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/executor"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
)

// The counter guest is written straight against abi/ABI.md, with no SDK:
// three steps, an effect in the second, and replay of recorded steps after an
// interruption.
func TestWatCounter(t *testing.T) {
	t.Parallel()
	wasm := testmodules.Bytes(t, "wat/counter")
	cases := []struct {
		name        string
		hooks       executor.Hooks
		activations int // 0: do not check
	}{
		{name: "straight"},
		{name: "interrupted", hooks: flowtest.InterruptAfterStep("two"), activations: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, st store.Store, eng string) {
				b := setup(t, st, setupOpts{engine: eng, hooks: c.hooks})
				if _, _, err := b.host.PushModule(context.Background(), &host.PushModuleParams{Name: "counter", Wasm: wasm}); err != nil {
					t.Fatalf("push counter: %v", err)
				}
				id := b.start(t, "counter", "count", nil)
				run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
				if run.Status != store.StatusCompleted {
					t.Fatalf("run %s: %s", run.Status, run.Error)
				}
				var out, want any
				json.Unmarshal([]byte(`{"done":3}`), &want)
				if err := json.Unmarshal(run.Output, &out); err != nil || !reflect.DeepEqual(out, want) {
					t.Errorf("output %s, want {\"done\":3}", run.Output)
				}
				evs := b.events(t, id)
				for _, step := range []string{"one", "two", "three"} {
					if n := count(evs, store.EventStepCompleted, step); n != 1 {
						t.Errorf("step %s completed %d times, want 1", step, n)
					}
					if n := count(evs, store.EventStepStarted, step); n != 1 {
						t.Errorf("step %s body ran %d times, want 1", step, n)
					}
				}
				if n := count(evs, store.EventEffectCompleted, ""); n != 1 {
					t.Errorf("%d effect_completed events, want 1", n)
				}
				if c.activations != 0 {
					if run.Activations != c.activations {
						t.Errorf("%d activations, want %d", run.Activations, c.activations)
					}
					if n := count(evs, store.EventActivationStarted, ""); n != c.activations {
						t.Errorf("%d activation_started events, want %d", n, c.activations)
					}
				}
			})
		})
	}
}

package host_test

import (
	"context"
	"encoding/json"
	"errors"
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
				saved[cursorNext(t, p.Cursor)]++
				mu.Unlock()
			}
		})
		interrupt := flowtest.InterruptDuringStep("write_files", func(cursor []byte) bool {
			return points[cursorNext(t, cursor)]
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
		startsItsActivation(t, evs, "upload_files")
		// Checkpoints are coalesced: far fewer checkpoint events than items.
		if n := count(evs, store.EventCheckpoint, "write_files"); n > 21 {
			t.Errorf("%d checkpoint events for %d items: checkpoints were not coalesced", n, items)
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

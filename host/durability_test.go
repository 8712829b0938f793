package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
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
		ci := interruptCursorAtRandom(t, "write_files", items, 20)
		b := setup(t, st, setupOpts{engine: eng, hooks: ci.hooks}, guest)
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

		// write_files: each item saved once, 20 interrupts, started once
		// and resumed 20 times, completed once, checkpoints coalesced.
		evs := b.events(t, id)
		ci.check(t, evs)
		// The other steps' bodies ran and completed once each.
		ranOnce(t, evs, "zip_files", "upload_files")
		// upload_files is isolated: it is the first thing its activation runs.
		startsItsActivation(t, evs, "upload_files")
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

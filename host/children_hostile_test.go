//go:build cgo

package host_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// Misused child calls are guest faults that fail only their own run, with
// a message naming what was wrong (ABI.md, section 5.9).
func TestChildCallsMisusedAreGuestFaults(t *testing.T) {
	cases := []hostileCase{
		{"wild pointer to child_start", `(drop (call $child_start ` + wild + ` (i32.const 16)))`, "child_start: guest passed an out-of-bounds pointer"},
		{"wild pointer to child_await", `(drop (call $child_await ` + wild + ` (i32.const 16) (i32.const 0) (i64.const -1)))`, "child_await: guest passed an out-of-bounds pointer"},
		{"a request that is not JSON", `(drop (call $child_start (i32.const 400) (i32.const 8)))`, "child_start: the request is not a JSON object"},
		{"a request with an unknown key", `(drop (call $child_start (i32.const 160) (i32.const 32)))`, `unknown field "bogus"`},
		{"an unknown on_parent_end", `(drop (call $child_start (i32.const 224) (i32.const 47)))`, `on_parent_end is "orphan"`},
		{"a start inside a step", `(call $step) (drop (call $child_start (i32.const 368) (i32.const 22)))`, `child_start called inside step "s"`},
		{"an await of a run that is no child", `(drop (call $child_await (i32.const 288) (i32.const 40) (i32.const 0) (i64.const -1)))`, `"00000000-0000-7000-8000-000000000000" is not a child this run started`},
		{"ids that are not a JSON array", `(drop (call $child_await (i32.const 400) (i32.const 8) (i32.const 0) (i64.const -1)))`, "child_await: the ids are not a JSON array"},
		{"an unknown await mode", `(drop (call $child_await (i32.const 352) (i32.const 2) (i32.const 7) (i64.const -1)))`, "mode 7 is neither AwaitAll (0) nor AwaitAny (1)"},
		{"AwaitAny of no children", `(drop (call $child_await (i32.const 352) (i32.const 2) (i32.const 1) (i64.const -1)))`, "AwaitAny of no children"},
	}
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng}, "faults")
		ids := make([]string, len(cases))
		for i, c := range cases {
			name := fmt.Sprintf("hostile-%d", i)
			push(t, b.host, name, hostileWAT(c.body, ""))
			ids[i] = b.start(t, name, "hostile", nil)
		}
		ok := b.start(t, "faults", "ok", nil)
		for i, c := range cases {
			run := b.wait(t, ids[i], 30*time.Second, store.StatusCompleted, store.StatusFailed)
			if run.Status != store.StatusFailed || !strings.Contains(run.Error, c.want) {
				t.Errorf("%s: run %s with error %q, want failed with %q", c.name, run.Status, run.Error, c.want)
			}
		}
		b.completed(t, ok, `{"ok":true}`)
		// An empty AwaitAll is no fault: it answers [] at once.
		push(t, b.host, "empty-await", hostileWAT(`(if (call $child_await (i32.const 352) (i32.const 2) (i32.const 0) (i64.const -1)) (then unreachable)) (call $done)`, ""))
		b.completed(t, b.start(t, "empty-await", "hostile", nil), `{}`)
	})
}

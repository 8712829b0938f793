//go:build cgo

package host_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	wt "github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wasmflow/wasmflow/host"
)

// declare_workflow_options is checked at upload: options of a workflow the
// module did not declare, options given twice, or options that are not a
// JSON object refuse the module with a message that says so.
func TestDeclareWorkflowOptionsAtUpload(t *testing.T) {
	t.Parallel()
	const declare = `(drop (call $declare (i32.const 0) (i32.const 1)))`
	options := func(name, opts int) string {
		return `(drop (call $options (i32.const ` + strconv.Itoa(name) + `) (i32.const 1) (i32.const ` + strconv.Itoa(opts) + `) (i32.const 23)))`
	}
	for _, tc := range []struct {
		name, describe, refused string
	}{
		{"options of a declared workflow are accepted", declare + options(0, 16), ""},
		{"options of an undeclared workflow are refused", declare + options(8, 16), `declare_workflow_options: workflow "b" was not declared`},
		{"options given twice are refused", declare + options(0, 16) + options(0, 16), `the options of workflow "a" are declared twice`},
		{"options that are not JSON are refused", declare + options(0, 48), `options of workflow "a" are not a valid JSON object`},
	} {
		for _, eng := range testEngines {
			t.Run(tc.name+"/"+eng, func(t *testing.T) {
				t.Parallel()
				b := setup(t, openStore(t, "sqlite"), setupOpts{engine: eng})
				wasm, err := wt.Wat2Wasm(`(module
  (import "wasmflow" "declare_workflow" (func $declare (param i32 i32) (result i32)))
  (import "wasmflow" "declare_workflow_options" (func $options (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "a")
  (data (i32.const 8) "b")
  (data (i32.const 16) "{\"resume_delay_ms\":300}")
  (data (i32.const 48) "{\"resume_delay_ms\":30")
  (func (export "wasmflow_abi_version") (result i32) (i32.const 1))
  (func (export "wasmflow_describe") ` + tc.describe + `)
  (func (export "wasmflow_run") (unreachable)))`)
				if err != nil {
					t.Fatal(err)
				}
				_, _, err = b.host.PushModule(context.Background(), &host.PushModuleParams{Name: "opts", Wasm: wasm})
				switch {
				case tc.refused == "" && err != nil:
					t.Fatalf("upload: %v", err)
				case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
					t.Fatalf("upload: %v, want refused with %q", err, tc.refused)
				}
			})
		}
	}
}

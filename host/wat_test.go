//go:build cgo

package host_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/engine"
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
		hooks       host.Hooks
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
				if !jsonEqual(t, run.Output, `{"done":3}`) {
					t.Errorf("output %s, want {\"done\":3}", run.Output)
				}
				evs := b.events(t, id)
				ranOnce(t, evs, "one", "two", "three")
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

// The guests written in WebAssembly text use nothing abi/ABI.md does not
// document: every import is a host function of its tables, with the
// signature they give, and every export is one of the module requirements
// of its section 2. The tables are read from ABI.md itself.
func TestWatGuestsUseOnlyWhatABIMDDocuments(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "abi", "ABI.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := abiTables(t, string(doc))
	ctx := context.Background()
	eng, err := benchEngine(ctx, "wazero")
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	files, err := filepath.Glob(filepath.Join("..", "modules", "wat", "*.wat"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no guests in modules/wat: %v", err)
	}
	for _, f := range files {
		name := "wat/" + strings.TrimSuffix(filepath.Base(f), ".wat")
		mod, err := eng.Compile(ctx, testmodules.Bytes(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, im := range mod.Imports() {
			want, ok := documented[im.Name]
			if im.Module != abi.ImportModule || !ok {
				t.Errorf("%s imports %s.%s, which ABI.md does not document", name, im.Module, im.Name)
			} else if got := signature(im); got != want {
				t.Errorf("%s imports %s with signature %s; ABI.md says %s", name, im.Name, got, want)
			}
		}
		for _, ex := range mod.Exports() {
			if want, ok := documented[ex.Name]; !ok || !(strings.HasPrefix(ex.Name, "wasmflow_") || ex.Name == abi.ExportInitialize) {
				t.Errorf("%s exports %s, which is not among ABI.md's module requirements", name, ex.Name)
			} else if got := signature(ex); got != want {
				t.Errorf("%s exports %s with signature %s; ABI.md says %s", name, ex.Name, got, want)
			}
		}
		if !mod.ExportsMemory("memory") {
			t.Errorf("%s does not export its memory", name)
		}
		mod.Close(ctx)
	}
}

// abiTables reads the function rows of ABI.md's tables — | `name` [⏸] |
// `(params) -> results` | ... — into name -> normalised signature.
func abiTables(t *testing.T, doc string) map[string]string {
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)`(?: ⏸)? \\| `\\(([^)]*)\\) -> (\\(\\)|i32|i64)` \\|")
	out := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		var params []string
		for _, p := range strings.Split(m[2], ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if strings.HasSuffix(p, " i64") {
				params = append(params, "i64")
			} else {
				params = append(params, "i32") // pointers, lengths and the i32 named values
			}
		}
		results := m[3]
		if results == "()" {
			results = ""
		}
		out[m[1]] = "(" + strings.Join(params, ",") + ")->(" + results + ")"
	}
	if len(out) < 20 {
		t.Fatalf("read only %d function rows from ABI.md; has its table format changed?", len(out))
	}
	return out
}

func signature(f engine.Func) string {
	var ps, rs []string
	for _, p := range f.Params {
		ps = append(ps, p.String())
	}
	for _, r := range f.Results {
		rs = append(rs, r.String())
	}
	return "(" + strings.Join(ps, ",") + ")->(" + strings.Join(rs, ",") + ")"
}

package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/store"
)

// The host's Go API refuses input outside the contract before any store
// sees it, on both stores (Postgres refuses bytes that are not UTF-8, and
// NUL, with an error of its own), so every layer over it shares the rules.
func TestTheHostRefusesInputOutsideTheContract(t *testing.T) {
	t.Parallel()
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			b := setup(t, openStore(t, kind), setupOpts{}, "faults")
			ctx := context.Background()
			run := func(p host.StartRunParams) error {
				if p.Module == "" {
					p.Module = "faults"
				}
				if p.Workflow == "" {
					p.Workflow = "ok"
				}
				_, _, err := b.host.StartRun(ctx, &p)
				return err
			}
			id := "0198c0de-0000-7000-8000-000000000000"
			for name, err := range map[string]error{
				"a module name with a path":          run(host.StartRunParams{Module: "../faults"}),
				"a module version that is not UTF-8": run(host.StartRunParams{Version: "\xff"}),
				"a workflow with NUL":                run(host.StartRunParams{Workflow: "o\x00k"}),
				"an idempotency key with NUL":        run(host.StartRunParams{IdempotencyKey: "k\x00"}),
				"an input that is not UTF-8":         run(host.StartRunParams{Input: json.RawMessage("\"\xff\"")}),
				"a wait over host.MaxWait":           run(host.StartRunParams{Wait: host.MaxWait + time.Second}),
				"a negative wait":                    run(host.StartRunParams{Wait: -time.Second}),
				"a pushed module named ..": func() error {
					_, _, err := b.host.PushModule(ctx, &host.PushModuleParams{Name: "..", Wasm: []byte("x")})
					return err
				}(),
				"a signal name that is not UTF-8": func() error {
					_, err := b.host.Signal(ctx, id, "\xc0\xaf", nil)
					return err
				}(),
				"a page cursor that is no run id": func() error {
					_, err := b.host.ListRuns(ctx, &host.ListRunsParams{After: "garbage", Limit: host.DefaultListLimit})
					return err
				}(),
				"a module filter with NUL": func() error {
					_, err := b.host.ListRuns(ctx, &host.ListRunsParams{Module: "a\x00", Limit: host.DefaultListLimit})
					return err
				}(),
				"a page of no runs": func() error {
					_, err := b.host.ListRuns(ctx, &host.ListRunsParams{})
					return err
				}(),
				"a page over host.MaxListLimit": func() error {
					_, err := b.host.ListRuns(ctx, &host.ListRunsParams{Limit: host.MaxListLimit + 1})
					return err
				}(),
				"an unknown status": func() error {
					_, err := b.host.ListRuns(ctx, &host.ListRunsParams{Status: "asleep", Limit: host.DefaultListLimit})
					return err
				}(),
				"a counts workflow filter that is not UTF-8": func() error {
					_, err := b.host.CountRuns(ctx, &host.CountRunsParams{Workflow: "\xff"})
					return err
				}(),
				"a module version filter without its module": func() error {
					_, err := b.host.CountRuns(ctx, &host.CountRunsParams{ModuleVersion: "1"})
					return err
				}(),
				"a module that is not a module name": func() error {
					_, err := b.host.GetModule(ctx, "a/b")
					return err
				}(),
			} {
				if !errors.Is(err, host.ErrInvalid) {
					t.Errorf("%s: %v, want ErrInvalid", name, err)
				}
			}
			for name, err := range map[string]error{
				"a run id that is not UTF-8": func() error { _, err := b.host.Run(ctx, "\xff"); return err }(),
				"a run id that is no UUID":   func() error { _, err := b.host.Cancel(ctx, "nope"); return err }(),
			} {
				if !errors.Is(err, host.ErrNotFound) {
					t.Errorf("%s: %v, want ErrNotFound", name, err)
				}
			}
		})
	}
}

// A run started again with its idempotency key is the same run when the
// request is the same (inputs compared as JSON values), and
// ErrIdempotencyKeyReused when it is not.
func TestIdempotencyKeyComparesRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, openStore(t, "postgres"), setupOpts{}, "faults")
	ctx := context.Background()
	start := func(workflow, version, input string) (*store.Run, bool, error) {
		return b.host.StartRun(ctx, &host.StartRunParams{Module: "faults", Version: version, Workflow: workflow, Input: json.RawMessage(input), IdempotencyKey: "k"})
	}
	first, created, err := start("await", "", `{"a":[1,2.5,{"b":null}],"c":"x"}`)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	for _, tc := range []struct {
		name, workflow, version, input string
		same                           bool
	}{
		{"the same bytes", "await", "", `{"a":[1,2.5,{"b":null}],"c":"x"}`, true},
		{"another key order and spacing", "await", "1", ` { "c" : "x", "a" : [ 1.0, 25e-1, { "b" : null } ] } `, true},
		{"another array order", "await", "", `{"a":[2.5,1,{"b":null}],"c":"x"}`, false},
		{"a missing member", "await", "", `{"a":[1,2.5,{}],"c":"x"}`, false},
		{"a number as a string", "await", "", `{"a":["1",2.5,{"b":null}],"c":"x"}`, false},
		{"another workflow", "ok", "", `{"a":[1,2.5,{"b":null}],"c":"x"}`, false},
	} {
		run, created, err := start(tc.workflow, tc.version, tc.input)
		switch {
		case tc.same && (err != nil || created || run.ID != first.ID):
			t.Errorf("%s: created %v, %v; want the first run", tc.name, created, err)
		case !tc.same && !errors.Is(err, host.ErrIdempotencyKeyReused):
			t.Errorf("%s: %v, want ErrIdempotencyKeyReused", tc.name, err)
		}
	}
}

package api_test

import (
	"context"
	"testing"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// POST /v1/runs/{id}/upgrade and POST /v1/modules/{name}/upgrade: a dry
// run, a refusal with the divergence in the error, an upgrade, a bulk
// upgrade, and bad requests.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, v := range []string{"1", "2", "3"} {
		if _, _, err := b.host.PushModule(context.Background(), &host.PushModuleParams{Name: "versions", Version: v, Wasm: testmodules.Bytes(t, "versions-v"+v)}); err != nil {
			t.Fatal(err)
		}
	}
	start := func() string {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "versions", "version": "1", "workflow": "order"}).expect(t, 201, &run)
		if run.Status != "waiting" {
			t.Fatalf("run %s, want waiting for its signal", run.Status)
		}
		return run.ID
	}
	id := start()
	path := "/v1/runs/" + id + "/upgrade"

	var e api.Error
	b.do(t, "POST", path, map[string]any{"version": "3"}).expect(t, 409, &e)
	d := e.Error.Divergence
	if e.Error.Code != "upgrade_diverged" || d == nil || d.Position != 1 || d.Journal != (api.JournalCall{Kind: "step", Name: "b"}) || d.Code != (api.JournalCall{Kind: "step", Name: "x"}) {
		t.Fatalf("upgrade to 3: %+v, divergence %+v", e.Error, d)
	}

	var chk api.UpgradeCheck
	b.do(t, "POST", path, map[string]any{"version": "2", "dry_run": true}).expect(t, 200, &chk)
	if !chk.Compatible || chk.Position != 2 || chk.From.Version != "1" || chk.To.Version != "2" || chk.To.Digest == "" {
		t.Fatalf("dry run: %+v", chk)
	}
	var run api.Run
	b.do(t, "POST", path, map[string]any{"version": "2"}).expect(t, 200, &run)
	if run.ModuleVersion != "2" || run.Status != "waiting" {
		t.Fatalf("after the upgrade: version %s, %s", run.ModuleVersion, run.Status)
	}
	b.do(t, "POST", "/v1/runs/"+id+"/signals/go", map[string]any{}).expect(t, 202, nil)
	if done := b.waitStatus(t, id, "completed", "failed"); string(done.Output) != `{"steps":["a@1","b@1","c@2"],"version":2}` {
		t.Errorf("the upgraded run ended %s with %s", done.Status, done.Output)
	}
	b.do(t, "POST", path, map[string]any{"version": "1"}).expectError(t, 409, "invalid_transition")

	for _, tc := range []struct {
		body   any
		status int
		code   string
	}{
		{`{"version": "2"`, 400, "invalid_json"},
		{map[string]any{"version": "2", "force": true}, 400, "invalid_request"},
		{map[string]any{}, 400, "invalid_request"},
		{map[string]any{"version": "../2"}, 400, "invalid_request"},
		{map[string]any{"version": "9"}, 404, "module_not_found"},
	} {
		b.do(t, "POST", "/v1/runs/"+start()+"/upgrade", tc.body).expectError(t, tc.status, tc.code)
	}
	b.do(t, "POST", "/v1/runs/nope/upgrade", map[string]any{"version": "2"}).expectError(t, 404, "not_found")

	// The bulk upgrade: the runs started for the bad requests are on 1.
	var res api.ModuleUpgrade
	b.do(t, "POST", "/v1/modules/versions/upgrade", map[string]any{"from": "1", "to": "3", "dry_run": true}).expect(t, 200, &res)
	if res.Checked != 5 || res.Diverged != 5 || len(res.Divergences) != 1 || res.Divergences[0].Runs != 5 || res.Divergences[0].Position != 1 || res.Next != nil {
		t.Fatalf("dry run 1 → 3: %+v", res)
	}
	b.do(t, "POST", "/v1/modules/versions/upgrade", map[string]any{"from": "1", "to": "2", "limit": 2}).expect(t, 200, &res)
	if res.Upgraded != 2 || res.Next == nil {
		t.Fatalf("first page 1 → 2: %+v", res)
	}
	b.do(t, "POST", "/v1/modules/versions/upgrade", map[string]any{"from": "1", "to": "2", "after": *res.Next}).expect(t, 200, &res)
	if res.Upgraded != 3 || res.Next != nil {
		t.Fatalf("second page 1 → 2: %+v", res)
	}
	b.do(t, "POST", "/v1/modules/versions/upgrade", map[string]any{"from": "1", "to": "7"}).expectError(t, 404, "module_not_found")
	b.do(t, "POST", "/v1/modules/versions/upgrade", map[string]any{"from": "1"}).expectError(t, 400, "invalid_request")
	b.do(t, "POST", "/v1/modules/versions/upgrade", map[string]any{"from": "1", "to": "2", "limit": 100000}).expectError(t, 400, "invalid_request")
}

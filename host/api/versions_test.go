package api_test

import (
	"strings"
	"testing"

	"github.com/wasmflow/wasmflow/host/api"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// pinnedRuns returns GET /v1/modules/{name}'s pinned_runs per version.
func (b *testBundle) pinnedRuns(t *testing.T, name string) map[string]int64 {
	t.Helper()
	var got struct {
		Versions []api.Module `json:"versions"`
	}
	b.do(t, "GET", "/v1/modules/"+name, nil).expect(t, 200, &got)
	pinned := map[string]int64{}
	for _, v := range got.Versions {
		if v.PinnedRuns == nil {
			t.Fatalf("version %s has no pinned_runs", v.Version)
		}
		pinned[v.Version] = *v.PinnedRuns
	}
	return pinned
}

func TestDeleteModuleVersion(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	push := func(name, module string, status int) {
		b.do(t, "POST", "/v1/modules?name="+name, testmodules.Bytes(t, module), "Content-Type", "application/wasm").expect(t, status, nil)
	}
	push("shop", "signup", 201)  // version 1
	push("shop", "receipt", 201) // version 2
	push("faulty", "faults", 201)

	var waiting api.Run
	b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "shop", "version": "1", "workflow": "signup",
		"input": map[string]any{"email": "v@example.com"}}).expect(t, 201, &waiting)
	if waiting.Status != "waiting" {
		t.Fatalf("run of version 1 is %s, want waiting", waiting.Status)
	}

	t.Run("a version with pinned runs cannot be deleted", func(t *testing.T) {
		r := b.do(t, "DELETE", "/v1/modules/shop/versions/1", nil)
		r.expectError(t, 409, "version_in_use")
		if !strings.Contains(string(r.body), "1 run ") {
			t.Fatalf("refusal does not say how many runs need the version: %s", r.body)
		}
		if got := b.pinnedRuns(t, "shop"); got["1"] != 1 || got["2"] != 0 {
			t.Fatalf("pinned runs %v, want 1 of version 1 and none of version 2", got)
		}
	})
	t.Run("a failed run pins its version, since it may be retried", func(t *testing.T) {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "faulty", "workflow": "panic"}).expect(t, 201, &run)
		if run.Status != "failed" {
			t.Fatalf("run is %s, want failed", run.Status)
		}
		b.do(t, "DELETE", "/v1/modules/faulty/versions/1", nil).expectError(t, 409, "version_in_use")
		if got := b.pinnedRuns(t, "faulty"); got["1"] != 1 {
			t.Fatalf("pinned runs %v, want the failed run", got)
		}
	})
	t.Run("a version without pinned runs can be deleted, and is gone", func(t *testing.T) {
		b.do(t, "DELETE", "/v1/modules/shop/versions/2", nil).expect(t, 204, nil)
		var got struct {
			Versions []api.Module `json:"versions"`
		}
		b.do(t, "GET", "/v1/modules/shop", nil).expect(t, 200, &got)
		if len(got.Versions) != 1 || got.Versions[0].Version != "1" {
			t.Fatalf("versions after the delete: %+v, want only 1", got.Versions)
		}
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "shop", "version": "2", "workflow": "receipt",
			"input": receiptInput("D-1")}).expectError(t, 404, "module_not_found")
		b.do(t, "DELETE", "/v1/modules/shop/versions/2", nil).expectError(t, 404, "module_not_found")
	})
	t.Run("once its runs have finished, the last version goes and the runs stay", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs/"+waiting.ID+"/cancel", nil).expect(t, 202, nil)
		b.do(t, "DELETE", "/v1/modules/shop/versions/1", nil).expect(t, 204, nil)
		b.do(t, "GET", "/v1/modules/shop", nil).expectError(t, 404, "not_found")
		var run api.Run
		b.do(t, "GET", "/v1/runs/"+waiting.ID, nil).expect(t, 200, &run)
		if run.Status != "cancelled" || run.ModuleVersion != "1" {
			t.Fatalf("finished run after the delete: %s on version %s", run.Status, run.ModuleVersion)
		}
		// The same bytes can come back, as a new version of the name.
		push("shop", "signup", 201)
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "shop", "workflow": "signup",
			"input": map[string]any{"email": "w@example.com"}}).expect(t, 201, &run)
		if run.Status != "waiting" {
			t.Fatalf("run of the bytes uploaded again is %s, want waiting", run.Status)
		}
	})
	t.Run("bad names are invalid_request, unknown ones module_not_found", func(t *testing.T) {
		b.do(t, "DELETE", "/v1/modules/shop/versions/no%20spaces", nil).expectError(t, 400, "invalid_request")
		b.do(t, "DELETE", "/v1/modules/nope/versions/1", nil).expectError(t, 404, "module_not_found")
	})
}

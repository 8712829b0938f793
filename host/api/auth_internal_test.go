package api

import (
	"testing"

	"github.com/wasmflow/wasmflow/store"
)

func TestRequiredScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, path string
		want         store.TokenScope
	}{
		{"GET", "/healthz", ""},
		{"HEAD", "/healthz/", ""},
		{"GET", "/metrics", store.ScopeRead},
		{"GET", "/v1/openapi.json", store.ScopeRead},
		{"GET", "/v1/modules", store.ScopeRead},
		{"GET", "/v1/modules/shop", store.ScopeRead},
		{"HEAD", "/v1/runs", store.ScopeRead},
		{"GET", "/v1/runs/r1/events", store.ScopeRead},
		{"POST", "/v1/modules", store.ScopeAdmin},
		{"POST", "/V1/MODULES//", store.ScopeAdmin},
		{"DELETE", "/v1/modules/shop/versions/1", store.ScopeAdmin},
		{"DELETE", "/V1/Modules/shop/versions/1/", store.ScopeAdmin},
		{"POST", "/v1/modules/shop/upgrade", store.ScopeAdmin},
		{"POST", "/v1/runs/r1/upgrade", store.ScopeWrite},
		{"POST", "/v1/runs", store.ScopeWrite},
		{"POST", "/v1/runs/r1/signals/go", store.ScopeWrite},
		{"POST", "/v1/runs/r1/cancel", store.ScopeWrite},
		{"POST", "/v1/runs/r1/retry", store.ScopeWrite},
		{"DELETE", "/v1/runs/r1", store.ScopeWrite},
		{"GET", "/", ""},
		{"GET", "/ui/app.js", ""},
		{"HEAD", "/UI/style.css", ""},
		{"POST", "/", store.ScopeWrite},
		{"POST", "/ui/app.js", store.ScopeWrite},
		{"GET", "/v1/runs/counts", store.ScopeRead},
	} {
		if got := requiredScope(tc.method, tc.path); got != tc.want {
			t.Errorf("requiredScope(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

package api_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/sqlite"
)

// downStore is a store whose database cannot be reached.
type downStore struct{ store.Store }

func (downStore) RunCount(context.Context, *store.RunCountParams) ([]*store.RunCount, error) {
	return nil, fmt.Errorf("store: count runs: %w: connection refused", store.ErrUnavailable)
}

func (downStore) RunInsert(context.Context, *store.RunInsertParams) (*store.Run, bool, error) {
	return nil, false, fmt.Errorf("store: insert run: %w: connection refused", store.ErrUnavailable)
}

// A database that cannot be reached answers 503 unavailable, with
// Retry-After: not 500, which is for bugs.
func TestUnavailableDatabaseIs503(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wasmflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := host.New(ctx, &host.Config{Store: downStore{st}, Workers: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if _, _, err := h.PushModule(ctx, &host.PushModuleParams{Name: "bench", Wasm: testmodules.Bytes(t, "bench")}); err != nil {
		t.Fatal(err)
	}
	b := &testBundle{host: h, app: api.New(h, &api.Config{Auth: api.NoAuth})}
	for _, r := range []*response{
		b.do(t, "GET", "/v1/runs/counts", nil),
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "bench", "workflow": "steps", "input": map[string]any{}}),
	} {
		r.expectError(t, 503, "unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After header")
		}
	}
}

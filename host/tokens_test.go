package host_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/sqlite"
)

// tokenHosts returns two API-only hosts (two processes) on one store, with
// the given token cache TTL.
func tokenHosts(t *testing.T, ttl time.Duration) (*host.Host, *host.Host) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wasmflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var hs []*host.Host
	for range 2 {
		h, err := host.New(ctx, &host.Config{Store: st, Workers: -1, TokenCacheTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(ctx) })
		hs = append(hs, h)
	}
	return hs[0], hs[1]
}

func TestTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("created token authenticates and its secret is not stored", func(t *testing.T) {
		t.Parallel()
		h, _ := tokenHosts(t, 0)
		secret, tok, err := h.CreateToken(ctx, "ci", store.ScopeWrite)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "wf_") || len(secret) < 40 {
			t.Fatalf("secret %q is not wf_ and 32 random bytes", secret)
		}
		got, err := h.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tok.ID || got.Scope != store.ScopeWrite || got.Name != "ci" {
			t.Fatalf("authenticated as %+v, want %+v", got, tok)
		}
		toks, err := h.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(toks) != 1 || toks[0].LastUsedAt == nil {
			t.Fatalf("tokens = %+v, want one, used", toks)
		}
	})

	t.Run("unknown, malformed and empty secrets are unauthorized", func(t *testing.T) {
		t.Parallel()
		h, _ := tokenHosts(t, 0)
		secret, _, err := h.CreateToken(ctx, "ci", store.ScopeRead)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"", "wf_", secret + "x", secret[:len(secret)-1], "Bearer " + secret, strings.Repeat("wf_", 200)} {
			if _, err := h.Authenticate(ctx, s); !errors.Is(err, host.ErrUnauthorized) {
				t.Errorf("Authenticate(%.20q) error = %v, want ErrUnauthorized", s, err)
			}
		}
	})

	t.Run("bad name or scope is invalid", func(t *testing.T) {
		t.Parallel()
		h, _ := tokenHosts(t, 0)
		for _, tc := range []struct {
			name  string
			scope store.TokenScope
		}{{"", store.ScopeRead}, {"ci", "root"}, {"ci", ""}} {
			if _, _, err := h.CreateToken(ctx, tc.name, tc.scope); !errors.Is(err, host.ErrInvalid) {
				t.Errorf("CreateToken(%q, %q) error = %v, want ErrInvalid", tc.name, tc.scope, err)
			}
		}
	})

	t.Run("revoked token stops at once in its process and after the cache TTL elsewhere", func(t *testing.T) {
		t.Parallel()
		const ttl = 300 * time.Millisecond
		here, there := tokenHosts(t, ttl)
		secret, tok, err := here.CreateToken(ctx, "ci", store.ScopeAdmin)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []*host.Host{here, there} {
			if _, err := h.Authenticate(ctx, secret); err != nil {
				t.Fatal(err)
			}
		}
		revokedAt := time.Now()
		if _, err := here.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := here.Authenticate(ctx, secret); !errors.Is(err, host.ErrUnauthorized) {
			t.Fatalf("after revoke, here: error = %v, want ErrUnauthorized", err)
		}
		// The other process trusts its cache until the TTL has passed.
		if _, err := there.Authenticate(ctx, secret); err != nil && time.Since(revokedAt) < ttl {
			t.Fatalf("there, within the TTL: %v, want the cached token", err)
		}
		time.Sleep(ttl + 50*time.Millisecond)
		if _, err := there.Authenticate(ctx, secret); !errors.Is(err, host.ErrUnauthorized) {
			t.Fatalf("there, after the TTL: error = %v, want ErrUnauthorized", err)
		}
		if _, err := here.RevokeToken(ctx, "tok_nope"); !errors.Is(err, host.ErrNotFound) {
			t.Fatalf("revoke unknown: error = %v, want ErrNotFound", err)
		}
	})
}

package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/sqlite"
)

// authFixture is an API with authentication on, over an API-only host on a
// fresh SQLite store, and a token of each scope.
type authFixture struct {
	st     store.Store
	host   *host.Host
	app    *fiber.App
	tokens map[store.TokenScope]string // scope → secret
}

func newAuthFixture(t *testing.T, hostCfg host.Config, apiCfg *api.Config) *authFixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wasmflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	hostCfg.Store, hostCfg.Workers = st, -1
	hostCfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := host.New(ctx, &hostCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close(ctx)
		st.Close()
	})
	f := &authFixture{st: st, host: h, app: api.New(h, apiCfg), tokens: map[store.TokenScope]string{}}
	for _, scope := range []store.TokenScope{store.ScopeRead, store.ScopeWrite, store.ScopeAdmin} {
		f.tokens[scope] = f.createToken(t, scope)
	}
	return f
}

func (f *authFixture) createToken(t *testing.T, scope store.TokenScope) string {
	t.Helper()
	secret, _, err := f.host.CreateToken(context.Background(), "test "+string(scope), scope)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// send makes a request with the Authorization header auth (none when
// empty) and returns the status, the WWW-Authenticate header and the error
// code of the body (empty when it is not an error).
func (f *authFixture) send(t *testing.T, method, path, auth, body string) (status int, challenge, code string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &e)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), e.Error.Code
}

func TestAuthChecksTokenAndScope(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t, host.Config{}, nil)
	bearer := func(scope store.TokenScope) string { return "Bearer " + f.tokens[scope] }
	const runBody = `{"module":"nope","workflow":"w","input":{}}`
	for _, tc := range []struct {
		name, method, path, auth, body string
		status                         int
		code                           string // error code; empty for success
		challenge                      string // prefix of WWW-Authenticate; empty when there must be none
	}{
		{name: "health needs no token", method: "GET", path: "/healthz", status: 200},
		{name: "missing token is unauthorized", method: "GET", path: "/v1/runs", status: 401, code: "unauthorized", challenge: `Bearer realm="wasmflow"`},
		{name: "unknown route without a token is unauthorized", method: "GET", path: "/v1/nope", status: 401, code: "unauthorized", challenge: "Bearer"},
		{name: "another scheme is unauthorized", method: "GET", path: "/v1/runs", auth: "Basic " + f.tokens[store.ScopeAdmin], status: 401, code: "unauthorized", challenge: "Bearer"},
		{name: "empty bearer is unauthorized", method: "GET", path: "/v1/runs", auth: "Bearer ", status: 401, code: "unauthorized", challenge: "Bearer"},
		{name: "wrong token is unauthorized", method: "GET", path: "/v1/runs", auth: "Bearer wf_not-a-token", status: 401, code: "unauthorized", challenge: `Bearer realm="wasmflow", error="invalid_token"`},
		{name: "read token lists runs", method: "GET", path: "/v1/runs", auth: bearer(store.ScopeRead), status: 200},
		{name: "bearer scheme is case-insensitive", method: "GET", path: "/v1/modules", auth: "bearer  " + f.tokens[store.ScopeRead], status: 200},
		{name: "read token reads metrics", method: "GET", path: "/metrics", auth: bearer(store.ScopeRead), status: 200},
		{name: "read token reads the openapi spec", method: "GET", path: "/v1/openapi.json", auth: bearer(store.ScopeRead), status: 200},
		{name: "metrics need a token", method: "GET", path: "/metrics", status: 401, code: "unauthorized", challenge: "Bearer"},
		{name: "read token cannot start a run", method: "POST", path: "/v1/runs", auth: bearer(store.ScopeRead), body: runBody, status: 403, code: "forbidden", challenge: `Bearer realm="wasmflow", error="insufficient_scope", scope="write"`},
		{name: "read token cannot cancel a run", method: "POST", path: "/v1/runs/r1/cancel", auth: bearer(store.ScopeRead), status: 403, code: "forbidden", challenge: "Bearer"},
		{name: "write token starts runs (past auth to the unknown module)", method: "POST", path: "/v1/runs", auth: bearer(store.ScopeWrite), body: runBody, status: 404},
		{name: "write token signals runs (past auth to the unknown run)", method: "POST", path: "/v1/runs/r1/signals/go", auth: bearer(store.ScopeWrite), body: `{}`, status: 404},
		{name: "write token cannot upload a module", method: "POST", path: "/v1/modules?name=m", auth: bearer(store.ScopeWrite), body: "\x00asm", status: 403, code: "forbidden", challenge: `Bearer realm="wasmflow", error="insufficient_scope", scope="admin"`},
		{name: "write token cannot upload a module through another spelling of its path", method: "POST", path: "/V1/Modules/?name=m", auth: bearer(store.ScopeWrite), body: "\x00asm", status: 403, code: "forbidden", challenge: "Bearer"},
		{name: "admin token uploads modules (past auth to the invalid wasm)", method: "POST", path: "/v1/modules?name=m", auth: bearer(store.ScopeAdmin), body: "\x00asm", status: 400, code: "invalid_module"},
		{name: "admin token reads", method: "GET", path: "/v1/modules", auth: bearer(store.ScopeAdmin), status: 200},
		{name: "write token cannot purge runs", method: "POST", path: "/v1/runs/purge", auth: bearer(store.ScopeWrite), body: `{"before":"2026-01-01T00:00:00Z","dry_run":true}`, status: 403, code: "forbidden", challenge: `Bearer realm="wasmflow", error="insufficient_scope", scope="admin"`},
		{name: "admin token purges runs", method: "POST", path: "/v1/runs/purge", auth: bearer(store.ScopeAdmin), body: `{"before":"2026-01-01T00:00:00Z","dry_run":true}`, status: 200},
		{name: "read token cannot cancel runs by filter", method: "POST", path: "/v1/runs/cancel", auth: bearer(store.ScopeRead), body: `{"module":"m","dry_run":true}`, status: 403, code: "forbidden", challenge: "Bearer"},
		{name: "write token cancels runs by filter", method: "POST", path: "/v1/runs/cancel", auth: bearer(store.ScopeWrite), body: `{"module":"m","dry_run":true}`, status: 200},
		{name: "write token retries runs by filter", method: "POST", path: "/v1/runs/retry", auth: bearer(store.ScopeWrite), body: `{"module":"m","dry_run":true}`, status: 200},
		{name: "the web UI's page needs no token", method: "GET", path: "/", status: 200},
		{name: "the web UI's files need no token", method: "GET", path: "/ui/app.js", status: 200},
		{name: "a path through the web UI's folder reaches no API route", method: "GET", path: "/ui/../v1/runs", status: 404, code: "not_found"},
		{name: "a path through the web UI's folder, escaped, reaches no API route", method: "GET", path: "/ui/..%2fv1%2fruns", status: 404, code: "not_found"},
		{name: "posting to the web UI's page needs a token", method: "POST", path: "/", status: 401, code: "unauthorized", challenge: "Bearer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, challenge, code := f.send(t, tc.method, tc.path, tc.auth, tc.body)
			if status != tc.status || (tc.code != "" && code != tc.code) {
				t.Fatalf("%s %s = %d %q, want %d %q", tc.method, tc.path, status, code, tc.status, tc.code)
			}
			if !strings.HasPrefix(challenge, tc.challenge) || (tc.challenge == "") != (challenge == "") {
				t.Fatalf("WWW-Authenticate = %q, want %q", challenge, tc.challenge)
			}
		})
	}
}

func TestAuthRevokedToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("revoked through the host is unauthorized at once", func(t *testing.T) {
		t.Parallel()
		f := newAuthFixture(t, host.Config{}, nil)
		secret := f.createToken(t, store.ScopeRead)
		if status, _, _ := f.send(t, "GET", "/v1/runs", "Bearer "+secret, ""); status != 200 {
			t.Fatalf("before revoke: %d, want 200", status)
		}
		tok, err := f.host.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.host.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if status, _, code := f.send(t, "GET", "/v1/runs", "Bearer "+secret, ""); status != 401 || code != "unauthorized" {
			t.Fatalf("after revoke: %d %q, want 401 unauthorized", status, code)
		}
	})

	t.Run("revoked by another process is unauthorized after the cache TTL", func(t *testing.T) {
		t.Parallel()
		const ttl = 200 * time.Millisecond
		f := newAuthFixture(t, host.Config{TokenCacheTTL: ttl}, nil)
		secret := f.createToken(t, store.ScopeRead)
		if status, _, _ := f.send(t, "GET", "/v1/runs", "Bearer "+secret, ""); status != 200 {
			t.Fatalf("before revoke: %d, want 200", status)
		}
		tok, err := f.host.Authenticate(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		// Another process revokes it: straight in the store, behind the
		// host's back.
		if _, err := f.st.TokenRevoke(ctx, &store.TokenRevokeParams{ID: tok.ID, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl + 50*time.Millisecond)
		if status, _, code := f.send(t, "GET", "/v1/runs", "Bearer "+secret, ""); status != 401 || code != "unauthorized" {
			t.Fatalf("after revoke and TTL: %d %q, want 401 unauthorized", status, code)
		}
	})
}

// failingAuth is an Authenticator whose store is down.
type failingAuth struct{}

func (failingAuth) Authenticate(context.Context, string) (*store.Token, error) {
	return nil, errors.New("connection refused")
}

func TestAuthConfig(t *testing.T) {
	t.Parallel()

	t.Run("NoAuth serves every route without a token", func(t *testing.T) {
		t.Parallel()
		f := newAuthFixture(t, host.Config{}, &api.Config{Auth: api.NoAuth})
		if status, _, code := f.send(t, "POST", "/v1/modules?name=m", "", "\x00asm"); status != 400 || code != "invalid_module" {
			t.Fatalf("upload without a token = %d %q, want 400 invalid_module", status, code)
		}
	})

	t.Run("an authenticator that fails is unavailable, not unauthorized", func(t *testing.T) {
		t.Parallel()
		f := newAuthFixture(t, host.Config{}, &api.Config{Auth: failingAuth{}})
		status, _, code := f.send(t, "GET", "/v1/runs", "Bearer "+f.tokens[store.ScopeAdmin], "")
		if status != http.StatusServiceUnavailable || code != "unavailable" {
			t.Fatalf("= %d %q, want 503 unavailable", status, code)
		}
	})
}

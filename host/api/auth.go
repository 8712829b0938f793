package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
)

// Authenticator checks the secret of a bearer token and returns the token,
// or an error wrapping host.ErrUnauthorized when it is unknown or revoked.
// *host.Host is one.
type Authenticator interface {
	Authenticate(ctx context.Context, secret string) (*host.Token, error)
}

// NoAuth, as Config.Auth, serves every route without a token. Only
// `wasmflow dev`, which listens on loopback alone, uses it.
var NoAuth Authenticator = noAuth{}

type noAuth struct{}

func (noAuth) Authenticate(context.Context, string) (*host.Token, error) {
	return &host.Token{ID: "dev", Name: "dev", Scope: host.ScopeAdmin}, nil
}

// requiredScope is the scope a request needs, or "" for the route open to
// all. Paths are compared as fiber routes them, case-insensitively and
// without trailing slashes, so that POST /V1/Modules/ cannot reach the
// module upload with a write token.
func requiredScope(method, path string) host.TokenScope {
	path = strings.ToLower(path)
	if len(path) > 1 {
		path = strings.TrimRight(path, "/")
	}
	read := method == fiber.MethodGet || method == fiber.MethodHead
	switch {
	case path == "/healthz":
		return ""
	case read && (path == "/" || strings.HasPrefix(path, "/ui/")):
		return "" // the web UI's static files; it asks for a token for the API
	case read:
		return host.ScopeRead // every read, /metrics and /v1/openapi.json included
	case path == "/v1/modules" || strings.HasPrefix(path, "/v1/modules/"):
		return host.ScopeAdmin // uploading modules, moving a module's runs between its versions
	case method == fiber.MethodPost && path == "/v1/runs/purge":
		return host.ScopeAdmin // deletes runs for good
	default:
		return host.ScopeWrite // starting runs, signals, cancel, retry
	}
}

// tokenKey is the fiber.Ctx local holding the request's *host.Token.
type tokenKey struct{}

// authenticate is the middleware that lets through only requests whose
// bearer token has the scope requiredScope asks for. auth nil means h.
func authenticate(h *host.Host, auth Authenticator) fiber.Handler {
	if auth == NoAuth {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	if auth == nil {
		auth = h
	}
	return func(c *fiber.Ctx) error {
		required := requiredScope(c.Method(), c.Path())
		if required == "" {
			return c.Next()
		}
		secret, ok := bearer(c.Get(fiber.HeaderAuthorization))
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="wasmflow"`)
			return apiError(host.ErrUnauthorized,
				"this route needs a token: send the header Authorization: Bearer TOKEN (create one with wasmflow token create)")
		}
		tok, err := auth.Authenticate(c.UserContext(), secret)
		switch {
		case errors.Is(err, host.ErrUnauthorized):
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="wasmflow", error="invalid_token"`)
			return apiError(host.ErrUnauthorized, "the bearer token is unknown or revoked")
		case err != nil:
			// Not the caller's fault, and the caller is not yet trusted
			// with the cause.
			return apiError(host.ErrUnavailable, "cannot check the bearer token now; try again")
		}
		if !tok.Scope.Allows(required) {
			c.Set(fiber.HeaderWWWAuthenticate, fmt.Sprintf(`Bearer realm="wasmflow", error="insufficient_scope", scope="%s"`, required))
			return apiError(errForbidden, fmt.Sprintf("token %s has scope %s; %s %s needs %s",
				tok.ID, tok.Scope, c.Method(), c.Path(), required))
		}
		c.Locals(tokenKey{}, tok)
		return c.Next()
	}
}

// bearer returns the token of an Authorization header value "Bearer TOKEN"
// (the scheme is case-insensitive, RFC 7235).
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

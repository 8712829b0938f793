package store

import "time"

// TokenScope is what a bearer token may do. Scopes are nested: admin allows
// everything write allows, and write everything read allows.
type TokenScope string

const (
	// ScopeRead reads modules, runs and events.
	ScopeRead TokenScope = "read"
	// ScopeWrite also starts runs and sends signals, cancels and retries.
	ScopeWrite TokenScope = "write"
	// ScopeAdmin also uploads modules.
	ScopeAdmin TokenScope = "admin"
)

// scopeRank orders the scopes; a scope allows every scope of lower or equal
// rank.
var scopeRank = map[TokenScope]int{ScopeRead: 1, ScopeWrite: 2, ScopeAdmin: 3}

// Valid reports whether s is one of the scopes.
func (s TokenScope) Valid() bool { return scopeRank[s] > 0 }

// Allows reports whether a token with scope s may do what needs required.
// An invalid scope allows nothing and is allowed by nothing.
func (s TokenScope) Allows(required TokenScope) bool {
	return s.Valid() && required.Valid() && scopeRank[s] >= scopeRank[required]
}

// Token is an API bearer token. The store keeps only a hash of its secret,
// never the secret itself, so a Token cannot be turned back into one.
type Token struct {
	ID         string
	Name       string
	Scope      TokenScope
	CreatedAt  time.Time
	LastUsedAt *time.Time // nil until first used
	RevokedAt  *time.Time // nil while valid
}

type TokenGetByHashParams struct {
	Hash []byte
	// Now, when set, is recorded as the token's LastUsedAt in the same
	// statement.
	Now time.Time
}

type TokenInsertParams struct {
	ID    string
	Name  string
	Scope TokenScope
	Hash  []byte // a digest of the secret; see host.CreateToken
	Now   time.Time
}

type TokenListParams struct{}

type TokenRevokeParams struct {
	ID  string
	Now time.Time
}

package host

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// A token's secret is tokenPrefix followed by 32 random bytes in unpadded
// base64url: 256 bits that nobody can guess. The store keeps only its
// SHA-256 digest. A fast, unsalted hash is the right one for such secrets,
// unlike for passwords: a slow, salted KDF (bcrypt, argon2) protects
// low-entropy secrets from guessing, which 256 random bits do not need, and
// it would cost every request its latency and stop the store from finding a
// token by an index on its hash. A database leak therefore yields no usable
// secret, and comparing digests in the database leaks through timing at most
// a prefix of a digest, which does not help to forge a secret.
const (
	tokenPrefix      = "wf_"
	tokenSecretBytes = 32
	// defaultTokenCacheTTL is Config.TokenCacheTTL's default.
	defaultTokenCacheTTL = 30 * time.Second
)

// CreateToken creates an API token with a name (for people) and a scope. It
// returns the secret, which exists nowhere else: the store keeps a digest.
func (h *Host) CreateToken(ctx context.Context, name string, scope TokenScope) (string, *Token, error) {
	if err := checkName("token name", name); err != nil {
		return "", nil, err
	}
	if !scope.Valid() {
		return "", nil, errorf(ErrInvalid, "token scope %q is not one of admin, write, read", scope)
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(randomBytes(tokenSecretBytes))
	hash := hashToken(secret)
	tok, err := h.store.TokenInsert(ctx, &store.TokenInsertParams{
		ID: "tok_" + hex.EncodeToString(randomBytes(8)), Name: name, Scope: scope, Hash: hash[:], Now: now(),
	})
	if err != nil {
		return "", nil, fmt.Errorf("host: create token: %w", err)
	}
	return secret, tok, nil
}

// Authenticate returns the token whose secret is secret, or an error
// wrapping ErrUnauthorized when it is unknown or revoked. A token it has
// checked is trusted for Config.TokenCacheTTL without asking the store, so a
// token revoked by another process still works here for up to that long;
// one revoked through this Host's RevokeToken stops at once.
func (h *Host) Authenticate(ctx context.Context, secret string) (*Token, error) {
	// Reject what cannot be a secret without a database round trip.
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 256 {
		return nil, errorf(ErrUnauthorized, "not a wasmflow token")
	}
	hash := hashToken(secret)
	tok, gen := h.tokens.get(hash)
	if tok != nil {
		return tok, nil
	}
	tok, err := h.store.TokenGetByHash(ctx, &store.TokenGetByHashParams{Hash: hash[:], Now: now()})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(ErrUnauthorized, "unknown or revoked token")
	}
	if err != nil {
		return nil, fmt.Errorf("host: check token: %w", err)
	}
	if ttl := h.tokenCacheTTL(); ttl > 0 {
		h.tokens.put(hash, tok, time.Now().Add(ttl), gen)
	}
	return copyToken(tok), nil
}

// ListTokens returns every token, revoked ones included, oldest first. A
// token's LastUsedAt is when a process last checked it with the store, so
// it may be up to Config.TokenCacheTTL behind.
func (h *Host) ListTokens(ctx context.Context) ([]*Token, error) {
	return h.store.TokenList(ctx, &store.TokenListParams{})
}

// RevokeToken revokes a token for good. It stops working at once on this
// Host, and within Config.TokenCacheTTL on other processes.
func (h *Host) RevokeToken(ctx context.Context, id string) (*Token, error) {
	tok, err := h.store.TokenRevoke(ctx, &store.TokenRevokeParams{ID: id, Now: now()})
	h.tokens.forget(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(ErrNotFound, "no token %s", id)
	}
	return tok, err
}

func (h *Host) tokenCacheTTL() time.Duration {
	if h.cfg.TokenCacheTTL == 0 {
		return defaultTokenCacheTTL
	}
	return h.cfg.TokenCacheTTL
}

type tokenHash = [sha256.Size]byte

func hashToken(secret string) tokenHash { return sha256.Sum256([]byte(secret)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand's documented guarantee)
	return b
}

func copyToken(tok *store.Token) *store.Token {
	c := *tok
	return &c
}

// maxCachedTokens bounds the cache; past it, expired entries are dropped,
// and if none are, all of them.
const maxCachedTokens = 4096

// tokenCache remembers tokens Authenticate found, by the digest of their
// secret, until they expire. Only valid tokens are cached: an unknown
// secret always reaches the store.
type tokenCache struct {
	mu      sync.Mutex
	entries map[tokenHash]cachedToken
	// gen counts forget calls. A lookup that began before a forget must not
	// put back what was forgotten: put skips when gen has changed.
	gen uint64
}

type cachedToken struct {
	token   *store.Token
	expires time.Time
}

// get returns a copy of the cached token (nil if none) and the generation
// to pass to put.
func (c *tokenCache) get(hash tokenHash) (*store.Token, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok {
		return nil, c.gen
	}
	if time.Now().After(e.expires) {
		delete(c.entries, hash)
		return nil, c.gen
	}
	return copyToken(e.token), c.gen
}

func (c *tokenCache) put(hash tokenHash, tok *store.Token, expires time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil {
		c.entries = map[tokenHash]cachedToken{}
	}
	if len(c.entries) >= maxCachedTokens {
		now := time.Now()
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedTokens {
			clear(c.entries)
		}
	}
	c.entries[hash] = cachedToken{token: copyToken(tok), expires: expires}
}

// forget drops the token with id.
func (c *tokenCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.token.ID == id {
			delete(c.entries, k)
		}
	}
}

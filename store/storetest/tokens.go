package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// hashOf is a token hash as the host computes it.
func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func insertToken(t *testing.T, st store.Store, id string, scope store.TokenScope, now time.Time) *store.Token {
	t.Helper()
	tok, err := st.TokenInsert(ctx, &store.TokenInsertParams{ID: id, Name: "ci " + id, Scope: scope, Hash: hashOf("secret " + id), Now: now})
	ok(t, err)
	return tok
}

func tokenIDs(toks []*store.Token) []string {
	ids := make([]string, len(toks))
	for i, tok := range toks {
		ids[i] = tok.ID
	}
	return ids
}

var tokenScenarios = []scenario{
	{"token insert returns the token, found by its hash and never exposing it", func(t *testing.T, st store.Store) {
		tok := insertToken(t, st, "tok_1", store.ScopeWrite, t0)
		equal(t, "id", tok.ID, "tok_1")
		equal(t, "name", tok.Name, "ci tok_1")
		equal(t, "scope", tok.Scope, store.ScopeWrite)
		sameTime(t, "created_at", tok.CreatedAt, t0)
		sameTimePtr(t, "last_used_at", tok.LastUsedAt, nil)
		sameTimePtr(t, "revoked_at", tok.RevokedAt, nil)
		got, err := st.TokenGetByHash(ctx, &store.TokenGetByHashParams{Hash: hashOf("secret tok_1")})
		ok(t, err)
		equal(t, "found", *got, *tok)
		_, err = st.TokenGetByHash(ctx, &store.TokenGetByHashParams{Hash: hashOf("another secret")})
		wantErr(t, err, store.ErrNotFound)
	}},
	{"token insert of a taken id or hash is a conflict", func(t *testing.T, st store.Store) {
		insertToken(t, st, "tok_1", store.ScopeRead, t0)
		_, err := st.TokenInsert(ctx, &store.TokenInsertParams{ID: "tok_1", Name: "x", Scope: store.ScopeRead, Hash: hashOf("other"), Now: t0})
		wantErr(t, err, store.ErrConflict)
		_, err = st.TokenInsert(ctx, &store.TokenInsertParams{ID: "tok_2", Name: "x", Scope: store.ScopeRead, Hash: hashOf("secret tok_1"), Now: t0})
		wantErr(t, err, store.ErrConflict)
		toks, err := st.TokenList(ctx, &store.TokenListParams{})
		ok(t, err)
		equal(t, "tokens", tokenIDs(toks), []string{"tok_1"})
	}},
	{"token get by hash with a time records it as last used", func(t *testing.T, st store.Store) {
		insertToken(t, st, "tok_1", store.ScopeAdmin, t0)
		tok, err := st.TokenGetByHash(ctx, &store.TokenGetByHashParams{Hash: hashOf("secret tok_1"), Now: at(time.Minute)})
		ok(t, err)
		sameTimePtr(t, "last_used_at", tok.LastUsedAt, ptr(at(time.Minute)))
		tok, err = st.TokenGetByHash(ctx, &store.TokenGetByHashParams{Hash: hashOf("secret tok_1")})
		ok(t, err)
		sameTimePtr(t, "last_used_at after a plain get", tok.LastUsedAt, ptr(at(time.Minute)))
	}},
	{"revoked token is not found by hash but stays listed", func(t *testing.T, st store.Store) {
		insertToken(t, st, "tok_1", store.ScopeRead, t0)
		insertToken(t, st, "tok_2", store.ScopeWrite, at(time.Second))
		tok, err := st.TokenRevoke(ctx, &store.TokenRevokeParams{ID: "tok_1", Now: at(time.Minute)})
		ok(t, err)
		sameTimePtr(t, "revoked_at", tok.RevokedAt, ptr(at(time.Minute)))
		for _, now := range []time.Time{{}, at(2 * time.Minute)} {
			_, err = st.TokenGetByHash(ctx, &store.TokenGetByHashParams{Hash: hashOf("secret tok_1"), Now: now})
			wantErr(t, err, store.ErrNotFound)
		}
		// Revoking again keeps the first revocation time.
		tok, err = st.TokenRevoke(ctx, &store.TokenRevokeParams{ID: "tok_1", Now: at(time.Hour)})
		ok(t, err)
		sameTimePtr(t, "revoked_at after a second revoke", tok.RevokedAt, ptr(at(time.Minute)))
		_, err = st.TokenRevoke(ctx, &store.TokenRevokeParams{ID: "tok_404", Now: at(time.Hour)})
		wantErr(t, err, store.ErrNotFound)
		toks, err := st.TokenList(ctx, &store.TokenListParams{})
		ok(t, err)
		equal(t, "tokens", tokenIDs(toks), []string{"tok_1", "tok_2"})
		sameTimePtr(t, "listed revoked_at", toks[0].RevokedAt, ptr(at(time.Minute)))
		sameTimePtr(t, "listed revoked_at of the other", toks[1].RevokedAt, nil)
		_, err = st.TokenGetByHash(ctx, &store.TokenGetByHashParams{Hash: hashOf("secret tok_2")})
		ok(t, err)
	}},
}

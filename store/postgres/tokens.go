package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

func scanToken(row pgx.Row) (*store.Token, error) {
	var tok store.Token
	if err := row.Scan(&tok.ID, &tok.Name, &tok.Scope, &tok.CreatedAt, &tok.LastUsedAt, &tok.RevokedAt); err != nil {
		return nil, err
	}
	tok.CreatedAt = tok.CreatedAt.UTC()
	for _, t := range []*time.Time{tok.LastUsedAt, tok.RevokedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return &tok, nil
}

func scanTokens(rows pgx.Rows) ([]*store.Token, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Token, error) { return scanToken(row) })
}

// TokenGetByHash implements store.Store.
func (s *Store) TokenGetByHash(ctx context.Context, p *store.TokenGetByHashParams) (*store.Token, error) {
	// Setting last_used_at twice to the same time is no different from
	// setting it once: the lookup is retried as a read.
	var tok *store.Token
	err := s.read(ctx, func() (err error) {
		var row pgx.Row
		if p.Now.IsZero() {
			row = s.pool.QueryRow(ctx, `SELECT `+sqlstore.TokenColumns+` FROM tokens
			WHERE hash = $1 AND revoked_at IS NULL`, p.Hash)
		} else {
			row = s.pool.QueryRow(ctx, `UPDATE tokens SET last_used_at = $2
			WHERE hash = $1 AND revoked_at IS NULL RETURNING `+sqlstore.TokenColumns, p.Hash, p.Now)
		}
		tok, err = scanToken(row)
		return err
	})
	return tok, s.wrap("get token by hash", err)
}

// TokenInsert implements store.Store.
func (s *Store) TokenInsert(ctx context.Context, p *store.TokenInsertParams) (*store.Token, error) {
	tok, err := scanToken(s.pool.QueryRow(ctx, `INSERT INTO tokens (id, name, scope, hash, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING `+sqlstore.TokenColumns,
		p.ID, p.Name, string(p.Scope), p.Hash, p.Now))
	if errors.Is(err, pgx.ErrNoRows) {
		err = fmt.Errorf("token id or hash is taken: %w", store.ErrConflict)
	}
	return tok, s.wrap("insert token "+p.ID, err)
}

// TokenList implements store.Store.
func (s *Store) TokenList(ctx context.Context, p *store.TokenListParams) ([]*store.Token, error) {
	var toks []*store.Token
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, `SELECT `+sqlstore.TokenColumns+` FROM tokens ORDER BY created_at, id`)
		toks, err = scanTokens(rows)
		return err
	})
	return toks, s.wrap("list tokens", err)
}

// TokenRevoke implements store.Store.
func (s *Store) TokenRevoke(ctx context.Context, p *store.TokenRevokeParams) (*store.Token, error) {
	tok, err := scanToken(s.pool.QueryRow(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2)
		WHERE id = $1 RETURNING `+sqlstore.TokenColumns, p.ID, p.Now))
	return tok, s.wrap("revoke token "+p.ID, err)
}

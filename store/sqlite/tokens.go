package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

func scanToken(row scanner) (*store.Token, error) {
	var (
		tok              store.Token
		created          int64
		lastUsed, revoke sql.NullInt64
	)
	if err := row.Scan(&tok.ID, &tok.Name, &tok.Scope, &created, &lastUsed, &revoke); err != nil {
		return nil, err
	}
	tok.CreatedAt = fromMicros(created)
	tok.LastUsedAt = fromNullMicros(lastUsed)
	tok.RevokedAt = fromNullMicros(revoke)
	return &tok, nil
}

// TokenGetByHash implements store.Store.
func (s *Store) TokenGetByHash(ctx context.Context, p *store.TokenGetByHashParams) (*store.Token, error) {
	var row *sql.Row
	if p.Now.IsZero() {
		row = s.db.QueryRowContext(ctx, `SELECT `+sqlstore.TokenColumns+` FROM tokens
			WHERE hash = ? AND revoked_at IS NULL`, p.Hash)
	} else {
		row = s.db.QueryRowContext(ctx, `UPDATE tokens SET last_used_at = ?
			WHERE hash = ? AND revoked_at IS NULL RETURNING `+sqlstore.TokenColumns, micros(p.Now), p.Hash)
	}
	tok, err := scanToken(row)
	return tok, wrap("get token by hash", err)
}

// TokenInsert implements store.Store.
func (s *Store) TokenInsert(ctx context.Context, p *store.TokenInsertParams) (*store.Token, error) {
	tok, err := scanToken(s.db.QueryRowContext(ctx, `INSERT INTO tokens (id, name, scope, hash, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING `+sqlstore.TokenColumns,
		p.ID, p.Name, p.Scope, p.Hash, micros(p.Now)))
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("token id or hash is taken: %w", store.ErrConflict)
	}
	return tok, wrap("insert token "+p.ID, err)
}

// TokenList implements store.Store.
func (s *Store) TokenList(ctx context.Context, p *store.TokenListParams) ([]*store.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sqlstore.TokenColumns+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	defer rows.Close()
	var toks []*store.Token
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			return nil, wrap("list tokens", err)
		}
		toks = append(toks, tok)
	}
	return toks, wrap("list tokens", rows.Err())
}

// TokenRevoke implements store.Store.
func (s *Store) TokenRevoke(ctx context.Context, p *store.TokenRevokeParams) (*store.Token, error) {
	tok, err := scanToken(s.db.QueryRowContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?)
		WHERE id = ? RETURNING `+sqlstore.TokenColumns, micros(p.Now), p.ID))
	return tok, wrap("revoke token "+p.ID, err)
}

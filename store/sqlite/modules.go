package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

func scanModule(row scanner) (*store.Module, error) {
	var (
		m         store.Module
		workflows string
		created   int64
	)
	if err := row.Scan(&m.Name, &m.Version, &m.Digest, &m.Size, &workflows, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(workflows), &m.Workflows); err != nil {
		return nil, fmt.Errorf("workflows of module %s %s: %w", m.Name, m.Version, err)
	}
	m.CreatedAt = fromMicros(created)
	return &m, nil
}

func scanModules(rows *sql.Rows, err error) ([]*store.Module, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ms []*store.Module
	for rows.Next() {
		m, err := scanModule(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// ModuleInsert implements store.Store.
func (s *Store) ModuleInsert(ctx context.Context, p *store.ModuleInsertParams) (*store.Module, bool, error) {
	var m *store.Module
	created := false
	err := s.tx(ctx, func(tx *txn) error {
		var err error
		m, err = scanModule(tx.QueryRowContext(ctx, `SELECT `+sqlstore.ModuleColumns+` FROM modules WHERE name = ? AND digest = ?
			ORDER BY created_at DESC, id DESC LIMIT 1`, p.Name, p.Digest))
		if err != sql.ErrNoRows {
			return err
		}
		version := p.Version
		if version == "" {
			// Bytes that a deleted version had take that version back.
			if err := tx.QueryRowContext(ctx, `SELECT version FROM module_versions_retired WHERE name = ? AND digest = ?
				ORDER BY version DESC LIMIT 1`, p.Name, p.Digest).Scan(&version); err != nil && err != sql.ErrNoRows {
				return err
			}
		}
		if version == "" {
			if version, err = nextVersion(ctx, tx, p.Name); err != nil {
				return err
			}
		}
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM modules WHERE name = ? AND version = ?`, p.Name, version).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return fmt.Errorf("module %s version %s has another digest: %w", p.Name, version, store.ErrConflict)
		}
		var retired string
		err = tx.QueryRowContext(ctx, `SELECT digest FROM module_versions_retired WHERE name = ? AND version = ?`, p.Name, version).Scan(&retired)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if retired != "" && retired != p.Digest {
			return fmt.Errorf("module %s version %s was deleted and had other bytes; a version is not reused for other bytes: %w", p.Name, version, store.ErrConflict)
		}
		workflows := p.Workflows
		if workflows == nil {
			workflows = []string{}
		}
		wf, _ := json.Marshal(workflows)
		if _, err := tx.ExecContext(ctx, `INSERT INTO module_bytes (digest, bytes) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING`,
			p.Digest, p.Bytes); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO modules (name, version, digest, size, workflows, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, p.Name, version, p.Digest, len(p.Bytes), string(wf), micros(p.Now)); err != nil {
			return err
		}
		created = true
		m = &store.Module{Name: p.Name, Version: version, Digest: p.Digest, Size: int64(len(p.Bytes)),
			Workflows: workflows, CreatedAt: fromMicros(micros(p.Now))}
		return nil
	})
	if err != nil {
		return nil, false, wrap("insert module "+p.Name, err)
	}
	return m, created, nil
}

// nextVersion returns one more than the highest integer version name has
// had, deleted ones included.
func nextVersion(ctx context.Context, tx *txn, name string) (string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM modules WHERE name = ?
		UNION ALL SELECT version FROM module_versions_retired WHERE name = ?`, name, name)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	high := 0
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return "", err
		}
		if n, err := strconv.Atoi(v); err == nil && n > high {
			high = n
		}
	}
	return strconv.Itoa(high + 1), rows.Err()
}

// ModuleGetByName implements store.Store.
func (s *Store) ModuleGetByName(ctx context.Context, p *store.ModuleGetByNameParams) (*store.Module, error) {
	m, err := moduleByName(ctx, s.db, p.Name, p.Version)
	return m, wrap("get module "+p.Name, err)
}

// moduleByName reads the version of the module name, or its latest when
// version is empty.
func moduleByName(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, name, version string) (*store.Module, error) {
	query := `SELECT ` + sqlstore.ModuleColumns + ` FROM modules WHERE name = ?`
	args := []any{name}
	if version != "" {
		query += ` AND version = ?`
		args = append(args, version)
	}
	return scanModule(q.QueryRowContext(ctx, query+` ORDER BY created_at DESC, id DESC LIMIT 1`, args...))
}

// ModuleGetBytes implements store.Store.
func (s *Store) ModuleGetBytes(ctx context.Context, p *store.ModuleGetBytesParams) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT bytes FROM module_bytes WHERE digest = ?`, p.Digest).Scan(&b)
	return b, wrap("get module bytes "+p.Digest, err)
}

// ModuleImageGet implements store.Store.
func (s *Store) ModuleImageGet(ctx context.Context, p *store.ModuleImageGetParams) (*store.ModuleImage, error) {
	img := &store.ModuleImage{Digest: p.Digest, Format: p.Format}
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT image, created_at FROM module_images WHERE digest = ? AND format = ?`, p.Digest, p.Format).
		Scan(&img.Image, &created)
	if err != nil {
		return nil, wrap("get init image of module "+p.Digest, err)
	}
	img.CreatedAt = fromMicros(created)
	return img, nil
}

// ModuleImagePut implements store.Store.
func (s *Store) ModuleImagePut(ctx context.Context, p *store.ModuleImagePutParams) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO module_images (digest, format, image, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (digest, format) DO UPDATE SET image = excluded.image, created_at = excluded.created_at`,
		p.Digest, p.Format, p.Image, micros(p.Now))
	return wrap("put init image of module "+p.Digest, err)
}

// ModuleList implements store.Store.
func (s *Store) ModuleList(ctx context.Context, p *store.ModuleListParams) ([]*store.Module, error) {
	ms, err := scanModules(s.db.QueryContext(ctx, `SELECT `+sqlstore.ModuleColumns+` FROM (
		SELECT *, ROW_NUMBER() OVER (PARTITION BY name ORDER BY created_at DESC, id DESC) AS n FROM modules
	) WHERE n = 1 ORDER BY name`))
	return ms, wrap("list modules", err)
}

// ModuleListVersions implements store.Store.
func (s *Store) ModuleListVersions(ctx context.Context, p *store.ModuleListVersionsParams) ([]*store.Module, error) {
	ms, err := scanModules(s.db.QueryContext(ctx, `SELECT `+sqlstore.ModuleColumns+` FROM modules WHERE name = ?
		ORDER BY created_at DESC, id DESC`, p.Name))
	return ms, wrap("list versions of module "+p.Name, err)
}

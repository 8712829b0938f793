// Package migrate applies numbered, embedded SQL migrations. It knows no
// database driver: each store supplies a Target that records which versions
// were applied and applies one migration in a transaction.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema change, read from a file named
// NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Target is a database that migrations are applied to.
type Target interface {
	// Applied returns the versions already applied, creating the
	// schema_migrations table first if it does not exist.
	Applied(ctx context.Context) (map[int]bool, error)
	// Apply runs m.SQL and records m.Version in schema_migrations, in one
	// transaction.
	Apply(ctx context.Context, m Migration) error
}

// Load reads the migrations in dir of fsys, ordered by version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("migrate: list %s: %w", dir, err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migrate: %s: name must be NNNN_name.sql", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrate: %s and %s share version %d", prev, base, v)
		}
		seen[v] = base
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", base, err)
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(base, ".sql"), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Up applies, in order, every migration of ms that t has not applied yet.
// Callers that may race with other processes hold a lock around it.
func Up(ctx context.Context, t Target, ms []Migration) error {
	applied, err := t.Applied(ctx)
	if err != nil {
		return fmt.Errorf("migrate: read applied versions: %w", err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if err := t.Apply(ctx, m); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
	}
	return nil
}

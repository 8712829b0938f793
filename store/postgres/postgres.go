// Package postgres is the store for many host processes sharing one
// PostgreSQL database. Runs are claimed with FOR UPDATE SKIP LOCKED. The
// writes of activations (RunApply) go through one writer per store, which
// commits the writes made concurrently together: one round trip and one
// commit per batch (group commit), each write fenced on its own.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/migrate"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// planCacheMode is the plan_cache_mode of the connections Open makes (a
// setting of Postgres 12 and later). pgx prepares every statement once per
// connection; by default Postgres then plans its first five executions for
// their parameters before it settles on a generic plan, and every statement
// of the store's does settle on one (each key lookup's plan is the same
// whatever the key). Those first plannings cost 0.1-0.4 ms a statement and
// a connection; the statements of a resume, run only a few times on each
// connection, were planned on about half of BenchmarkResume's resumes
// (RATIONALE.md, "Planning once").
const planCacheMode = "force_generic_plan"

// SQLSTATEs raised by the functions of the schema.
const (
	codeFenced   = "WF001"
	codeNotFound = "WF002"
	codeUnique   = "23505"
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool       *pgxpool.Pool
	connConfig *pgx.ConnConfig // for connections outside the pool (Listen)
	writer     *sqlstore.Writer
	ownsPool   bool // Close closes the pool: Open made it

	// Analysing young tables (analyze.go).
	analyzeAfter []int64
	writes       atomic.Int64 // writes committed
	analyzed     atomic.Int32 // thresholds of analyzeAfter reached
	life         context.Context
	end          context.CancelFunc
	background   sync.WaitGroup
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Batcher = (*Store)(nil)
)

// Open connects to the database at url and applies the migrations it lacks.
// When url sets search_path, the tables live in its first schema, which is
// created if missing. Its connections plan each prepared statement once
// (planCacheMode) unless url sets plan_cache_mode itself.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = planCacheMode
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	s, err := New(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// New returns a store on an existing pool and applies the migrations its
// database lacks, as Open does; the pool's search_path, if it sets one,
// names the schema. The caller keeps the pool: Close leaves it open. The
// store's listener (Listen) opens a connection of its own with the pool's
// connection settings. The pool's settings are the caller's: a pool made
// with plan_cache_mode=force_generic_plan in its runtime parameters plans
// the store's statements once, as Open's does.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	cfg := pool.Config().ConnConfig
	s := &Store{pool: pool, connConfig: cfg, analyzeAfter: analyzeAfter}
	if err := s.migrate(ctx, cfg.RuntimeParams["search_path"]); err != nil {
		return nil, err
	}
	s.life, s.end = context.WithCancel(context.Background())
	s.writer = sqlstore.NewWriter(s.RunApplyBatch)
	return s, nil
}

// Close closes the store's connections: the pool, when Open made it.
func (s *Store) Close() error {
	s.writer.Close()
	s.end()
	s.background.Wait()
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// migrate applies the migrations under an advisory lock, so that processes
// opening the same schema at once apply each migration once.
func (s *Store) migrate(ctx context.Context, searchPath string) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Release()
	h := fnv.New64a()
	h.Write([]byte("wasmflow migrate " + searchPath))
	key := int64(h.Sum64())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("store: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	if schema := firstSchema(searchPath); schema != "" {
		if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("store: migrate: create schema %s: %w", schema, err)
		}
	}
	ms, err := migrate.Load(migrations, "migrations")
	if err == nil {
		err = migrate.Up(ctx, target{conn.Conn()}, ms)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// firstSchema returns the schema tables are created in for a search_path
// ("" when it names none explicitly).
func firstSchema(searchPath string) string {
	for _, s := range strings.Split(searchPath, ",") {
		s = strings.TrimSpace(s)
		if s == "" || s == "$user" || s == `"$user"` {
			continue
		}
		if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			s = strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
		}
		return s
	}
	return ""
}

// target is the migrate.Target of one connection.
type target struct{ conn *pgx.Conn }

func (t target) Applied(ctx context.Context) (map[int]bool, error) {
	if _, err := t.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, err
	}
	rows, _ := t.conn.Query(ctx, `SELECT version FROM schema_migrations`)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, err
	}
	applied := map[int]bool{}
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}

func (t target) Apply(ctx context.Context, m migrate.Migration) error {
	return pgx.BeginFunc(ctx, t.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
		return err
	})
}

// wrap adds context to err and translates the driver's errors into the
// store's.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	switch {
	case s.dropped(err):
		err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	case errors.Is(err, pgx.ErrNoRows):
		err = store.ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == codeFenced:
		err = fmt.Errorf("%s: %w", pgErr.Message, store.ErrFenced)
	case errors.As(err, &pgErr) && pgErr.Code == codeNotFound:
		err = fmt.Errorf("%s: %w", pgErr.Message, store.ErrNotFound)
	case errors.As(err, &pgErr) && pgErr.Code == codeUnique:
		err = fmt.Errorf("%s: %w", pgErr.Message, store.ErrConflict)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

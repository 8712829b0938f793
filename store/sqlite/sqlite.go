// Package sqlite is the embedded store: a pure-Go SQLite database in one
// file, for one process (wasmflow dev, a single-machine server, tests). The
// process holds a lock on the file while the store is open, and a second
// process that opens it is refused. All access goes through one connection,
// so writes are serialized without lock contention, and the writes of
// activations (RunApply) go through one writer, which commits those made
// concurrently in one transaction (group commit).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/migrate"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store on a SQLite database file.
type Store struct {
	db     *sql.DB
	lock   *os.File // held while the store is open; nil where there is no flock
	writer *sqlstore.Writer

	stmtsMu sync.Mutex
	stmts   map[string]*sql.Stmt // prepared statements by query (see txn)
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Batcher = (*Store)(nil)
)

// Open opens (creating it and its directory if needed) the database at path
// and applies the migrations it lacks. The database is this process's until
// Close: Open fails, saying which process has it, when another one does.
// Runs left running by a process that died (kill -9, a crash) are then
// claimable at once: no one else can hold their leases.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("store: create directory of %s: %w", path, err)
		}
	}
	lk, err := lock(path)
	if err != nil {
		return nil, err
	}
	st, err := open(ctx, path)
	if err != nil {
		if lk != nil {
			lk.Close()
		}
		return nil, err
	}
	st.lock = lk
	if lk != nil {
		if err := st.takeBackLeases(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// takeBackLeases makes the runs left running by an earlier process that
// had the database claimable now. The lock proves that process is gone, so
// waiting out its leases would only delay them; their next claim
// increments their fences as any claim does.
func (s *Store) takeBackLeases(ctx context.Context) error {
	now := micros(time.Now())
	_, err := s.db.ExecContext(ctx, `UPDATE runs SET wake_at = ? WHERE status = 'running' AND wake_at > ?`, now, now)
	return wrap("take back the leases of a process that ended", err)
}

// open opens the database and migrates it.
func open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and a single connection
	// makes every transaction see the last committed write.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, stmts: map[string]*sql.Stmt{}}
	ms, err := migrate.Load(migrations, "migrations")
	if err == nil {
		err = migrate.Up(ctx, target{s}, ms)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	s.writer = sqlstore.NewWriter(s.RunApplyBatch)
	return s, nil
}

// Close closes the database and releases it for other processes.
func (s *Store) Close() error {
	s.writer.Close()
	s.stmtsMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmtsMu.Unlock()
	err := s.db.Close()
	if s.lock != nil {
		s.lock.Close()
	}
	return err
}

// target is the migrate.Target of a store.
type target struct{ s *Store }

func (t target) Applied(ctx context.Context) (map[int]bool, error) {
	s := t.s
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

func (t target) Apply(ctx context.Context, m migrate.Migration) error {
	return t.s.tx(ctx, func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro())
		return err
	})
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE), committing if fn
// returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *txn) error) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	tx := &txn{Tx: t, s: s}
	defer tx.prepareMissing(ctx)
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// txn is a write transaction whose statements are prepared once per store
// and reused: SQLite would otherwise parse each statement again every time
// it runs. A statement is prepared after the first transaction that runs
// it has ended, since the store's one connection is that transaction's
// until then.
type txn struct {
	*sql.Tx
	s       *Store
	missing []string // queries run unprepared
}

func (tx *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

func (tx *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

func (tx *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// stmt returns the transaction's handle on the store's prepared statement
// of query, or nil when it is not prepared yet.
func (tx *txn) stmt(ctx context.Context, query string) *sql.Stmt {
	s := tx.s
	s.stmtsMu.Lock()
	st, ok := s.stmts[query]
	s.stmtsMu.Unlock()
	if !ok {
		tx.missing = append(tx.missing, query)
		return nil
	}
	return tx.StmtContext(ctx, st)
}

// prepareMissing prepares the statements the transaction ran unprepared.
// A statement that fails to prepare (one that only a transaction's own
// schema changes make valid) is left unprepared, to be tried again.
func (tx *txn) prepareMissing(ctx context.Context) {
	s := tx.s
	for _, q := range tx.missing {
		s.stmtsMu.Lock()
		_, ok := s.stmts[q]
		s.stmtsMu.Unlock()
		if ok {
			continue
		}
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		s.stmtsMu.Lock()
		if _, ok := s.stmts[q]; ok {
			st.Close()
		} else {
			s.stmts[q] = st
		}
		s.stmtsMu.Unlock()
	}
}

// wrap adds context to err, translating sql.ErrNoRows to store.ErrNotFound.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// micros encodes a time as microseconds since the Unix epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

// microsPtr encodes an optional time; nil is NULL.
func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros decodes a time stored by micros, in UTC.
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// fromNullMicros decodes an optional time.
func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// nullText stores an optional JSON document; nil is NULL.
func nullText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// nullString stores an empty string as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

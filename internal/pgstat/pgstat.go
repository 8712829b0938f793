// Package pgstat reads what a PostgreSQL server spent on a piece of work:
// the statements pg_stat_statements counted, folded into round trips, and
// the server's CPU time from /proc (when the server runs on this machine).
// Tests and `wasmflow bench` use it.
package pgstat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Calls are the calls of each statement, by query text.
type Calls map[string]int64

// ReadCalls reads pg_stat_statements for the current database, only the
// statements of role when it is not empty. It fails when the server does
// not load pg_stat_statements (shared_preload_libraries) or the extension
// cannot be created.
func ReadCalls(ctx context.Context, conn *pgx.Conn, role string) (Calls, error) {
	var schema string
	err := conn.QueryRow(ctx, `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_stat_statements'`).Scan(&schema)
	if err == pgx.ErrNoRows {
		if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA public`); err != nil {
			return nil, fmt.Errorf("create extension pg_stat_statements: %w", err)
		}
		schema, err = "public", nil
	}
	if err != nil {
		return nil, err
	}
	rows, _ := conn.Query(ctx, `SELECT s.query, s.calls FROM `+pgx.Identifier{schema, "pg_stat_statements"}.Sanitize()+` s
		JOIN pg_roles r ON r.oid = s.userid
		WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND ($1 = '' OR r.rolname = $1)`, role)
	calls := Calls{}
	var q string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&q, &n}, func() error { calls[q] += n; return nil }); err != nil {
		return nil, fmt.Errorf("read pg_stat_statements (the server must load it: shared_preload_libraries): %w", err)
	}
	return calls, nil
}

// Since returns the calls made after before.
func (c Calls) Since(before Calls) Calls {
	d := Calls{}
	for q, n := range c {
		if n -= before[q]; n > 0 {
			d[q] = n
		}
	}
	return d
}

// inBatch marks the statements that store/postgres pipelines after the
// first of their batch, which share its round trip: a write batch's after
// its fence check (their okSQL), and a journal read's after its first
// statement (marked so).
var inBatch = []string{"g.write_seq >=", "/* pipelined */"}

// Statements is the number of statements run, transaction control left
// out.
func (c Calls) Statements() int64 {
	var n int64
	for q, k := range c {
		if !control(q) {
			n += k
		}
	}
	return n
}

// RoundTrips is the number of round trips the statements took: each
// statement is one, but for BEGIN, COMMIT and ROLLBACK and the statements
// that a write batch pipelines after its fence check.
func (c Calls) RoundTrips() int64 {
	var n int64
	for q, k := range c {
		if !control(q) && !slices.ContainsFunc(inBatch, func(m string) bool { return strings.Contains(q, m) }) {
			n += k
		}
	}
	return n
}

func control(q string) bool {
	switch strings.ToUpper(strings.TrimSpace(q)) {
	case "BEGIN", "COMMIT", "ROLLBACK":
		return true
	}
	return false
}

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100
// on Linux).
const clockTick = 10 * time.Millisecond

// ProcessCPU returns the user and system CPU time process pid used so far,
// and that of its children it has waited for.
func ProcessCPU(pid int) (self, children time.Duration, ppid int, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields start
	// after its closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	// f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14-17.
	self = time.Duration(num(11)+num(12)) * clockTick
	children = time.Duration(num(13)+num(14)) * clockTick
	return self, children, int(num(1)), nil
}

// ServerCPU returns the CPU time a PostgreSQL server has used so far: its
// postmaster's, with that of the children it has reaped, and that of its
// live children (backends, WAL writer, checkpointer). backendPID is the
// pid of one of its backends (pg_backend_pid()); the server must run on
// this machine.
func ServerCPU(backendPID int) (time.Duration, error) {
	_, _, postmaster, err := ProcessCPU(backendPID)
	if err != nil {
		return 0, fmt.Errorf("the database server is not a process of this machine: %w", err)
	}
	self, reaped, _, err := ProcessCPU(postmaster)
	if err != nil {
		return 0, err
	}
	total := self + reaped
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if cpu, _, ppid, err := ProcessCPU(pid); err == nil && ppid == postmaster {
			total += cpu
		}
	}
	return total, nil
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

func scanRun(row pgx.Row) (*store.Run, error) {
	var (
		r                       store.Run
		status                  string
		input, output, progress []byte
		key, parent             *string
		onParentEnd             string
	)
	err := row.Scan(&r.ID, &r.ModuleName, &r.ModuleVersion, &r.ModuleDigest, &r.Workflow, &status, &input, &output, &r.Error,
		&r.Attempt, &key, &progress, &r.Activations, &r.CancelRequested, &r.SignalsReceived, &r.EventCount,
		&r.WakeAt, &r.LeaseOwner, &r.Fence, &r.CreatedAt, &r.UpdatedAt, &r.CompletedAt, &parent, &onParentEnd, &r.ChildrenEnded, &r.ChildrenWake)
	if err != nil {
		return nil, err
	}
	if parent != nil {
		r.ParentID = *parent
	}
	r.OnParentEnd = store.ParentEnd(onParentEnd)
	r.Status = store.RunStatus(status)
	r.Input, r.Output, r.Progress = input, output, progress
	if key != nil {
		r.IdempotencyKey = *key
	}
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	r.WakeAt, r.CompletedAt = utcPtr(r.WakeAt), utcPtr(r.CompletedAt)
	return &r, nil
}

func scanRuns(rows pgx.Rows) ([]*store.Run, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Run, error) { return scanRun(row) })
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// querier is a pool, a connection or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getRun(ctx context.Context, q querier, id string, lock bool) (*store.Run, error) {
	sql := `SELECT ` + sqlstore.RunColumns + ` FROM runs WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	return scanRun(q.QueryRow(ctx, sql, id))
}

// addEventSQL counts one more event on run $1 and appends it as the last.
const addEventSQL = `WITH r AS (UPDATE runs SET event_count = event_count + 1 WHERE id = $1 RETURNING event_count)
	INSERT INTO events (run_id, seq, type, step, at, data) SELECT $1, r.event_count, $2, $3, $4, $5 FROM r`

func addEvent(ctx context.Context, q querier, runID string, ev *store.NewEvent, now time.Time) error {
	_, err := q.Exec(ctx, addEventSQL, runID, string(ev.Type), ev.Step, sqlstore.OrNow(ev.At, now), eventData(ev.Data))
	return err
}

func eventData(d json.RawMessage) []byte {
	if d == nil {
		return []byte("{}")
	}
	return d
}

// nullString stores an empty string as NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// runInput is a run's input as stored: JSON null when there is none.
func runInput(in json.RawMessage) json.RawMessage {
	if in == nil {
		return json.RawMessage("null")
	}
	return in
}

// insertRunSQL inserts a run ($1 …), its run_created event and, when it is
// created claimed, its activation_started event, in one statement, from
// source: a VALUES of its module ($2, $3, $4), or resolveModuleSQL. A run
// created running fires no notification (the runs_runnable trigger wants
// a runnable status).
func insertRunSQL(source, createdData string) string {
	return `WITH m AS (` + source + `), r AS (
			INSERT INTO runs (id, module_name, module_version, module_digest, workflow, status, input, idempotency_key,
				event_count, wake_at, created_at, updated_at, activations, fence, lease_owner, parent_id, on_parent_end)
			SELECT $1, m.name, m.version, m.digest, $5, $10, $6, $7, $11, $12, $8, $8, $13, $16, $14, $17, $18 FROM m
			ON CONFLICT (idempotency_key) DO NOTHING RETURNING ` + sqlstore.RunColumns + `
		), e AS (
			INSERT INTO events (run_id, seq, type, step, at, data)
			SELECT id, 1, 'run_created', '', created_at, ` + createdData + ` FROM r
			UNION ALL
			SELECT id, 2, 'activation_started', '', created_at, $15::json FROM r WHERE r.lease_owner <> ''
		) SELECT ` + sqlstore.RunColumns + ` FROM r`
}

var (
	insertRunGivenSQL = insertRunSQL(`SELECT $2::text AS name, $3::text AS version, $4::text AS digest`, `$9::json`)
	// insertRunResolvedSQL resolves the module in the statement: the
	// version $3, or the latest when $3 is empty, only when it has the
	// workflow $5 (no row otherwise); the digest $4 is empty. Its
	// run_created event's data ($9 is NULL) is
	// store.RunCreated's encoding, made here for the version resolved
	// (names and versions are plain ASCII, which to_json writes as
	// encoding/json does).
	insertRunResolvedSQL = insertRunSQL(`SELECT name, version, digest FROM (
				SELECT name, version, digest, workflows FROM modules WHERE name = $2 AND ($3 = '' OR version = $3)
				ORDER BY created_at DESC, id DESC LIMIT 1) latest
			WHERE $4::text = '' AND EXISTS (SELECT 1 FROM json_array_elements_text(latest.workflows) w WHERE w = $5)`,
		`COALESCE($9::json, format('{"module":%s,"version":%s,"workflow":%s}', to_json(r.module_name), to_json(r.module_version), to_json(r.workflow))::json)`)
)

// RunInsert implements store.Store: one statement, and a second for the
// run that holds the idempotency key when the insert found it taken.
func (s *Store) RunInsert(ctx context.Context, p *store.RunInsertParams) (*store.Run, bool, error) {
	if err := sqlstore.CheckResolvable(p); err != nil {
		return nil, false, err
	}
	input := runInput(p.Input)
	var onParentEnd store.ParentEnd
	if p.ParentID != "" {
		onParentEnd = sqlstore.OnParentEnd(p)
	}
	q, data := insertRunGivenSQL, sqlstore.CreatedEvent(p).Data
	if p.ModuleDigest == "" {
		q, data = insertRunResolvedSQL, nil
	}
	c := sqlstore.InsertClaim(p)
	run, err := scanRun(s.pool.QueryRow(ctx, q,
		p.ID, p.ModuleName, p.ModuleVersion, p.ModuleDigest, p.Workflow, []byte(input), nullString(p.IdempotencyKey), p.Now, data,
		string(c.Status), c.EventCount, c.WakeAt, c.Activations, p.Owner, c.Event, int64(c.Activations),
		nullString(p.ParentID), string(onParentEnd)))
	if err == nil {
		return run, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, s.wrap("insert run "+p.ID, err)
	}
	if p.IdempotencyKey != "" {
		run, err = scanRun(s.pool.QueryRow(ctx, `SELECT `+sqlstore.RunColumns+` FROM runs WHERE idempotency_key = $1`, p.IdempotencyKey))
		if err == nil {
			return run, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, false, s.wrap("insert run "+p.ID+": get run with its idempotency key", err)
		}
	}
	return nil, false, s.wrap("insert run "+p.ID, sqlstore.Unresolved(p))
}

// RunGetByID implements store.Store.
func (s *Store) RunGetByID(ctx context.Context, p *store.RunGetByIDParams) (*store.Run, error) {
	var run *store.Run
	err := s.read(ctx, func() (err error) {
		run, err = getRun(ctx, s.pool, p.ID, false)
		return err
	})
	return run, s.wrap("get run "+p.ID, err)
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	q, args := sqlstore.RunListQuery(p, func(n int) string { return "$" + strconv.Itoa(n) })
	var runs []*store.Run
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, q, args...)
		runs, err = scanRuns(rows)
		return err
	})
	return runs, s.wrap("list runs", err)
}

// RunCount implements store.Store.
func (s *Store) RunCount(ctx context.Context, p *store.RunCountParams) ([]*store.RunCount, error) {
	q, args := sqlstore.RunCountQuery(p, func(n int) string { return "$" + strconv.Itoa(n) })
	var counts []*store.RunCount
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, q, args...)
		counts, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.RunCount, error) {
			c := &store.RunCount{}
			err := row.Scan(&c.ModuleName, &c.ModuleVersion, &c.Workflow, &c.Status, &c.Count)
			return c, err
		})
		return err
	})
	return counts, s.wrap("count runs", err)
}

// RunClaim implements store.Store.
func (s *Store) RunClaim(ctx context.Context, p *store.RunClaimParams) ([]*store.Run, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1
	}
	only := ""
	if p.RunID != "" {
		only = ` AND id = $5`
	}
	// One statement: pick, lock (skipping runs other claimers hold), take
	// the lease and append the activation_started events.
	q := `WITH c AS (
			SELECT id, wake_at AS prev FROM runs WHERE status IN ` + sqlstore.Claimable + ` AND wake_at <= $1` + only + `
			ORDER BY wake_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
		), u AS (
			UPDATE runs r SET status = 'running', fence = r.fence + 1, activations = r.activations + 1, lease_owner = $3,
				wake_at = $4, event_count = r.event_count + 1, updated_at = $1
			FROM c WHERE r.id = c.id RETURNING r.*, c.prev
		), e AS (
			INSERT INTO events (run_id, seq, type, step, at, data)
			SELECT id, event_count, 'activation_started', '', $1, json_build_object('owner', lease_owner, 'activation', activations)
			FROM u
		) SELECT ` + sqlstore.RunColumns + ` FROM u ORDER BY prev, id`
	args := []any{p.Now, limit, p.Owner, p.Now.Add(p.LeaseDuration)}
	if p.RunID != "" {
		args = append(args, p.RunID)
	}
	rows, _ := s.pool.Query(ctx, q, args...)
	runs, err := scanRuns(rows)
	return runs, s.wrap("claim runs", err)
}

// RunListWakeups implements store.Store.
func (s *Store) RunListWakeups(ctx context.Context, p *store.RunListWakeupsParams) ([]*store.Wakeup, error) {
	var wakeups []*store.Wakeup
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, sqlstore.WakeupsQuery("$1", "$2"), p.After, sqlstore.WakeupsLimit(p))
		wakeups, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Wakeup, error) {
			w := &store.Wakeup{}
			err := row.Scan(&w.RunID, &w.At)
			w.At = w.At.UTC()
			return w, err
		})
		return err
	})
	return wakeups, s.wrap("list wake-ups", err)
}

// RunHeartbeat implements store.Store.
func (s *Store) RunHeartbeat(ctx context.Context, p *store.RunHeartbeatParams) ([]*store.LeaseState, error) {
	ids := make([]string, len(p.Leases))
	fences := make([]int64, len(p.Leases))
	for i, l := range p.Leases {
		ids[i], fences[i] = l.RunID, l.Fence
	}
	// The runs are locked in id order, as write batches lock them, so that
	// a heartbeat and a batch never wait on each other crosswise (a
	// deadlock, which Postgres breaks only after deadlock_timeout).
	rows, _ := s.pool.Query(ctx, `WITH held AS (SELECT r.id FROM runs r
			JOIN unnest($2::text[], $3::bigint[]) AS l(id, fence) ON r.id = l.id AND r.fence = l.fence
			WHERE r.status = 'running' ORDER BY r.id FOR UPDATE OF r)
		UPDATE runs r SET wake_at = $1 FROM held WHERE r.id = held.id
		RETURNING r.id, r.fence, r.cancel_requested`, p.Now.Add(p.LeaseDuration), ids, fences)
	held := map[store.Lease]bool{} // the held leases, with their cancel_requested
	var l store.Lease
	var cancel bool
	_, err := pgx.ForEachRow(rows, []any{&l.RunID, &l.Fence, &cancel}, func() error {
		held[l] = cancel
		return nil
	})
	if err != nil {
		return nil, s.wrap("heartbeat", err)
	}
	states := make([]*store.LeaseState, len(p.Leases))
	for i, l := range p.Leases {
		cancel, ok := held[l]
		states[i] = &store.LeaseState{RunID: l.RunID, Held: ok, CancelRequested: cancel}
	}
	return states, nil
}

// RunRelease implements store.Store.
func (s *Store) RunRelease(ctx context.Context, p *store.RunReleaseParams) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT wasmflow_fence($1, $2)`, p.ID, p.Fence); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE runs SET status = 'pending', wake_at = $2, lease_owner = '', updated_at = $2
			WHERE id = $1`, p.ID, p.Now)
		return err
	})
	return s.wrap("release run "+p.ID, err)
}

// RunCancel implements store.Store.
func (s *Store) RunCancel(ctx context.Context, p *store.RunCancelParams) (*store.Run, error) {
	var run *store.Run
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		run, err = sqlstore.RunCancel(ctx, steerTx{tx}, p)
		return err
	})
	if err != nil {
		return nil, s.wrap("cancel run "+p.ID, err)
	}
	return run, nil
}

// RunChildren implements store.Store. One statement reads the parent (its
// ChildrenEnded) and its children, so both come from one snapshot: a
// child's end and its count commit together.
func (s *Store) RunChildren(ctx context.Context, p *store.RunChildrenParams) (*store.RunChildren, error) {
	var ids []string // NULL: all the children
	if len(p.IDs) > 0 {
		ids = p.IDs
	}
	var runs []*store.Run
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, `SELECT `+sqlstore.RunColumns+` FROM (
				SELECT 0 AS k, * FROM runs WHERE id = $1
				UNION ALL
				SELECT 1 AS k, * FROM runs WHERE parent_id = $1 AND ($2::text[] IS NULL OR id = ANY($2::text[]))
			) r ORDER BY k, created_at, id`, p.ParentID, ids)
		runs, err = scanRuns(rows)
		return err
	})
	if err != nil {
		return nil, s.wrap("list children of run "+p.ParentID, err)
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("store: list children of run %s: %w", p.ParentID, store.ErrNotFound)
	}
	res := &store.RunChildren{Ended: runs[0].ChildrenEnded}
	if len(runs) > 1 {
		res.Runs = runs[1:]
	}
	return res, nil
}

// RunRetry implements store.Store.
func (s *Store) RunRetry(ctx context.Context, p *store.RunRetryParams) (*store.Run, error) {
	var run *store.Run
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		run, err = sqlstore.RunRetry(ctx, steerTx{tx}, p)
		return err
	})
	if err != nil {
		return nil, s.wrap("retry run "+p.ID, err)
	}
	return run, nil
}

// pruneJournal deletes the run's first failed entry, every entry after it,
// and their effects, and hands the signals those entries consumed back.
func pruneJournal(ctx context.Context, tx pgx.Tx, runID string) error {
	_, err := tx.Exec(ctx, `WITH f AS (
			SELECT min(seq) AS seq FROM entries WHERE run_id = $1 AND status = $2
		), ef AS (
			DELETE FROM effects e USING f WHERE e.run_id = $1 AND e.step_seq >= f.seq
		), en AS (
			DELETE FROM entries e USING f WHERE e.run_id = $1 AND e.seq >= f.seq
		) UPDATE signals s SET consumed_by = NULL FROM f WHERE s.run_id = $1 AND s.consumed_by >= f.seq`,
		runID, string(store.EntryFailed))
	return err
}

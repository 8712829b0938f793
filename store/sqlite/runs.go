package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

func scanRun(row scanner) (*store.Run, error) {
	var (
		r                     store.Run
		output, key, progress sql.NullString
		wake, completed       sql.NullInt64
		input                 string
		created, updated      int64
		status                string
		parent                sql.NullString
		onParentEnd           string
	)
	err := row.Scan(&r.ID, &r.ModuleName, &r.ModuleVersion, &r.ModuleDigest, &r.Workflow, &status, &input, &output, &r.Error,
		&r.Attempt, &key, &progress, &r.Activations, &r.CancelRequested, &r.SignalsReceived, &r.EventCount,
		&wake, &r.LeaseOwner, &r.Fence, &created, &updated, &completed, &parent, &onParentEnd, &r.ChildrenEnded, &r.ChildrenWake)
	if err != nil {
		return nil, err
	}
	r.ParentID, r.OnParentEnd = parent.String, store.ParentEnd(onParentEnd)
	r.Status = store.RunStatus(status)
	r.Input = json.RawMessage(input)
	if output.Valid {
		r.Output = json.RawMessage(output.String)
	}
	if progress.Valid {
		r.Progress = json.RawMessage(progress.String)
	}
	r.IdempotencyKey = key.String
	r.WakeAt, r.CompletedAt = fromNullMicros(wake), fromNullMicros(completed)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

func getRun(ctx context.Context, q querier, id string) (*store.Run, error) {
	return scanRun(q.QueryRowContext(ctx, `SELECT `+sqlstore.RunColumns+` FROM runs WHERE id = ?`, id))
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// appendEvent appends one event at seq; the caller has counted it in the
// run's event_count.
func appendEvent(ctx context.Context, tx *txn, runID string, seq int64, ev *store.NewEvent, now time.Time) error {
	data := ev.Data
	if data == nil {
		data = json.RawMessage("{}")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO events (run_id, seq, type, step, at, data) VALUES (?, ?, ?, ?, ?, ?)`,
		runID, seq, string(ev.Type), ev.Step, micros(sqlstore.OrNow(ev.At, now)), string(data))
	return err
}

// addEvent counts one more event on the run and appends it.
func addEvent(ctx context.Context, tx *txn, runID string, ev *store.NewEvent, now time.Time) error {
	var seq int64
	err := tx.QueryRowContext(ctx, `UPDATE runs SET event_count = event_count + 1 WHERE id = ? RETURNING event_count`, runID).Scan(&seq)
	if err != nil {
		return err
	}
	return appendEvent(ctx, tx, runID, seq, ev, now)
}

// RunInsert implements store.Store.
func (s *Store) RunInsert(ctx context.Context, p *store.RunInsertParams) (*store.Run, bool, error) {
	if err := sqlstore.CheckResolvable(p); err != nil {
		return nil, false, err
	}
	var run *store.Run
	created := false
	err := s.tx(ctx, func(tx *txn) error {
		if p.IdempotencyKey != "" {
			r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+sqlstore.RunColumns+` FROM runs WHERE idempotency_key = ?`, p.IdempotencyKey))
			if err == nil {
				run = r
				return nil
			}
			if err != sql.ErrNoRows {
				return err
			}
		}
		if p.ModuleDigest == "" {
			m, err := moduleByName(ctx, tx, p.ModuleName, p.ModuleVersion)
			if err == sql.ErrNoRows || err == nil && !slices.Contains(m.Workflows, p.Workflow) {
				return sqlstore.Unresolved(p)
			}
			if err != nil {
				return err
			}
			resolved := *p
			resolved.ModuleVersion, resolved.ModuleDigest = m.Version, m.Digest
			p = &resolved
		}
		c := sqlstore.InsertClaim(p)
		if _, err := insertRun(ctx, tx, p, c, ""); err != nil {
			return err
		}
		if p.Owner != "" {
			ev := &store.NewEvent{Type: store.EventActivationStarted, At: p.Now, Data: c.Event}
			if err := appendEvent(ctx, tx, p.ID, 2, ev, p.Now); err != nil {
				return err
			}
		}
		created = true
		r, err := getRun(ctx, tx, p.ID)
		run = r
		return err
	})
	if err != nil {
		return nil, false, wrap("insert run "+p.ID, err)
	}
	return run, created, nil
}

// insertRun inserts the run of p created as c, with its run_created event,
// and reports whether it did: with conflict set (the SQL of an ON CONFLICT
// clause), a conflicting run is left as it is.
func insertRun(ctx context.Context, tx *txn, p *store.RunInsertParams, c sqlstore.Claim, conflict string) (bool, error) {
	input := p.Input
	if input == nil {
		input = json.RawMessage("null")
	}
	var onParentEnd store.ParentEnd
	if p.ParentID != "" {
		onParentEnd = sqlstore.OnParentEnd(p)
	}
	now := micros(p.Now)
	r, err := tx.ExecContext(ctx, `INSERT INTO runs (id, module_name, module_version, module_digest, workflow, status, input,
			idempotency_key, event_count, wake_at, created_at, updated_at, activations, fence, lease_owner, parent_id, on_parent_end)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+conflict,
		p.ID, p.ModuleName, p.ModuleVersion, p.ModuleDigest, p.Workflow, string(c.Status), string(input),
		nullString(p.IdempotencyKey), c.EventCount, micros(c.WakeAt), now, now, c.Activations, c.Activations, p.Owner,
		nullString(p.ParentID), string(onParentEnd))
	if err != nil {
		return false, err
	}
	if n, err := r.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	return true, appendEvent(ctx, tx, p.ID, 1, sqlstore.CreatedEvent(p), p.Now)
}

// RunGetByID implements store.Store.
func (s *Store) RunGetByID(ctx context.Context, p *store.RunGetByIDParams) (*store.Run, error) {
	run, err := getRun(ctx, s.db, p.ID)
	return run, wrap("get run "+p.ID, err)
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	q, args := sqlstore.RunListQuery(p, func(int) string { return "?" })
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("list runs", err)
	}
	runs, err := scanRuns(rows)
	return runs, wrap("list runs", err)
}

// RunCount implements store.Store.
func (s *Store) RunCount(ctx context.Context, p *store.RunCountParams) ([]*store.RunCount, error) {
	q, args := sqlstore.RunCountQuery(p, func(int) string { return "?" })
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("count runs", err)
	}
	defer rows.Close()
	var counts []*store.RunCount
	for rows.Next() {
		c := &store.RunCount{}
		if err := rows.Scan(&c.ModuleName, &c.ModuleVersion, &c.Workflow, &c.Status, &c.Count); err != nil {
			return nil, wrap("count runs", err)
		}
		counts = append(counts, c)
	}
	return counts, wrap("count runs", rows.Err())
}

func scanRuns(rows *sql.Rows) ([]*store.Run, error) {
	defer rows.Close()
	var runs []*store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// RunClaim implements store.Store.
func (s *Store) RunClaim(ctx context.Context, p *store.RunClaimParams) ([]*store.Run, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1
	}
	var runs []*store.Run
	err := s.tx(ctx, func(tx *txn) error {
		ids, err := claimCandidates(ctx, tx, p, limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			run, err := claimOne(ctx, tx, id, p)
			if err != nil {
				return err
			}
			runs = append(runs, run)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("claim runs", err)
	}
	return runs, nil
}

func claimCandidates(ctx context.Context, tx *txn, p *store.RunClaimParams, limit int) ([]string, error) {
	q := `SELECT id FROM runs WHERE status IN ` + sqlstore.Claimable + ` AND wake_at <= ?`
	args := []any{micros(p.Now)}
	if p.RunID != "" {
		q += ` AND id = ?`
		args = append(args, p.RunID)
	}
	args = append(args, limit)
	rows, err := tx.QueryContext(ctx, q+` ORDER BY wake_at, id LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func claimOne(ctx context.Context, tx *txn, id string, p *store.RunClaimParams) (*store.Run, error) {
	run, err := scanRun(tx.QueryRowContext(ctx, `UPDATE runs SET status = 'running', fence = fence + 1,
		activations = activations + 1, lease_owner = ?, wake_at = ?,
		event_count = event_count + 1, updated_at = ? WHERE id = ? RETURNING `+sqlstore.RunColumns,
		p.Owner, micros(p.Now.Add(p.LeaseDuration)), micros(p.Now), id))
	if err != nil {
		return nil, err
	}
	ev := store.RunEvent(p.Now, store.ActivationStarted{Owner: p.Owner, Activation: run.Activations})
	return run, appendEvent(ctx, tx, id, run.EventCount, ev, p.Now)
}

// RunListWakeups implements store.Store.
func (s *Store) RunListWakeups(ctx context.Context, p *store.RunListWakeupsParams) ([]*store.Wakeup, error) {
	rows, err := s.db.QueryContext(ctx, sqlstore.WakeupsQuery("?", "?"), micros(p.After), sqlstore.WakeupsLimit(p))
	if err != nil {
		return nil, wrap("list wake-ups", err)
	}
	defer rows.Close()
	var wakeups []*store.Wakeup
	for rows.Next() {
		var at int64
		w := &store.Wakeup{}
		if err := rows.Scan(&w.RunID, &at); err != nil {
			return nil, wrap("list wake-ups", err)
		}
		w.At = fromMicros(at)
		wakeups = append(wakeups, w)
	}
	return wakeups, wrap("list wake-ups", rows.Err())
}

// RunHeartbeat implements store.Store.
func (s *Store) RunHeartbeat(ctx context.Context, p *store.RunHeartbeatParams) ([]*store.LeaseState, error) {
	states := make([]*store.LeaseState, 0, len(p.Leases))
	err := s.tx(ctx, func(tx *txn) error {
		states = states[:0]
		for _, l := range p.Leases {
			st := &store.LeaseState{RunID: l.RunID}
			err := tx.QueryRowContext(ctx, `UPDATE runs SET wake_at = ? WHERE id = ? AND fence = ? AND status = 'running'
				RETURNING cancel_requested`, micros(p.Now.Add(p.LeaseDuration)), l.RunID, l.Fence).Scan(&st.CancelRequested)
			switch {
			case err == nil:
				st.Held = true
			case err != sql.ErrNoRows:
				return err
			}
			states = append(states, st)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("heartbeat", err)
	}
	return states, nil
}

// RunRelease implements store.Store.
func (s *Store) RunRelease(ctx context.Context, p *store.RunReleaseParams) error {
	err := s.tx(ctx, func(tx *txn) error {
		if err := checkFence(ctx, tx, p.ID, p.Fence); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'pending', wake_at = ?, lease_owner = '', updated_at = ?
			WHERE id = ?`, micros(p.Now), micros(p.Now), p.ID)
		return err
	})
	return wrap("release run "+p.ID, err)
}

// checkFence returns store.ErrFenced unless the run is running under fence.
func checkFence(ctx context.Context, tx *txn, id string, fence int64) error {
	var status string
	var cur int64
	if err := tx.QueryRowContext(ctx, `SELECT status, fence FROM runs WHERE id = ?`, id).Scan(&status, &cur); err != nil {
		return err
	}
	if cur != fence || store.RunStatus(status) != store.StatusRunning {
		return fmt.Errorf("run is %s under fence %d, not running under fence %d: %w", status, cur, fence, store.ErrFenced)
	}
	return nil
}

// RunCancel implements store.Store.
func (s *Store) RunCancel(ctx context.Context, p *store.RunCancelParams) (*store.Run, error) {
	var run *store.Run
	err := s.tx(ctx, func(tx *txn) (err error) {
		run, err = sqlstore.RunCancel(ctx, steerTx{tx}, p)
		return err
	})
	if err != nil {
		return nil, wrap("cancel run "+p.ID, err)
	}
	return run, nil
}

// cancelNow makes a run that is not running cancelled, with the event ev,
// and deletes its snapshot.
func cancelNow(ctx context.Context, tx *txn, id string, now time.Time, ev *store.NewEvent) error {
	_, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'cancelled', wake_at = NULL, lease_owner = '', children_wake = 0,
		completed_at = ?, updated_at = ? WHERE id = ?`, micros(now), micros(now), id)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM run_snapshots WHERE run_id = ?`, id); err != nil {
		return err
	}
	return addEvent(ctx, tx, id, ev, now)
}

// childEnded counts one more end of a child of parent, wakes the parent if
// it waits for that many, and appends ev (when not nil) to its timeline.
func childEnded(ctx context.Context, tx *txn, parent string, now time.Time, ev *store.NewEvent) error {
	r, err := tx.ExecContext(ctx, `UPDATE runs SET
			children_ended = children_ended + 1,
			wake_at = CASE WHEN status = 'waiting' AND children_wake > 0 AND children_ended + 1 >= children_wake
				THEN MIN(COALESCE(wake_at, ?1), ?1) ELSE wake_at END,
			children_wake = CASE WHEN status = 'waiting' AND children_wake > 0 AND children_ended + 1 >= children_wake
				THEN 0 ELSE children_wake END,
			updated_at = ?1
		WHERE id = ?2`, micros(now), parent)
	if err != nil || ev == nil {
		return err
	}
	// A parent purged (RunPurge) before its abandoned child ended learns
	// nothing.
	if n, err := r.RowsAffected(); err != nil || n == 0 {
		return err
	}
	return addEvent(ctx, tx, parent, ev, now)
}

// endChildren ends the children of id that have not ended and whose
// OnParentEnd is cancel: a running child gets CancelRequested; any other
// is cancelled at once, counted in id's ChildrenEnded, and ends its own
// children in turn.
func endChildren(ctx context.Context, tx *txn, id string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET cancel_requested = 1, updated_at = ?
		WHERE parent_id = ? AND on_parent_end = 'cancel' AND status = 'running' AND NOT cancel_requested`, micros(now), id); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM runs WHERE parent_id = ? AND on_parent_end = 'cancel'
		AND status IN ('pending', 'sleeping', 'waiting') ORDER BY id`, id)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return err
	}
	ev := store.RunEvent(now, store.RunEnded{Status: store.StatusCancelled, Parent: id})
	for _, c := range ids {
		if err := cancelNow(ctx, tx, c, now, ev); err != nil {
			return err
		}
		if err := endChildren(ctx, tx, c, now); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE runs SET children_ended = children_ended + ? WHERE id = ?`, len(ids), id)
	return err
}

// RunChildren implements store.Store.
func (s *Store) RunChildren(ctx context.Context, p *store.RunChildrenParams) (*store.RunChildren, error) {
	var res store.RunChildren
	err := s.tx(ctx, func(tx *txn) error {
		res = store.RunChildren{}
		if err := tx.QueryRowContext(ctx, `SELECT children_ended FROM runs WHERE id = ?`, p.ParentID).Scan(&res.Ended); err != nil {
			return err
		}
		q := `SELECT ` + sqlstore.RunColumns + ` FROM runs WHERE parent_id = ?`
		args := []any{p.ParentID}
		if len(p.IDs) > 0 {
			q += ` AND id IN (SELECT value FROM json_each(?))`
			args = append(args, string(sqlstore.MustJSON(p.IDs)))
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
		if err != nil {
			return err
		}
		res.Runs, err = scanRuns(rows)
		return err
	})
	if err != nil {
		return nil, wrap("list children of run "+p.ParentID, err)
	}
	return &res, nil
}

// RunRetry implements store.Store.
func (s *Store) RunRetry(ctx context.Context, p *store.RunRetryParams) (*store.Run, error) {
	var run *store.Run
	err := s.tx(ctx, func(tx *txn) (err error) {
		run, err = sqlstore.RunRetry(ctx, steerTx{tx}, p)
		return err
	})
	if err != nil {
		return nil, wrap("retry run "+p.ID, err)
	}
	return run, nil
}

// pruneJournal deletes the run's first failed entry, every entry after it,
// and their effects, and hands the signals those entries consumed back.
func pruneJournal(ctx context.Context, tx *txn, runID string) error {
	var from sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM entries WHERE run_id = ? AND status = ?`,
		runID, string(store.EntryFailed)).Scan(&from)
	if err != nil || !from.Valid {
		return err
	}
	for _, q := range []string{
		`DELETE FROM effects WHERE run_id = ? AND step_seq >= ?`,
		`DELETE FROM entries WHERE run_id = ? AND seq >= ?`,
		`UPDATE signals SET consumed_by = NULL WHERE run_id = ? AND consumed_by >= ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, runID, from.Int64); err != nil {
			return err
		}
	}
	return nil
}

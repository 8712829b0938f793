package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// RunApply implements store.Store: the write goes through the store's
// writer, in the next batch (see RunApplyBatch).
func (s *Store) RunApply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	if p.Status != "" && !store.StatusRunning.CanBecome(p.Status) {
		return nil, fmt.Errorf("store: apply to run %s: status %q: %w", p.RunID, p.Status, store.ErrInvalidTransition)
	}
	return s.writer.Apply(ctx, p)
}

// RunApplyBatch implements store.Batcher: one transaction, each write in a
// savepoint of its own, which a refused or failed write rolls back alone.
// When the commit itself fails, each write is made again in a transaction
// of its own.
func (s *Store) RunApplyBatch(ctx context.Context, ws []*store.RunApplyParams) []store.RunApplyOutcome {
	outs := make([]store.RunApplyOutcome, len(ws))
	err := s.tx(ctx, func(tx *txn) error {
		for i, p := range ws {
			outs[i] = applyOne(ctx, tx, p)
		}
		return nil
	})
	if err == nil {
		return outs
	}
	for i, p := range ws {
		if len(ws) == 1 {
			outs[i] = store.RunApplyOutcome{Err: wrap("apply to run "+p.RunID, err)}
			break
		}
		outs[i] = s.RunApplyBatch(ctx, ws[i:i+1])[0]
	}
	return outs
}

// applyOne makes one write of a batch, in a savepoint.
func applyOne(ctx context.Context, tx *txn, p *store.RunApplyParams) store.RunApplyOutcome {
	if p.Status != "" && !store.StatusRunning.CanBecome(p.Status) {
		return store.RunApplyOutcome{Err: fmt.Errorf("store: apply to run %s: status %q: %w", p.RunID, p.Status, store.ErrInvalidTransition)}
	}
	if _, err := tx.ExecContext(ctx, `SAVEPOINT write`); err != nil {
		return store.RunApplyOutcome{Err: wrap("apply to run "+p.RunID, err)}
	}
	var res store.RunApplyResult
	err := write(ctx, tx, p, &res)
	if err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO write`); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE write`); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return store.RunApplyOutcome{Err: wrap("apply to run "+p.RunID, err)}
	}
	return store.RunApplyOutcome{Result: &res}
}

// write makes one fenced write in tx.
func write(ctx context.Context, tx *txn, p *store.RunApplyParams, res *store.RunApplyResult) error {
	if applied, err := fenceWrite(ctx, tx, p, res); err != nil || applied {
		return err
	}
	if err := updateApplied(ctx, tx, p, res); err != nil {
		return err
	}
	for _, e := range p.Entries {
		if err := upsertEntry(ctx, tx, p.RunID, e, p.Now); err != nil {
			return err
		}
	}
	for _, ef := range p.Effects {
		if err := upsertEffect(ctx, tx, p.RunID, ef, p.Now); err != nil {
			return err
		}
	}
	if err := consume(ctx, tx, p.RunID, p.Consume); err != nil {
		return err
	}
	if err := putSnapshot(ctx, tx, p); err != nil {
		return err
	}
	if err := replaceEvent(ctx, tx, p); err != nil {
		return err
	}
	first := res.EventCount - int64(len(p.Events)) + 1
	for i, ev := range p.Events {
		if err := appendEvent(ctx, tx, p.RunID, first+int64(i), ev, p.Now); err != nil {
			return err
		}
	}
	if err := insertChildren(ctx, tx, p); err != nil {
		return err
	}
	if p.Status.Terminal() {
		return runEnded(ctx, tx, p)
	}
	return nil
}

// insertChildren starts the write's child runs; a child that exists
// already is left as it is.
func insertChildren(ctx context.Context, tx *txn, p *store.RunApplyParams) error {
	for _, c := range p.Children {
		child := *c
		child.ParentID, child.OnParentEnd = p.RunID, sqlstore.OnParentEnd(c)
		child.IdempotencyKey, child.Owner, child.LeaseDuration = "", "", 0
		child.Now = sqlstore.OrNow(c.Now, p.Now)
		if _, err := insertRun(ctx, tx, &child, sqlstore.InsertClaim(&child), ` ON CONFLICT (id) DO NOTHING`); err != nil {
			return err
		}
	}
	return nil
}

// runEnded does the work of the end of the run of p: its parent learns
// (with p.ParentEvent), its children end.
func runEnded(ctx context.Context, tx *txn, p *store.RunApplyParams) error {
	var parent sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT parent_id FROM runs WHERE id = ?`, p.RunID).Scan(&parent); err != nil {
		return err
	}
	if parent.Valid {
		if err := childEnded(ctx, tx, parent.String, p.Now, p.ParentEvent); err != nil {
			return err
		}
	}
	return endChildren(ctx, tx, p.RunID, p.Now)
}

// fenceWrite reports whether the run has applied the numbered write p
// already, and then fills res with the run's counts as they are now;
// otherwise it returns store.ErrFenced unless the run is running under
// p.Fence (sqlstore.Fence.Check).
func fenceWrite(ctx context.Context, tx *txn, p *store.RunApplyParams, res *store.RunApplyResult) (bool, error) {
	var f sqlstore.Fence
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status, fence, write_fence, write_seq, cancel_requested, event_count, signals_received
		FROM runs WHERE id = ?`, p.RunID).Scan(&status, &f.Fence, &f.WriteFence, &f.WriteSeq, &res.CancelRequested, &res.EventCount, &res.SignalsReceived)
	if err != nil {
		return false, err
	}
	f.Status = store.RunStatus(status)
	replayed, err := f.Check(p)
	res.Replayed = replayed
	return replayed, err
}

// updateApplied writes the run's own fields and counts the new events;
// res holds the run's counts as fenceWrite read them.
func updateApplied(ctx context.Context, tx *txn, p *store.RunApplyParams, res *store.RunApplyResult) error {
	status, wake := sqlstore.AppliedWake(p, res.SignalsReceived > p.WakeIfSignalsBeyond)
	var completed any
	if p.Status.Terminal() {
		completed = micros(p.Now)
	}
	var childrenWake int64
	if status == store.StatusWaiting {
		childrenWake = p.WakeAtChildrenEnded
	}
	// A wait for children already ended wakes at once; one not yet ended
	// keeps its threshold for the child's end that reaches it. A run whose
	// cancellation was requested while it was suspending is runnable at
	// once, so that an activation ends it.
	returning := `cancel_requested, event_count, signals_received`
	if status.Terminal() {
		returning = sqlstore.RunColumns
	}
	row := tx.QueryRowContext(ctx, `UPDATE runs SET
			status = ?1,
			wake_at = CASE WHEN ?1 = 'running' THEN wake_at WHEN cancel_requested AND ?1 IN ('pending', 'sleeping', 'waiting') THEN ?10 WHEN ?12 > 0 AND children_ended >= ?12 THEN ?10 ELSE ?2 END,
			children_wake = CASE WHEN ?12 > children_ended THEN ?12 ELSE 0 END,
			lease_owner = CASE WHEN ?1 = 'running' THEN lease_owner ELSE '' END,
			completed_at = COALESCE(?3, completed_at),
			output = COALESCE(?4, output),
			error = COALESCE(?5, error),
			progress = COALESCE(?6, progress),
			event_count = event_count + ?7,
			write_fence = ?8,
			write_seq = ?9,
			updated_at = ?10
		WHERE id = ?11 RETURNING `+returning,
		string(status), microsPtr(wake), completed, nullText(p.Output), nullString(p.Error), nullText(p.Progress),
		len(p.Events), p.Fence, p.Write, micros(p.Now), p.RunID, childrenWake,
	)
	if !status.Terminal() {
		return row.Scan(&res.CancelRequested, &res.EventCount, &res.SignalsReceived)
	}
	run, err := scanRun(row)
	if err != nil {
		return err
	}
	res.Run, res.CancelRequested, res.EventCount, res.SignalsReceived = run, run.CancelRequested, run.EventCount, run.SignalsReceived
	return nil
}

func upsertEntry(ctx context.Context, tx *txn, runID string, e *store.Entry, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO entries (run_id, seq, kind, name, status, attempts, cursor, output, error,
			effect_seq, wake_at, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, seq) DO UPDATE SET kind = excluded.kind, name = excluded.name, status = excluded.status,
			attempts = excluded.attempts, cursor = excluded.cursor, output = excluded.output, error = excluded.error,
			effect_seq = excluded.effect_seq, wake_at = excluded.wake_at, started_at = excluded.started_at,
			updated_at = excluded.updated_at`,
		runID, e.Seq, string(e.Kind), e.Name, string(e.Status), e.Attempts, e.Cursor, e.Output, e.Error,
		e.EffectSeq, microsPtr(e.WakeAt), micros(sqlstore.OrNow(e.StartedAt, now)), micros(sqlstore.OrNow(e.UpdatedAt, now)))
	return err
}

func upsertEffect(ctx context.Context, tx *txn, runID string, ef *store.Effect, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO effects (run_id, step_seq, seq, name, status, key, result, error,
			executions, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, step_seq, seq) DO UPDATE SET name = excluded.name, status = excluded.status,
			key = excluded.key, result = excluded.result, error = excluded.error, executions = excluded.executions,
			started_at = excluded.started_at, updated_at = excluded.updated_at`,
		runID, ef.StepSeq, ef.Seq, ef.Name, string(ef.Status), ef.Key, ef.Result, ef.Error,
		ef.Executions, micros(sqlstore.OrNow(ef.StartedAt, now)), micros(sqlstore.OrNow(ef.UpdatedAt, now)))
	return err
}

// consume marks a pending signal of the run consumed.
func consume(ctx context.Context, tx *txn, runID string, c *store.ConsumedSignal) error {
	if c == nil {
		return nil
	}
	r, err := tx.ExecContext(ctx, `UPDATE signals SET consumed_by = ? WHERE id = ? AND run_id = ? AND consumed_by IS NULL`,
		c.EntrySeq, c.SignalID, runID)
	if err != nil {
		return err
	}
	if n, err := r.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("no pending signal %d: %w", c.SignalID, store.ErrNotFound)
	}
	return nil
}

// putSnapshot replaces the run's snapshot, or deletes it when the run ends.
func putSnapshot(ctx context.Context, tx *txn, p *store.RunApplyParams) error {
	if p.Status.Terminal() {
		_, err := tx.ExecContext(ctx, `DELETE FROM run_snapshots WHERE run_id = ?`, p.RunID)
		return err
	}
	sn := p.Snapshot
	if sn == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO run_snapshots (run_id, module_digest, format, attempt, position, activation, data, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id) DO UPDATE SET module_digest = excluded.module_digest, format = excluded.format,
			attempt = excluded.attempt, position = excluded.position, activation = excluded.activation,
			data = excluded.data, created_at = excluded.created_at`,
		p.RunID, sn.ModuleDigest, sn.Format, sn.Attempt, sn.Position, sn.Activation, sn.Data, micros(sqlstore.OrNow(sn.CreatedAt, p.Now)))
	return err
}

// replaceEvent overwrites an existing event's time and data.
func replaceEvent(ctx context.Context, tx *txn, p *store.RunApplyParams) error {
	if p.ReplaceEventSeq <= 0 || p.ReplaceEvent == nil {
		return nil
	}
	data := p.ReplaceEvent.Data
	if data == nil {
		data = []byte("{}")
	}
	r, err := tx.ExecContext(ctx, `UPDATE events SET at = ?, data = ? WHERE run_id = ? AND seq = ?`,
		micros(sqlstore.OrNow(p.ReplaceEvent.At, p.Now)), string(data), p.RunID, p.ReplaceEventSeq)
	if err != nil {
		return err
	}
	if n, err := r.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("no event %d to replace: %w", p.ReplaceEventSeq, store.ErrNotFound)
	}
	return nil
}

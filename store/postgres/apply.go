package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// applyRunSQL writes the run's own fields and counts the new events. A
// waiting run wakes at once if a signal arrived after the activation looked.
const applyRunSQL = `UPDATE runs SET
		status = $2,
		wake_at = CASE WHEN $2 = 'running' THEN wake_at
			WHEN $2 = 'waiting' AND signals_received > $3::bigint THEN $4::timestamptz
			ELSE $5::timestamptz END,
		lease_owner = CASE WHEN $2 = 'running' THEN lease_owner ELSE '' END,
		completed_at = COALESCE($6::timestamptz, completed_at),
		output = COALESCE($7::json, output),
		error = COALESCE($8::text, error),
		progress = COALESCE($9::json, progress),
		event_count = event_count + $10::bigint,
		write_fence = $11::bigint,
		write_seq = $12::bigint,
		updated_at = $4::timestamptz
	WHERE id = $1
	RETURNING cancel_requested, event_count, signals_received`

const upsertEntrySQL = `INSERT INTO entries (run_id, seq, kind, name, status, attempts, cursor, output, error,
		effect_seq, wake_at, started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
	ON CONFLICT (run_id, seq) DO UPDATE SET kind = excluded.kind, name = excluded.name, status = excluded.status,
		attempts = excluded.attempts, cursor = excluded.cursor, output = excluded.output, error = excluded.error,
		effect_seq = excluded.effect_seq, wake_at = excluded.wake_at, started_at = excluded.started_at,
		updated_at = excluded.updated_at`

const upsertEffectSQL = `INSERT INTO effects (run_id, step_seq, seq, name, status, key, result, error,
		executions, started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT (run_id, step_seq, seq) DO UPDATE SET name = excluded.name, status = excluded.status,
		key = excluded.key, result = excluded.result, error = excluded.error, executions = excluded.executions,
		started_at = excluded.started_at, updated_at = excluded.updated_at`

const upsertSnapshotSQL = `INSERT INTO run_snapshots (run_id, module_digest, format, attempt, position, activation, data, created_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
	ON CONFLICT (run_id) DO UPDATE SET module_digest = excluded.module_digest, format = excluded.format,
		attempt = excluded.attempt, position = excluded.position, activation = excluded.activation,
		data = excluded.data, created_at = excluded.created_at`

// appendEventsSQL appends events after the run's event_count was raised by
// their number ($2) earlier in the same transaction.
const appendEventsSQL = `INSERT INTO events (run_id, seq, type, step, at, data)
	SELECT $1, r.event_count - $2::bigint + e.n, e.type, e.step, e.at, e.data::json
	FROM runs r, unnest($3::text[], $4::text[], $5::timestamptz[], $6::text[]) WITH ORDINALITY AS e(type, step, at, data, n)
	WHERE r.id = $1`

// RunApply implements store.Store. Everything is sent in one batch, one
// round trip: BEGIN, the fence check, the writes, COMMIT. A stale fence
// makes wasmflow_fence raise, the server skips the rest of the batch, and the
// transaction is rolled back before the connection goes back to the pool.
func (s *Store) RunApply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	if p.Status != "" && !store.StatusRunning.CanBecome(p.Status) {
		return nil, fmt.Errorf("store: apply to run %s: status %q: %w", p.RunID, p.Status, store.ErrInvalidTransition)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.wrap("apply to run "+p.RunID, err)
	}
	defer conn.Release()
	var res store.RunApplyResult
	br := conn.SendBatch(ctx, applyBatch(p))
	err = readApply(br, p, &res)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if tx := conn.Conn().PgConn().TxStatus(); tx != 'I' && !conn.Conn().IsClosed() {
		// The batch failed inside its transaction: end it so the connection
		// returns to the pool clean.
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeApplied {
		return s.replayed(ctx, conn, p)
	}
	if err != nil {
		return nil, s.wrap("apply to run "+p.RunID, err)
	}
	return &res, nil
}

// replayed answers a write that the run had applied already: nothing more
// is written, and the run's counts are read as they are now.
func (s *Store) replayed(ctx context.Context, conn *pgxpool.Conn, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	res := &store.RunApplyResult{Replayed: true}
	err := conn.QueryRow(ctx, `SELECT cancel_requested, event_count, signals_received FROM runs WHERE id = $1`, p.RunID).
		Scan(&res.CancelRequested, &res.EventCount, &res.SignalsReceived)
	if err != nil {
		return nil, s.wrap("apply to run "+p.RunID+": read the run after a write applied already", err)
	}
	return res, nil
}

// applyBatch queues the statements of one RunApply.
func applyBatch(p *store.RunApplyParams) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT wasmflow_fence_write($1, $2, $3)`, p.RunID, p.Fence, p.Write)
	status, wake := sqlstore.AppliedWake(p, false) // applyRunSQL wakes a wait that a signal beat
	var completed *time.Time
	if status.Terminal() {
		completed = &p.Now
	}
	b.Queue(applyRunSQL, p.RunID, string(status), p.WakeIfSignalsBeyond, p.Now, wake, completed,
		nullJSON(p.Output), nullString(p.Error), nullJSON(p.Progress), int64(len(p.Events)), p.Fence, p.Write)
	for _, e := range p.Entries {
		b.Queue(upsertEntrySQL, p.RunID, e.Seq, string(e.Kind), e.Name, string(e.Status), e.Attempts, e.Cursor, e.Output,
			e.Error, e.EffectSeq, e.WakeAt, sqlstore.OrNow(e.StartedAt, p.Now), sqlstore.OrNow(e.UpdatedAt, p.Now))
	}
	for _, ef := range p.Effects {
		b.Queue(upsertEffectSQL, p.RunID, ef.StepSeq, ef.Seq, ef.Name, string(ef.Status), ef.Key, ef.Result, ef.Error,
			ef.Executions, sqlstore.OrNow(ef.StartedAt, p.Now), sqlstore.OrNow(ef.UpdatedAt, p.Now))
	}
	if c := p.Consume; c != nil {
		b.Queue(`SELECT wasmflow_consume_signal($1, $2, $3)`, p.RunID, c.SignalID, c.EntrySeq)
	}
	if sn := p.Snapshot; sn != nil {
		b.Queue(upsertSnapshotSQL, p.RunID, sn.ModuleDigest, sn.Format, sn.Attempt, sn.Position, sn.Activation, sn.Data, sqlstore.OrNow(sn.CreatedAt, p.Now))
	}
	if status.Terminal() {
		b.Queue(`DELETE FROM run_snapshots WHERE run_id = $1`, p.RunID)
	}
	if ev := p.ReplaceEvent; p.ReplaceEventSeq > 0 && ev != nil {
		b.Queue(`SELECT wasmflow_replace_event($1, $2, $3, $4)`, p.RunID, p.ReplaceEventSeq, sqlstore.OrNow(ev.At, p.Now), eventData(ev.Data))
	}
	if n := len(p.Events); n > 0 {
		types, steps, ats, datas := make([]string, n), make([]string, n), make([]time.Time, n), make([]string, n)
		for i, ev := range p.Events {
			types[i], steps[i], ats[i], datas[i] = string(ev.Type), ev.Step, sqlstore.OrNow(ev.At, p.Now), string(eventData(ev.Data))
		}
		b.Queue(appendEventsSQL, p.RunID, int64(n), types, steps, ats, datas)
	}
	b.Queue("COMMIT")
	return b
}

// readApply reads the batch's results in order, stopping at the first error.
func readApply(br pgx.BatchResults, p *store.RunApplyParams, res *store.RunApplyResult) error {
	if _, err := br.Exec(); err != nil { // BEGIN
		return err
	}
	if _, err := br.Exec(); err != nil { // fence
		return err
	}
	if err := br.QueryRow().Scan(&res.CancelRequested, &res.EventCount, &res.SignalsReceived); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("run vanished: %w", store.ErrNotFound)
		}
		return err
	}
	n := len(p.Entries) + len(p.Effects) + 1 // the writes and COMMIT
	if p.Consume != nil {
		n++
	}
	if p.Snapshot != nil {
		n++
	}
	if p.Status.Terminal() {
		n++
	}
	if p.ReplaceEventSeq > 0 && p.ReplaceEvent != nil {
		n++
	}
	if len(p.Events) > 0 {
		n++
	}
	for range n {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return nil
}

// nullJSON stores an optional JSON document; nil is NULL.
func nullJSON(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// Every write of a batch is one group of statements whose first three
// parameters are the run's id, the write's fence and its number. The
// batch's first statement (fenceSQL) has locked the batch's runs and read
// their fences, set-based, for the whole batch; each statement of a write
// then writes only while the write is current (okSQL), so that a stale
// write changes nothing while the rest of the batch commits. The run's own
// row is written last: it ends the write's currency (its status, its last
// numbered write).

// fenceSQL locks, in id order, the batch's runs ($1) and, for those whose
// writes end them ($2), their parents and their children that the end may
// cancel, and reads what the fence check of each write needs. Every batch
// takes its locks in id order here, first, so that two batches never wait
// on each other crosswise: a child's end and its parent's end (which cancels
// the child) lock the same two rows in the same order. A child's end takes
// its parent's lock before the parent's counters are read: it serializes
// with the parent's own writes (a suspension waiting for children),
// whichever commits first. The rows of the parents and children come back
// too; readBatch only looks up the batch's own. The ids to lock are one
// array, so that the rows are read through runs_pkey alone; the children
// are found through runs_parent (see okSQL for why their status is tested
// as it is).
const fenceSQL = `SELECT id, status, fence, write_fence, write_seq, cancel_requested, event_count, signals_received
	FROM runs WHERE id = ANY($1::text[]
		|| ARRAY(SELECT parent_id FROM runs WHERE id = ANY($2::text[]) AND parent_id IS NOT NULL)
		|| ARRAY(SELECT id FROM runs WHERE parent_id = ANY($2::text[]) AND on_parent_end = 'cancel'
			AND (status IN ('pending', 'running', 'sleeping', 'waiting')) IS TRUE))
	ORDER BY id FOR UPDATE`

// planBatchSQL starts every batch. The batch's statements are lookups by
// key, planned once per connection (planCacheMode) and planned again only
// when a table they read is analysed; planned while runs is young, the
// fence read was a sequential scan of the whole table, which it stayed as
// the table grew (0.2 ms a batch after a thousand runs). In the writer's
// transactions the planner takes an index wherever there is one.
const planBatchSQL = `SET LOCAL enable_seqscan = off`

// okSQL holds while the write ($1, $2, $3) is current: the run is running
// under its fence, and it is not a numbered write applied already. Its
// status is tested with IS TRUE so that the planner cannot prove the
// predicate of the partial index runs_claim from it: a plain status =
// 'running' let it read the run through runs_claim, a walk of every
// runnable run (and of every dead entry churn leaves there until a vacuum)
// filtered by id, instead of one probe of runs_pkey.
const okSQL = `EXISTS (SELECT 1 FROM runs g WHERE g.id = $1 AND g.fence = $2::bigint AND (g.status = 'running') IS TRUE
	AND NOT ($3::bigint > 0 AND g.write_fence = $2::bigint AND g.write_seq >= $3::bigint))`

// applyRunSQL writes the run's own fields and counts the new events. A
// waiting run wakes at once if a signal arrived after the activation looked,
// or if as many children as it waits for ($13) have ended; otherwise it
// keeps that number in children_wake, for the child's end that reaches it.
// A run whose cancellation was requested while it was suspending is
// runnable at once, so that an activation ends it.
const applyRunSQL = applyRunSet + ` RETURNING cancel_requested, event_count, signals_received`

// applyRunEndedSQL is applyRunSQL for a write that ends the run: it returns
// the run's whole row as the write left it (store.RunApplyResult.Run).
const applyRunEndedSQL = applyRunSet + ` RETURNING ` + sqlstore.RunColumns

const applyRunSet = `UPDATE runs SET
		status = $4,
		wake_at = CASE WHEN $4 = 'running' THEN wake_at
			WHEN cancel_requested AND $4 IN ('pending', 'sleeping', 'waiting') THEN $6::timestamptz
			WHEN $4 = 'waiting' AND signals_received > $5::bigint THEN $6::timestamptz
			WHEN $4 = 'waiting' AND $13::bigint > 0 AND children_ended >= $13::bigint THEN $6::timestamptz
			ELSE $7::timestamptz END,
		children_wake = CASE WHEN $4 = 'waiting' AND $13::bigint > children_ended THEN $13::bigint ELSE 0 END,
		lease_owner = CASE WHEN $4 = 'running' THEN lease_owner ELSE '' END,
		completed_at = COALESCE($8::timestamptz, completed_at),
		output = COALESCE($9::json, output),
		error = COALESCE($10::text, error),
		progress = COALESCE($11::json, progress),
		event_count = event_count + $12::bigint,
		write_fence = $2::bigint,
		write_seq = $3::bigint,
		updated_at = $6::timestamptz
	WHERE id = $1 AND ` + okSQL

const upsertEntrySQL = `INSERT INTO entries (run_id, seq, kind, name, status, attempts, cursor, output, error,
		effect_seq, wake_at, started_at, updated_at)
	SELECT $1, $4::integer, $5::text, $6::text, $7::text, $8::integer, $9::bytea, $10::bytea, $11::text,
		$12::integer, $13::timestamptz, $14::timestamptz, $15::timestamptz WHERE ` + okSQL + `
	ON CONFLICT (run_id, seq) DO UPDATE SET kind = excluded.kind, name = excluded.name, status = excluded.status,
		attempts = excluded.attempts, cursor = excluded.cursor, output = excluded.output, error = excluded.error,
		effect_seq = excluded.effect_seq, wake_at = excluded.wake_at, started_at = excluded.started_at,
		updated_at = excluded.updated_at`

const upsertEffectSQL = `INSERT INTO effects (run_id, step_seq, seq, name, status, key, result, error,
		executions, started_at, updated_at)
	SELECT $1, $4::integer, $5::integer, $6::text, $7::text, $8::text, $9::bytea, $10::text,
		$11::integer, $12::timestamptz, $13::timestamptz WHERE ` + okSQL + `
	ON CONFLICT (run_id, step_seq, seq) DO UPDATE SET name = excluded.name, status = excluded.status,
		key = excluded.key, result = excluded.result, error = excluded.error, executions = excluded.executions,
		started_at = excluded.started_at, updated_at = excluded.updated_at`

const upsertSnapshotSQL = `INSERT INTO run_snapshots (run_id, module_digest, format, attempt, position, activation, data, created_at)
	SELECT $1, $4::text, $5::text, $6::integer, $7::integer, $8::integer, $9::bytea, $10::timestamptz WHERE ` + okSQL + `
	ON CONFLICT (run_id) DO UPDATE SET module_digest = excluded.module_digest, format = excluded.format,
		attempt = excluded.attempt, position = excluded.position, activation = excluded.activation,
		data = excluded.data, created_at = excluded.created_at`

const deleteSnapshotSQL = `DELETE FROM run_snapshots WHERE run_id = $1 AND ` + okSQL

const consumeSQL = `SELECT wasmflow_consume_signal($1, $4::bigint, $5::integer) WHERE ` + okSQL

const replaceEventSQL = `SELECT wasmflow_replace_event($1, $4::bigint, $5::timestamptz, $6::json) WHERE ` + okSQL

// appendEventsSQL appends events after the run's last one; the run's
// event_count is raised by their number afterwards, by applyRunSQL.
const appendEventsSQL = `INSERT INTO events (run_id, seq, type, step, at, data)
	SELECT $1, r.event_count + e.n, e.type, e.step, e.at, e.data::json
	FROM runs r, unnest($4::text[], $5::text[], $6::timestamptz[], $7::text[]) WITH ORDINALITY AS e(type, step, at, data, n)
	WHERE r.id = $1 AND ` + okSQL

// insertChildrenSQL starts the write's child runs, pending and runnable at
// once, each with its run_created event; a child that exists already is
// left as it is.
const insertChildrenSQL = `WITH c AS (
		INSERT INTO runs (id, module_name, module_version, module_digest, workflow, status, input, event_count, wake_at,
			created_at, updated_at, parent_id, on_parent_end)
		SELECT c.id, c.module_name, c.module_version, c.module_digest, c.workflow, 'pending', c.input::json, 1, c.now,
			c.now, c.now, $1, c.on_parent_end
		FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[])
			AS c(id, module_name, module_version, module_digest, workflow, input, on_parent_end, now)
		WHERE ` + okSQL + `
		ON CONFLICT (id) DO NOTHING
		RETURNING id, module_name, module_version, workflow, created_at
	) INSERT INTO events (run_id, seq, type, step, at, data)
	SELECT id, 1, 'run_created', '', created_at,
		json_build_object('module', module_name, 'version', module_version, 'workflow', workflow, 'parent', $1::text) FROM c`

// runEndedSQL does the work of the run's end (migration 0007): its parent
// learns, its children end. A run with no parent and no child left to
// cancel (most runs) has nothing to do there, and skips the call: the
// function's plpgsql costs more than the rest of the write together. The
// children the condition looks at are those fenceSQL has locked.
const runEndedSQL = `SELECT wasmflow_run_ended($1, $4::timestamptz, $5::text, $6::text, $7::timestamptz, $8::json)
	FROM runs r WHERE r.id = $1 AND ` + okSQL + ` AND (r.parent_id IS NOT NULL OR EXISTS (SELECT 1 FROM runs c
		WHERE c.parent_id = $1 AND c.on_parent_end = 'cancel' AND (c.status IN ('pending', 'running', 'sleeping', 'waiting')) IS TRUE))`

// RunApply implements store.Store: the write goes through the store's
// writer, in the next batch (see RunApplyBatch).
func (s *Store) RunApply(ctx context.Context, p *store.RunApplyParams) (*store.RunApplyResult, error) {
	if p.Status != "" && !store.StatusRunning.CanBecome(p.Status) {
		return nil, fmt.Errorf("store: apply to run %s: status %q: %w", p.RunID, p.Status, store.ErrInvalidTransition)
	}
	return s.writer.Apply(ctx, p)
}

// RunApplyBatch implements store.Batcher. The batch is one round trip:
// BEGIN, the fence check of every write, the writes, COMMIT. When the
// database fails a statement (a write it refuses, a deadlock), the
// transaction is rolled back and each write is made again in a batch of
// its own, so that the failure is only its own write's.
func (s *Store) RunApplyBatch(ctx context.Context, ws []*store.RunApplyParams) []store.RunApplyOutcome {
	outs := make([]store.RunApplyOutcome, len(ws))
	for i, p := range ws {
		if p.Status != "" && !store.StatusRunning.CanBecome(p.Status) {
			outs[i].Err = fmt.Errorf("store: apply to run %s: status %q: %w", p.RunID, p.Status, store.ErrInvalidTransition)
		}
	}
	var todo []int
	for i := range ws {
		if outs[i].Err == nil {
			todo = append(todo, i)
		}
	}
	err := s.applyRetrying(ctx, ws, todo, outs)
	switch {
	case err == nil:
		s.wrote(len(todo))
	case s.dropped(err) || len(todo) == 1:
		// The outcome is unknown (ErrUnavailable: every write may be sent
		// again), or the failure is the one write's own.
		for _, i := range todo {
			outs[i] = store.RunApplyOutcome{Err: s.wrap("apply to run "+ws[i].RunID, err)}
		}
	default:
		for _, i := range todo {
			outs[i] = store.RunApplyOutcome{}
			if err := s.applyRetrying(ctx, ws, []int{i}, outs); err != nil {
				outs[i] = store.RunApplyOutcome{Err: s.wrap("apply to run "+ws[i].RunID, err)}
			}
		}
	}
	return outs
}

// deadlockRetries bounds how often applyRetrying makes a batch again after
// Postgres broke a deadlock by aborting it.
const deadlockRetries = 3

// applyRetrying is applyBatch, made again when Postgres aborted it to break
// a deadlock (nothing of it committed). Batches lock in id order and should
// not deadlock, but the end of a run cancels its children's children after
// the batch's first locks, and a child whose id sorts before its parent's
// can then be locked out of order.
func (s *Store) applyRetrying(ctx context.Context, ws []*store.RunApplyParams, todo []int, outs []store.RunApplyOutcome) error {
	err := s.applyBatch(ctx, ws, todo, outs)
	for try := 0; try < deadlockRetries && deadlocked(err) && ctx.Err() == nil; try++ {
		for _, i := range todo {
			outs[i] = store.RunApplyOutcome{}
		}
		err = s.applyBatch(ctx, ws, todo, outs)
	}
	return err
}

// deadlocked reports whether Postgres aborted the transaction to break a
// deadlock.
func deadlocked(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// applyBatch writes ws[todo] in one transaction and fills their outcomes;
// an error is the batch's (nothing of it committed, or, when the database
// became unavailable, maybe all of it).
func (s *Store) applyBatch(ctx context.Context, ws []*store.RunApplyParams, todo []int, outs []store.RunApplyOutcome) error {
	if len(todo) == 0 {
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(planBatchSQL)
	ids := make([]string, len(todo))
	var ending []string
	for k, i := range todo {
		ids[k] = ws[i].RunID
		if ws[i].Status.Terminal() {
			ending = append(ending, ws[i].RunID)
		}
	}
	b.Queue(fenceSQL, ids, ending)
	for _, i := range todo {
		queueWrite(b, ws[i])
	}
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	err = readBatch(br, ws, todo, outs)
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
	return err
}

// queueWrite queues the statements of one write, the run's own row last.
func queueWrite(b *pgx.Batch, p *store.RunApplyParams) {
	id, fence, write := p.RunID, p.Fence, p.Write
	for _, e := range p.Entries {
		b.Queue(upsertEntrySQL, id, fence, write, e.Seq, string(e.Kind), e.Name, string(e.Status), e.Attempts, e.Cursor, e.Output,
			e.Error, e.EffectSeq, e.WakeAt, sqlstore.OrNow(e.StartedAt, p.Now), sqlstore.OrNow(e.UpdatedAt, p.Now))
	}
	for _, ef := range p.Effects {
		b.Queue(upsertEffectSQL, id, fence, write, ef.StepSeq, ef.Seq, ef.Name, string(ef.Status), ef.Key, ef.Result, ef.Error,
			ef.Executions, sqlstore.OrNow(ef.StartedAt, p.Now), sqlstore.OrNow(ef.UpdatedAt, p.Now))
	}
	if c := p.Consume; c != nil {
		b.Queue(consumeSQL, id, fence, write, c.SignalID, c.EntrySeq)
	}
	status, wake := sqlstore.AppliedWake(p, false) // applyRunSQL wakes a wait that a signal beat
	if sn := p.Snapshot; sn != nil && !status.Terminal() {
		b.Queue(upsertSnapshotSQL, id, fence, write, sn.ModuleDigest, sn.Format, sn.Attempt, sn.Position, sn.Activation, sn.Data,
			sqlstore.OrNow(sn.CreatedAt, p.Now))
	}
	if status.Terminal() {
		b.Queue(deleteSnapshotSQL, id, fence, write)
	}
	if ev := p.ReplaceEvent; p.ReplaceEventSeq > 0 && ev != nil {
		b.Queue(replaceEventSQL, id, fence, write, p.ReplaceEventSeq, sqlstore.OrNow(ev.At, p.Now), eventData(ev.Data))
	}
	if n := len(p.Events); n > 0 {
		types, steps, ats, datas := make([]string, n), make([]string, n), make([]time.Time, n), make([]string, n)
		for i, ev := range p.Events {
			types[i], steps[i], ats[i], datas[i] = string(ev.Type), ev.Step, sqlstore.OrNow(ev.At, p.Now), string(eventData(ev.Data))
		}
		b.Queue(appendEventsSQL, id, fence, write, types, steps, ats, datas)
	}
	if len(p.Children) > 0 {
		queueChildren(b, p)
	}
	var completed *time.Time
	if status.Terminal() {
		completed = &p.Now
		ev := p.ParentEvent
		if ev == nil {
			b.Queue(runEndedSQL, id, fence, write, p.Now, nil, nil, nil, nil)
		} else {
			b.Queue(runEndedSQL, id, fence, write, p.Now, string(ev.Type), ev.Step, sqlstore.OrNow(ev.At, p.Now), eventData(ev.Data))
		}
	}
	childrenWake := int64(0)
	if status == store.StatusWaiting {
		childrenWake = p.WakeAtChildrenEnded
	}
	sql := applyRunSQL
	if status.Terminal() {
		sql = applyRunEndedSQL
	}
	b.Queue(sql, id, fence, write, string(status), p.WakeIfSignalsBeyond, p.Now, wake, completed,
		nullJSON(p.Output), nullString(p.Error), nullJSON(p.Progress), int64(len(p.Events)), childrenWake)
}

// queueChildren queues the insert of the write's children: one statement
// for all of them.
func queueChildren(b *pgx.Batch, p *store.RunApplyParams) {
	n := len(p.Children)
	ids, names, versions, digests, workflows := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	inputs, ends, nows := make([]string, n), make([]string, n), make([]time.Time, n)
	for i, c := range p.Children {
		ids[i], names[i], versions[i], digests[i], workflows[i] = c.ID, c.ModuleName, c.ModuleVersion, c.ModuleDigest, c.Workflow
		inputs[i], ends[i], nows[i] = string(runInput(c.Input)), string(sqlstore.OnParentEnd(c)), sqlstore.OrNow(c.Now, p.Now)
	}
	b.Queue(insertChildrenSQL, p.RunID, p.Fence, p.Write, ids, names, versions, digests, workflows, inputs, ends, nows)
}

// writeStatements is how many statements queueWrite queues before the
// run's own row.
func writeStatements(p *store.RunApplyParams) int {
	n := len(p.Entries) + len(p.Effects)
	status, _ := sqlstore.AppliedWake(p, false)
	if p.Consume != nil {
		n++
	}
	if p.Snapshot != nil && !status.Terminal() {
		n++
	}
	if status.Terminal() {
		n++
	}
	if p.ReplaceEventSeq > 0 && p.ReplaceEvent != nil {
		n++
	}
	if len(p.Events) > 0 {
		n++
	}
	if len(p.Children) > 0 {
		n++
	}
	if status.Terminal() {
		n++ // runEndedSQL
	}
	return n
}

// readBatch reads the batch's results in order, stopping at the first
// error, and fills the outcome of each write: what its fence check found,
// or what its run's row became.
func readBatch(br pgx.BatchResults, ws []*store.RunApplyParams, todo []int, outs []store.RunApplyOutcome) error {
	for range 2 { // BEGIN, planBatchSQL
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	rows, _ := br.Query()
	type found struct {
		fence sqlstore.Fence
		res   store.RunApplyResult
	}
	runs := map[string]*found{}
	for rows.Next() {
		var id, status string
		f := &found{}
		if err := rows.Scan(&id, &status, &f.fence.Fence, &f.fence.WriteFence, &f.fence.WriteSeq,
			&f.res.CancelRequested, &f.res.EventCount, &f.res.SignalsReceived); err != nil {
			rows.Close()
			return err
		}
		f.fence.Status = store.RunStatus(status)
		runs[id] = f
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, i := range todo {
		p := ws[i]
		for range writeStatements(p) {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		var res store.RunApplyResult
		var err error
		if st, _ := sqlstore.AppliedWake(p, false); st.Terminal() {
			if res.Run, err = scanRun(br.QueryRow()); err == nil {
				res.CancelRequested, res.EventCount, res.SignalsReceived = res.Run.CancelRequested, res.Run.EventCount, res.Run.SignalsReceived
			}
		} else {
			err = br.QueryRow().Scan(&res.CancelRequested, &res.EventCount, &res.SignalsReceived)
		}
		switch f := runs[p.RunID]; {
		case err == nil:
			outs[i].Result = &res
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		case f == nil:
			outs[i].Err = fmt.Errorf("store: apply to run %s: %w", p.RunID, store.ErrNotFound)
		default:
			replayed, ferr := f.fence.Check(p)
			switch {
			case ferr != nil:
				outs[i].Err = fmt.Errorf("store: apply to run %s: %w", p.RunID, ferr)
			case replayed:
				res := f.res
				res.Replayed = true
				outs[i].Result = &res
			default:
				return fmt.Errorf("run %s: its write was current but wrote nothing", p.RunID)
			}
		}
	}
	_, err := br.Exec() // COMMIT
	return err
}

// nullJSON stores an optional JSON document; nil is NULL.
func nullJSON(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

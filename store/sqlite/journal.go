package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// EntryListByRun implements store.Store.
func (s *Store) EntryListByRun(ctx context.Context, p *store.EntryListByRunParams) ([]*store.Entry, error) {
	entries, err := s.entries(ctx, p.RunID, p.FromSeq)
	return entries, wrap("list entries of run "+p.RunID, err)
}

func (s *Store) entries(ctx context.Context, runID string, from int) ([]*store.Entry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, seq, kind, name, status, attempts, cursor, output, error,
		effect_seq, wake_at, started_at, updated_at FROM entries WHERE run_id = ? AND seq >= ? ORDER BY seq`, runID, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []*store.Entry
	for rows.Next() {
		var (
			e                store.Entry
			kind, status     string
			wake             sql.NullInt64
			started, updated int64
		)
		if err := rows.Scan(&e.RunID, &e.Seq, &kind, &e.Name, &status, &e.Attempts, &e.Cursor, &e.Output, &e.Error,
			&e.EffectSeq, &wake, &started, &updated); err != nil {
			return nil, err
		}
		e.Kind, e.Status = store.EntryKind(kind), store.EntryStatus(status)
		e.WakeAt, e.StartedAt, e.UpdatedAt = fromNullMicros(wake), fromMicros(started), fromMicros(updated)
		entries = append(entries, &e)
	}
	return entries, rows.Err()
}

// RunSnapshotGet implements store.Store.
func (s *Store) RunSnapshotGet(ctx context.Context, p *store.RunSnapshotGetParams) (*store.RunSnapshot, error) {
	sn, err := s.snapshot(ctx, p.RunID)
	if err != nil {
		return nil, wrap("get snapshot of run "+p.RunID, err)
	}
	return sn, nil
}

func (s *Store) snapshot(ctx context.Context, runID string) (*store.RunSnapshot, error) {
	sn := &store.RunSnapshot{RunID: runID}
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT module_digest, format, attempt, position, activation, data, created_at
		FROM run_snapshots WHERE run_id = ?`, runID).
		Scan(&sn.ModuleDigest, &sn.Format, &sn.Attempt, &sn.Position, &sn.Activation, &sn.Data, &created)
	if err != nil {
		return nil, err
	}
	sn.CreatedAt = fromMicros(created)
	return sn, nil
}

// EffectListByRun implements store.Store.
func (s *Store) EffectListByRun(ctx context.Context, p *store.EffectListByRunParams) ([]*store.Effect, error) {
	effects, err := s.effects(ctx, p.RunID, p.FromStepSeq)
	return effects, wrap("list effects of run "+p.RunID, err)
}

func (s *Store) effects(ctx context.Context, runID string, from int) ([]*store.Effect, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, step_seq, seq, name, status, key, result, error, executions,
		started_at, updated_at FROM effects WHERE run_id = ? AND step_seq >= ? ORDER BY step_seq, seq`, runID, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var effects []*store.Effect
	for rows.Next() {
		var (
			ef               store.Effect
			status           string
			started, updated int64
		)
		if err := rows.Scan(&ef.RunID, &ef.StepSeq, &ef.Seq, &ef.Name, &status, &ef.Key, &ef.Result, &ef.Error,
			&ef.Executions, &started, &updated); err != nil {
			return nil, err
		}
		ef.Status, ef.StartedAt, ef.UpdatedAt = store.EffectStatus(status), fromMicros(started), fromMicros(updated)
		effects = append(effects, &ef)
	}
	return effects, rows.Err()
}

// RunJournal implements store.Store. The store is in this process: its
// reads cost no round trips, and the run's lease keeps what they read
// from changing between them.
func (s *Store) RunJournal(ctx context.Context, p *store.RunJournalParams) (*store.RunJournal, error) {
	j, err := s.runJournal(ctx, p)
	return j, wrap("read journal of run "+p.RunID, err)
}

func (s *Store) runJournal(ctx context.Context, p *store.RunJournalParams) (j *store.RunJournal, err error) {
	j = &store.RunJournal{FromSeq: p.FromSeq}
	if p.Snapshot != nil {
		j.Snapshot, err = s.snapshot(ctx, p.RunID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			j.Snapshot = nil
		case err != nil:
			return nil, err
		case p.Snapshot.Matches(j.Snapshot):
			j.FromSeq = j.Snapshot.Position
		}
	}
	if j.Entries, err = s.entries(ctx, p.RunID, j.FromSeq); err != nil {
		return nil, err
	}
	if j.Effects, err = s.effects(ctx, p.RunID, j.FromSeq); err != nil {
		return nil, err
	}
	return j, nil
}

// EventList implements store.Store.
func (s *Store) EventList(ctx context.Context, p *store.EventListParams) ([]*store.Event, error) {
	limit := int64(p.Limit)
	if limit <= 0 {
		limit = -1 // no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, seq, type, step, at, data FROM events
		WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`, p.RunID, p.AfterSeq, limit)
	if err != nil {
		return nil, wrap("list events of run "+p.RunID, err)
	}
	defer rows.Close()
	var events []*store.Event
	for rows.Next() {
		var (
			ev        store.Event
			typ, data string
			at        int64
		)
		if err := rows.Scan(&ev.RunID, &ev.Seq, &typ, &ev.Step, &at, &data); err != nil {
			return nil, wrap("list events of run "+p.RunID, err)
		}
		ev.Type, ev.At, ev.Data = store.EventType(typ), fromMicros(at), json.RawMessage(data)
		events = append(events, &ev)
	}
	return events, wrap("list events of run "+p.RunID, rows.Err())
}

// SignalInsert implements store.Store.
func (s *Store) SignalInsert(ctx context.Context, p *store.SignalInsertParams) (*store.Signal, error) {
	var sig *store.Signal
	err := s.tx(ctx, func(tx *txn) (err error) {
		sig, err = sqlstore.SignalInsert(ctx, steerTx{tx}, p)
		return err
	})
	if err != nil {
		return nil, wrap("signal run "+p.RunID, err)
	}
	return sig, nil
}

// SignalListPending implements store.Store.
func (s *Store) SignalListPending(ctx context.Context, p *store.SignalListPendingParams) ([]*store.Signal, error) {
	q := `SELECT id, run_id, name, payload, created_at, consumed_by FROM signals WHERE run_id = ? AND consumed_by IS NULL`
	args := []any{p.RunID}
	if p.Name != "" {
		q += ` AND name = ?`
		args = append(args, p.Name)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, wrap("list signals of run "+p.RunID, err)
	}
	defer rows.Close()
	var sigs []*store.Signal
	for rows.Next() {
		var (
			sig      store.Signal
			payload  string
			created  int64
			consumed sql.NullInt64
		)
		if err := rows.Scan(&sig.ID, &sig.RunID, &sig.Name, &payload, &created, &consumed); err != nil {
			return nil, wrap("list signals of run "+p.RunID, err)
		}
		sig.Payload, sig.CreatedAt = json.RawMessage(payload), fromMicros(created)
		if consumed.Valid {
			n := int(consumed.Int64)
			sig.ConsumedBy = &n
		}
		sigs = append(sigs, &sig)
	}
	return sigs, wrap("list signals of run "+p.RunID, rows.Err())
}

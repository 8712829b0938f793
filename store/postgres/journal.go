package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// The columns of the journal's tables, in the order their scanners read.
const (
	entryColumns  = `run_id, seq, kind, name, status, attempts, cursor, output, error, effect_seq, wake_at, started_at, updated_at`
	effectColumns = `run_id, step_seq, seq, name, status, key, result, error, executions, started_at, updated_at`
	entriesFrom   = `SELECT ` + entryColumns + ` FROM entries WHERE run_id = $1 AND seq >= `
	effectsFrom   = `SELECT ` + effectColumns + ` FROM effects WHERE run_id = $1 AND step_seq >= `
	snapshotByRun = `SELECT module_digest, format, attempt, position, activation, data, created_at FROM run_snapshots WHERE run_id = $1`
	// matchedFrom is where RunJournal reads from when asked for the
	// snapshot: its position when it matches ($3, $4, $5), else $2.
	matchedFrom = `COALESCE((SELECT position FROM run_snapshots WHERE run_id = $1 AND module_digest = $3 AND attempt = $4 AND format = $5), $2)`
	// pipelined marks a statement that RunJournal sends in the round trip
	// of the one before it (pgstat counts it so).
	pipelined = ` /* pipelined */`
)

// EntryListByRun implements store.Store.
func (s *Store) EntryListByRun(ctx context.Context, p *store.EntryListByRunParams) ([]*store.Entry, error) {
	var entries []*store.Entry
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, entriesFrom+`$2 ORDER BY seq`, p.RunID, p.FromSeq)
		entries, err = pgx.CollectRows(rows, scanEntry)
		return err
	})
	return entries, s.wrap("list entries of run "+p.RunID, err)
}

func scanEntry(row pgx.CollectableRow) (*store.Entry, error) {
	var e store.Entry
	var kind, status string
	err := row.Scan(&e.RunID, &e.Seq, &kind, &e.Name, &status, &e.Attempts, &e.Cursor, &e.Output, &e.Error,
		&e.EffectSeq, &e.WakeAt, &e.StartedAt, &e.UpdatedAt)
	e.Kind, e.Status = store.EntryKind(kind), store.EntryStatus(status)
	e.WakeAt, e.StartedAt, e.UpdatedAt = utcPtr(e.WakeAt), e.StartedAt.UTC(), e.UpdatedAt.UTC()
	return &e, err
}

// EffectListByRun implements store.Store.
func (s *Store) EffectListByRun(ctx context.Context, p *store.EffectListByRunParams) ([]*store.Effect, error) {
	var effects []*store.Effect
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, effectsFrom+`$2 ORDER BY step_seq, seq`, p.RunID, p.FromStepSeq)
		effects, err = pgx.CollectRows(rows, scanEffect)
		return err
	})
	return effects, s.wrap("list effects of run "+p.RunID, err)
}

func scanEffect(row pgx.CollectableRow) (*store.Effect, error) {
	var ef store.Effect
	var status string
	err := row.Scan(&ef.RunID, &ef.StepSeq, &ef.Seq, &ef.Name, &status, &ef.Key, &ef.Result, &ef.Error,
		&ef.Executions, &ef.StartedAt, &ef.UpdatedAt)
	ef.Status, ef.StartedAt, ef.UpdatedAt = store.EffectStatus(status), ef.StartedAt.UTC(), ef.UpdatedAt.UTC()
	return &ef, err
}

// RunSnapshotGet implements store.Store.
func (s *Store) RunSnapshotGet(ctx context.Context, p *store.RunSnapshotGetParams) (*store.RunSnapshot, error) {
	var sn *store.RunSnapshot
	err := s.read(ctx, func() (err error) {
		sn, err = scanSnapshot(p.RunID, s.pool.QueryRow(ctx, snapshotByRun, p.RunID))
		return err
	})
	if err != nil {
		return nil, s.wrap("get snapshot of run "+p.RunID, err)
	}
	return sn, nil
}

func scanSnapshot(runID string, row pgx.Row) (*store.RunSnapshot, error) {
	sn := &store.RunSnapshot{RunID: runID}
	if err := row.Scan(&sn.ModuleDigest, &sn.Format, &sn.Attempt, &sn.Position, &sn.Activation, &sn.Data, &sn.CreatedAt); err != nil {
		return nil, err
	}
	sn.CreatedAt = sn.CreatedAt.UTC()
	return sn, nil
}

// RunJournal implements store.Store: its statements are pipelined in one
// batch, one round trip.
func (s *Store) RunJournal(ctx context.Context, p *store.RunJournalParams) (*store.RunJournal, error) {
	var j *store.RunJournal
	err := s.read(ctx, func() (err error) {
		j, err = s.runJournal(ctx, p)
		return err
	})
	return j, s.wrap("read journal of run "+p.RunID, err)
}

func (s *Store) runJournal(ctx context.Context, p *store.RunJournalParams) (*store.RunJournal, error) {
	j := &store.RunJournal{FromSeq: p.FromSeq}
	b := &pgx.Batch{}
	from, args, mark := "$2", []any{p.RunID, p.FromSeq}, ""
	if m := p.Snapshot; m != nil {
		from, mark = matchedFrom, pipelined
		args = append(args, m.ModuleDigest, m.Attempt, m.Format)
		b.Queue(snapshotByRun, p.RunID).QueryRow(func(row pgx.Row) (err error) {
			j.Snapshot, err = scanSnapshot(p.RunID, row)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	}
	b.Queue(entriesFrom+from+` ORDER BY seq`+mark, args...).Query(func(rows pgx.Rows) (err error) {
		j.Entries, err = pgx.CollectRows(rows, scanEntry)
		return err
	})
	b.Queue(effectsFrom+from+` ORDER BY step_seq, seq`+pipelined, args...).Query(func(rows pgx.Rows) (err error) {
		j.Effects, err = pgx.CollectRows(rows, scanEffect)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	if j.Snapshot != nil && p.Snapshot.Matches(j.Snapshot) {
		j.FromSeq = j.Snapshot.Position
	}
	return j, nil
}

// EventList implements store.Store.
func (s *Store) EventList(ctx context.Context, p *store.EventListParams) ([]*store.Event, error) {
	var limit *int
	if p.Limit > 0 {
		limit = &p.Limit
	}
	var events []*store.Event
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, `SELECT run_id, seq, type, step, at, data FROM events
		WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, p.RunID, p.AfterSeq, limit)
		events, err = pgx.CollectRows(rows, scanEvent)
		return err
	})
	return events, s.wrap("list events of run "+p.RunID, err)
}

func scanEvent(row pgx.CollectableRow) (*store.Event, error) {
	var ev store.Event
	var typ string
	var data []byte
	err := row.Scan(&ev.RunID, &ev.Seq, &typ, &ev.Step, &ev.At, &data)
	ev.Type, ev.At, ev.Data = store.EventType(typ), ev.At.UTC(), data
	return &ev, err
}

// SignalInsert implements store.Store.
func (s *Store) SignalInsert(ctx context.Context, p *store.SignalInsertParams) (*store.Signal, error) {
	var sig *store.Signal
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		sig, err = sqlstore.SignalInsert(ctx, steerTx{tx}, p)
		return err
	})
	if err != nil {
		return nil, s.wrap("signal run "+p.RunID, err)
	}
	return sig, nil
}

// SignalListPending implements store.Store.
func (s *Store) SignalListPending(ctx context.Context, p *store.SignalListPendingParams) ([]*store.Signal, error) {
	q := `SELECT id, run_id, name, payload, created_at, consumed_by FROM signals WHERE run_id = $1 AND consumed_by IS NULL`
	args := []any{p.RunID}
	if p.Name != "" {
		q += ` AND name = $2`
		args = append(args, p.Name)
	}
	var sigs []*store.Signal
	err := s.read(ctx, func() (err error) {
		rows, _ := s.pool.Query(ctx, q+` ORDER BY id`, args...)
		sigs, err = pgx.CollectRows(rows, scanSignal)
		return err
	})
	return sigs, s.wrap("list signals of run "+p.RunID, err)
}

func scanSignal(row pgx.CollectableRow) (*store.Signal, error) {
	var sig store.Signal
	var payload []byte
	err := row.Scan(&sig.ID, &sig.RunID, &sig.Name, &payload, &sig.CreatedAt, &sig.ConsumedBy)
	sig.Payload, sig.CreatedAt = payload, sig.CreatedAt.UTC()
	return &sig, err
}

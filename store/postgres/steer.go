package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// steerTx is the Postgres statements of RunCancel, RunRetry and
// SignalInsert, whose logic is sqlstore's.
type steerTx struct{ tx pgx.Tx }

var (
	_ sqlstore.CancelTx = steerTx{}
	_ sqlstore.RetryTx  = steerTx{}
	_ sqlstore.SignalTx = steerTx{}
)

func (t steerTx) RunGet(ctx context.Context, id string) (*store.Run, error) {
	return getRun(ctx, t.tx, id, false)
}

func (t steerTx) RunLock(ctx context.Context, id string, withParent bool) (*store.Run, error) {
	if !withParent {
		return getRun(ctx, t.tx, id, true)
	}
	if _, err := t.tx.Exec(ctx, `SELECT 1 FROM runs WHERE id = $1 OR id = (SELECT parent_id FROM runs WHERE id = $1)
		ORDER BY id FOR UPDATE`, id); err != nil {
		return nil, err
	}
	return getRun(ctx, t.tx, id, false)
}

func (t steerTx) EventAdd(ctx context.Context, runID string, ev *store.NewEvent, now time.Time) error {
	return addEvent(ctx, t.tx, runID, ev, now)
}

func (t steerTx) CancelRequest(ctx context.Context, id string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE runs SET cancel_requested = true, updated_at = $2 WHERE id = $1`, id, now)
	return err
}

func (t steerTx) CancelNow(ctx context.Context, id string, now time.Time, ev *store.NewEvent) error {
	_, err := t.tx.Exec(ctx, `UPDATE runs SET status = 'cancelled', wake_at = NULL, lease_owner = '', children_wake = 0,
		completed_at = $2, updated_at = $2 WHERE id = $1`, id, now)
	if err != nil {
		return err
	}
	if err := addEvent(ctx, t.tx, id, ev, now); err != nil {
		return err
	}
	_, err = t.tx.Exec(ctx, `DELETE FROM run_snapshots WHERE run_id = $1`, id)
	return err
}

// RunEnded is wasmflow_run_ended (migration 0007), which write batches
// call for the runs they end.
func (t steerTx) RunEnded(ctx context.Context, run *store.Run, now time.Time, parentEvent *store.NewEvent) error {
	var typ, step, data any
	if parentEvent != nil {
		typ, step, data = string(parentEvent.Type), parentEvent.Step, []byte(parentEvent.Data)
	}
	_, err := t.tx.Exec(ctx, `SELECT wasmflow_run_ended($1, $2, $3, $4, $2, $5::json)`, run.ID, now, typ, step, data)
	return err
}

func (t steerTx) JournalPrune(ctx context.Context, runID string) error {
	return pruneJournal(ctx, t.tx, runID)
}

func (t steerTx) RunRestart(ctx context.Context, id string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE runs SET status = 'pending', attempt = attempt + 1, error = '', output = NULL,
		completed_at = NULL, cancel_requested = false, lease_owner = '', wake_at = $2, updated_at = $2 WHERE id = $1`,
		id, now)
	return err
}

func (t steerTx) SignalAdd(ctx context.Context, sig *store.Signal) error {
	return t.tx.QueryRow(ctx, `INSERT INTO signals (run_id, name, payload, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		sig.RunID, sig.Name, []byte(sig.Payload), sig.CreatedAt).Scan(&sig.ID)
}

func (t steerTx) RunSignalled(ctx context.Context, runID string, now time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE runs SET signals_received = signals_received + 1, updated_at = $2,
		wake_at = CASE WHEN status = 'waiting' AND (wake_at IS NULL OR wake_at > $2) THEN $2 ELSE wake_at END
		WHERE id = $1`, runID, now)
	return err
}

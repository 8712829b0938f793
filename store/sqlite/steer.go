package sqlite

import (
	"context"
	"time"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/internal/sqlstore"
)

// steerTx is the SQLite statements of RunCancel, RunRetry and SignalInsert,
// whose logic is sqlstore's. A write transaction holds the database's one
// write lock, so reading a run is locking it.
type steerTx struct{ tx *txn }

var (
	_ sqlstore.CancelTx = steerTx{}
	_ sqlstore.RetryTx  = steerTx{}
	_ sqlstore.SignalTx = steerTx{}
)

func (t steerTx) RunGet(ctx context.Context, id string) (*store.Run, error) {
	return getRun(ctx, t.tx, id)
}

func (t steerTx) RunLock(ctx context.Context, id string, _ bool) (*store.Run, error) {
	return getRun(ctx, t.tx, id)
}

func (t steerTx) EventAdd(ctx context.Context, runID string, ev *store.NewEvent, now time.Time) error {
	return addEvent(ctx, t.tx, runID, ev, now)
}

func (t steerTx) CancelRequest(ctx context.Context, id string, now time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE runs SET cancel_requested = 1, updated_at = ? WHERE id = ?`, micros(now), id)
	return err
}

func (t steerTx) CancelNow(ctx context.Context, id string, now time.Time, ev *store.NewEvent) error {
	return cancelNow(ctx, t.tx, id, now, ev)
}

func (t steerTx) RunEnded(ctx context.Context, run *store.Run, now time.Time, parentEvent *store.NewEvent) error {
	if run.ParentID != "" {
		if err := childEnded(ctx, t.tx, run.ParentID, now, parentEvent); err != nil {
			return err
		}
	}
	return endChildren(ctx, t.tx, run.ID, now)
}

func (t steerTx) JournalPrune(ctx context.Context, runID string) error {
	return pruneJournal(ctx, t.tx, runID)
}

func (t steerTx) RunRestart(ctx context.Context, id string, now time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE runs SET status = 'pending', attempt = attempt + 1, error = '', output = NULL,
		completed_at = NULL, cancel_requested = 0, lease_owner = '', wake_at = ?, updated_at = ? WHERE id = ?`,
		micros(now), micros(now), id)
	return err
}

func (t steerTx) SignalAdd(ctx context.Context, sig *store.Signal) error {
	return t.tx.QueryRowContext(ctx, `INSERT INTO signals (run_id, name, payload, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		sig.RunID, sig.Name, string(sig.Payload), micros(sig.CreatedAt)).Scan(&sig.ID)
}

func (t steerTx) RunSignalled(ctx context.Context, runID string, now time.Time) error {
	at := micros(now)
	_, err := t.tx.ExecContext(ctx, `UPDATE runs SET signals_received = signals_received + 1, updated_at = ?,
		wake_at = CASE WHEN status = 'waiting' AND (wake_at IS NULL OR wake_at > ?) THEN ? ELSE wake_at END
		WHERE id = ?`, at, at, at, runID)
	return err
}

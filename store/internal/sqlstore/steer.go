package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// The operations of this file steer a run from outside its lease: RunCancel,
// RunRetry and SignalInsert. Which statuses allow them, what they change
// and which events they append are decided here, once; each dialect
// supplies its statements, all in one transaction, and wraps the error.

// Tx is the statements every operation of this file uses, in the
// transaction of one call.
type Tx interface {
	// RunGet reads the run id.
	RunGet(ctx context.Context, id string) (*store.Run, error)
	// RunLock reads the run id, locked for the rest of the transaction;
	// withParent locks its parent too, the two in id order, as write
	// batches lock a child that ends and its parent.
	RunLock(ctx context.Context, id string, withParent bool) (*store.Run, error)
	// EventAdd counts one more event on the run and appends ev.
	EventAdd(ctx context.Context, runID string, ev *store.NewEvent, now time.Time) error
}

// CancelTx is the statements of RunCancel.
type CancelTx interface {
	Tx
	// CancelRequest asks the running run id to stop and be cancelled.
	CancelRequest(ctx context.Context, id string, now time.Time) error
	// CancelNow makes the run id, which is not running, cancelled now
	// (no wake-up, no lease, no wait for children), deletes its snapshot,
	// and appends ev.
	CancelNow(ctx context.Context, id string, now time.Time, ev *store.NewEvent) error
	// RunEnded does the work of the end of run that CancelNow cancelled:
	// its parent, if it has one, counts one more child ended, wakes if it
	// waits for that many, and gets parentEvent; its children whose
	// OnParentEnd is cancel end (a running one is asked to cancel, any
	// other is cancelled, with run_cancelled {"parent"}, and ends its own
	// children in turn).
	RunEnded(ctx context.Context, run *store.Run, now time.Time, parentEvent *store.NewEvent) error
}

// RetryTx is the statements of RunRetry.
type RetryTx interface {
	Tx
	// JournalPrune deletes the run's first failed entry, every entry after
	// it, and their effects, and hands the signals those entries consumed
	// back.
	JournalPrune(ctx context.Context, runID string) error
	// RunRestart makes the run id pending and runnable now in its next
	// attempt, with no error, output, completion, cancel request or lease.
	RunRestart(ctx context.Context, id string, now time.Time) error
}

// SignalTx is the statements of SignalInsert.
type SignalTx interface {
	Tx
	// SignalAdd inserts sig and sets its ID.
	SignalAdd(ctx context.Context, sig *store.Signal) error
	// RunSignalled counts one more signal received by the run and, when
	// it waits, makes it runnable now.
	RunSignalled(ctx context.Context, runID string, now time.Time) error
}

// RunCancel is store.Store's RunCancel in tx: a running run is asked to
// cancel (its activation ends it); any other run that can become cancelled
// is cancelled at once, with run_cancelled, and its parent and children
// learn.
func RunCancel(ctx context.Context, tx CancelTx, p *store.RunCancelParams) (*store.Run, error) {
	cur, err := tx.RunLock(ctx, p.ID, true)
	if err != nil {
		return nil, err
	}
	switch {
	case cur.Status == store.StatusRunning:
		err = tx.CancelRequest(ctx, p.ID, p.Now)
	case cur.Status.CanBecome(store.StatusCancelled):
		err = tx.CancelNow(ctx, p.ID, p.Now, store.RunEvent(p.Now, store.RunEnded{Status: store.StatusCancelled}))
		if err == nil {
			var parentEvent *store.NewEvent
			if cur.ParentID != "" {
				parentEvent = ChildEndedEvent(cur, p.Now)
			}
			err = tx.RunEnded(ctx, cur, p.Now, parentEvent)
		}
	default:
		return nil, fmt.Errorf("run is %s: %w", cur.Status, store.ErrInvalidTransition)
	}
	if err != nil {
		return nil, err
	}
	return tx.RunGet(ctx, p.ID)
}

// RunRetry is store.Store's RunRetry in tx: a failed run becomes pending in
// its next attempt, with run_retried, and replays its journal up to the
// entry that failed.
func RunRetry(ctx context.Context, tx RetryTx, p *store.RunRetryParams) (*store.Run, error) {
	cur, err := tx.RunLock(ctx, p.ID, false)
	if err != nil {
		return nil, err
	}
	if cur.Status != store.StatusFailed || !cur.Status.CanBecome(store.StatusPending) {
		return nil, fmt.Errorf("run is %s, only a failed run can be retried: %w", cur.Status, store.ErrInvalidTransition)
	}
	if err := tx.JournalPrune(ctx, p.ID); err != nil {
		return nil, err
	}
	if err := tx.RunRestart(ctx, p.ID, p.Now); err != nil {
		return nil, err
	}
	if err := tx.EventAdd(ctx, p.ID, store.RunEvent(p.Now, store.RunRetried{Attempt: cur.Attempt + 1}), p.Now); err != nil {
		return nil, err
	}
	return tx.RunGet(ctx, p.ID)
}

// SignalInsert is store.Store's SignalInsert in tx: a run that has not
// ended gets the signal (a JSON null payload when it has none), with
// signal_received, and wakes if it waits.
func SignalInsert(ctx context.Context, tx SignalTx, p *store.SignalInsertParams) (*store.Signal, error) {
	payload := p.Payload
	if payload == nil {
		payload = json.RawMessage("null")
	}
	cur, err := tx.RunLock(ctx, p.RunID, false)
	if err != nil {
		return nil, err
	}
	if cur.Status.Terminal() {
		return nil, fmt.Errorf("run is %s: %w", cur.Status, store.ErrInvalidTransition)
	}
	sig := &store.Signal{RunID: p.RunID, Name: p.Name, Payload: payload, CreatedAt: p.Now}
	if err := tx.SignalAdd(ctx, sig); err != nil {
		return nil, err
	}
	if err := tx.RunSignalled(ctx, p.RunID, p.Now); err != nil {
		return nil, err
	}
	ev := store.RunEvent(p.Now, store.SignalReceived{Name: p.Name, ID: sig.ID})
	if err := tx.EventAdd(ctx, p.RunID, ev, p.Now); err != nil {
		return nil, err
	}
	return sig, nil
}

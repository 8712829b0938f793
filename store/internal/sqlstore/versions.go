package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// The operations of this file move runs between module versions and
// remove versions: RunUpgrade and ModuleDelete. As in steer.go, what they
// check and change is decided here; each dialect supplies its statements,
// in one transaction.

// UpgradeTx is the statements of RunUpgrade.
type UpgradeTx interface {
	Tx
	// ModuleDigestLock returns the digest of module name's version,
	// holding it until the transaction ends so that no ModuleDelete of it
	// commits meanwhile.
	ModuleDigestLock(ctx context.Context, name, version string) (string, error)
	// RunRepin sets the run's module version and digest and updated_at,
	// and deletes its snapshot.
	RunRepin(ctx context.Context, id, version, digest string, now time.Time) error
}

// DeleteTx is the statements of ModuleDelete.
type DeleteTx interface {
	// ModuleLock returns the digest of module name's version, locked for
	// the rest of the transaction against RunUpgrade and against
	// ModuleInsert of the same digest.
	ModuleLock(ctx context.Context, name, version string) (string, error)
	// PinnedRuns counts the runs of name's version that are not completed
	// or cancelled.
	PinnedRuns(ctx context.Context, name, version string) (int64, error)
	// ModuleRemove deletes the module row of name's version.
	ModuleRemove(ctx context.Context, name, version string) error
	// DigestUsed reports whether a module row has digest.
	DigestUsed(ctx context.Context, digest string) (bool, error)
	// BytesRemove deletes the bytes and init images of digest.
	BytesRemove(ctx context.Context, digest string) error
}

// Upgradable reports whether a run in status s may be re-pinned: one that
// is not running and may still run (a failed run may be retried).
func Upgradable(s store.RunStatus) bool {
	switch s {
	case store.StatusPending, store.StatusSleeping, store.StatusWaiting, store.StatusFailed:
		return true
	}
	return false
}

// Pinning lists, as SQL, the statuses of runs that need their module
// version: every status but completed and cancelled.
var Pinning = List([]store.RunStatus{store.StatusPending, store.StatusRunning, store.StatusSleeping, store.StatusWaiting, store.StatusFailed})

// RunUpgrade is store.Store's RunUpgrade in tx.
func RunUpgrade(ctx context.Context, tx UpgradeTx, p *store.RunUpgradeParams) (*store.Run, error) {
	if !Upgradable(p.Status) {
		return nil, fmt.Errorf("a %s run cannot be upgraded: %w", p.Status, store.ErrInvalidTransition)
	}
	cur, err := tx.RunLock(ctx, p.ID, false)
	if err != nil {
		return nil, err
	}
	if cur.Status != p.Status || cur.Fence != p.Fence || cur.ModuleDigest != p.FromDigest {
		return nil, fmt.Errorf("run %s is %s under fence %d on %s, it was %s under fence %d on %s: %w",
			p.ID, cur.Status, cur.Fence, cur.ModuleDigest, p.Status, p.Fence, p.FromDigest, store.ErrChanged)
	}
	digest, err := tx.ModuleDigestLock(ctx, cur.ModuleName, p.ToVersion)
	if err != nil {
		return nil, fmt.Errorf("module %s version %s: %w", cur.ModuleName, p.ToVersion, err)
	}
	if digest != p.ToDigest {
		return nil, fmt.Errorf("module %s version %s has digest %s, not %s: %w",
			cur.ModuleName, p.ToVersion, digest, p.ToDigest, store.ErrChanged)
	}
	if err := tx.RunRepin(ctx, p.ID, p.ToVersion, p.ToDigest, p.Now); err != nil {
		return nil, err
	}
	ev := p.Event
	if ev == nil {
		ev = store.RunEvent(p.Now, store.RunUpgraded{
			From: store.ModuleRef{Version: cur.ModuleVersion, Digest: cur.ModuleDigest},
			To:   store.ModuleRef{Version: p.ToVersion, Digest: p.ToDigest},
		})
	}
	if err := tx.EventAdd(ctx, p.ID, ev, p.Now); err != nil {
		return nil, err
	}
	return tx.RunGet(ctx, p.ID)
}

// ModuleDelete is store.Store's ModuleDelete in tx.
func ModuleDelete(ctx context.Context, tx DeleteTx, p *store.ModuleDeleteParams) error {
	digest, err := tx.ModuleLock(ctx, p.Name, p.Version)
	if err != nil {
		return err
	}
	n, err := tx.PinnedRuns(ctx, p.Name, p.Version)
	if err != nil {
		return err
	}
	if n > 0 {
		return &store.InUseError{Runs: n}
	}
	if err := tx.ModuleRemove(ctx, p.Name, p.Version); err != nil {
		return err
	}
	used, err := tx.DigestUsed(ctx, digest)
	if err != nil || used {
		return err
	}
	return tx.BytesRemove(ctx, digest)
}

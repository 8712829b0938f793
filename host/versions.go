package host

import (
	"context"
	"errors"

	"github.com/wasmflow/wasmflow/store"
)

// DeleteModuleVersion deletes a version of a module that no run needs any
// more: every run pinned to it has completed or was cancelled. A failed run
// needs its version, since it may be retried. While runs need it, the
// answer is ErrVersionInUse, naming how many; the version is not touched.
// The module's bytes go with the version unless another version (of any
// module) has the same bytes. An unknown module or version is
// ErrModuleNotFound. Runs that finished on the version keep their record,
// timeline and journal.
func (h *Host) DeleteModuleVersion(ctx context.Context, name, version string) error {
	if err := checkModuleName("module name", name); err != nil {
		return err
	}
	if err := checkModuleName("module version", version); err != nil {
		return err
	}
	err := h.store.ModuleDelete(ctx, &store.ModuleDeleteParams{Name: name, Version: version})
	var inUse *store.InUseError
	switch {
	case errors.As(err, &inUse):
		return errorf(ErrVersionInUse, "module %s version %s is still needed by %d %s (not finished, or failed and retryable): "+
			"let them finish, cancel them, purge the failed ones, or upgrade them to another version, then delete it again",
			name, version, inUse.Runs, plural(inUse.Runs, "run", "runs"))
	case errors.Is(err, store.ErrNotFound):
		return errorf(ErrModuleNotFound, "no module %s version %s", name, version)
	case err != nil:
		return err
	}
	h.exec.ForgetModuleVersion(name, version)
	return nil
}

// pinned counts the runs of rc that need their version: all but the
// completed and cancelled ones.
func pinned(rc *RunCounts) int64 {
	return rc.Total - rc.Statuses[store.StatusCompleted] - rc.Statuses[store.StatusCancelled]
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

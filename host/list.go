package host

import (
	"context"

	"github.com/wasmflow/wasmflow/store"
)

// Modules returns the latest version of every module.
func (h *Host) Modules(ctx context.Context) ([]*store.Module, error) {
	return h.store.ModuleList(ctx, &store.ModuleListParams{})
}

// ModuleVersions returns every version of a module, newest first. A module
// without versions is ErrNotFound.
func (h *Host) ModuleVersions(ctx context.Context, name string) ([]*store.Module, error) {
	if err := checkModuleName("module name", name); err != nil {
		return nil, err
	}
	mods, err := h.store.ModuleListVersions(ctx, &store.ModuleListVersionsParams{Name: name})
	if err != nil {
		return nil, err
	}
	if len(mods) == 0 {
		return nil, errorf(ErrNotFound, "no module named %s", name)
	}
	return mods, nil
}

// ListRuns returns a page of the runs that match the non-empty filters of
// p, newest first. The filters follow the grammar of what they filter, and
// After must be a run id.
func (h *Host) ListRuns(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	if p.Status != "" && !p.Status.Valid() {
		return nil, errorf(ErrInvalid, "unknown status %s: use pending, running, sleeping, waiting, completed, failed or cancelled", quote(string(p.Status)))
	}
	if err := checkFilters(p.Module, p.ModuleVersion, p.Workflow); err != nil {
		return nil, err
	}
	if err := checkOptional(checkName, "idempotency key", p.IdempotencyKey); err != nil {
		return nil, err
	}
	if p.After != "" && !validRunID(p.After) {
		return nil, errorf(ErrInvalid, "after must be a run id (the next of the previous page), not %s", quote(p.After))
	}
	return h.store.RunList(ctx, p)
}

// CountRuns counts the runs that match the non-empty filters of p, per
// module version, workflow and status.
func (h *Host) CountRuns(ctx context.Context, p *store.RunCountParams) ([]*store.RunCount, error) {
	if err := checkFilters(p.Module, p.ModuleVersion, p.Workflow); err != nil {
		return nil, err
	}
	return h.store.RunCount(ctx, p)
}

// checkFilters checks the filters of ListRuns and CountRuns.
func checkFilters(module, version, workflow string) error {
	if version != "" && module == "" {
		return errorf(ErrInvalid, "version filters the versions of one module: pass module too")
	}
	if err := checkOptional(checkModuleName, "module", module); err != nil {
		return err
	}
	if err := checkOptional(checkModuleName, "module version", version); err != nil {
		return err
	}
	return checkOptional(checkName, "workflow", workflow)
}

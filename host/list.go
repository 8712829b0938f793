package host

import (
	"context"
	"strings"

	"github.com/wasmflow/wasmflow/store"
)

// Modules returns the latest version of every module.
func (h *Host) Modules(ctx context.Context) ([]*Module, error) {
	return h.store.ModuleList(ctx, &store.ModuleListParams{})
}

// ModuleVersion is a version of a module with the runs pinned to it.
type ModuleVersion struct {
	*Module
	Runs *RunCounts
	// Pinned counts the runs that still need the version: those that have
	// not finished, and failed ones (they may be retried). While it is not
	// zero, DeleteModuleVersion refuses.
	Pinned int64
}

// GetModule returns every version of a module, newest first, each with the
// runs pinned to it. A module without versions is ErrNotFound.
func (h *Host) GetModule(ctx context.Context, name string) ([]*ModuleVersion, error) {
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
	groups, err := h.store.RunCount(ctx, &store.RunCountParams{Module: name})
	if err != nil {
		return nil, err
	}
	out := make([]*ModuleVersion, len(mods))
	for i, m := range mods {
		out[i] = &ModuleVersion{Module: m, Runs: tally(groups, func(g *store.RunCount) bool { return g.ModuleVersion == m.Version })}
		out[i].Pinned = pinned(out[i].Runs)
	}
	return out, nil
}

// The page sizes of ListRuns.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// ListRunsParams are the arguments of ListRuns: filters, each ignored when
// empty, and a page.
type ListRunsParams struct {
	Status         RunStatus
	Module         string
	ModuleVersion  string // only with Module
	Workflow       string
	IdempotencyKey string
	// Parent: only the children of this run.
	Parent string
	// After is the Next of the previous page; empty: the first page.
	After string
	// Limit is how many runs a page holds, from 1 to MaxListLimit
	// (DefaultListLimit when the caller has no preference).
	Limit int
}

// Check returns the ErrInvalid that ListRuns would return for p, if any:
// the filters follow the grammar of what they filter, After is a run id,
// and Limit is from 1 to MaxListLimit.
func (p *ListRunsParams) Check() error {
	if p.Status != "" && !p.Status.Valid() {
		names := make([]string, len(RunStatuses))
		for i, s := range RunStatuses {
			names[i] = string(s)
		}
		return errorf(ErrInvalid, "status %s is not a run status: use %s or %s", quote(string(p.Status)), strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
	}
	if err := checkFilters(p.Module, p.ModuleVersion, p.Workflow); err != nil {
		return err
	}
	if err := checkOptional(checkName, "idempotency key", p.IdempotencyKey); err != nil {
		return err
	}
	if p.Parent != "" && !validRunID(p.Parent) {
		return errorf(ErrInvalid, "parent must be a run id, not %s", quote(p.Parent))
	}
	if p.After != "" && !validRunID(p.After) {
		return errorf(ErrInvalid, "after must be a run id (the next of the previous page), not %s", quote(p.After))
	}
	if p.Limit < 1 || p.Limit > MaxListLimit {
		return errorf(ErrInvalid, "limit must be an integer from 1 to %d, got %d", MaxListLimit, p.Limit)
	}
	return nil
}

// RunPage is a page of runs, newest first.
type RunPage struct {
	Runs []*Run
	// Next is what ListRunsParams.After takes for the next page; empty on
	// the last page.
	Next string
}

// ListRuns returns a page of the runs that match the filters of p, newest
// first.
func (h *Host) ListRuns(ctx context.Context, p *ListRunsParams) (*RunPage, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	runs, err := h.store.RunList(ctx, &store.RunListParams{
		Status: p.Status, Module: p.Module, ModuleVersion: p.ModuleVersion, Workflow: p.Workflow,
		IdempotencyKey: p.IdempotencyKey, ParentID: p.Parent, After: p.After, Limit: p.Limit + 1, // one more tells whether there is a next page
	})
	if err != nil {
		return nil, err
	}
	page := &RunPage{Runs: runs}
	if len(runs) > p.Limit {
		page.Runs = runs[:p.Limit]
		page.Next = page.Runs[p.Limit-1].ID
	}
	return page, nil
}

// CountRunsParams are the filters of CountRuns, each ignored when empty.
type CountRunsParams struct {
	Module        string
	ModuleVersion string // only with Module
	Workflow      string
}

// RunCounts counts runs: in all, and in each status. Statuses has every run
// status as a key, with 0 for those no run is in.
type RunCounts struct {
	Total    int64
	Statuses map[RunStatus]int64
}

// CountRuns counts the runs that match the filters of p.
func (h *Host) CountRuns(ctx context.Context, p *CountRunsParams) (*RunCounts, error) {
	if err := checkFilters(p.Module, p.ModuleVersion, p.Workflow); err != nil {
		return nil, err
	}
	groups, err := h.store.RunCount(ctx, &store.RunCountParams{Module: p.Module, ModuleVersion: p.ModuleVersion, Workflow: p.Workflow})
	if err != nil {
		return nil, err
	}
	return tally(groups, func(*store.RunCount) bool { return true }), nil
}

// tally adds up the groups that match.
func tally(groups []*store.RunCount, match func(*store.RunCount) bool) *RunCounts {
	rc := &RunCounts{Statuses: make(map[RunStatus]int64, len(RunStatuses))}
	for _, st := range RunStatuses {
		rc.Statuses[st] = 0
	}
	for _, g := range groups {
		if match(g) {
			rc.Total += g.Count
			rc.Statuses[g.Status] += g.Count
		}
	}
	return rc
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

package host

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/store"
)

// UpgradeRunParams are the arguments of UpgradeRun.
type UpgradeRunParams struct {
	ID string
	// Version is the version of the run's module to move the run to.
	Version string
	// DryRun checks the version against the run's journal and moves
	// nothing.
	DryRun bool
}

// ModuleRef names a module version and its bytes.
type ModuleRef struct {
	Version string
	Digest  string
}

// Upgrade is the outcome of an UpgradeRun.
type Upgrade struct {
	// Run is the run after the upgrade (as it was, on a dry run).
	Run      *Run
	From, To ModuleRef
	// Position is the journal position up to which the new version's code
	// was checked: where the run goes on under it.
	Position int
	// Upgraded says the run was moved: false on a dry run, and when the
	// run was on To already.
	Upgraded bool
}

// JournalCall is a call at a position of a run's journal: Kind is an
// EntryKind (step, timer, signal, child, children, change), or what else
// the code did there (executor's Code* kinds: complete, fail, trap,
// return, fault), or "end" past the end of the journal. In a bulk
// upgrade, a run whose workflow the new version does not export diverges
// with Journal {workflow, its name} and Code {end}.
type JournalCall = store.JournalCall

// Divergence is the first position at which a version's code asks for
// something other than what a run's journal holds there.
type Divergence struct {
	Position int
	Journal  JournalCall // what the journal holds
	Code     JournalCall // what the code asked for
	Message  string
}

// DivergenceError is UpgradeRun's error when the version's code diverges
// from the run's journal; errors.Is matches ErrUpgradeDiverged.
type DivergenceError struct {
	RunID      string
	Version    string
	Divergence Divergence
}

func (e *DivergenceError) Error() string {
	return fmt.Sprintf("version %s cannot take over run %s: %s; the run stays as it was", e.Version, e.RunID, e.Divergence.Message)
}

func (e *DivergenceError) Unwrap() error { return ErrUpgradeDiverged }

// upgradeTries bounds how often UpgradeRun checks a run again when the run
// changed between its check and its write (a claim took it meanwhile).
const upgradeTries = 3

// UpgradeRun moves a run that has not finished (and is not running) to
// another version of its module, after a replay check: the run's journal
// is replayed against that version's code with no side effects (see
// executor.Verify), and only if the code makes the same journaled calls in
// the same order up to the run's position is the run re-pinned to the
// version's digest, in one write with a run_upgraded event, its snapshot
// dropped. It then goes on under the new code, from a replay.
//
// A pending, sleeping, waiting or failed run can be upgraded (a failed
// run is checked against what Retry keeps, and stays failed until it is
// retried); a running run is ErrRunRunning: upgrade it once it suspends.
// A finished run is ErrInvalidTransition. A version whose code diverges is
// a *DivergenceError naming the first divergence, and the run is left as it
// was. A version that does not export the run's workflow is
// ErrWorkflowNotFound; a missing one ErrModuleNotFound.
func (h *Host) UpgradeRun(ctx context.Context, p *UpgradeRunParams) (*Upgrade, error) {
	if !validRunID(p.ID) {
		return nil, errorf(ErrNotFound, "no run %s (run ids are UUIDs)", quote(p.ID))
	}
	if err := checkModuleName("version", p.Version); err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		run, err := h.store.RunGetByID(ctx, &store.RunGetByIDParams{ID: p.ID})
		if errors.Is(err, store.ErrNotFound) {
			return nil, errorf(ErrNotFound, "no run %s", p.ID)
		}
		if err != nil {
			return nil, err
		}
		target, err := h.upgradeTarget(ctx, run, p.Version)
		if err != nil {
			return nil, err
		}
		up, err := h.upgrade(ctx, run, target, p.DryRun)
		if errors.Is(err, store.ErrChanged) && try < upgradeTries {
			continue
		}
		if errors.Is(err, store.ErrChanged) {
			return nil, errorf(ErrRunRunning, "run %s kept changing while it was checked (it is being activated); try again once it suspends", p.ID)
		}
		return up, err
	}
}

// upgradeTarget finds the module version a run is to move to, and checks
// that the run may move.
func (h *Host) upgradeTarget(ctx context.Context, run *Run, version string) (*Module, error) {
	if err := upgradable(run); err != nil {
		return nil, err
	}
	m, err := h.module(ctx, run.ModuleName, version)
	if err != nil {
		return nil, err
	}
	return m, exports(m, run)
}

// upgradable says why run cannot be upgraded now, if it cannot.
func upgradable(run *Run) error {
	switch run.Status {
	case store.StatusCompleted, store.StatusCancelled:
		return errorf(ErrInvalidTransition, "run %s has finished (%s): only a run that has not finished, or a failed one, can be upgraded", run.ID, run.Status)
	case store.StatusRunning:
		return errorf(ErrRunRunning, "run %s is running: it can be upgraded once it suspends (pending, sleeping or waiting); try again", run.ID)
	}
	return nil
}

// exports checks that module version m has code for run's workflow.
func exports(m *Module, run *Run) error {
	if !slices.Contains(m.Workflows, run.Workflow) {
		return errorf(ErrWorkflowNotFound, "module %s version %s does not export workflow %s, which run %s runs", m.Name, m.Version, run.Workflow, run.ID)
	}
	return nil
}

// upgrade checks target's code against run's journal and, unless dryRun,
// moves the run to it. store.ErrChanged: the run changed after it was
// read.
func (h *Host) upgrade(ctx context.Context, run *Run, target *Module, dryRun bool) (*Upgrade, error) {
	up := &Upgrade{Run: run, From: ModuleRef{run.ModuleVersion, run.ModuleDigest}, To: ModuleRef{target.Version, target.Digest}}
	if run.ModuleDigest == target.Digest {
		return up, nil
	}
	v, err := h.exec.Verify(ctx, run, target.Digest)
	if err != nil {
		var me *executor.ModuleError
		if errors.As(err, &me) {
			return nil, errorf(ErrInvalidModule, "module %s version %s cannot run: %v", target.Name, target.Version, err)
		}
		return nil, err
	}
	if d := v.Divergence; d != nil {
		return nil, &DivergenceError{RunID: run.ID, Version: target.Version, Divergence: Divergence{
			Position: d.Position, Journal: d.Journal, Code: d.Code, Message: d.Message,
		}}
	}
	up.Position = v.Position
	if dryRun {
		return up, nil
	}
	t := now()
	moved, err := h.store.RunUpgrade(ctx, &store.RunUpgradeParams{
		ID: run.ID, Status: run.Status, Fence: run.Fence, FromDigest: run.ModuleDigest,
		ToVersion: target.Version, ToDigest: target.Digest, Now: t,
		Event: store.RunEvent(t, store.RunUpgraded{
			From:     store.ModuleRef{Version: run.ModuleVersion, Digest: run.ModuleDigest},
			To:       store.ModuleRef{Version: target.Version, Digest: target.Digest},
			Position: v.Position,
		}),
	})
	if err != nil {
		return nil, err
	}
	h.watchers.changed(run.ID, nil)
	h.log.Info("run upgraded", "run_id", run.ID, "module", run.ModuleName, "from", run.ModuleVersion, "to", target.Version, "position", v.Position)
	up.Run, up.Upgraded = moved, true
	return up, nil
}

// UpgradeModuleParams are the arguments of UpgradeModule.
type UpgradeModuleParams struct {
	Name     string
	From, To string // versions
	DryRun   bool
	// After is the Next of the page before; empty for the first.
	After string
	// Limit bounds the runs this call looks at: default 1000, at most
	// MaxUpgradeLimit.
	Limit int
}

// MaxUpgradeLimit bounds UpgradeModuleParams.Limit.
const MaxUpgradeLimit = 10000

// ModuleUpgrade is what one UpgradeModule call did.
type ModuleUpgrade struct {
	// Checked counts the runs whose journals were checked; Upgraded those
	// moved (on a dry run: those that would be); Diverged those whose
	// journals the new code diverges from, which stay; Skipped those left
	// unchecked because they were running, or changed while checked.
	Checked, Upgraded, Diverged, Skipped int
	// Divergences groups the diverged runs by where and how they diverge,
	// most runs first.
	Divergences []*DivergenceGroup
	// Next, when not empty, is where the next call goes on (its After):
	// this one stopped at its Limit.
	Next string
}

// DivergenceGroup is the runs that diverge from a version's code at the
// same position, in the same way.
type DivergenceGroup struct {
	Position int
	Journal  JournalCall
	Code     JournalCall
	Message  string // the first run's
	Runs     int
	Examples []string // the ids of the first few
}

// maxExamples bounds DivergenceGroup.Examples.
const maxExamples = 5

// upgradeStatuses are the statuses whose runs UpgradeModule looks at, in
// order: the runs that have not finished. Running runs are counted as
// skipped: they are upgraded once they suspend, by a call made then.
var upgradeStatuses = []store.RunStatus{store.StatusPending, store.StatusSleeping, store.StatusWaiting, store.StatusRunning}

// upgradePage is how many runs UpgradeModule reads at a time.
const upgradePage = 100

// UpgradeModule moves every run of a module's version From that has not
// finished to version To, each after the replay check of UpgradeRun and
// in its own write, so that no lock is held for longer than one run's
// move: a crash in the middle leaves every run on From or on To. Runs
// whose journals To's code diverges from stay on From, and are counted,
// grouped by divergence. It looks at Limit runs a call and says in Next
// where the next call goes on; a run whose status changes during the pass
// may be missed by it, and a call made again finds it (runs moved already
// are on To, and not looked at again).
func (h *Host) UpgradeModule(ctx context.Context, p *UpgradeModuleParams) (*ModuleUpgrade, error) {
	if err := checkModuleName("module", p.Name); err != nil {
		return nil, err
	}
	if err := checkModuleName("from version", p.From); err != nil {
		return nil, err
	}
	if err := checkModuleName("to version", p.To); err != nil {
		return nil, err
	}
	limit := p.Limit
	switch {
	case limit == 0:
		limit = 1000
	case limit < 0 || limit > MaxUpgradeLimit:
		return nil, errorf(ErrInvalid, "limit must be from 1 to %d, got %d", MaxUpgradeLimit, limit)
	}
	stage, after, err := parseUpgradeCursor(p.After)
	if err != nil {
		return nil, err
	}
	if _, err := h.module(ctx, p.Name, p.From); err != nil {
		return nil, err
	}
	to, err := h.module(ctx, p.Name, p.To)
	if err != nil {
		return nil, err
	}
	res := &ModuleUpgrade{}
	groups := map[string]*DivergenceGroup{}
	var mu sync.Mutex
	seen := 0
	for ; stage < len(upgradeStatuses); stage, after = stage+1, "" {
		status := upgradeStatuses[stage]
		for seen < limit {
			runs, err := h.store.RunList(ctx, &store.RunListParams{
				Module: p.Name, ModuleVersion: p.From, Status: status, After: after, Limit: min(upgradePage, limit-seen),
			})
			if err != nil {
				return nil, err
			}
			if len(runs) == 0 {
				break
			}
			seen += len(runs)
			after = runs[len(runs)-1].ID
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(runtime.GOMAXPROCS(0))
			for _, run := range runs {
				if run.Status == store.StatusRunning {
					res.Skipped++
					continue
				}
				g.Go(func() error {
					up, err := h.upgradeListed(gctx, run, to, p.DryRun)
					mu.Lock()
					defer mu.Unlock()
					return res.count(groups, run, up, err, p.DryRun)
				})
			}
			if err := g.Wait(); err != nil {
				return nil, err
			}
			if seen >= limit {
				res.Next = fmt.Sprintf("%d:%s", stage, after)
			}
		}
		if seen >= limit {
			break
		}
	}
	for _, g := range groups {
		res.Divergences = append(res.Divergences, g)
	}
	slices.SortFunc(res.Divergences, func(a, b *DivergenceGroup) int {
		if a.Runs != b.Runs {
			return b.Runs - a.Runs
		}
		return a.Position - b.Position
	})
	h.log.Info("module upgrade pass", "module", p.Name, "from", p.From, "to", p.To, "dry_run", p.DryRun,
		"checked", res.Checked, "upgraded", res.Upgraded, "diverged", res.Diverged, "skipped", res.Skipped)
	return res, nil
}

// upgradeListed is UpgradeRun for a run UpgradeModule listed, to target:
// the run is read again if it changed meanwhile.
func (h *Host) upgradeListed(ctx context.Context, run *Run, target *Module, dryRun bool) (*Upgrade, error) {
	if err := upgradable(run); err != nil {
		return nil, err
	}
	if err := exports(target, run); err != nil {
		return nil, err
	}
	up, err := h.upgrade(ctx, run, target, dryRun)
	if errors.Is(err, store.ErrChanged) {
		return h.UpgradeRun(ctx, &UpgradeRunParams{ID: run.ID, Version: target.Version, DryRun: dryRun})
	}
	return up, err
}

// count adds the outcome of one run's upgrade to r; an error that is no
// outcome of the check is returned.
func (r *ModuleUpgrade) count(groups map[string]*DivergenceGroup, run *Run, up *Upgrade, err error, dryRun bool) error {
	var de *DivergenceError
	switch {
	case errors.As(err, &de):
		r.Checked++
		r.Diverged++
		addDivergence(groups, run.ID, &de.Divergence)
	case errors.Is(err, ErrWorkflowNotFound):
		// The version has no code for the run's workflow at all.
		r.Checked++
		r.Diverged++
		addDivergence(groups, run.ID, &Divergence{
			Journal: JournalCall{Kind: "workflow", Name: run.Workflow}, Code: JournalCall{Kind: "end"},
			Message: err.Error(),
		})
	case errors.Is(err, ErrRunRunning), errors.Is(err, ErrInvalidTransition), errors.Is(err, store.ErrChanged):
		r.Skipped++
	case err != nil:
		return fmt.Errorf("upgrade run %s: %w", run.ID, err)
	default:
		r.Checked++
		if up.Upgraded || dryRun {
			r.Upgraded++
		}
	}
	return nil
}

func addDivergence(groups map[string]*DivergenceGroup, runID string, d *Divergence) {
	key := fmt.Sprintf("%d\x00%s\x00%s\x00%s\x00%s", d.Position, d.Journal.Kind, d.Journal.Name, d.Code.Kind, d.Code.Name)
	g := groups[key]
	if g == nil {
		g = &DivergenceGroup{Position: d.Position, Journal: d.Journal, Code: d.Code, Message: d.Message}
		groups[key] = g
	}
	g.Runs++
	if len(g.Examples) < maxExamples {
		g.Examples = append(g.Examples, runID)
	}
}

// parseUpgradeCursor reads ModuleUpgrade.Next: the stage (an index of
// upgradeStatuses) and the last run id seen in it.
func parseUpgradeCursor(s string) (int, string, error) {
	if s == "" {
		return 0, "", nil
	}
	st, id, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(st)
	if !ok || err != nil || n < 0 || n >= len(upgradeStatuses) || !validRunID(id) {
		return 0, "", errorf(ErrInvalid, "after %s is not the next of an earlier upgrade call", quote(s))
	}
	return n, id, nil
}

// Package sqlstore holds what the SQL stores (store/sqlite and
// store/postgres) share beyond their SQL dialects: column lists, the status
// sets their statements use, and how a RunApply sets the run's status and
// wake time.
package sqlstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// RunColumns lists the runs table's columns in the order the stores scan
// them.
const RunColumns = `id, module_name, module_version, module_digest, workflow, status, input, output, error,
	attempt, idempotency_key, progress, activations, cancel_requested, signals_received, event_count,
	wake_at, lease_owner, fence, created_at, updated_at, completed_at, parent_id, on_parent_end, children_ended, children_wake`

// ModuleColumns lists the modules table's columns in the order the stores
// scan them.
const ModuleColumns = `name, version, digest, size, workflows, created_at`

// Claimable is the SQL list of statuses a claim may take a run from; it
// matches the predicate of the runs_claim index of both schemas.
var Claimable = List(store.StatusesBecoming(store.StatusRunning))

// List renders statuses as an SQL list: ('pending', 'sleeping').
func List(statuses []store.RunStatus) string {
	q := make([]string, len(statuses))
	for i, s := range statuses {
		q[i] = "'" + string(s) + "'"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

// AppliedWake returns the status and wake_at a RunApply leaves the run in:
// running and terminal runs have no wake time (a running run's lease expiry
// is kept by the statement); a suspension without WakeAt is runnable at
// once, except a wait, which only a signal ends. signalsArrived reports
// whether a signal came after the activation last looked, which wakes a
// wait at once.
func AppliedWake(p *store.RunApplyParams, signalsArrived bool) (store.RunStatus, *time.Time) {
	status := p.Status
	if status == "" {
		status = store.StatusRunning
	}
	switch {
	case status.Terminal() || status == store.StatusRunning:
		return status, nil
	case status == store.StatusWaiting && signalsArrived:
		return status, &p.Now
	case p.WakeAt == nil && status != store.StatusWaiting:
		return status, &p.Now
	}
	return status, p.WakeAt
}

// Fence is a run's state as a fenced write finds it.
type Fence struct {
	Status     store.RunStatus
	Fence      int64
	WriteFence int64 // the fence and number of the run's last numbered write
	WriteSeq   int64
}

// Check reports whether the run has applied the numbered write p already
// (then nothing is written again), and otherwise returns store.ErrFenced
// unless the run is running under p.Fence. The replay is checked first:
// the write may be the one that ended the run's activation.
func (f Fence) Check(p *store.RunApplyParams) (replayed bool, err error) {
	switch {
	case p.Write > 0 && f.WriteFence == p.Fence && f.WriteSeq >= p.Write:
		return true, nil
	case f.Fence != p.Fence || f.Status != store.StatusRunning:
		return false, fmt.Errorf("run %s is %s under fence %d, not running under fence %d: %w",
			p.RunID, f.Status, f.Fence, p.Fence, store.ErrFenced)
	}
	return false, nil
}

// Claim is how RunInsert creates a run: pending and runnable at once, or,
// with an Owner, claimed by it.
type Claim struct {
	Status      store.RunStatus
	EventCount  int64
	WakeAt      time.Time // pending: Now; claimed: the lease's expiry
	Activations int       // also the fence
	Event       []byte    // the activation_started event's data, when claimed
}

// InsertClaim returns how RunInsert creates the run of p.
func InsertClaim(p *store.RunInsertParams) Claim {
	if p.Owner == "" {
		return Claim{Status: store.StatusPending, EventCount: 1, WakeAt: p.Now, Event: []byte("{}")}
	}
	return Claim{Status: store.StatusRunning, EventCount: 2, WakeAt: p.Now.Add(p.LeaseDuration), Activations: 1,
		Event: store.RunEvent(p.Now, store.ActivationStarted{Owner: p.Owner, Activation: 1}).Data}
}

// Wakeups is the set of statuses RunListWakeups reads: the claimable ones
// but running, whose wake_at is a lease expiry.
var Wakeups = List(slices.DeleteFunc(store.StatusesBecoming(store.StatusRunning), func(s store.RunStatus) bool {
	return s == store.StatusRunning
}))

// WakeupsQuery is the query of RunListWakeups, with its two parameters
// (after, limit) rendered as after and limit. It reads the runs_claim
// index in wake_at order (the first status list is that index's
// predicate).
func WakeupsQuery(after, limit string) string {
	return `SELECT id, wake_at FROM runs WHERE status IN ` + Claimable + ` AND status IN ` + Wakeups +
		` AND wake_at > ` + after + ` ORDER BY wake_at, id LIMIT ` + limit
}

// WakeupsLimit is the limit of a RunListWakeups.
func WakeupsLimit(p *store.RunListWakeupsParams) int {
	if p.Limit <= 0 {
		return 100
	}
	return p.Limit
}

// RunListQuery builds the query of RunList: the filters p sets, newest
// first, at most p.Limit runs (default 50). placeholder renders the n-th
// parameter, counting from 1, in the store's dialect ($1 or ?).
func RunListQuery(p *store.RunListParams, placeholder func(n int) string) (string, []any) {
	f := runFilter{placeholder: placeholder}
	f.add("status =", string(p.Status))
	f.add("module_name =", p.Module)
	f.add("module_version =", p.ModuleVersion)
	f.add("workflow =", p.Workflow)
	f.add("idempotency_key =", p.IdempotencyKey)
	f.add("parent_id =", p.ParentID)
	f.add("id <", p.After)
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	f.args = append(f.args, limit)
	return `SELECT ` + RunColumns + ` FROM runs` + f.where() + " ORDER BY id DESC LIMIT " + placeholder(len(f.args)), f.args
}

// RunCountQuery builds the query of RunCount: the filters p sets, one row
// (module_name, module_version, workflow, status, count) per group.
func RunCountQuery(p *store.RunCountParams, placeholder func(n int) string) (string, []any) {
	f := runFilter{placeholder: placeholder}
	f.add("module_name =", p.Module)
	f.add("module_version =", p.ModuleVersion)
	f.add("workflow =", p.Workflow)
	const group = "module_name, module_version, workflow, status"
	return `SELECT ` + group + `, count(*) FROM runs` + f.where() + ` GROUP BY ` + group + ` ORDER BY ` + group, f.args
}

// runFilter collects the conditions of a query on runs.
type runFilter struct {
	placeholder func(n int) string
	conds       []string
	args        []any
}

// add adds the condition "cond value" unless the value is empty.
func (f *runFilter) add(cond, value string) {
	if value == "" {
		return
	}
	f.args = append(f.args, value)
	f.conds = append(f.conds, cond+" "+f.placeholder(len(f.args)))
}

func (f *runFilter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

// OrNow returns t, or now when t is zero.
func OrNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// MustJSON encodes v, made of strings and numbers, which always encodes.
func MustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// ChildEndedEvent is the event a child's end appends to its parent when
// the store itself ends the child (RunCancel of a run that is not running).
func ChildEndedEvent(child *store.Run, now time.Time) *store.NewEvent {
	return store.ChildEnded{Child: child.ID, Workflow: child.Workflow, Status: store.StatusCancelled, Error: "cancelled"}.Event(now)
}

// CreatedEvent is the run_created event of the run p inserts.
func CreatedEvent(p *store.RunInsertParams) *store.NewEvent {
	return store.RunEvent(p.Now, store.RunCreated{Module: p.ModuleName, Version: p.ModuleVersion, Workflow: p.Workflow, Parent: p.ParentID})
}

// CheckResolvable refuses a run insert that asks the store to resolve its
// module (no ModuleDigest) where it may not: a child run names its
// module's digest.
func CheckResolvable(p *store.RunInsertParams) error {
	if p.ModuleDigest == "" && p.ParentID != "" {
		return fmt.Errorf("store: insert run %s: a child run names its module's digest", p.ID)
	}
	return nil
}

// Unresolved is the error of a run insert that inserted nothing and found
// no run holding its idempotency key: its module did not resolve (or, for
// a module given by digest, the run that held the key is gone).
func Unresolved(p *store.RunInsertParams) error {
	switch {
	case p.ModuleDigest != "":
		return fmt.Errorf("the run holding idempotency key %q is gone: %w", p.IdempotencyKey, store.ErrNotFound)
	case p.ModuleVersion != "":
		return fmt.Errorf("no module %s version %s with workflow %s: %w", p.ModuleName, p.ModuleVersion, p.Workflow, store.ErrNotFound)
	default:
		return fmt.Errorf("no module %s whose latest version has workflow %s: %w", p.ModuleName, p.Workflow, store.ErrNotFound)
	}
}

// OnParentEnd returns what becomes of the child c when its parent ends
// first: ParentEndCancel unless c says otherwise.
func OnParentEnd(c *store.RunInsertParams) store.ParentEnd {
	if c.OnParentEnd == "" {
		return store.ParentEndCancel
	}
	return c.OnParentEnd
}

package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/snapshot"
	"github.com/wasmflow/wasmflow/store"
)

// SnapshotFormat names how suspension snapshots are captured and encoded
// (against the init image, so it changes with ImageFormat too).
const SnapshotFormat = ImageFormat + ".1"

// StartSnapshot: an instance restored from the run's suspension snapshot,
// resumed with wasmflow_resume, which replayed only the journal after it.
const StartSnapshot = "snapshot"

// errParked is what a host function returns when the run suspends and the
// guest can park: the call answers abi.Park instead of ending.
var errParked = errors.New("wasmflow: the guest parks")

// parkState is a suspension decided while the guest parks: written, with
// the snapshot captured once the guest has returned from the export.
type parkState struct {
	call string // the host function that answered Park
	p    *store.RunApplyParams
	// suspended is the data of p's last event, run_suspended, which says
	// what became of the snapshot once it is known.
	suspended store.RunSuspended
	after     func() // what to tell observers once it is written
}

// snapshotHost is the host's state of a parked activation, kept in the
// snapshot (snapshot.State.Host): what the guest would see differently if
// it were not restored with it.
type snapshotHost struct {
	Position int         `json:"position"`
	Clock    time.Time   `json:"clock"` // the workflow clock
	Register []byte      `json:"register"`
	Step     *parkedStep `json:"step,omitempty"` // parked at a checkpoint of this step
	Call     string      `json:"call"`           // the host function that answered Park
}

// parkedStep is the state of the step a guest parked in: the rest (its
// name, attempt and cursor) is its journal entry at Position.
type parkedStep struct {
	Opts      abi.StepOptions `json:"opts"`
	EffectSeq int             `json:"effect_seq"`
	Started   time.Time       `json:"started"`
}

// canPark reports whether the run may park here: the guest exports
// wasmflow_resume, suspension snapshots are on, the module has an image
// (snapshots are encoded against it), and the host call in progress is one
// that may answer Park.
func (a *Activation) canPark() bool {
	if a.step != nil && a.step.effect != nil {
		return false // an effect in progress is the host's state, not the guest's
	}
	return a.parkable && a.prep != nil && a.prep.Parks && !a.e.noSnapshots
}

// park records a suspension for the guest to park at: p, whose last event
// is run_suspended with data suspended.
func (a *Activation) park(p *store.RunApplyParams, suspended store.RunSuspended, after func()) error {
	a.parked = &parkState{call: a.inCall, p: p, suspended: suspended, after: after}
	return errParked
}

// parkedCallAllowed reports whether a parked guest may still call fn: only
// what lets it log or read the register on its way out.
func parkedCallAllowed(fn string) bool {
	return fn == abi.FuncLog || fn == abi.FuncResultLen || fn == abi.FuncResultRead
}

// writePark writes the suspension the guest parked at, with the snapshot
// of the instance's state when the guest returned cleanly from the export.
func (a *Activation) writePark(callErr error, inst engine.Instance) (*Result, error) {
	pk := a.parked
	p := pk.p
	suspended := pk.suspended
	switch {
	case callErr != nil:
		a.parked = nil
		suspended.Snapshot = "none: the guest did not return after parking"
		a.logger().Warn("guest did not return after parking; its run will replay", "error", callErr)
	default:
		sn, why := a.snapshot(inst)
		a.parked = nil
		if sn != nil {
			p.Snapshot = sn
			suspended.SnapshotBytes = len(sn.Data)
		} else {
			suspended.Snapshot = "none: " + why
		}
	}
	last := p.Events[len(p.Events)-1]
	*last = *store.StepEvent(last.Step, last.At, suspended)
	// The instance is kept warm before the suspension is written: the run's
	// next claim can come as soon as it commits.
	if callErr == nil {
		a.kept = a.keepWarm(inst)
	}
	a.end = nil
	if err := a.apply(p); err != nil {
		if a.kept {
			if w := a.e.warm.take(a.run.ID); w != nil {
				w.inst.Close(context.Background())
			}
			a.kept = false
		}
		return a.outcome()
	}
	a.end.result.Reason = pk.suspended.Reason
	if pk.after != nil {
		pk.after()
	}
	if p.Snapshot != nil && a.e.obs != nil {
		a.e.obs.SnapshotWritten(a.run, len(p.Snapshot.Data))
	}
	return a.outcome()
}

// snapshot captures the parked instance's state, or says why not.
func (a *Activation) snapshot(inst engine.Instance) (*store.RunSnapshot, string) {
	st, err := capture(inst, a.prep.layout, a.monotonic())
	if err != nil {
		return nil, err.Error()
	}
	h := snapshotHost{Position: a.pos, Clock: a.clock, Register: a.register, Call: a.parked.call}
	if s := a.step; s != nil {
		h.Step = &parkedStep{Opts: s.opts, EffectSeq: s.effectSeq, Started: s.started}
	}
	st.Host = mustJSON(h)
	a.lastPark = &h
	data := snapshot.Encode(st, a.prep.Image)
	if limit := a.e.limits.SnapshotSize; len(data) > limit {
		a.logger().Warn("snapshot over the size limit; the run will replay", "bytes", len(data), "limit", limit)
		return nil, fmt.Sprintf("%d bytes, over the %d-byte limit%s", len(data), limit, a.e.limits.hint("SnapshotSize"))
	}
	return &store.RunSnapshot{
		ModuleDigest: a.run.ModuleDigest, Format: SnapshotFormat, Attempt: a.run.Attempt,
		Position: a.pos, Activation: a.run.Activations, Data: data, CreatedAt: now(),
	}, ""
}

// restorable is a run's snapshot, checked and decoded, ready to restore.
type restorable struct {
	delta *snapshot.Delta
	host  snapshotHost
}

// usableSnapshot checks the run's snapshot, read if asked (nil: none is
// stored), and decodes it; or returns nil and why the activation cannot
// start from it ("" when there is nothing to say: none was asked for).
func (a *Activation) usableSnapshot(asked bool, rec *store.RunSnapshot) (*restorable, string) {
	switch {
	case !asked:
		return nil, ""
	case rec == nil:
		return nil, "none is stored (the run last suspended without parking)"
	case rec.ModuleDigest != a.run.ModuleDigest:
		return nil, fmt.Sprintf("it was taken of module %s, the run runs %s", rec.ModuleDigest, a.run.ModuleDigest)
	case rec.Format != SnapshotFormat:
		return nil, fmt.Sprintf("it is in format %q, this host reads %q", rec.Format, SnapshotFormat)
	case rec.Attempt != a.run.Attempt:
		return nil, fmt.Sprintf("it was taken in attempt %d of the run, this is attempt %d", rec.Attempt, a.run.Attempt)
	case len(rec.Data) > a.e.limits.SnapshotSize:
		return nil, fmt.Sprintf("it is %d bytes, over the %d-byte limit%s", len(rec.Data), a.e.limits.SnapshotSize, a.e.limits.hint("SnapshotSize"))
	case rec.Position != a.first:
		return nil, fmt.Sprintf("it is at position %d, the journal was read from %d", rec.Position, a.first)
	}
	return a.decodeSnapshot(rec)
}

// decodeSnapshot decodes a stored snapshot and checks that it fits the
// module and its record, or says why not.
func (a *Activation) decodeSnapshot(rec *store.RunSnapshot) (*restorable, string) {
	p := a.prep
	d, err := snapshot.Decode(rec.Data, a.e.limits.MemoryPages)
	if err != nil {
		return nil, err.Error()
	}
	r := &restorable{delta: d}
	if err := json.Unmarshal(d.Host, &r.host); err != nil || r.host.Position != rec.Position {
		return nil, fmt.Sprintf("%v: its host state does not match its record", snapshot.ErrCorrupt)
	}
	if d.Pages < p.Image.Pages || len(d.Globals) != len(p.layout.Globals) {
		return nil, fmt.Sprintf("%v: %d pages and %d globals do not fit the module (%d pages, %d globals)", snapshot.ErrCorrupt, d.Pages, len(d.Globals), p.Image.Pages, len(p.layout.Globals))
	}
	for i, g := range d.Globals {
		if g.Index != p.layout.Globals[i].Index || g.Type != p.layout.Globals[i].Type {
			return nil, fmt.Sprintf("%v: global %d does not fit the module", snapshot.ErrCorrupt, g.Index)
		}
	}
	return r, ""
}

// restoreSnapshot writes r into inst, a fresh instance of the baked
// module: its memory and globals as they were when the run parked, or why
// not. On a failure inst may hold part of the snapshot.
func (a *Activation) restoreSnapshot(inst engine.Instance, r *restorable) string {
	mem := inst.Memory()
	if have := mem.Size() / snapshot.PageSize; r.delta.Pages > have && !mem.Grow(r.delta.Pages-have) {
		return fmt.Sprintf("it could not be restored: memory cannot grow to the snapshot's %d pages", r.delta.Pages)
	}
	if err := r.delta.Apply(mem.Bytes()); err != nil {
		return err.Error()
	}
	for i, g := range r.delta.Globals {
		if !inst.SetGlobal(a.prep.layout.Globals[i].ExportName(), g.Bits) {
			return fmt.Sprintf("it could not be restored: global %d cannot be set", g.Index)
		}
	}
	return ""
}

// resumeAt puts the activation where a parked one was: at its journal
// position (inside its step, if it parked at a checkpoint), with its
// workflow clock, register and the guest's monotonic clock.
func (a *Activation) resumeAt(h *snapshotHost, clock int64) error {
	if ps := h.Step; ps != nil {
		// Parked at a checkpoint: the step goes on, its entry as the
		// suspension wrote it.
		if len(a.entries) == 0 || a.entries[0].Seq != h.Position || a.entries[0].Kind != store.EntryStep || a.entries[0].Status != store.EntryRunning {
			return fmt.Errorf("the journal has no running step at position %d", h.Position)
		}
		entry := *a.entries[0]
		a.step = &stepState{entry: &entry, opts: ps.Opts, effectSeq: ps.EffectSeq, persisted: true, started: ps.Started, from: entry.Cursor}
		a.live = true
		a.startStepTimer()
	}
	a.monoBase, a.instStart = clock, time.Now()
	a.pos, a.clock, a.register = h.Position, h.Clock, h.Register
	a.resumed = h.Call
	return nil
}

package executor

import (
	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/store"
)

// changed implements changed (ABI.md, section 5.10): a patch marker, which
// tells code that changed while runs were in flight which branch a run
// takes. A run that reaches the call live takes the new code and has the
// marker journaled; a run replaying a journal written before the change
// takes the old code; a replay finds the marker where the new code
// recorded it.
func (a *Activation) changed(c *call) (uint64, error) {
	if a.step != nil {
		return 0, a.fault("changed called inside step %q: patch markers belong between steps", a.step.entry.Name)
	}
	id, err := a.name(c, 0, "change")
	if err != nil {
		return 0, err
	}
	flags := c.i32(2)
	if flags != abi.ChangeAsk && flags != abi.ChangeDeprecated {
		return 0, a.fault("changed: flags %d of change %q are neither 0 nor ChangeDeprecated (1)", flags, id)
	}
	deprecated := flags == abi.ChangeDeprecated
	if i := a.pos - a.first; i < len(a.entries) {
		// Replaying. Unlike the other journaled calls, a mismatch is no
		// nondeterminism: the journal was written by the code before the
		// change, which made no call here. The position is left for the
		// code's next call, which is checked against it as usual.
		e := a.entries[i]
		if e.Kind == store.EntryChange && e.Name == id {
			a.record(e)
			return abi.ChangeNew, nil
		}
		if deprecated {
			return abi.ChangeNew, nil
		}
		return abi.ChangeOld, nil
	}
	if deprecated {
		// Every run that reaches the call now takes the new code; a marker
		// would only keep the call from being removed.
		return abi.ChangeNew, nil
	}
	// No stop is checked here: changed never ends the guest call (it is
	// not a ⏸ function), and a cancel is taken at the guest's next call
	// that may end it.
	t := now()
	entry := &store.Entry{RunID: a.run.ID, Seq: a.pos, Kind: store.EntryChange, Name: id, Status: store.EntryCompleted, StartedAt: t, UpdatedAt: t}
	p := &store.RunApplyParams{Now: t, Entries: []*store.Entry{entry}, Events: []*store.NewEvent{
		store.RunEvent(t, store.ChangeRecorded{Change: id}),
	}}
	// The marker costs no round trip of its own: it goes with the run's
	// next write. Lost in a crash before that write, it is recorded again
	// by the next activation, which reaches the position live and gives
	// the same answer.
	if h := a.e.hooks; h.Crash != nil || h.Interrupt != nil {
		if err := a.apply(p); err != nil {
			return 0, err
		}
	} else {
		a.hold(p)
	}
	a.record(entry)
	a.logger().Debug("change recorded", "change", id, "seq", entry.Seq)
	return abi.ChangeNew, nil
}

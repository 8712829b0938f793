package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/store"
)

// HostFuncs returns the host functions of ABI version 1, to be given to the
// engine under abi.ImportModule. They find their activation in the context
// of the guest call.
func HostFuncs() []engine.HostFunc {
	i32, i64 := engine.I32, engine.I64
	return append(wasiFuncs(),
		hostFunc(abi.FuncResultLen, nil, i32, anyMode, (*Activation).resultLen),
		hostFunc(abi.FuncResultRead, []engine.ValueType{i32, i32}, i32, anyMode, (*Activation).resultRead),
		hostFunc(abi.FuncDeclareWorkflow, []engine.ValueType{i32, i32}, i32, describeMode, (*Activation).declareWorkflow),
		hostFunc(abi.FuncDeclareWorkflowOptions, []engine.ValueType{i32, i32, i32, i32}, i32, describeMode, (*Activation).declareWorkflowOptions),
		hostFunc(abi.FuncRunID, nil, i32, runMode, (*Activation).runID),
		hostFunc(abi.FuncWorkflow, nil, i32, runMode, (*Activation).workflow),
		hostFunc(abi.FuncInput, nil, i32, runMode, (*Activation).input),
		hostFunc(abi.FuncAttempt, nil, i32, runMode, (*Activation).attempt),
		hostFunc(abi.FuncStepBegin, []engine.ValueType{i32, i32, i32, i32}, i32, runMode, (*Activation).stepBegin),
		hostFunc(abi.FuncStepAttempt, nil, i32, runMode, (*Activation).stepAttempt),
		hostFunc(abi.FuncStepEnd, []engine.ValueType{i32, i32, i32}, i32, runMode, (*Activation).stepEnd),
		hostFunc(abi.FuncCheckpoint, nil, i32, runMode, (*Activation).checkpointCall),
		hostFunc(abi.FuncCursorSet, []engine.ValueType{i32, i32}, i32, runMode, (*Activation).cursorSet),
		hostFunc(abi.FuncEffectBegin, []engine.ValueType{i32, i32}, i32, runMode, (*Activation).effectBegin),
		hostFunc(abi.FuncEffectEnd, []engine.ValueType{i32, i32, i32}, i32, runMode, (*Activation).effectEnd),
		hostFunc(abi.FuncSleep, []engine.ValueType{i32, i32, i64}, i32, runMode, (*Activation).sleep),
		hostFunc(abi.FuncAwaitSignal, []engine.ValueType{i32, i32, i64}, i32, runMode, (*Activation).awaitSignal),
		hostFunc(abi.FuncChildStart, []engine.ValueType{i32, i32}, i32, runMode, (*Activation).childStart),
		hostFunc(abi.FuncChildAwait, []engine.ValueType{i32, i32, i32, i64}, i32, runMode, (*Activation).childAwait),
		hostFunc(abi.FuncChanged, []engine.ValueType{i32, i32, i32}, i32, runMode, (*Activation).changed),
		hostFunc(abi.FuncComplete, []engine.ValueType{i32, i32}, i32, runMode, (*Activation).complete),
		hostFunc(abi.FuncFail, []engine.ValueType{i32, i32}, i32, runMode, (*Activation).failCall),
		hostFunc(abi.FuncLog, []engine.ValueType{i32, i32, i32}, i32, anyMode, (*Activation).logCall),
		hostFunc(abi.FuncProgress, []engine.ValueType{i32, i32}, i32, runMode, (*Activation).progressCall),
		hostFunc(abi.FuncNow, nil, i64, anyMode, (*Activation).nowCall),
		hostFunc(abi.FuncRandom, []engine.ValueType{i32, i32}, i32, anyMode, (*Activation).randomCall),
	)
}

// parks are the host functions whose suspensions a guest that can park
// parks at (ABI.md, section 12); step_end parks only for a retry.
var parks = map[string]bool{
	abi.FuncStepBegin: true, abi.FuncSleep: true, abi.FuncAwaitSignal: true, abi.FuncChildAwait: true,
	abi.FuncCheckpoint: true, abi.FuncCursorSet: true,
}

// keepsHeld are the host functions that leave the held write (holdStep,
// holdChild, changed) held: complete merges it into its own write,
// child_start and changed add to it, and the others show nothing of it
// outside the activation.
var keepsHeld = map[string]bool{
	abi.FuncComplete: true, abi.FuncLog: true, abi.FuncChildStart: true, abi.FuncChanged: true,
	abi.FuncResultLen: true, abi.FuncResultRead: true,
}

type callMode int

const (
	anyMode callMode = iota
	runMode
	describeMode
)

// call is one host call: the guest's memory and its stack of parameters,
// where the result goes.
type call struct {
	name  string
	mem   engine.Memory
	stack []uint64
}

func (c *call) i32(i int) uint32 { return uint32(c.stack[i]) }
func (c *call) i64(i int) int64  { return int64(c.stack[i]) }

func hostFunc(name string, params []engine.ValueType, result engine.ValueType, mode callMode, fn func(*Activation, *call) (uint64, error)) engine.HostFunc {
	return engine.HostFunc{
		Func: engine.Func{Name: name, Params: params, Results: []engine.ValueType{result}},
		Call: func(ctx context.Context, mem engine.Memory, stack []uint64) error {
			a := fromContext(ctx)
			if a == nil {
				return errors.New("wasmflow host function called outside an activation")
			}
			switch {
			case a.capture != nil:
				// Making an init image: a module whose _initialize talks to
				// the host cannot be imaged.
				if a.capture.refused == "" {
					a.capture.refused = name
				}
				return fmt.Errorf("%s called while the module's init image is made", name)
			case a.parked != nil && !parkedCallAllowed(name):
				return a.fault("%s called after the host answered Park: a parking guest must return from the export (ABI.md, section 12)", name)
			case mode == runMode && a.describe != nil:
				return a.fault("%s may not be called during %s", name, abi.ExportDescribe)
			case mode == describeMode && a.describe == nil:
				return a.fault("%s may only be called during %s", name, abi.ExportDescribe)
			}
			if a.verify != nil {
				if err := a.verifyCall(name); err != nil {
					return err
				}
			}
			if !keepsHeld[name] {
				if err := a.flushHeld(); err != nil {
					return err
				}
			}
			a.parkable, a.inCall = parks[name], name
			v, err := fn(a, &call{name: name, mem: mem, stack: stack})
			a.parkable, a.inCall = false, ""
			if name != abi.FuncLog && name != abi.FuncResultLen && name != abi.FuncResultRead {
				a.resumed = "" // only the first call after a restore is the parked one again
			}
			if errors.Is(err, errParked) {
				v, err = abi.Park, nil
			}
			if err != nil {
				return err
			}
			stack[0] = v
			return nil
		},
	}
}

// bytes reads a guest buffer, failing the run on a bad pointer or a payload
// over the limit.
func (a *Activation) bytes(c *call, ptrArg int, what string) ([]byte, error) {
	ptr, n := c.i32(ptrArg), c.i32(ptrArg+1)
	if limit := a.e.limits.Payload; int64(n) > int64(limit) {
		return nil, a.fault("%s: %s is %d bytes, over the %d-byte payload limit%s%s", c.name, what, n, limit, a.e.limits.hint("Payload"), a.where())
	}
	b, ok := c.mem.Read(ptr, n)
	if !ok {
		return nil, a.fault("%s: guest passed an out-of-bounds pointer (ptr=%#x len=%d, memory is %d bytes)%s", c.name, ptr, n, c.mem.Size(), a.where())
	}
	return b, nil
}

// text reads a guest buffer that must hold UTF-8 text (an error message, a
// log line): oversized text is truncated rather than refused.
func (a *Activation) text(c *call, ptrArg int, limit int) (string, error) {
	ptr, n := c.i32(ptrArg), c.i32(ptrArg+1)
	cut := n
	if int64(cut) > int64(limit) {
		cut = uint32(limit)
	}
	b, ok := c.mem.Read(ptr, cut)
	if !ok || uint64(ptr)+uint64(n) > uint64(c.mem.Size()) {
		return "", a.fault("%s: guest passed an out-of-bounds pointer (ptr=%#x len=%d, memory is %d bytes)%s", c.name, ptr, n, c.mem.Size(), a.where())
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if cut < n {
		s += fmt.Sprintf("… (%d bytes truncated)", n-cut)
	}
	return s, nil
}

// name reads a name argument: 1 to 256 bytes of UTF-8.
func (a *Activation) name(c *call, ptrArg int, what string) (string, error) {
	n := c.i32(ptrArg + 1)
	if n == 0 || n > abi.MaxNameLen {
		return "", a.fault("%s: %s name must be 1 to %d bytes, got %d%s", c.name, what, abi.MaxNameLen, n, a.where())
	}
	b, err := a.bytes(c, ptrArg, what+" name")
	if err != nil {
		return "", err
	}
	if err := abi.CheckName(string(b)); err != nil {
		return "", a.fault("%s: %s name %v%s", c.name, what, err, a.where())
	}
	return string(b), nil
}

func (a *Activation) setRegister(b []byte) uint64 {
	a.register = b
	return uint64(len(b))
}

func (a *Activation) resultLen(c *call) (uint64, error) { return uint64(len(a.register)), nil }

func (a *Activation) resultRead(c *call) (uint64, error) {
	ptr, n := c.i32(0), c.i32(1)
	if int(n) > len(a.register) {
		return 0, a.fault("result_read: asked for %d bytes, the result register holds %d%s", n, len(a.register), a.where())
	}
	if !c.mem.Write(ptr, a.register[:n]) {
		return 0, a.fault("result_read: guest passed an out-of-bounds pointer (ptr=%#x len=%d, memory is %d bytes)%s", ptr, n, c.mem.Size(), a.where())
	}
	return uint64(n), nil
}

func (a *Activation) runID(c *call) (uint64, error) { return a.setRegister([]byte(a.run.ID)), nil }
func (a *Activation) workflow(c *call) (uint64, error) {
	return a.setRegister([]byte(a.run.Workflow)), nil
}
func (a *Activation) input(c *call) (uint64, error)   { return a.setRegister(a.run.Input), nil }
func (a *Activation) attempt(c *call) (uint64, error) { return uint64(a.run.Attempt), nil }

func (a *Activation) stepAttempt(c *call) (uint64, error) {
	if a.step == nil {
		return 0, a.fault("step_attempt called outside a step")
	}
	return uint64(a.step.entry.Attempts), nil
}

func (a *Activation) stepBegin(c *call) (uint64, error) {
	if a.step != nil {
		return 0, a.fault("step_begin called inside step %q: steps do not nest", a.step.entry.Name)
	}
	name, err := a.name(c, 0, "step")
	if err != nil {
		return 0, err
	}
	var opts abi.StepOptions
	if c.i32(3) > 0 {
		raw, err := a.bytes(c, 2, "step options")
		if err != nil {
			return 0, err
		}
		if err := json.Unmarshal(raw, &opts); err != nil {
			return 0, a.fault("step_begin: options of step %q are not a valid JSON object: %v", name, err)
		}
	}
	entry, err := a.next(store.EntryStep, name)
	if err != nil {
		return 0, err
	}
	if entry != nil {
		switch entry.Status {
		case store.EntryCompleted:
			a.record(entry)
			a.replayedSteps++
			a.setRegister(entry.Output)
			return abi.StepDone, nil
		case store.EntryFailed:
			a.record(entry)
			a.replayedSteps++
			a.setRegister([]byte(entry.Error))
			return abi.StepFailed, nil
		case store.EntryRetrying:
			if entry.WakeAt != nil && entry.WakeAt.After(now()) {
				// Woken early (a signal, a retried run): wait out the backoff.
				return 0, a.suspendWrite(store.StatusPending, SuspendRetry, entry.WakeAt, nil)
			}
		case store.EntryRunning:
			if entry.WakeAt != nil && entry.WakeAt.After(now()) {
				// Woken early while it waits to resume after an error
				// past a new cursor: wait out the delay.
				a.cause = InterruptErrorAfterAdvancing
				return 0, a.suspendWrite(store.StatusPending, SuspendInterrupt, entry.WakeAt, nil)
			}
		}
	}
	if err := a.checkStop(false); err != nil {
		return 0, err
	}
	if err := a.hook(Point{Kind: PointBeforeStep, Step: name}); err != nil {
		return 0, err
	}
	if opts.Isolated && a.live {
		return 0, a.interrupt(InterruptIsolatedStep)
	}
	t := now()
	s := &stepState{opts: opts.WithDefaults(), started: t, persisted: entry != nil}
	if entry == nil {
		s.entry = &store.Entry{RunID: a.run.ID, Seq: a.pos, Kind: store.EntryStep, Name: name, Status: store.EntryRunning, Attempts: 1, StartedAt: t, UpdatedAt: t}
	} else {
		copied := *entry
		s.entry = &copied
		if entry.Status == store.EntryRetrying {
			s.entry.Attempts++
		}
		s.entry.Status, s.entry.Error, s.entry.WakeAt = store.EntryRunning, "", nil
		s.effectSeq = entry.EffectSeq
	}
	s.from = s.entry.Cursor
	// The body resumes when it continues an attempt begun in an earlier
	// activation, or starts from a saved cursor.
	resumed := entry != nil && (entry.Status == store.EntryRunning || len(entry.Cursor) > 0)
	started := store.StepStarted{Attempt: s.entry.Attempts, Seq: s.entry.Seq, Resumed: resumed}
	if resumed && len(s.entry.Cursor) > 0 {
		started.Cursor = cursorValue(s.entry.Cursor)
	}
	a.step, a.live = s, true
	a.pending = append(a.pending, store.StepEvent(name, t, started))
	a.startStepTimer()
	a.setRegister(s.entry.Cursor)
	return abi.StepRun, nil
}

// startStepTimer starts the current step's timeout, if it has one. A step
// resumed from a snapshot gets its whole timeout again.
func (a *Activation) startStepTimer() {
	s := a.step
	if s.opts.TimeoutMS > 0 {
		s.timer = time.AfterFunc(time.Duration(s.opts.TimeoutMS)*time.Millisecond, func() {
			s.timedOut.Store(true)
			a.stepCancel(errStepTimeout)
		})
	}
}

func (a *Activation) stepEnd(c *call) (uint64, error) {
	if a.step == nil {
		return 0, a.fault("step_end called with no step in progress")
	}
	status := c.i32(0)
	var out []byte
	var err error
	switch status {
	case abi.EndOK:
		out, err = a.bytes(c, 1, fmt.Sprintf("output of step %q", a.step.entry.Name))
	case abi.EndError, abi.EndPermanent:
		var msg string
		msg, err = a.text(c, 1, a.e.limits.Payload)
		out = []byte(msg)
	default:
		return 0, a.fault("step_end: unknown status %d for step %q", status, a.step.entry.Name)
	}
	if err != nil {
		return 0, err
	}
	if a.step.effect != nil {
		return 0, a.fault("step_end: step %q ended while its effect %q was in progress", a.step.entry.Name, a.step.effect.Name)
	}
	return 0, a.stepEnded(status, out, true)
}

// stepEnded records the outcome of the current step's attempt. It returns
// nil when the guest goes on (success, or failure for good) and errEndCall
// when the run suspends for a retry.
//
// inStepEnd says it is the guest's step_end, not a step timeout.
func (a *Activation) stepEnded(status uint32, out []byte, inStepEnd bool) error {
	s := a.step
	if s.timer != nil {
		s.timer.Stop()
	}
	t := now()
	e := s.entry
	e.UpdatedAt = t
	dur := t.Sub(s.started).Milliseconds()
	if status == abi.EndOK {
		e.Status, e.Output = store.EntryCompleted, out
		if err := a.holdStep(&store.RunApplyParams{Now: t, Entries: []*store.Entry{e}, Events: []*store.NewEvent{
			store.StepEvent(e.Name, t, store.StepCompleted{Attempt: e.Attempts, DurationMS: dur}),
		}}); err != nil {
			return err
		}
		a.observeStep(e.Name, t.Sub(s.started), false, false)
		a.step = nil
		a.record(e)
		return a.hook(Point{Kind: PointAfterStep, Step: e.Name})
	}
	msg := string(out)
	e.Error = msg
	retryable := status == abi.EndError && !hasPrefix(msg, s.opts.NonRetryable)
	if retryable && s.opts.ResumeErrorsAfterAdvancing && !bytes.Equal(e.Cursor, s.from) {
		return a.resumeAfterAdvancing(msg, dur, inStepEnd)
	}
	retry := retryable && e.Attempts < s.opts.MaxAttempts
	failed := store.StepEvent(e.Name, t, store.StepFailed{Attempt: e.Attempts, Error: msg, DurationMS: dur, Retrying: retry})
	if retry {
		wake := t.Add(backoff(s.opts, e.Attempts))
		e.Status, e.WakeAt = store.EntryRetrying, &wake
		s.persisted = true
		a.step = nil
		// In the guest's step_end (not when a step timed out), a guest that
		// can park parks here, and begins the step again when resumed.
		a.parkable = inStepEnd
		err := a.suspendWrite(store.StatusPending, SuspendRetry, &wake, &store.RunApplyParams{Entries: []*store.Entry{e}, Events: []*store.NewEvent{failed,
			store.StepEvent(e.Name, t, store.RetryScheduled{Attempt: e.Attempts + 1, At: wake}),
		}})
		a.whenSuspended(func() { a.observeStep(e.Name, t.Sub(s.started), true, true) })
		return err
	}
	e.Status = store.EntryFailed
	if err := a.apply(&store.RunApplyParams{Now: t, Entries: []*store.Entry{e}, Events: []*store.NewEvent{failed}}); err != nil {
		return err
	}
	a.observeStep(e.Name, t.Sub(s.started), true, false)
	a.step = nil
	a.record(e)
	return nil
}

// resumeAfterAdvancing ends the current step's attempt, which failed
// with msg after it saved a new cursor, without using it up: the step
// resumes from its cursor, in the same attempt, once the backoff the next
// retry would have waited (or the resume delay, if longer) has passed. The
// wait, and the run's limit of activations, bound a step that keeps
// advancing and failing.
func (a *Activation) resumeAfterAdvancing(msg string, dur int64, inStepEnd bool) error {
	s := a.step
	e := s.entry
	t := e.UpdatedAt
	wake := t.Add(max(backoff(s.opts, e.Attempts), a.resumeDelay()))
	e.Status, e.WakeAt = store.EntryRunning, &wake
	s.persisted = true
	a.step = nil
	a.parkable = inStepEnd
	a.cause = InterruptErrorAfterAdvancing
	failed := store.StepEvent(e.Name, t, store.StepFailed{
		Attempt: e.Attempts, Error: msg, DurationMS: dur, Retrying: false, Resuming: true, Cursor: cursorValue(e.Cursor),
	})
	err := a.suspendWrite(store.StatusPending, SuspendInterrupt, &wake, &store.RunApplyParams{Entries: []*store.Entry{e}, Events: []*store.NewEvent{failed}})
	a.whenSuspended(func() { a.observeStep(e.Name, time.Duration(dur)*time.Millisecond, true, true) })
	return err
}

// whenSuspended calls f once the suspension just asked for has been
// written: after the park's write, for a guest that parks, or now, when
// the write was made; never when it failed.
func (a *Activation) whenSuspended(f func()) {
	switch {
	case a.parked != nil:
		after := a.parked.after
		a.parked.after = func() { after(); f() }
	case a.end != nil && a.end.kind == endPersisted:
		f()
	}
}

// cursorValue is a cursor as an event shows it: its JSON value, or the
// bytes as a string when they are not JSON.
func cursorValue(c []byte) json.RawMessage {
	if json.Valid(c) {
		return json.RawMessage(c)
	}
	return mustJSON(string(c))
}

// backoff is the delay before the attempt after attempt, for o with its
// defaults.
func backoff(o abi.StepOptions, attempt int) time.Duration {
	max := o.MaxBackoffMS
	d := o.BackoffMS
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return time.Duration(min(d, max)) * time.Millisecond
}

func hasPrefix(msg string, prefixes []string) bool {
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func (a *Activation) checkpointCall(c *call) (uint64, error) {
	if a.step == nil {
		return 0, a.fault("checkpoint called outside a step")
	}
	if err := a.refuseInEffect(c); err != nil {
		return 0, err
	}
	if err := a.checkStop(false); err != nil {
		return 0, err
	}
	return 0, a.hook(Point{Kind: PointDuringStep, Step: a.step.entry.Name, Cursor: a.step.entry.Cursor})
}

func (a *Activation) cursorSet(c *call) (uint64, error) {
	s := a.step
	if s == nil {
		return 0, a.fault("cursor_set called outside a step")
	}
	if err := a.refuseInEffect(c); err != nil {
		return 0, err
	}
	cur, err := a.bytes(c, 0, fmt.Sprintf("cursor of step %q", s.entry.Name))
	if err != nil {
		return 0, err
	}
	if a.resumed == abi.FuncCursorSet && bytes.Equal(cur, s.entry.Cursor) {
		// The save the guest parked at, made again after a restore: the
		// suspension already wrote it.
		return 0, a.checkStop(false)
	}
	t := now()
	s.entry.Cursor, s.entry.EffectSeq, s.entry.UpdatedAt = cur, s.effectSeq, t
	p := &store.RunApplyParams{Now: t, Entries: []*store.Entry{s.entry}}
	// Coalesce: while nothing else happened since this step's last
	// checkpoint event, overwrite it instead of growing the timeline.
	ck := &a.checkpoint
	if ck.stepSeq == s.entry.Seq && ck.eventSeq > 0 && ck.eventSeq == a.eventCount && len(a.pending) == 0 {
		ck.count++
		p.ReplaceEventSeq = ck.eventSeq
		p.ReplaceEvent = a.checkpointEvent(t)
	} else {
		ck.count = 1
		p.Events = []*store.NewEvent{a.checkpointEvent(t)}
	}
	// A stop requested now is written in the same round trip.
	stop, cause := StopReason(a.stop.Load()), InterruptShutdown
	if stop == stopNone && time.Since(a.started) > a.e.limits.ActivationTimeout/2 {
		stop, cause = StopShutdown, InterruptTimeLimit
	}
	if stop == StopShutdown {
		s.persisted = true
		a.cause = cause
		return 0, a.suspendWrite(store.StatusPending, SuspendInterrupt, a.interruptWake(t), p)
	}
	if err := a.apply(p); err != nil {
		return 0, err
	}
	s.persisted = true
	if len(p.Events) > 0 && a.countExact {
		ck.stepSeq, ck.eventSeq = s.entry.Seq, a.eventCount
	}
	if err := a.checkStop(true); err != nil {
		return 0, err
	}
	return 0, a.hook(Point{Kind: PointDuringStep, Step: s.entry.Name, Cursor: cur})
}

// refuseInEffect faults a checkpoint or a cursor save made between
// effect_begin and effect_end (ABI.md, section 5.4): a stop there would
// leave the effect's outcome unrecorded, and a cursor saved there would
// say the step moved past an effect whose outcome is unknown.
func (a *Activation) refuseInEffect(c *call) error {
	s := a.step
	if s.effect == nil {
		return nil
	}
	return a.fault("%s: checkpoint inside effect: called in effect %q of step %q, between effect_begin and effect_end; checkpoint or save the cursor after the effect ends (ABI.md, section 5.4)", c.name, s.effect.Name, s.entry.Name)
}

func (a *Activation) checkpointEvent(t time.Time) *store.NewEvent {
	s := a.step
	return store.StepEvent(s.entry.Name, t, store.Checkpoint{Checkpoints: a.checkpoint.count, Cursor: cursorValue(s.entry.Cursor)})
}

func (a *Activation) effectBegin(c *call) (uint64, error) {
	s := a.step
	if s == nil {
		return 0, a.fault("effect_begin called outside a step: effects belong to steps")
	}
	if s.effect != nil {
		return 0, a.fault("effect_begin: effect %q of step %q is still in progress", s.effect.Name, s.entry.Name)
	}
	name, err := a.name(c, 0, "effect")
	if err != nil {
		return 0, err
	}
	if err := a.checkStop(true); err != nil {
		return 0, err
	}
	seq := s.effectSeq
	list := a.effects[s.entry.Seq]
	var rec *store.Effect
	if seq < len(list) {
		rec = list[seq]
		if rec.Name != name {
			return 0, a.nondeterminism(fmt.Sprintf("effect %d of step %q", seq, s.entry.Name), "effect", rec.Name, "effect", name)
		}
	}
	t := now()
	key := fmt.Sprintf("%s/%d/%d", a.run.ID, s.entry.Seq, seq)
	result := uint64(abi.EffectRun)
	var events []*store.NewEvent
	switch {
	case rec != nil && rec.Status == store.EffectCompleted:
		s.effectSeq++
		a.setRegister(rec.Result)
		return abi.EffectDone, nil
	case rec != nil && rec.Status == store.EffectStarted:
		// Started in an earlier activation that never recorded the outcome:
		// it may or may not have happened. Run it again with the same key.
		result = abi.EffectRerun
		events = append(events, store.StepEvent(s.entry.Name, t, store.EffectUncertain{Effect: name, Key: rec.Key, Executions: rec.Executions}))
		if a.e.obs != nil {
			a.e.obs.EffectUncertain(a.run, s.entry.Name, name)
		}
		a.logger().Warn("effect outcome uncertain; executing again with the same idempotency key", "effect", name, "key", rec.Key)
	case rec == nil:
		rec = &store.Effect{RunID: a.run.ID, StepSeq: s.entry.Seq, Seq: seq, Name: name, Key: key, StartedAt: t}
		a.effects[s.entry.Seq] = append(list, rec)
	}
	rec.Status, rec.Error, rec.UpdatedAt = store.EffectStarted, "", t
	rec.Executions++
	events = append(events, store.StepEvent(s.entry.Name, t, store.EffectStartedData{Effect: name, Key: rec.Key, Execution: rec.Executions}))
	p := &store.RunApplyParams{Now: t, Effects: []*store.Effect{rec}, Events: events}
	if !s.persisted {
		p.Entries = []*store.Entry{s.entry}
	}
	if err := a.apply(p); err != nil {
		return 0, err
	}
	s.persisted = true
	s.effect = rec
	a.setRegister([]byte(rec.Key))
	return result, nil
}

func (a *Activation) effectEnd(c *call) (uint64, error) {
	s := a.step
	if s == nil || s.effect == nil {
		return 0, a.fault("effect_end called with no effect in progress")
	}
	rec := s.effect
	status := c.i32(0)
	var out []byte
	var err error
	switch status {
	case abi.EndOK:
		out, err = a.bytes(c, 1, fmt.Sprintf("result of effect %q", rec.Name))
	case abi.EndError, abi.EndPermanent:
		var msg string
		msg, err = a.text(c, 1, a.e.limits.Payload)
		out = []byte(msg)
	default:
		return 0, a.fault("effect_end: unknown status %d for effect %q", status, rec.Name)
	}
	if err != nil {
		return 0, err
	}
	if err := a.hook(Point{Kind: PointBeforeEffectEnd, Step: s.entry.Name, Effect: rec.Name}); err != nil {
		return 0, err
	}
	t := now()
	var ev *store.NewEvent
	if status == abi.EndOK {
		rec.Status, rec.Result = store.EffectCompleted, out
		ev = store.StepEvent(s.entry.Name, t, store.EffectCompletedData{Effect: rec.Name, Key: rec.Key})
	} else {
		rec.Status, rec.Error = store.EffectFailed, string(out)
		ev = store.StepEvent(s.entry.Name, t, store.EffectFailedData{Effect: rec.Name, Key: rec.Key, Error: rec.Error})
	}
	rec.UpdatedAt = t
	if err := a.apply(&store.RunApplyParams{Now: t, Effects: []*store.Effect{rec}, Events: []*store.NewEvent{ev}}); err != nil {
		return 0, err
	}
	s.effect = nil
	s.effectSeq++
	return 0, nil
}

func (a *Activation) sleep(c *call) (uint64, error) {
	if a.step != nil {
		return 0, a.fault("sleep called inside step %q: durable sleep belongs between steps", a.step.entry.Name)
	}
	name := "sleep"
	if c.i32(1) > 0 {
		var err error
		if name, err = a.name(c, 0, "timer"); err != nil {
			return 0, err
		}
	}
	d := time.Duration(c.i64(2)) * time.Millisecond
	entry, err := a.next(store.EntryTimer, name)
	if err != nil {
		return 0, err
	}
	if err := a.checkStop(true); err != nil {
		return 0, err
	}
	t := now()
	if entry != nil && entry.Status == store.EntryFired {
		a.record(entry)
		return 0, nil
	}
	var events []*store.NewEvent
	if entry == nil {
		wake := t.Add(max(d, 0))
		entry = &store.Entry{RunID: a.run.ID, Seq: a.pos, Kind: store.EntryTimer, Name: name, Status: store.EntryScheduled, WakeAt: &wake, StartedAt: t, UpdatedAt: t}
		ms := d.Milliseconds()
		events = append(events, store.RunEvent(t, store.TimerScheduled{Timer: name, DurationMS: &ms, WakeAt: wake}))
	}
	if entry.WakeAt.After(t) {
		a.live = true
		return 0, a.suspendWrite(store.StatusSleeping, SuspendSleep, entry.WakeAt, &store.RunApplyParams{Entries: []*store.Entry{entry}, Events: events})
	}
	fired := *entry
	fired.Status, fired.UpdatedAt = store.EntryFired, t
	events = append(events, store.RunEvent(t, store.TimerFired{Timer: name}))
	// Held like a completed step's write: lost, the timer fires again on
	// replay, as it is due.
	if err := a.holdStep(&store.RunApplyParams{Now: t, Entries: []*store.Entry{&fired}, Events: events}); err != nil {
		return 0, err
	}
	a.record(&fired)
	return 0, nil
}

func (a *Activation) awaitSignal(c *call) (uint64, error) {
	if a.step != nil {
		return 0, a.fault("await_signal called inside step %q: waiting belongs between steps", a.step.entry.Name)
	}
	name, err := a.name(c, 0, "signal")
	if err != nil {
		return 0, err
	}
	w := journaledWait{kind: store.EntrySignal, name: name, timer: "signal:" + name, reason: SuspendSignal}
	return a.wait(w, c.i64(2), func(entry, done *store.Entry, p, _ *store.RunApplyParams) (bool, error) {
		var sigs []*store.Signal
		err := a.persist(func(ctx context.Context) (err error) {
			sigs, err = a.e.store.SignalListPending(ctx, &store.SignalListPendingParams{RunID: a.run.ID, Name: name})
			return err
		})
		if err != nil {
			a.end = &ending{kind: endStore, err: fmt.Errorf("list signals of run %s: %w", a.run.ID, err)}
			return false, errEndCall
		}
		if len(sigs) == 0 {
			return false, nil
		}
		sig := sigs[0]
		done.Output = sig.Payload
		p.Consume = &store.ConsumedSignal{SignalID: sig.ID, EntrySeq: entry.Seq}
		p.Events = append(p.Events, store.RunEvent(p.Now, store.SignalConsumed{Signal: name, ID: sig.ID}))
		return true, nil
	})
}

// journaledWait is a wait of the journal with an optional timeout:
// await_signal's and child_await's. Both answer 0 (SignalReceived,
// ChildrenReady) with the register set, or 1 (SignalTimedOut,
// ChildrenTimedOut).
type journaledWait struct {
	kind   store.EntryKind
	name   string
	timer  string // the timer's name in timer_scheduled and timer_fired
	reason string // the suspension's reason
}

// look is a wait's look at what it waits for, live (not on replay): it
// reports whether the wait is over, with done.Output set and what else
// the write that records it carries added to p; or it adds to suspend what
// the suspension that waits on carries.
type look func(entry, done *store.Entry, p, suspend *store.RunApplyParams) (ready bool, err error)

// wait answers a journaled wait: from the journal on replay; live, from
// what look finds, by the timeout if it has passed, or by suspending the
// run (status waiting) until something wakes it.
func (a *Activation) wait(w journaledWait, timeout int64, look look) (uint64, error) {
	const answered, timedOut = 0, 1
	entry, err := a.next(w.kind, w.name)
	if err != nil {
		return 0, err
	}
	if entry != nil {
		switch entry.Status {
		case store.EntryReceived:
			a.record(entry)
			a.setRegister(entry.Output)
			return answered, nil
		case store.EntryTimedOut:
			a.record(entry)
			return timedOut, nil
		}
	}
	if err := a.checkStop(true); err != nil {
		return 0, err
	}
	t := now()
	var events []*store.NewEvent
	if entry == nil {
		entry = &store.Entry{RunID: a.run.ID, Seq: a.pos, Kind: w.kind, Name: w.name, Status: store.EntryWaiting, StartedAt: t, UpdatedAt: t}
		if timeout >= 0 {
			deadline := t.Add(time.Duration(timeout) * time.Millisecond)
			entry.WakeAt = &deadline
			events = append(events, store.RunEvent(t, store.TimerScheduled{Timer: w.timer, TimeoutMS: &timeout, WakeAt: deadline}))
		}
	}
	done := *entry
	done.UpdatedAt = t
	p := &store.RunApplyParams{Now: t, Entries: []*store.Entry{&done}, Events: events}
	suspend := &store.RunApplyParams{Entries: []*store.Entry{entry}, Events: slices.Clone(events)}
	ready, err := look(entry, &done, p, suspend)
	switch {
	case err != nil:
		return 0, err
	case ready:
		done.Status = store.EntryReceived
	case entry.WakeAt != nil && !entry.WakeAt.After(t):
		done.Status = store.EntryTimedOut
		p.Events = append(p.Events, store.RunEvent(t, store.TimerFired{Timer: w.timer}))
	default:
		a.live = true
		return 0, a.suspendWrite(store.StatusWaiting, w.reason, entry.WakeAt, suspend)
	}
	if done.Status == store.EntryTimedOut && p.Consume == nil && len(p.Effects) == 0 {
		// Held as a fired timer is (see sleep).
		err = a.holdStep(p)
	} else {
		err = a.apply(p)
	}
	if err != nil {
		return 0, err
	}
	a.record(&done)
	if done.Status == store.EntryTimedOut {
		return timedOut, nil
	}
	a.setRegister(done.Output)
	return answered, nil
}

func (a *Activation) complete(c *call) (uint64, error) {
	if a.step != nil {
		return 0, a.fault("complete called inside step %q", a.step.entry.Name)
	}
	out, err := a.bytes(c, 0, "run output")
	if err != nil {
		return 0, err
	}
	if !json.Valid(out) {
		return 0, a.fault("complete: the run's output is not valid JSON")
	}
	return 0, a.finish(store.StatusCompleted, out, "")
}

func (a *Activation) failCall(c *call) (uint64, error) {
	msg, err := a.text(c, 0, a.e.limits.Payload)
	if err != nil {
		return 0, err
	}
	if msg == "" {
		msg = "workflow failed"
	}
	return 0, a.finish(store.StatusFailed, nil, msg)
}

func (a *Activation) logCall(c *call) (uint64, error) {
	if a.glog == nil {
		a.glog = newGuestLog(a)
	}
	if a.replaying() || a.glog.spent() || a.verify != nil {
		// Dropped: check the pointer, and read nothing (a guest that
		// floods the log costs the host no copies).
		if ptr, n := c.i32(1), c.i32(2); uint64(ptr)+uint64(n) > uint64(c.mem.Size()) {
			return 0, a.fault("log: guest passed an out-of-bounds pointer (ptr=%#x len=%d, memory is %d bytes)%s", ptr, n, c.mem.Size(), a.where())
		}
		return 0, nil
	}
	msg, err := a.text(c, 1, a.e.limits.LogLine)
	if err != nil {
		return 0, err
	}
	level := slog.LevelInfo
	switch c.i32(0) {
	case abi.LogDebug:
		level = slog.LevelDebug
	case abi.LogWarn:
		level = slog.LevelWarn
	case abi.LogError:
		level = slog.LevelError
	}
	a.glog.line(level, msg)
	return 0, nil
}

func (a *Activation) progressCall(c *call) (uint64, error) {
	b, err := a.bytes(c, 0, "progress")
	if err != nil {
		return 0, err
	}
	if !json.Valid(b) {
		return 0, a.fault("progress: value is not valid JSON")
	}
	a.progress = b
	return 0, nil
}

func (a *Activation) nowCall(c *call) (uint64, error) { return uint64(a.now().UnixNano()), nil }

func (a *Activation) randomCall(c *call) (uint64, error) {
	n := c.i32(1)
	if int64(n) > int64(a.e.limits.Payload) {
		return 0, a.fault("random: %d bytes asked, over the %d-byte payload limit%s", n, a.e.limits.Payload, a.e.limits.hint("Payload"))
	}
	b := make([]byte, n)
	a.random(b)
	if !c.mem.Write(c.i32(0), b) {
		return 0, a.fault("random: guest passed an out-of-bounds pointer (ptr=%#x len=%d, memory is %d bytes)", c.i32(0), n, c.mem.Size())
	}
	return uint64(n), nil
}

func (a *Activation) declareWorkflow(c *call) (uint64, error) {
	name, err := a.name(c, 0, "workflow")
	if err != nil {
		return 0, err
	}
	for _, w := range a.describe.workflows {
		if w == name {
			return 0, a.fault("workflow %q is declared twice", name)
		}
	}
	a.describe.workflows = append(a.describe.workflows, name)
	return 0, nil
}

func (a *Activation) declareWorkflowOptions(c *call) (uint64, error) {
	name, err := a.name(c, 0, "workflow")
	if err != nil {
		return 0, err
	}
	d := a.describe
	if !slices.Contains(d.workflows, name) {
		return 0, a.fault("%s: workflow %q was not declared: call %s first", c.name, name, abi.FuncDeclareWorkflow)
	}
	if _, ok := d.options[name]; ok {
		return 0, a.fault("%s: the options of workflow %q are declared twice", c.name, name)
	}
	var opts abi.WorkflowOptions
	if c.i32(3) > 0 {
		raw, err := a.bytes(c, 2, "workflow options")
		if err != nil {
			return 0, err
		}
		if err := json.Unmarshal(raw, &opts); err != nil {
			return 0, a.fault("%s: options of workflow %q are not a valid JSON object: %v", c.name, name, err)
		}
	}
	if d.options == nil {
		d.options = make(map[string]abi.WorkflowOptions)
	}
	d.options[name] = opts
	return 0, nil
}

func cryptoRead(b []byte) { _, _ = rand.Read(b) }

package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/store"
)

// Verdict is what Verify found: whether a module's code makes the calls a
// run's journal holds, in the same order, up to where the run stands.
type Verdict struct {
	// Position is the journal position the check reached: where the run
	// goes on under the code when it agrees, where the code diverged when
	// it does not.
	Position int
	// Divergence is the first call on which the code and the journal
	// disagree; nil when they agree.
	Divergence *Divergence
}

// Divergence is the first position at which a module's code asks for
// something other than what a run's journal holds there.
type Divergence struct {
	Position int
	// Journal is what the journal holds at Position (Kind "end" when the
	// code asked for more than the journal holds but ended the run).
	Journal store.JournalCall
	// Code is what the code asked for there: a journal call (Kind an
	// EntryKind), or "complete", "fail", "trap", "return" or "fault".
	Code store.JournalCall
	// Message says it for people.
	Message string
}

// Kinds of Divergence.Code that are not journal calls.
const (
	CodeComplete = "complete" // the code completed the run
	CodeFail     = "fail"     // the code failed the run
	CodeTrap     = "trap"     // the guest trapped or exited
	CodeReturn   = "return"   // the export returned without ending the run
	CodeFault    = "fault"    // the guest broke the ABI (a bad pointer, ...)
)

// verifyState is an activation's state while it checks code against a
// journal (Executor.Verify) instead of running it.
type verifyState struct {
	verdict *Verdict
}

// journaledCalls are the host functions that take a position of the
// journal, or end the run, by the kind they ask for.
var journaledCalls = map[string]string{
	abi.FuncStepBegin:   string(store.EntryStep),
	abi.FuncSleep:       string(store.EntryTimer),
	abi.FuncAwaitSignal: string(store.EntrySignal),
	abi.FuncChildStart:  string(store.EntryChild),
	abi.FuncChildAwait:  string(store.EntryChildren),
	abi.FuncChanged:     string(store.EntryChange),
	abi.FuncComplete:    CodeComplete,
	abi.FuncFail:        CodeFail,
}

// Verify replays run's journal against the code of the module with digest
// and reports whether that code makes the same journaled calls in the same
// order, up to the run's current position: the steps, timers, signal
// waits, child starts and child waits the journal holds, until the first
// one that is still in progress (a step that has not ended, a timer that
// has not fired, a wait not answered) or the end of the journal. Of a
// failed run it checks what RunRetry keeps: the entries before the first
// failed one.
//
// It has no side effects: it writes nothing, completed steps answer their
// recorded outcomes, no step body and so no effect runs (the check stops
// at the first step it would run), and the guest's log goes nowhere. It
// starts from the module's init image, never from the run's snapshot or a
// warm instance. A module that cannot be loaded is a *ModuleError; the
// error is otherwise a store's.
func (e *Executor) Verify(ctx context.Context, run *store.Run, digest string) (*Verdict, error) {
	prep, err := e.modules.Load(ctx, digest)
	if err != nil {
		return nil, err
	}
	a := &Activation{e: e, run: run, clock: run.CreatedAt, signals: run.SignalsReceived, eventCount: run.EventCount, verify: &verifyState{}}
	a.prep = prep
	a.ctx, a.dbctx = ctx, context.WithoutCancel(ctx)
	if _, err := a.loadJournal(ctx, 0, nil); err != nil {
		return nil, err
	}
	if run.Status == store.StatusFailed {
		for i, en := range a.entries {
			if en.Status == store.EntryFailed {
				a.entries = a.entries[:i]
				break
			}
		}
	}
	callCtx, cancel := context.WithTimeoutCause(context.WithValue(ctx, ctxKey{}, a), e.limits.ActivationTimeout, errActivationTimeout)
	defer cancel()
	a.glog = newGuestLog(a)
	a.stderr = &tailWriter{max: tailSize, log: a.glog, level: slog.LevelDebug, stream: "stderr", lineMax: e.limits.LogLine}
	a.out = &outlets{}
	a.out.set(&tailWriter{log: a.glog, level: slog.LevelDebug, stream: "stdout", lineMax: e.limits.LogLine}, a.stderr)
	a.started = time.Now()
	a.instStart, a.monoBase = a.started, a.startMono()
	inst, err := prep.Module.Instantiate(callCtx, &engine.InstanceConfig{})
	if err != nil {
		return a.diverged(CodeTrap, "", fmt.Sprintf("the module could not be instantiated: %v", err)), nil
	}
	defer inst.Close(context.WithoutCancel(ctx))
	if hasFunc(prep.Module, abi.ExportInitialize) {
		_, err = inst.Call(callCtx, abi.ExportInitialize)
	}
	if err == nil {
		_, err = inst.Call(callCtx, abi.ExportRun)
	}
	return a.verdict(ctx, err)
}

// verdict turns the end of the verifying guest call into a Verdict.
func (a *Activation) verdict(ctx context.Context, callErr error) (*Verdict, error) {
	var se *storeError
	switch {
	case a.verify.verdict != nil:
		return a.verify.verdict, nil
	case errors.As(callErr, &se):
		return nil, se.err
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case a.end != nil && a.end.kind == endStore:
		return nil, a.end.err
	case a.end != nil && a.end.kind == endFault:
		return a.diverged(CodeFault, "", a.end.result.Reason), nil
	case errors.Is(callErr, errActivationTimeout):
		return a.diverged(CodeTrap, "", fmt.Sprintf("the code ran past the activation time limit of %s while replaying", a.e.limits.ActivationTimeout)), nil
	case callErr == nil:
		return a.diverged(CodeReturn, "", "the workflow returned without calling complete or fail"), nil
	}
	msg, _, _ := strings.Cut(callErr.Error(), "\n")
	return a.diverged(CodeTrap, "", "the guest trapped: "+msg), nil
}

// verifyCall is the check a verifying activation makes before a host
// call: at the end of the journal a journaled call means the code agrees
// with all of it (errEndCall, with the verdict); completing or failing the
// run before that end is a divergence. nil: go on with the call.
func (a *Activation) verifyCall(name string) error {
	kind, ok := journaledCalls[name]
	if !ok || a.step != nil {
		return nil
	}
	if a.pos-a.first >= len(a.entries) {
		return a.verified()
	}
	if kind == CodeComplete || kind == CodeFail {
		a.diverged(kind, "", "")
		return errEndCall
	}
	return nil
}

// verifyEntry is next's check of a verifying activation, once the entry at
// the position is the one the code asks for: an entry still in progress is
// where the run stands, and the code agrees with the journal up to it.
func (a *Activation) verifyEntry(e *store.Entry) error {
	switch e.Status {
	case store.EntryCompleted, store.EntryFailed, store.EntryFired, store.EntryReceived, store.EntryTimedOut:
		return nil
	}
	return a.verified()
}

// verified concludes a check: the code agrees with the journal up to the
// current position.
func (a *Activation) verified() error {
	a.verify.verdict = &Verdict{Position: a.pos}
	a.end = &ending{kind: endPersisted}
	return errEndCall
}

// diverged concludes a check with a divergence at the current position:
// the code asked for codeKind codeName. A message is made when none is
// given.
func (a *Activation) diverged(codeKind, codeName, msg string) *Verdict {
	d := &Divergence{Position: a.pos, Journal: store.JournalCall{Kind: "end"}, Code: store.JournalCall{Kind: codeKind, Name: codeName}}
	if i := a.pos - a.first; i >= 0 && i < len(a.entries) {
		en := a.entries[i]
		d.Journal = store.JournalCall{Kind: string(en.Kind), Name: en.Name}
	}
	if msg == "" {
		msg = fmt.Sprintf("at journal position %d the journal has %s but the code %s", d.Position, describeEntry(d.Journal), describeCode(d.Code))
	}
	d.Message = msg
	a.verify.verdict = &Verdict{Position: a.pos, Divergence: d}
	a.end = &ending{kind: endPersisted}
	return a.verify.verdict
}

// describeEntry names a journal call for people.
func describeEntry(c store.JournalCall) string {
	if c.Kind == "end" {
		return "nothing more"
	}
	return fmt.Sprintf("%s %q", c.Kind, c.Name)
}

// describeCode says what the code did, for people.
func describeCode(c store.JournalCall) string {
	switch c.Kind {
	case CodeComplete:
		return "completed the run"
	case CodeFail:
		return "failed the run"
	}
	return fmt.Sprintf("asked for %s %q", c.Kind, c.Name)
}

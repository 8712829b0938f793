package executor

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/snapshot"
	"github.com/wasmflow/wasmflow/store"
)

// Activation is one execution of a claimed run. Create it with
// Executor.NewActivation, steer it with Stop from any goroutine, and run it
// once with Run.
type Activation struct {
	e       *Executor
	run     *store.Run
	started time.Time
	stop    atomic.Int32 // StopReason
	// released: a write of the activation ended the run or suspended it,
	// giving up the lease (see Released).
	released atomic.Bool

	// Everything below is touched only by the goroutine in Run (host
	// functions run on it, synchronously with the guest).
	ctx        context.Context // the activation's, as given to Run
	dbctx      context.Context // for store calls: not cancelled with the activation (see Run)
	writes     int64           // numbers the activation's writes (RunApplyParams.Write)
	countExact bool            // eventCount is the seq of the last write's last event
	entries    []*store.Entry  // the journal, extended as the run goes
	effects    map[int][]*store.Effect
	pos        int // next journal position
	live       bool
	step       *stepState
	register   []byte
	clock      time.Time // the workflow clock
	rng        *rand.Rand
	rngPos     int
	pending    []*store.NewEvent
	held       *store.RunApplyParams // a completed step's write, held until the guest's next host call (see holdStep)
	progress   json.RawMessage
	eventCount int64
	signals    int64 // the run's SignalsReceived as last seen
	checkpoint struct {
		stepSeq  int
		eventSeq int64
		count    int
	}
	stderr     *tailWriter
	glog       *guestLog // what the guest writes to the host's log
	describe   *describeState
	end        *ending
	stepCancel context.CancelCauseFunc  // stops the guest when a step times out
	cause      string                   // why the run is being interrupted (Interrupt*)
	capture    *captureState            // making a module's init image, not running a run
	verify     *verifyState             // checking code against the journal (Verify), not running the run
	prep       *Prepared                // the module as activations start it
	first      int                      // the journal position of entries[0]
	parkable   bool                     // the host call in progress may answer Park
	parked     *parkState               // the guest parks: the suspension to write when it returns
	inCall     string                   // the host function in progress
	out        *outlets                 // where the instance's output goes
	lastPark   *snapshotHost            // the host state the guest last parked with
	kept       bool                     // the instance is kept warm: not closed with the activation
	resumed    string                   // restored from a snapshot: the call the guest makes again first
	start      *store.ActivationStarted // to complete the claim's activation_started with, until written
	startKind  string                   // how the activation began (Start*)
	monoBase   int64                    // the guest's monotonic clock at instStart
	instStart  time.Time
	// replayedSteps counts the steps whose recorded outcome step_begin
	// answered in this activation.
	replayedSteps int
}

type stepState struct {
	entry     *store.Entry
	opts      abi.StepOptions
	effectSeq int
	effect    *store.Effect // begun, not yet ended
	persisted bool          // entry row exists in the store for this attempt
	started   time.Time
	timer     *time.Timer // the step's timeout
	timedOut  atomic.Bool
	from      []byte // the cursor the body started from in this activation
}

// ending records why the host ended the guest call.
type ending struct {
	kind   endKind
	result Result
	err    error // endStore
}

type endKind int

const (
	endPersisted endKind = iota + 1 // suspended or finished; already written
	endFault                        // the run must fail with result.Reason
	endFenced                       // lease lost; write nothing
	endCrash                        // test hook: write nothing
	endStore                        // the store failed; write nothing
)

// errEndCall is what host functions return to end the guest call; the
// reason is in Activation.end.
var errEndCall = errors.New("wasmflow: the host ended the guest call")

type ctxKey struct{}

func fromContext(ctx context.Context) *Activation {
	a, _ := ctx.Value(ctxKey{}).(*Activation)
	return a
}

// NewActivation prepares an activation of a run claimed by this process.
func (e *Executor) NewActivation(run *store.Run) *Activation {
	a := &Activation{e: e, run: run, clock: run.CreatedAt, signals: run.SignalsReceived, eventCount: run.EventCount}
	if run.CancelRequested {
		// Cancelled while its last activation was suspending it: this one
		// ends it at the guest's first host call.
		a.Stop(StopCancel)
	}
	return a
}

// Stop asks the activation to stop at its next safe point. It is safe to call
// from any goroutine, any number of times; cancellation wins over shutdown.
func (a *Activation) Stop(reason StopReason) {
	for {
		cur := a.stop.Load()
		if cur >= int32(reason) || a.stop.CompareAndSwap(cur, int32(reason)) {
			return
		}
	}
}

// Run executes the activation. ctx bounds it: when ctx is done the guest is
// stopped wherever it is (a lost lease, a shutdown's grace period elapsed).
// The error is non-nil only when the store failed, or stayed unavailable
// for longer than the activation keeps trying (unavailableFor); the run is
// then left for its lease to expire.
func (a *Activation) Run(ctx context.Context) (*Result, error) {
	e := a.e
	a.started = time.Now()
	// Writes are not cancelled with ctx: they are fenced, so after a lost
	// lease the store refuses them by itself, while a write cancelled in
	// flight may have committed or not. A lost lease that the activation's
	// own last write caused (the heartbeat saw the run no longer running)
	// would otherwise turn a committed write into an unknown one.
	// storeTimeout bounds each call instead.
	a.ctx, a.dbctx = ctx, context.WithoutCancel(ctx)
	res, err := a.run1(ctx)
	if res != nil {
		res.Start = a.startKind
		if res.Status.Terminal() {
			e.runLogs.forget(a.run.ID)
		}
	}
	if e.obs != nil && res != nil {
		e.obs.ActivationDone(a.run, e.engine.Name(), time.Since(a.started), res)
	}
	return res, err
}

func (a *Activation) run1(ctx context.Context) (*Result, error) {
	e := a.e
	if n := e.limits.Activations; a.run.Activations > n {
		return a.failNow(fmt.Sprintf("the run reached its limit of %d activations%s: it was interrupted, suspended or lost its lease too often", n, e.limits.hint("Activations")))
	}
	defer a.observeResumption(ctx)()
	var prep *Prepared
	err := a.persist(func(context.Context) (err error) {
		prep, err = e.modules.Load(ctx, a.run.ModuleDigest) // bounded by ctx: a compilation may take long
		return err
	})
	if err != nil {
		var me *ModuleError
		if errors.As(err, &me) {
			return a.failNow(fmt.Sprintf("module %s cannot run: %v", a.run.ModuleDigest, err))
		}
		return nil, err
	}
	a.prep = prep

	callCtx, cancel := context.WithTimeoutCause(context.WithValue(ctx, ctxKey{}, a), e.limits.ActivationTimeout, errActivationTimeout)
	defer cancel()
	stepCtx, stepCancel := context.WithCancelCause(callCtx)
	defer stepCancel(nil)
	a.stepCancel = stepCancel
	a.glog = newGuestLog(a)
	a.stderr = &tailWriter{max: tailSize, log: a.glog, level: slog.LevelWarn, stream: "stderr", lineMax: e.limits.LogLine}
	a.startedAs(prep)
	inst, export, err := a.begin(ctx, stepCtx)
	if inst != nil {
		defer func() {
			if !a.kept {
				inst.Close(context.WithoutCancel(ctx))
			}
		}()
	}
	if err != nil {
		return a.conclude(ctx, err, inst)
	}
	a.parkable = false
	_, err = inst.Call(stepCtx, export)
	if a.parked != nil {
		return a.writePark(err, inst)
	}
	return a.conclude(ctx, err, inst)
}

// keepWarm keeps the instance the run parked in, for the run's next
// activation in this process.
func (a *Activation) keepWarm(inst engine.Instance) bool {
	if a.lastPark == nil {
		return false
	}
	return a.e.warm.put(&warmInstance{
		runID: a.run.ID, digest: a.run.ModuleDigest, attempt: a.run.Attempt, activation: a.run.Activations,
		inst: inst, host: *a.lastPark, clock: a.monotonic(), bytes: int64(inst.MemorySize()), out: a.out,
	})
}

// fromWarm takes the run's warm instance, if this process has one that its
// previous activation parked, and puts the activation where it parked. A
// stale one (another process ran the run since, or it was retried) is
// closed.
func (a *Activation) fromWarm(ctx context.Context) (engine.Instance, error) {
	w := a.e.warm.take(a.run.ID)
	if w == nil {
		return nil, nil
	}
	if a.e.noSnapshots || w.activation != a.run.Activations-1 || w.attempt != a.run.Attempt || w.digest != a.run.ModuleDigest {
		w.inst.Close(context.WithoutCancel(ctx))
		return nil, nil
	}
	if _, err := a.loadJournal(ctx, w.host.Position, nil); err != nil {
		w.inst.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := a.resumeAt(&w.host, w.clock); err != nil {
		w.inst.Close(context.WithoutCancel(ctx))
		return nil, nil
	}
	w.out.set(a.out.stdout, a.out.stderr)
	a.out = w.out
	return w.inst, nil
}

// begin loads what the activation starts from, instantiates the module in
// that state, and returns the export to call: wasmflow_resume in an
// instance restored from the run's snapshot, else wasmflow_run, after
// _initialize when the module has no image. A store failure is returned
// with a nil instance; any other error is the guest's, for conclude.
func (a *Activation) begin(ctx, callCtx context.Context) (engine.Instance, string, error) {
	a.out = &outlets{}
	a.out.set(&tailWriter{log: a.glog, level: slog.LevelInfo, stream: "stdout", lineMax: a.e.limits.LogLine}, a.stderr)
	cfg := &engine.InstanceConfig{} // stdout and stderr are the host's fd_write (wasi.go)
	if inst, err := a.fromWarm(ctx); inst != nil || err != nil {
		if err != nil {
			return nil, "", err
		}
		a.start.Start, a.startKind = StartWarm, StartWarm
		return inst, abi.ExportResume, nil
	}
	t := time.Now()
	// A fresh instance is what a restore and a replay both start from:
	// make it while the store reads the journal.
	type made struct {
		inst engine.Instance
		err  error
	}
	fresh := make(chan made, 1)
	go func() {
		inst, err := a.prep.Module.Instantiate(callCtx, cfg)
		fresh <- made{inst, err}
	}()
	asked, rec, jerr := a.loadStart(ctx)
	m := <-fresh
	if jerr != nil || m.err != nil {
		if m.inst != nil {
			m.inst.Close(context.WithoutCancel(ctx))
		}
		if jerr != nil {
			return nil, "", jerr
		}
		return nil, "", fmt.Errorf("instantiate: %w", m.err)
	}
	inst := m.inst
	r, why := a.usableSnapshot(asked, rec)
	if r != nil {
		inst = a.grownFor(ctx, inst, r.delta.Pages)
		if why = a.restoreSnapshot(inst, r); why == "" {
			err := a.resumeAt(&r.host, r.delta.Clock)
			if err == nil {
				a.start.Start, a.startKind = StartSnapshot, StartSnapshot
				if a.e.obs != nil {
					a.e.obs.SnapshotRestored(a.run, time.Since(t))
				}
				return inst, abi.ExportResume, nil
			}
			why = "it could not be restored: " + err.Error()
		}
		// The instance may hold part of the snapshot: replay in a new one.
		inst.Close(context.WithoutCancel(ctx))
		a.pos, a.register, a.clock = 0, nil, a.run.CreatedAt
		a.instStart, a.monoBase = time.Now(), a.startMono()
		var err error
		if inst, err = a.prep.Module.Instantiate(callCtx, cfg); err != nil {
			return nil, "", fmt.Errorf("instantiate: %w", err)
		}
	}
	if why != "" {
		a.start.SnapshotUnusable = why
		a.logger().Info("run replays: its snapshot is unusable", "reason", why)
	}
	if a.first != 0 {
		// Read from a snapshot's position, and the snapshot is not used.
		if _, err := a.loadJournal(ctx, 0, nil); err != nil {
			inst.Close(context.WithoutCancel(ctx))
			return nil, "", err
		}
	}
	if hasFunc(a.prep.Module, abi.ExportInitialize) {
		if _, err := inst.Call(callCtx, abi.ExportInitialize); err != nil {
			return inst, "", err
		}
	}
	return inst, abi.ExportRun, nil
}

// grownFor returns an instance whose memory is already pages in size for
// a snapshot's restore, when the module keeps one (engine.Recycler) and
// inst is smaller, closing inst; else inst. A recycled instance that grew
// that far once has its pages from the kernel already, where growing inst
// would fault every page the restore writes.
func (a *Activation) grownFor(ctx context.Context, inst engine.Instance, pages uint32) engine.Instance {
	rc, ok := a.prep.Module.(engine.Recycler)
	if !ok || uint64(inst.MemorySize()) >= uint64(pages)*snapshot.PageSize {
		return inst
	}
	grown := rc.Grown(pages)
	if grown == nil {
		return inst
	}
	inst.Close(context.WithoutCancel(ctx))
	return grown
}

// loadStart reads the run's journal and, for a guest that parks (asked),
// its snapshot, with the journal from the snapshot's position when it is
// one this activation can take.
func (a *Activation) loadStart(ctx context.Context) (asked bool, _ *store.RunSnapshot, _ error) {
	if a.run.Activations == 1 {
		// The run's first activation: its journal is empty (only
		// activations write one, and a retry keeps the count), and nothing
		// needs reading.
		a.first, a.entries, a.effects = 0, nil, map[int][]*store.Effect{}
		return false, nil, nil
	}
	var match *store.SnapshotMatch
	if a.prep.Parks && !a.e.noSnapshots {
		match = &store.SnapshotMatch{ModuleDigest: a.run.ModuleDigest, Attempt: a.run.Attempt, Format: SnapshotFormat}
	}
	sn, err := a.loadJournal(ctx, 0, match)
	return match != nil, sn, err
}

// loadJournal reads the run's journal and effects from position from on,
// and with match the run's snapshot, the journal then from the snapshot's
// position if it matches.
func (a *Activation) loadJournal(ctx context.Context, from int, match *store.SnapshotMatch) (*store.RunSnapshot, error) {
	var j *store.RunJournal
	err := a.persist(func(ctx context.Context) (err error) {
		j, err = a.e.store.RunJournal(ctx, &store.RunJournalParams{RunID: a.run.ID, FromSeq: from, Snapshot: match})
		return err
	})
	if err != nil {
		return nil, &storeError{fmt.Errorf("load journal of run %s: %w", a.run.ID, err)}
	}
	a.first, a.entries = j.FromSeq, j.Entries
	a.effects = make(map[int][]*store.Effect)
	for _, ef := range j.Effects {
		a.effects[ef.StepSeq] = append(a.effects[ef.StepSeq], ef)
	}
	return j.Snapshot, nil
}

// storeError marks a store failure of begin: the run is left for its lease
// to expire, as for any store failure of an activation.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

var errActivationTimeout = errors.New("activation time limit reached")

// storeTimeout bounds one store call of an activation's host functions. A
// store that does not answer in time fails the activation; its run resumes
// when its lease expires. (A store that answers that it is unavailable is
// called again: see persist.)
const storeTimeout = 30 * time.Second

var errStepTimeout = errors.New("step timeout reached")

// conclude turns the end of the guest call into a Result, writing the run's
// failure when the guest faulted.
func (a *Activation) conclude(ctx context.Context, callErr error, inst engine.Instance) (*Result, error) {
	if s := a.step; s != nil && s.timer != nil {
		s.timer.Stop()
	}
	var se *storeError
	if errors.As(callErr, &se) {
		return nil, se.err
	}
	if a.end != nil {
		return a.outcome()
	}
	if callErr == nil {
		return a.failNow("workflow returned without calling complete or fail")
	}
	if ctx.Err() != nil {
		// The scheduler stopped the activation (a lost lease, a shutdown's
		// grace period over): hand the run back from its last checkpoint.
		a.cause = InterruptShutdownForced
		return a.suspendNow(store.StatusPending, SuspendInterrupt, a.interruptWake(now()), nil)
	}
	if errors.Is(callErr, errStepTimeout) {
		s := a.step
		if s == nil || !s.timedOut.Load() {
			// The step ended just as its timer fired: resume from here.
			a.cause = InterruptStepTimeout
			return a.suspendNow(store.StatusPending, SuspendInterrupt, a.interruptWake(now()), nil)
		}
		msg := fmt.Sprintf("step %q timed out after %s", s.entry.Name, time.Duration(s.opts.TimeoutMS)*time.Millisecond)
		if err := a.stepEnded(abi.EndError, []byte(msg), false); err != nil {
			return a.outcome()
		}
		// The step failed for good; the guest learns it when it replays.
		return a.suspendNow(store.StatusPending, SuspendRetry, ptrTime(now()), nil)
	}
	if errors.Is(callErr, errActivationTimeout) {
		return a.failNow(fmt.Sprintf("activation exceeded its time limit of %s%s without reaching a checkpoint; the guest was stopped%s", a.e.limits.ActivationTimeout, a.e.limits.hint("ActivationTimeout"), a.where()))
	}
	var exit *engine.ExitError
	if errors.As(callErr, &exit) {
		return a.failNow(a.crashReason(fmt.Sprintf("guest exited with code %d%s", exit.Code, a.where()), inst))
	}
	// A trap's message starts with its kind ("wasm error: unreachable"); the
	// wasm stack trace after it goes to the log, not into the run's error.
	msg, stack, _ := strings.Cut(callErr.Error(), "\n")
	if stack != "" {
		a.logger().Warn("guest trapped", "error", msg, "wasm_stack", stack)
	}
	return a.failNow(a.crashReason(fmt.Sprintf("guest trapped%s: %s", a.where(), msg), inst))
}

// crashReason explains a guest that died: what the engine saw, the first
// line of the runtime's own crash report on stderr, whether the memory limit
// was reached, and the last lines of stderr.
func (a *Activation) crashReason(what string, inst engine.Instance) string {
	msg := what
	if h := a.stderr.crashHeadline(); h != "" {
		msg += ": " + h
	}
	if inst != nil {
		limit := uint64(a.e.limits.MemoryPages) * 65536
		if size := uint64(inst.MemorySize()); size+(16<<20) >= limit {
			how := a.e.limits.how("MemoryPages")
			if how != "" {
				how = ", " + how
			}
			msg += fmt.Sprintf(" (out of memory: memory at %d MiB of the %d MiB limit%s)", size>>20, limit>>20, how)
		}
	}
	if a.stderr.crashHeadline() == "" {
		if tail := a.stderr.tail(); tail != "" {
			msg += "; stderr: " + tail
		}
	}
	return msg
}

// outcome maps a.end to the activation's result.
func (a *Activation) outcome() (*Result, error) {
	switch a.end.kind {
	case endPersisted:
		return &a.end.result, nil
	case endFenced:
		a.logger().Warn("activation lost its lease; its writes were refused")
		return &Result{Status: store.StatusRunning, Reason: "lease lost", LeaseLost: true}, nil
	case endCrash:
		return &Result{Status: store.StatusRunning, Reason: "crashed by test hook"}, nil
	case endStore:
		return nil, a.end.err
	}
	return a.failNow(a.end.result.Reason)
}

// where names the step the guest was in, for failure messages.
func (a *Activation) where() string {
	if a.step != nil {
		return fmt.Sprintf(" in step %q", a.step.entry.Name)
	}
	return ""
}

// failNow writes the run's failure.
func (a *Activation) failNow(reason string) (*Result, error) {
	a.end = nil
	_ = a.finish(store.StatusFailed, nil, reason)
	return a.outcome()
}

// suspendNow writes a suspension outside a host call.
func (a *Activation) suspendNow(status store.RunStatus, reason string, wakeAt *time.Time, p *store.RunApplyParams) (*Result, error) {
	a.end = nil
	_ = a.suspendWrite(status, reason, wakeAt, p)
	return a.outcome()
}

// startedAs records how the activation starts: the guest's monotonic clock
// continues from the state it starts in, and the run's activation_started
// event, which the claim wrote, is completed with data.start by the
// activation's first write.
func (a *Activation) startedAs(p *Prepared) {
	a.instStart, a.monoBase = time.Now(), a.startMono()
	a.start = &store.ActivationStarted{Owner: a.run.LeaseOwner, Activation: a.run.Activations, Start: p.startKind(), NoImage: p.NoImage}
	a.startKind = a.start.Start
}

// startMono is the guest's monotonic clock in a fresh instance.
func (a *Activation) startMono() int64 {
	if a.prep.Image != nil {
		return a.prep.Image.Clock
	}
	return monotonicStart
}

// apply writes p, fenced, adding pending events and progress. Any failure
// ends the guest call (errEndCall) with a.end set.
func (a *Activation) apply(p *store.RunApplyParams) error {
	if a.verify != nil {
		// Unreachable: a check ends before any call that writes.
		return a.fault("internal error: a replay check tried to write to run %s", a.run.ID)
	}
	p.RunID, p.Fence = a.run.ID, a.run.Fence
	if p.Now.IsZero() {
		p.Now = now()
	}
	if a.start != nil && p.ReplaceEventSeq == 0 && a.run.EventCount > 0 {
		// The claim appended activation_started as the run's last event.
		p.ReplaceEventSeq = a.run.EventCount
		replayed := a.replayedSteps
		a.start.ReplayedSteps = &replayed
		p.ReplaceEvent = store.RunEvent(a.run.UpdatedAt, *a.start)
		a.start = nil
	}
	if h := a.held; h != nil {
		// The completed step's write goes in this one's commit.
		a.held = nil
		p.Entries = append(h.Entries, p.Entries...)
		p.Events = append(h.Events, p.Events...)
		p.Children = append(h.Children, p.Children...)
	}
	if len(a.pending) > 0 {
		p.Events = append(a.pending, p.Events...)
		a.pending = nil
	}
	if a.progress != nil {
		p.Progress, a.progress = a.progress, nil
	}
	if p.Status.Terminal() && a.run.ParentID != "" {
		p.ParentEvent = store.ChildEnded{Child: a.run.ID, Workflow: a.run.Workflow, Status: p.Status, Output: p.Output, Error: p.Error}.Event(p.Now)
	}
	n := int64(len(p.Events))
	if p.Status == "" && a.eventCount+n > a.e.limits.EventsPerRun {
		return a.fault("the run reached its limit of %d events%s", a.e.limits.EventsPerRun, a.e.limits.hint("EventsPerRun"))
	}
	// The write is numbered so that it can be sent again while the
	// database is unavailable: one that committed although its answer was
	// lost is recognised by the store and not applied twice.
	a.writes++
	p.Write = a.writes
	var res *store.RunApplyResult
	err := a.persist(func(ctx context.Context) (err error) {
		res, err = a.e.store.RunApply(ctx, p)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrFenced) {
			a.end = &ending{kind: endFenced}
		} else {
			a.end = &ending{kind: endStore, err: fmt.Errorf("write run %s: %w", a.run.ID, err)}
		}
		return errEndCall
	}
	a.eventCount = res.EventCount
	a.signals = res.SignalsReceived
	// A replayed write's count is the run's now, not as of the write: it
	// may name an event that came after, which no checkpoint may overwrite.
	a.countExact = !res.Replayed
	if res.CancelRequested {
		a.Stop(StopCancel)
	}
	if p.Status != "" && p.Status != store.StatusRunning {
		a.released.Store(true)
		a.end = &ending{kind: endPersisted, result: Result{Status: p.Status, WakeAt: p.WakeAt, Ended: res.Run}}
	}
	return nil
}

// Released reports whether a write of the activation has given up its
// lease: the run ended or suspended, and the activation is returning. A
// heartbeat that finds the lease gone then has nothing to stop. Safe from
// any goroutine.
func (a *Activation) Released() bool { return a.released.Load() }

// holdStep keeps the write of a completed step (or of a timer that fired)
// until the guest's next host call, which writes it (flushHeld), or
// merges it into its own write when it writes (apply): a guest that completes right after its last step
// commits both at once. Nothing the guest does between the two is seen
// outside the activation, so a crash in between is one before the step's
// commit, as it always could be. With test hooks, which may end the
// activation at the point after the step, the write is made at once.
func (a *Activation) holdStep(p *store.RunApplyParams) error {
	if h := a.e.hooks; h.Crash != nil || h.Interrupt != nil {
		return a.apply(p)
	}
	a.hold(p)
	return nil
}

// hold adds p to the held write: the held write's entries and events come
// first, as they happened first.
func (a *Activation) hold(p *store.RunApplyParams) {
	h := a.held
	if h == nil {
		a.held = p
		return
	}
	h.Entries = append(h.Entries, p.Entries...)
	h.Events = append(h.Events, p.Events...)
	h.Children = append(h.Children, p.Children...)
}

// flushHeld writes the held step write, if any.
func (a *Activation) flushHeld() error {
	if a.held == nil {
		return nil
	}
	return a.apply(&store.RunApplyParams{})
}

// finish writes a terminal status and ends the guest call.
func (a *Activation) finish(status store.RunStatus, output json.RawMessage, errMsg string) error {
	p := &store.RunApplyParams{Status: status, Output: output, Error: errMsg}
	p.Events = []*store.NewEvent{store.RunEvent(now(), store.RunEnded{Status: status, Error: errMsg})}
	if err := a.apply(p); err != nil {
		return err
	}
	a.end.result.Reason = errMsg
	a.logger().Info("run finished", "status", status, "error", errMsg)
	return errEndCall
}

// suspendWrite records a suspension (the run stops here and resumes in a new
// activation), with whatever else p carries, and returns errEndCall.
func (a *Activation) suspendWrite(status store.RunStatus, reason string, wakeAt *time.Time, p *store.RunApplyParams) error {
	if p == nil {
		p = &store.RunApplyParams{}
	}
	if s := a.step; s != nil && !s.persisted {
		p.Entries = append(p.Entries, s.entry)
		s.persisted = true
	}
	data := store.RunSuspended{Reason: reason}
	if reason == SuspendInterrupt {
		data.Cause = a.cause
	}
	if wakeAt != nil {
		utc := wakeAt.UTC()
		data.WakeAt = &utc
	}
	p.Status, p.WakeAt, p.WakeIfSignalsBeyond = status, wakeAt, a.signals
	p.Events = append(p.Events, store.StepEvent(a.stepName(), now(), data))
	cause := a.cause
	suspended := func() {
		a.logger().Debug("run suspended", "reason", reason, "cause", cause, "status", status)
		if reason == SuspendInterrupt && a.e.obs != nil {
			a.e.obs.Interrupted(a.run, cause)
		}
	}
	if a.canPark() {
		return a.park(p, data, suspended)
	}
	if err := a.apply(p); err != nil {
		return err
	}
	a.end.result.Reason = reason
	suspended()
	return errEndCall
}

// checkStop suspends or cancels the run when the scheduler asked for it, or
// yields when the activation has used half of its time. cancelOnly limits it
// to cancellation (for host calls that are not checkpoints).
func (a *Activation) checkStop(cancelOnly bool) error {
	switch StopReason(a.stop.Load()) {
	case StopCancel:
		return a.finish(store.StatusCancelled, nil, "")
	case StopShutdown:
		if !cancelOnly {
			return a.interrupt(InterruptShutdown)
		}
	}
	if !cancelOnly && time.Since(a.started) > a.e.limits.ActivationTimeout/2 {
		return a.interrupt(InterruptTimeLimit)
	}
	return nil
}

// interrupt suspends the run, to resume at once in a fresh activation, and
// ends the guest call.
func (a *Activation) interrupt(cause string) error {
	a.cause = cause
	return a.suspendWrite(store.StatusPending, SuspendInterrupt, a.interruptWake(now()), nil)
}

// interruptWake is when a run interrupted at t resumes: after the resume
// delay.
func (a *Activation) interruptWake(t time.Time) *time.Time {
	return ptrTime(t.Add(a.resumeDelay()))
}

// resumeDelay is how long an interrupted run waits before it resumes: its
// workflow's resume_delay_ms when it declared one, else the host's.
func (a *Activation) resumeDelay() time.Duration {
	if a.prep != nil {
		if ms := a.prep.options[a.run.Workflow].ResumeDelayMS; ms != nil && *ms >= 0 {
			return time.Duration(*ms) * time.Millisecond
		}
	}
	return a.e.resumeDelay
}

// hook asks the test hooks about a point.
func (a *Activation) hook(at Point) error {
	if h := a.e.hooks; h.Crash == nil && h.Interrupt == nil {
		return nil // without hooks (in production) a point costs nothing
	}
	return a.callHooks(at)
}

// callHooks is hook's slow path, apart so that only it puts the point on
// the heap.
func (a *Activation) callHooks(p Point) error {
	h := a.e.hooks
	p.Run = a.run
	if h.Crash != nil && h.Crash(&p) {
		a.end = &ending{kind: endCrash}
		return errEndCall
	}
	if h.Interrupt != nil && p.Kind != PointBeforeEffectEnd && h.Interrupt(&p) {
		return a.interrupt(InterruptHook)
	}
	return nil
}

// fault ends the guest call; the run fails with the message.
func (a *Activation) fault(format string, args ...any) error {
	a.end = &ending{kind: endFault, result: Result{Status: store.StatusFailed, Reason: fmt.Sprintf(format, args...)}}
	return errEndCall
}

// nondeterminism fails the run because the code asked for something other
// than what the journal holds at this position.
func (a *Activation) nondeterminism(position, wantKind, wantName, gotKind, gotName string) error {
	msg := fmt.Sprintf("nondeterminism at %s: the journal has %s %q but the code asked for %s %q; code between steps must make the same calls in the same order on every replay",
		position, wantKind, wantName, gotKind, gotName)
	a.pending = append(a.pending, store.RunEvent(now(), store.Nondeterminism{
		Position: position,
		Expected: store.JournalCall{Kind: wantKind, Name: wantName},
		Found:    store.JournalCall{Kind: gotKind, Name: gotName},
	}))
	if a.e.obs != nil {
		a.e.obs.Nondeterminism(a.run)
	}
	return a.fault("%s", msg)
}

// next returns the journal entry at the current position if there is one,
// checking that it is what the code asks for.
func (a *Activation) next(kind store.EntryKind, name string) (*store.Entry, error) {
	if a.pos-a.first >= len(a.entries) {
		return nil, nil
	}
	e := a.entries[a.pos-a.first]
	if e.Kind != kind || e.Name != name {
		if a.verify != nil {
			a.diverged(string(kind), name, "")
			return nil, errEndCall
		}
		return nil, a.nondeterminism(fmt.Sprintf("journal position %d", e.Seq), string(e.Kind), e.Name, string(kind), name)
	}
	if a.verify != nil {
		if err := a.verifyEntry(e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// record stores e as the entry at the current position and advances it.
func (a *Activation) record(e *store.Entry) {
	if i := a.pos - a.first; i < len(a.entries) {
		a.entries[i] = e
	} else {
		a.entries = append(a.entries, e)
	}
	a.pos++
	a.clock = e.UpdatedAt
}

func (a *Activation) replaying() bool {
	return a.step == nil && a.pos-a.first < len(a.entries)
}

func (a *Activation) stepName() string {
	if a.step != nil {
		return a.step.entry.Name
	}
	return ""
}

// now is the guest's clock: real inside a step, the workflow clock outside.
func (a *Activation) now() time.Time {
	switch {
	case a == nil || a.step != nil || a.describe != nil:
		return time.Now()
	case a.capture != nil:
		return a.capture.now()
	}
	return a.clock
}

// monotonic is the guest's monotonic clock, in nanoseconds: it continues
// from the value of the state the instance started from.
func (a *Activation) monotonic() int64 {
	switch {
	case a == nil:
		return int64(time.Since(processStart)) + monotonicStart
	case a.capture != nil:
		return a.capture.monotonic()
	}
	return a.monoBase + int64(time.Since(a.instStart))
}

// monotonicStart is the guest's monotonic clock in an instance that starts
// from no captured state: a second, so that no runtime mistakes it for
// an unset time.
const monotonicStart = int64(time.Second)

var processStart = time.Now()

// random fills b: fresh inside a step, deterministic per journal position
// outside.
func (a *Activation) random(b []byte) {
	switch {
	case a == nil || a.step != nil || a.describe != nil:
		cryptoRead(b)
		return
	case a.capture != nil:
		a.capture.random(b)
		return
	}
	if a.rng == nil || a.rngPos != a.pos {
		seed := sha256.Sum256(fmt.Appendf(nil, "%s/%d", a.run.ID, a.pos))
		a.rng = rand.New(rand.NewChaCha8(seed))
		a.rngPos = a.pos
	}
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], a.rng.Uint64())
		copy(b[i:], w[:])
	}
}

type randomReader struct{ a *Activation }

func (r randomReader) Read(b []byte) (int, error) {
	r.a.random(b)
	return len(b), nil
}

func (a *Activation) logger() *slog.Logger {
	l := a.e.log.With("run_id", a.run.ID, "activation", a.run.Activations)
	if a.step != nil {
		l = l.With("step", a.step.entry.Name)
	}
	return l
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// now is the host's clock, at the store's precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func ptrTime(t time.Time) *time.Time { return &t }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

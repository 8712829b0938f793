// Package executor runs activations: one activation instantiates a run's
// module, replays the run's journal, and executes the guest until the run
// completes, fails or suspends. It implements the host side of the ABI
// (abi/ABI.md) and writes everything that must survive through the store,
// fenced by the lease the run was claimed with.
//
// The executor does not claim runs, heartbeat leases or wake timers: that is
// the scheduler's work. It is handed a claimed run and reports how the
// activation ended.
package executor

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/store"
)

// Limits bound what one guest may do: host.Limits, which documents each
// field and its default, converted.
type Limits struct {
	ModuleSize            int
	ActivationTimeout     time.Duration
	Payload               int
	EventsPerRun          int64
	LogLine               int
	LogBytesPerActivation int
	LogLinesPerActivation int
	LogBytesPerRun        int64
	LogLinesPerRun        int64
	Activations           int
	MemoryPages           uint32
	TableElements         uint32
	SnapshotSize          int
	Hint                  func(fields ...string) string
}

// how is Hint's answer for the limits of fields: how the operator changes
// them, or "" when the program does not say.
func (l Limits) how(fields ...string) string {
	if l.Hint == nil {
		return ""
	}
	return l.Hint(fields...)
}

// hint is what a message that names the limits of fields adds after them:
// " (" and how ")", or nothing.
func (l Limits) hint(fields ...string) string {
	if h := l.how(fields...); h != "" {
		return " (" + h + ")"
	}
	return ""
}

// WithDefaults returns l with zero fields set to the defaults host.Limits
// documents.
func (l Limits) WithDefaults() Limits {
	if l.ModuleSize == 0 {
		l.ModuleSize = 32 << 20
	}
	if l.ActivationTimeout == 0 {
		l.ActivationTimeout = 5 * time.Minute
	}
	if l.Payload == 0 {
		l.Payload = 1 << 20
	}
	if l.EventsPerRun == 0 {
		l.EventsPerRun = 100000
	}
	if l.LogLine == 0 {
		l.LogLine = 8 << 10
	}
	if l.LogBytesPerActivation == 0 {
		l.LogBytesPerActivation = 1 << 20
	}
	if l.LogLinesPerActivation == 0 {
		l.LogLinesPerActivation = 1000
	}
	if l.LogBytesPerRun == 0 {
		l.LogBytesPerRun = 16 << 20
	}
	if l.LogLinesPerRun == 0 {
		l.LogLinesPerRun = 10000
	}
	if l.MemoryPages == 0 {
		l.MemoryPages = 4096
	}
	if l.Activations == 0 {
		l.Activations = 10000
	}
	if l.TableElements == 0 {
		l.TableElements = 1000000
	}
	if l.SnapshotSize == 0 {
		l.SnapshotSize = 16 << 20
	}
	return l
}

func (l Limits) validate() error {
	switch {
	case l.ModuleSize < 0:
		return errors.New("Limits.ModuleSize must not be negative")
	case l.ActivationTimeout < 0:
		return errors.New("Limits.ActivationTimeout must not be negative")
	case l.Payload < 0:
		return errors.New("Limits.Payload must not be negative")
	case l.EventsPerRun < 0:
		return errors.New("Limits.EventsPerRun must not be negative")
	case l.Activations < 0:
		return errors.New("Limits.Activations must not be negative")
	case l.SnapshotSize < 0:
		return errors.New("Limits.SnapshotSize must not be negative")
	case l.LogLine < 0:
		return errors.New("Limits.LogLine must not be negative")
	case l.LogBytesPerActivation < 0, l.LogLinesPerActivation < 0, l.LogBytesPerRun < 0, l.LogLinesPerRun < 0:
		return errors.New("Limits.LogBytesPerActivation, LogLinesPerActivation, LogBytesPerRun and LogLinesPerRun must not be negative")
	}
	return nil
}

// Config configures an Executor.
type Config struct {
	// Store persists runs. Required.
	Store store.Store
	// Engine compiles and runs modules; it must have been created with
	// HostFuncs(). Required.
	Engine engine.Engine
	// ImageEngine makes modules' init images: an engine created with
	// HostFuncs() too, on which the image is captured (images are the same
	// on every engine, so one that compiles fast, such as wazero's
	// interpreter, saves a compilation per module). Default: Engine.
	ImageEngine engine.Engine
	// Limits bound guests; zero fields take their defaults.
	Limits Limits
	// Owner names this process in activation events and logs.
	Owner string
	// CacheDir, when set, keeps modules' init images on disk between
	// processes (beside the engine's compile cache).
	CacheDir string
	// WarmInstances bounds how many parked instances this process keeps
	// in memory, so that a run that wakes here soon resumes in the very
	// instance it parked in (the least recently parked go first). Default
	// 64; negative: none.
	WarmInstances int
	// WarmMemory bounds the memory of the warm instances, in bytes (their
	// linear memories' sizes). Default 512 MiB.
	WarmMemory int64
	// NoSnapshots turns suspension snapshots off: guests that can park are
	// ended at suspensions like any other, and every activation replays.
	// Init images stay.
	NoSnapshots bool
	// ResumeDelay is how long a run interrupted at a checkpoint (a
	// shutdown, the time budget, an isolated step, a test hook) waits
	// before it resumes, as Rails' resume_options wait: does; a workflow
	// that declares resume_delay_ms has its own. Default 0: at once.
	ResumeDelay time.Duration
	// Logger receives the executor's and the guests' log lines. Default
	// slog.Default().
	Logger *slog.Logger
	// Hooks let tests interrupt or crash activations at chosen points.
	Hooks Hooks
	// Observer, when set, is told of outcomes worth counting (metrics).
	Observer Observer
}

// Observer is told of outcomes worth counting. Its methods must be fast and
// safe for concurrent use. Except for ActivationDone, each is told only what
// the store recorded.
type Observer interface {
	EffectUncertain(run *store.Run, step, effect string)
	Nondeterminism(run *store.Run)
	ActivationDone(run *store.Run, engine string, d time.Duration, r *Result)
	// StepEnded: an attempt of step ended after d (its time in the
	// activation that ended it), completed or failed; retry says whether
	// another attempt is scheduled.
	StepEnded(run *store.Run, step string, d time.Duration, failed, retry bool)
	// Interrupted: the run was suspended to resume in a new activation;
	// cause is one of the Interrupt* constants.
	Interrupted(run *store.Run, cause string)
	// ImageUnavailable: a module was prepared without an init image, for
	// the reason given; its activations run its runtime's start.
	ImageUnavailable(digest, reason string)
	// SnapshotWritten: a suspension of the run stored a snapshot of bytes.
	SnapshotWritten(run *store.Run, bytes int)
	// SnapshotRestored: the activation started from the run's snapshot,
	// which took d to read, decode and restore.
	SnapshotRestored(run *store.Run, d time.Duration)
	// LogCapped: the guest's log reached its limit per activation or per
	// run (kind is LogCappedActivation or LogCappedRun); the rest of it is
	// dropped.
	LogCapped(run *store.Run, kind string)
	// Resumed: the activation resumes a run whose previous activation was
	// interrupted or ended without a word; after is one of the Resumed*
	// constants.
	Resumed(run *store.Run, after string)
}

// Why a run suspended: the reason recorded in its run_suspended event
// (data.reason), and the Result.Reason of the activation that suspended it.
const (
	// SuspendInterrupt: it resumes at once in a fresh activation; the
	// event's data.cause says why (one of the Interrupt causes).
	SuspendInterrupt = "interrupt"
	// SuspendSleep: it sleeps until its timer fires.
	SuspendSleep = "sleep"
	// SuspendSignal: it waits for a signal (or for the wait's timeout).
	SuspendSignal = "signal"
	// SuspendRetry: a step failed and is retried after its backoff.
	SuspendRetry = "retry"
	// SuspendChildren: it waits for child runs to end (or for the wait's
	// timeout).
	SuspendChildren = "children"
)

// Why a run was interrupted: the cause recorded in its run_suspended event
// (reason SuspendInterrupt) and told to the Observer.
const (
	// InterruptShutdown: a graceful shutdown stopped it at a checkpoint and
	// handed it back.
	InterruptShutdown = "shutdown"
	// InterruptShutdownForced: the shutdown's grace period ended before it
	// reached a checkpoint; it resumes from its last one.
	InterruptShutdownForced = "shutdown_forced"
	// InterruptTimeLimit: it reached a checkpoint after half of the
	// activation time limit and yields to a fresh activation.
	InterruptTimeLimit = "time_limit"
	// InterruptIsolatedStep: an isolated step starts in a fresh activation.
	InterruptIsolatedStep = "isolated_step"
	// InterruptStepTimeout: a step ended just as its timeout fired.
	InterruptStepTimeout = "step_timeout"
	// InterruptHook: a test hook (Hooks.Interrupt).
	InterruptHook = "hook"
	// InterruptErrorAfterAdvancing: a step with the option
	// resume_errors_after_advancing failed after it saved a new cursor; it
	// resumes from the cursor without using up an attempt.
	InterruptErrorAfterAdvancing = "error_after_advancing"
)

// What an activation resumes after.
const (
	// ResumedAfterInterrupt: the previous activation suspended the run with
	// reason interrupt (any cause but a shutdown).
	ResumedAfterInterrupt = "interrupt"
	// ResumedAfterHandoff: a shutting-down process handed the run back.
	ResumedAfterHandoff = "handoff"
	// ResumedAfterLeaseExpiry: the previous activation wrote nothing more
	// and its lease expired (its process died, stalled or lost the store).
	ResumedAfterLeaseExpiry = "lease_expired"
)

// Hooks let tests stop activations at chosen points (see host/flowtest).
// Nil functions never fire.
type Hooks struct {
	// Interrupt is asked at each checkpoint of a step, after each step
	// completes, and before each step begins; true suspends the run there
	// as a graceful stop would (reason SuspendInterrupt).
	Interrupt func(p *Point) bool
	// Crash is asked at the same points and before an effect's outcome is
	// recorded; true ends the activation as if the process had died:
	// nothing more is written and the lease is left to expire.
	Crash func(p *Point) bool
}

// PointKind says where a Point is.
type PointKind string

const (
	PointBeforeStep      PointKind = "before_step"
	PointDuringStep      PointKind = "during_step"
	PointAfterStep       PointKind = "after_step"
	PointBeforeEffectEnd PointKind = "before_effect_end"
)

// Point is a place in an activation where Hooks are asked.
type Point struct {
	Kind   PointKind
	Run    *store.Run
	Step   string
	Cursor []byte // PointDuringStep: the cursor just saved, if any
	Effect string // PointBeforeEffectEnd
}

// Executor runs activations. It is safe for concurrent use.
type Executor struct {
	store       store.Store
	engine      engine.Engine
	imaging     engine.Engine // makes init images
	limits      Limits
	owner       string
	log         *slog.Logger
	hooks       Hooks
	obs         Observer
	modules     *Modules
	cacheDir    string
	noSnapshots bool
	resumeDelay time.Duration
	warm        *warmCache
	runLogs     runLogs
	// moduleRecords are module versions' records by name and version,
	// for child starts (see moduleRecord).
	moduleRecords sync.Map
}

// New returns an Executor.
func New(cfg *Config) (*Executor, error) {
	if cfg.Store == nil {
		return nil, errors.New("executor: Config.Store is required")
	}
	if cfg.Engine == nil {
		return nil, errors.New("executor: Config.Engine is required")
	}
	if cfg.ResumeDelay < 0 {
		return nil, errors.New("executor: Config.ResumeDelay must not be negative")
	}
	limits := cfg.Limits.WithDefaults()
	if err := limits.validate(); err != nil {
		return nil, fmt.Errorf("executor: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Executor{
		store:   cfg.Store,
		engine:  cfg.Engine,
		imaging: cfg.ImageEngine,
		limits:  limits,
		owner:   cfg.Owner,
		log:     log,
		hooks:   cfg.Hooks,
		obs:     cfg.Observer,

		cacheDir:    cfg.CacheDir,
		noSnapshots: cfg.NoSnapshots,
		resumeDelay: cfg.ResumeDelay,
	}
	if e.imaging == nil {
		e.imaging = e.engine
	}
	warmCount, warmBytes := cfg.WarmInstances, cfg.WarmMemory
	if warmCount == 0 {
		warmCount = 64
	}
	if warmBytes == 0 {
		warmBytes = 512 << 20
	}
	e.warm = newWarmCache(warmCount, warmBytes)
	e.modules = newModules(e)
	return e, nil
}

// Close releases the instances the executor keeps warm. Call it before
// closing the engine.
func (e *Executor) Close() { e.warm.close() }

// Modules returns the executor's module registry.
func (e *Executor) Modules() *Modules { return e.modules }

// Limits returns the limits in force.
func (e *Executor) Limits() Limits { return e.limits }

// Result says how an activation ended.
type Result struct {
	// Status is the run's status after the activation: pending, sleeping or
	// waiting when it suspended, a terminal status when it finished, or
	// running when the activation lost its lease or crashed (a test hook)
	// and wrote nothing more.
	Status store.RunStatus
	// Reason is the suspension reason (Suspend*) or the failure message.
	Reason string
	// WakeAt is when a suspended run becomes runnable again (nil: only a
	// signal wakes it).
	WakeAt *time.Time
	// LeaseLost: the store refused a write because another claim took the
	// run (status running).
	LeaseLost bool
	// Start is how the activation began (Start*); empty when it ended
	// before instantiating the module.
	Start string
	// Ended is the run's row as the write that finished it left it
	// (store.RunApplyResult.Run); nil when the run did not finish, or the
	// store did not say.
	Ended *store.Run
}

// StopReason is why the scheduler asks a running activation to stop.
type StopReason int32

const (
	stopNone StopReason = iota
	// StopShutdown: the process is shutting down; the run suspends at its
	// next checkpoint and resumes elsewhere.
	StopShutdown
	// StopCancel: the run was cancelled; it ends cancelled at its next host
	// call.
	StopCancel
)

// Package host is wasmflow's host as a Go API: modules, runs, signals, and
// the workers that carry runs to completion. The HTTP API and the CLI are
// thin layers over it.
package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/engine/wazero"
	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/internal/metrics"
	"github.com/wasmflow/wasmflow/internal/scheduler"
	"github.com/wasmflow/wasmflow/store"
)

// Config configures a Host. Zero fields take the defaults shown.
type Config struct {
	// Store persists everything. Required. The Host does not close it.
	Store store.Store
	// Engine names the WebAssembly engine: "wazero" (default) or "wasmtime"
	// (only in builds with cgo).
	Engine string
	// CacheDir keeps compiled modules and their init images on disk
	// between processes. Default: none (made in memory, once per process).
	CacheDir string
	// NoSnapshots turns suspension snapshots off: every activation of a
	// suspended run replays its journal (from the module's init image).
	NoSnapshots bool
	// WarmInstances bounds the parked instances this process keeps in
	// memory for their runs' next activations, so that those start without
	// restoring a snapshot or replaying.
	// Default 64; negative: none.
	WarmInstances int
	// ResumeDelay is how long a run interrupted at a checkpoint (a
	// shutdown, the time budget, an isolated step) waits before it resumes,
	// as Rails' resume_options wait: does. A workflow that declares
	// resume_delay_ms (ABI.md, section 5.2) has its own. Default 0: at once.
	ResumeDelay time.Duration
	// Limits bound guests.
	Limits Limits
	// Owner names this process in leases and timelines. Default
	// hostname-pid-random.
	Owner string
	// Workers is how many activations this process runs at once; 0 means
	// the default (16), negative means none (an API-only process).
	Workers int
	// LeaseDuration is how long a claim holds a run without a heartbeat
	// (default 30s); PollInterval how often idle workers look for runnable
	// runs when no notification wakes them (default 1s).
	LeaseDuration time.Duration
	PollInterval  time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Hooks let tests interrupt or crash activations (see host/flowtest).
	Hooks Hooks
	// TokenCacheTTL is how long Authenticate trusts a token it has checked
	// without asking the store again, so also how long a token revoked by
	// another process keeps working here. Default 30s; negative: no cache.
	TokenCacheTTL time.Duration
	// Retention, when positive, makes Start purge (as PurgeRuns does) the
	// runs that finished longer ago than this, at start and then every
	// RetentionInterval (default DefaultRetentionInterval), until
	// Shutdown. Default 0: finished runs are kept forever. One process
	// with it is enough; several are safe.
	Retention         time.Duration
	RetentionInterval time.Duration
}

// engines are the engine constructors by name; wasmtime registers itself
// when built with cgo (engines_cgo.go), or explains why not (engines_nocgo.go).
var engines = map[string]func(ctx context.Context, c *Config) (engine.Engine, error){
	"wazero": func(ctx context.Context, c *Config) (engine.Engine, error) {
		return wazero.New(ctx, &wazero.Config{
			CacheDir:         c.CacheDir,
			MemoryLimitPages: c.Limits.MemoryPages,
			HostModule:       abi.ImportModule,
			HostFuncs:        executor.HostFuncs(),
		})
	},
}

// Host is a wasmflow host process.
type Host struct {
	cfg     Config
	store   store.Store
	engine  engine.Engine
	imaging engine.Engine // makes init images
	exec    *executor.Executor
	sched   *scheduler.Scheduler // nil without workers
	metrics *metrics.Metrics
	log     *slog.Logger

	watchers watchers   // callers of WaitRun
	tokens   tokenCache // see Authenticate

	stopRetention func()        // nil without Retention or before Start
	retentionDone chan struct{} // closed when retain returns
}

// New builds a Host. Call Start to run workers, and Close when done.
func New(ctx context.Context, cfg *Config) (*Host, error) {
	c := *cfg
	if c.Store == nil {
		return nil, errors.New("host: Config.Store is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Owner == "" {
		hn, _ := os.Hostname()
		c.Owner = fmt.Sprintf("%s-%d-%s", hn, os.Getpid(), uuid.NewString()[:8])
	}
	c.Limits = c.Limits.WithDefaults()
	if c.Engine == "" {
		c.Engine = "wazero"
	}
	if c.Retention < 0 {
		return nil, fmt.Errorf("host: Config.Retention must not be negative, got %s", c.Retention)
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = DefaultRetentionInterval
	}
	newEngine, ok := engines[c.Engine]
	if !ok {
		return nil, fmt.Errorf("host: Config.Engine %q is not available; use wazero or wasmtime", c.Engine)
	}
	eng, err := newEngine(ctx, &c)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	// Init images are made on wazero's interpreter whatever the engine:
	// they are the same on every engine, and it compiles a module several
	// times faster than an engine that runs it often.
	imaging, err := wazero.NewInterpreter(ctx, &wazero.Config{
		MemoryLimitPages: c.Limits.MemoryPages,
		HostModule:       abi.ImportModule,
		HostFuncs:        executor.HostFuncs(),
	})
	if err != nil {
		eng.Close(ctx)
		return nil, fmt.Errorf("host: %w", err)
	}
	m := metrics.New(&metrics.Config{Store: c.Store, Logger: c.Logger})
	exec, err := executor.New(&executor.Config{
		Store: c.Store, Engine: eng, ImageEngine: imaging, Limits: executor.Limits(c.Limits), Owner: c.Owner, CacheDir: c.CacheDir, NoSnapshots: c.NoSnapshots, ResumeDelay: c.ResumeDelay, WarmInstances: c.WarmInstances, Logger: c.Logger, Hooks: executorHooks(c.Hooks), Observer: m,
	})
	if err != nil {
		eng.Close(ctx)
		imaging.Close(ctx)
		return nil, fmt.Errorf("host: %w", err)
	}
	h := &Host{cfg: c, store: c.Store, engine: eng, imaging: imaging, exec: exec, log: c.Logger, metrics: m}
	if c.Workers >= 0 {
		h.sched, err = scheduler.New(&scheduler.Config{
			Store: c.Store, Executor: exec, Owner: c.Owner, Concurrency: c.Workers,
			LeaseDuration: c.LeaseDuration, PollInterval: c.PollInterval, Logger: c.Logger, Observer: m,
			OnDone: func(run *store.Run, res *executor.Result) {
				var ended *store.Run
				if res != nil {
					ended = res.Ended
				}
				h.watchers.changed(run.ID, ended)
			},
		})
		if err != nil {
			eng.Close(ctx)
			return nil, fmt.Errorf("host: %w", err)
		}
	}
	return h, nil
}

// Metrics is the registry of the host's Prometheus metrics; collectors of
// an embedder's own registered in it are served with them.
func (h *Host) Metrics() *prometheus.Registry { return h.metrics.Registry() }

// Owner is the name of this process in leases.
func (h *Host) Owner() string { return h.cfg.Owner }

// Limits are the limits in force.
func (h *Host) Limits() Limits { return h.cfg.Limits }

// Start starts the workers, if the host has any, and the purge of
// finished runs when Config.Retention is set.
func (h *Host) Start() {
	if h.sched != nil {
		h.sched.Start()
	}
	if h.cfg.Retention > 0 && h.stopRetention == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.stopRetention, h.retentionDone = cancel, make(chan struct{})
		go func() {
			defer close(h.retentionDone)
			h.retain(ctx)
		}()
	}
}

// Shutdown stops the workers gracefully: running guests stop at their next
// checkpoint and their runs are handed back; when ctx ends first, the rest
// are stopped where they are and resume from their last checkpoint.
func (h *Host) Shutdown(ctx context.Context) error {
	if h.stopRetention != nil {
		h.stopRetention()
		<-h.retentionDone
	}
	if h.sched != nil {
		return h.sched.Stop(ctx)
	}
	return nil
}

// Close releases the engine. Call it after Shutdown.
func (h *Host) Close(ctx context.Context) error {
	h.exec.Close()
	return errors.Join(h.engine.Close(ctx), h.imaging.Close(ctx))
}

// PushModuleParams are the arguments of PushModule.
type PushModuleParams struct {
	Name    string
	Version string // optional: the next integer
	Wasm    []byte
}

// PushModule validates and stores a module. Pushing the same bytes under the
// same name again returns the existing record and created false. Bytes that
// are not a valid module are ErrInvalidModule, with a message that says what
// is wrong; a name or version outside the grammar of ABI.md section 3.1 is
// ErrInvalid.
func (h *Host) PushModule(ctx context.Context, p *PushModuleParams) (*Module, bool, error) {
	if err := checkModuleName("module name", p.Name); err != nil {
		return nil, false, err
	}
	if err := checkOptional(checkModuleName, "module version", p.Version); err != nil {
		return nil, false, err
	}
	if len(p.Wasm) > h.cfg.Limits.ModuleSize {
		return nil, false, errorf(ErrTooLarge, "module is %d bytes, over the %d-byte module size limit", len(p.Wasm), h.cfg.Limits.ModuleSize)
	}
	insp, err := h.exec.Modules().Inspect(ctx, p.Wasm)
	if err != nil {
		var me *executor.ModuleError
		if errors.As(err, &me) {
			return nil, false, errorf(ErrInvalidModule, "%s", me.Reason)
		}
		return nil, false, err
	}
	m, created, err := h.store.ModuleInsert(ctx, &store.ModuleInsertParams{
		Name: p.Name, Version: p.Version, Digest: insp.Digest, Bytes: p.Wasm, Workflows: insp.Workflows, Now: now(),
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, false, errorf(ErrConflict, "module %s version %s exists with other bytes", p.Name, p.Version)
	}
	if err != nil {
		return nil, false, err
	}
	if created {
		h.log.Info("module pushed", "module", m.Name, "version", m.Version, "digest", m.Digest, "workflows", m.Workflows)
	}
	return m, created, nil
}

// StartRunParams are the arguments of StartRun.
type StartRunParams struct {
	Module         string
	Version        string // optional: the latest
	Workflow       string
	Input          json.RawMessage // optional: null
	IdempotencyKey string          // optional
	// Wait, when positive, runs the new run in the foreground: if this
	// process has a free worker slot, the run is created claimed by it and
	// its activation starts here at once; StartRun returns when the run has
	// finished, waits for a signal (a wait for its children goes on), or
	// Wait has passed. Whatever is left
	// goes on in the background, on any process. Foreground runs count
	// against Workers: with every slot taken, the run goes to the
	// background at once. At most MaxWait.
	Wait time.Duration
}

// MaxWait bounds StartRunParams.Wait: a caller that wants to follow a run
// for longer follows its events.
const MaxWait = 5 * time.Minute

// StartRun creates a run, runnable at once. A reused idempotency key returns
// the existing run and created false (with Wait, once it has settled) when
// the request is the same as the one that started it: the same module,
// workflow and input (compared as JSON values, see sameJSON), and the same
// version when p names one. A different request with the key is
// ErrIdempotencyKeyReused.
func (h *Host) StartRun(ctx context.Context, p *StartRunParams) (*Run, bool, error) {
	if err := checkModuleName("module", p.Module); err != nil {
		return nil, false, err
	}
	if err := checkOptional(checkModuleName, "module version", p.Version); err != nil {
		return nil, false, err
	}
	if err := checkName("workflow", p.Workflow); err != nil {
		return nil, false, err
	}
	if err := checkOptional(checkName, "idempotency key", p.IdempotencyKey); err != nil {
		return nil, false, err
	}
	if p.Wait < 0 || p.Wait > MaxWait {
		return nil, false, errorf(ErrInvalid, "wait must be from 0 to %s, got %s", MaxWait, p.Wait)
	}
	input := p.Input
	if len(input) == 0 {
		input = json.RawMessage("null")
	}
	if len(input) > h.cfg.Limits.Payload {
		return nil, false, errorf(ErrTooLarge, "input is %d bytes, over the %d-byte payload limit", len(input), h.cfg.Limits.Payload)
	}
	if err := checkJSON("input", input); err != nil {
		return nil, false, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, false, err
	}
	// The store resolves the module (its latest version, unless p names
	// one) in the insert itself: one round trip, and no version uploaded
	// between a lookup and the insert is missed.
	ins := &store.RunInsertParams{
		ID: id.String(), ModuleName: p.Module, ModuleVersion: p.Version,
		Workflow: p.Workflow, Input: input, IdempotencyKey: p.IdempotencyKey, Now: now(),
	}
	var wt *watch
	stop := func() {}
	if p.Wait > 0 {
		// Watched from before it exists, so that the request need not read
		// the run it made, however soon its activation ends.
		wt, stop = h.watchers.watch(ins.ID)
	}
	run, created, err := h.insertRun(ctx, ins, p.Wait > 0)
	if errors.Is(err, store.ErrNotFound) {
		// Nothing resolved: say why, from the module as it is now, and
		// insert with what it is now when it has become resolvable.
		var m *Module
		if m, err = h.module(ctx, p.Module, p.Version); err == nil && !slices.Contains(m.Workflows, p.Workflow) {
			err = errorf(ErrWorkflowNotFound, "module %s version %s has no workflow %q (it has %v)", m.Name, m.Version, p.Workflow, m.Workflows)
		}
		if err == nil {
			ins.ModuleVersion, ins.ModuleDigest = m.Version, m.Digest
			run, created, err = h.insertRun(ctx, ins, p.Wait > 0)
		}
	}
	if err != nil {
		stop()
		return nil, false, err
	}
	if !created {
		// Another request's run: this one's watch watches nothing.
		stop()
		wt, stop = nil, nil
		if err := sameRequest(run, p, input); err != nil {
			return nil, false, err
		}
	}
	if p.Wait > 0 {
		known := run
		if wt == nil {
			known = nil
		}
		waited, err := h.waitRun(ctx, run.ID, p.Wait, wt, stop, known)
		if err != nil {
			return nil, created, err
		}
		run = waited
	}
	return run, created, nil
}

// insertRun inserts the run of ins: claimed by this process and started
// here at once for a foreground run, runnable by any process otherwise.
func (h *Host) insertRun(ctx context.Context, ins *store.RunInsertParams, foreground bool) (*store.Run, bool, error) {
	if foreground && h.sched != nil {
		return h.sched.InsertForeground(ctx, ins)
	}
	run, created, err := h.store.RunInsert(ctx, ins)
	if err == nil && created && h.sched != nil {
		h.sched.Wake()
	}
	return run, created, err
}

// sameRequest returns nil when p, with its input as given, asks for what
// run was started with, and ErrIdempotencyKeyReused saying what differs
// otherwise.
func sameRequest(run *store.Run, p *StartRunParams, input json.RawMessage) error {
	var differs string
	switch {
	case run.ModuleName != p.Module:
		differs = fmt.Sprintf("module %s, not %s", run.ModuleName, p.Module)
	case p.Version != "" && run.ModuleVersion != p.Version:
		differs = fmt.Sprintf("module version %s, not %s", run.ModuleVersion, p.Version)
	case run.Workflow != p.Workflow:
		differs = fmt.Sprintf("workflow %s, not %s", run.Workflow, p.Workflow)
	case !sameJSON(run.Input, input):
		differs = "another input"
	default:
		return nil
	}
	return errorf(ErrIdempotencyKeyReused, "idempotency key %s was used by run %s with %s; use a new key to start another run", quote(p.IdempotencyKey), run.ID, differs)
}

// Run returns a run.
func (h *Host) Run(ctx context.Context, id string) (*Run, error) {
	if !validRunID(id) {
		return nil, errorf(ErrNotFound, "no run %s (run ids are UUIDs)", quote(id))
	}
	run, err := h.store.RunGetByID(ctx, &store.RunGetByIDParams{ID: id})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(ErrNotFound, "no run %s", id)
	}
	return run, err
}

// EntryCancelled is the status Steps gives a step that was running when
// its run was cancelled: it will never end.
const EntryCancelled store.EntryStatus = "cancelled"

// Steps returns the journal of a run, as Run returned it.
func (h *Host) Steps(ctx context.Context, run *Run) ([]*Entry, error) {
	entries, err := h.store.EntryListByRun(ctx, &store.EntryListByRunParams{RunID: run.ID})
	if err != nil {
		return nil, err
	}
	if run.Status == store.StatusCancelled {
		for _, e := range entries {
			if e.Kind == store.EntryStep && e.Status == store.EntryRunning {
				e.Status = EntryCancelled
			}
		}
	}
	return entries, nil
}

// Children returns a run's children, oldest first.
func (h *Host) Children(ctx context.Context, run *Run) ([]*Run, error) {
	kids, err := h.store.RunChildren(ctx, &store.RunChildrenParams{ParentID: run.ID})
	if err != nil {
		return nil, err
	}
	return kids.Runs, nil
}

// Events returns a run's events after seq.
func (h *Host) Events(ctx context.Context, id string, afterSeq int64) ([]*Event, error) {
	_, evs, err := h.RunEvents(ctx, id, afterSeq)
	return evs, err
}

// RunEvents returns a run and its events after seq. The run is read before
// its events: when it is seen finished, every event it recorded is in the
// list, so a follower of the timeline can stop there.
func (h *Host) RunEvents(ctx context.Context, id string, afterSeq int64) (*Run, []*Event, error) {
	run, err := h.Run(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	evs, err := h.store.EventList(ctx, &store.EventListParams{RunID: id, AfterSeq: afterSeq})
	if err != nil {
		return nil, nil, err
	}
	return run, evs, nil
}

// Signal sends a signal to a run.
func (h *Host) Signal(ctx context.Context, id, name string, payload json.RawMessage) (*Signal, error) {
	if err := checkName("signal name", name); err != nil {
		return nil, err
	}
	if !validRunID(id) {
		return nil, errorf(ErrNotFound, "no run %s (run ids are UUIDs)", quote(id))
	}
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	if len(payload) > h.cfg.Limits.Payload {
		return nil, errorf(ErrTooLarge, "signal payload is %d bytes, over the %d-byte payload limit", len(payload), h.cfg.Limits.Payload)
	}
	if err := checkJSON("signal payload", payload); err != nil {
		return nil, err
	}
	sig, err := h.store.SignalInsert(ctx, &store.SignalInsertParams{RunID: id, Name: name, Payload: payload, Now: now()})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errorf(ErrNotFound, "no run %s", id)
	case errors.Is(err, store.ErrInvalidTransition):
		return nil, errorf(ErrRunFinished, "run %s has finished: it takes no more signals", id)
	case err != nil:
		return nil, err
	}
	if h.sched != nil {
		h.sched.Wake()
	}
	h.watchers.changed(id, nil)
	return sig, nil
}

// CancelWait bounds how long Cancel waits for a running run to stop.
const CancelWait = 5 * time.Second

// Cancel cancels a run that has not finished. A pending, sleeping or
// waiting run is cancelled at once. A running run stops at its next host
// call (any call, not only a checkpoint): Cancel waits for that, up to
// CancelWait or until ctx ends, and returns the run cancelled, or still
// running with CancelRequested set when its guest made no host call in that
// time. A cancelled run is final: Retry refuses it. A run that has finished
// is ErrConflict.
func (h *Host) Cancel(ctx context.Context, id string) (*Run, error) {
	if !validRunID(id) {
		return nil, errorf(ErrNotFound, "no run %s (run ids are UUIDs)", quote(id))
	}
	run, err := h.store.RunCancel(ctx, &store.RunCancelParams{ID: id, Now: now()})
	h.watchers.changed(id, nil)
	if err != nil {
		return nil, h.transitionError(ctx, "cancel", id, err)
	}
	if run.Status == store.StatusRunning {
		return h.WaitRun(ctx, id, CancelWait)
	}
	return run, nil
}

// Retry makes a failed run run again from its failed step, keeping the
// steps it completed. Any other run is ErrConflict: a completed run has
// nothing to retry, and a cancelled one was stopped on purpose (start a new
// run instead).
func (h *Host) Retry(ctx context.Context, id string) (*Run, error) {
	if !validRunID(id) {
		return nil, errorf(ErrNotFound, "no run %s (run ids are UUIDs)", quote(id))
	}
	run, err := h.store.RunRetry(ctx, &store.RunRetryParams{ID: id, Now: now()})
	if err != nil {
		return nil, h.transitionError(ctx, "retry", id, err)
	}
	if h.sched != nil {
		h.sched.Wake()
	}
	return run, nil
}

// module returns version of module name (the latest when version is
// empty); ErrModuleNotFound when there is none.
func (h *Host) module(ctx context.Context, name, version string) (*Module, error) {
	m, err := h.store.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: name, Version: version})
	switch {
	case errors.Is(err, store.ErrNotFound) && version != "":
		return nil, errorf(ErrModuleNotFound, "no module %s version %s", name, version)
	case errors.Is(err, store.ErrNotFound):
		return nil, errorf(ErrModuleNotFound, "no module %s", name)
	}
	return m, err
}

// transitionError says, for people, why a cancel or a retry was refused.
func (h *Host) transitionError(ctx context.Context, verb, id string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(ErrNotFound, "no run %s", id)
	case !errors.Is(err, store.ErrInvalidTransition):
		return err
	}
	status := "in a status that does not allow it"
	if run, e := h.store.RunGetByID(ctx, &store.RunGetByIDParams{ID: id}); e == nil {
		status = string(run.Status)
	}
	switch {
	case verb == "cancel":
		return errorf(ErrInvalidTransition, "run %s has already finished (%s): only a run that has not finished can be cancelled", id, status)
	case status == string(store.StatusCancelled):
		return errorf(ErrInvalidTransition, "run %s is cancelled, and a cancelled run stays cancelled: start a new run instead (only a failed run can be retried)", id)
	default:
		return errorf(ErrInvalidTransition, "run %s is %s: only a failed run can be retried", id, status)
	}
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

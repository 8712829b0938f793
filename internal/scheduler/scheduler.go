// Package scheduler claims runnable runs from the store and runs their
// activations, holding each run's lease with heartbeats. Many schedulers, in
// many processes, share one database: a claim takes a run under a lease with
// a fresh fence token, so a process that lost a lease can never write to that
// run again (the store refuses it), and a process that dies loses nothing but
// time: its leases expire and another scheduler claims the runs.
//
// A scheduler claims when it is woken (a run was created or signalled here,
// a database notification, a free slot), when the earliest wake-up in its
// heap of timers is due, and at every poll. The heap holds the upcoming
// wake-ups read from the store and those of the runs this process
// suspended, so that sleeping runs start within milliseconds of their due
// time; polling keeps correctness when a hint is missing.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/store"
)

// Config configures a Scheduler. Zero fields take the defaults shown.
type Config struct {
	// Store holds the runs. Required.
	Store store.Store
	// Executor runs activations. Required.
	Executor *executor.Executor
	// Owner names this process in leases. Required.
	Owner string
	// Concurrency is how many activations run at once. Default 16.
	Concurrency int
	// LeaseDuration is how long a claim lasts without a heartbeat; a process
	// that dies holds its runs this long. Default 30s.
	LeaseDuration time.Duration
	// PollInterval is how often the store is polled for runnable runs and
	// upcoming wake-ups when nothing wakes the scheduler sooner. Default 1s.
	PollInterval time.Duration
	// Wakeups bounds the heap of upcoming wake-ups the scheduler keeps: it
	// holds the earliest Wakeups of them and reads more from the store as it
	// drains. Default 1000.
	Wakeups int
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// OnDone, when set, is called after each activation this process ran,
	// with the run as claimed and how the activation ended (nil when the
	// store failed). It must be quick.
	OnDone func(run *store.Run, res *executor.Result)
	// Observer, when set, is told of lost leases (metrics).
	Observer Observer
}

// Observer is told of lost leases, once per activation that lost its lease,
// when it has ended, by what noticed it first: LeaseLostByHeartbeat or
// LeaseLostByWrite. Its methods must be fast and safe for concurrent use.
type Observer interface {
	LeaseLost(run *store.Run, by string)
}

// What noticed a lost lease.
const (
	// LeaseLostByHeartbeat: a heartbeat found the lease gone and stopped
	// the activation.
	LeaseLostByHeartbeat = "heartbeat"
	// LeaseLostByWrite: the store refused one of the activation's writes.
	LeaseLostByWrite = "write"
)

func (c *Config) withDefaults() *Config {
	cc := *c
	if cc.Concurrency == 0 {
		cc.Concurrency = 16
	}
	if cc.LeaseDuration == 0 {
		cc.LeaseDuration = 30 * time.Second
	}
	if cc.PollInterval == 0 {
		cc.PollInterval = time.Second
	}
	if cc.Wakeups == 0 {
		cc.Wakeups = 1000
	}
	if cc.Logger == nil {
		cc.Logger = slog.Default()
	}
	return &cc
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("scheduler: Config.Store is required")
	case c.Executor == nil:
		return errors.New("scheduler: Config.Executor is required")
	case c.Owner == "":
		return errors.New("scheduler: Config.Owner is required")
	case c.Concurrency < 0:
		return errors.New("scheduler: Config.Concurrency must not be negative")
	case c.LeaseDuration < 0 || (c.LeaseDuration > 0 && c.LeaseDuration < 100*time.Millisecond):
		return errors.New("scheduler: Config.LeaseDuration must be at least 100ms")
	case c.PollInterval < 0:
		return errors.New("scheduler: Config.PollInterval must not be negative")
	case c.Wakeups < 0:
		return errors.New("scheduler: Config.Wakeups must not be negative")
	}
	return nil
}

// Scheduler claims and runs runs. Start it once; Stop it once.
type Scheduler struct {
	cfg  *Config
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	active   map[string]*running
	reserved int       // worker slots taken by claims and foreground inserts under way
	claiming int       // of which, the loop's claim under way
	claimed  sync.Cond // signalled when the loop's claim under way has ended
	timers   timers    // upcoming wake-ups
	closing  bool      // Stop is stopping the activations: start no more
	starved  bool      // the last claim had no slot for all that may be due
	armed    time.Time // when the loop wakes next unless woken

	notified atomic.Bool // a database notification came since the last refresh of timers

	stopping chan struct{} // closed by Stop: claim no more
	stopOnce sync.Once
	started  atomic.Bool
	stopped  chan struct{} // closed when Stop has finished
	killCtx  context.Context
	kill     context.CancelFunc // ends every activation at once
	loopDone chan struct{}
	wg       sync.WaitGroup // the activations
	bg       sync.WaitGroup // the heartbeats and the listener, which end with Stop
}

type running struct {
	act       *executor.Activation
	run       *store.Run // as claimed
	lease     store.Lease
	cancel    context.CancelFunc
	leaseLost bool // a heartbeat found the lease gone; guarded by Scheduler.mu
}

// New returns a Scheduler.
func New(cfg *Config) (*Scheduler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	killCtx, kill := context.WithCancel(context.Background())
	s := &Scheduler{
		cfg:      cfg,
		log:      cfg.Logger.With("owner", cfg.Owner),
		wake:     make(chan struct{}, 1),
		active:   make(map[string]*running),
		timers:   timers{max: cfg.Wakeups, grace: remoteGrace},
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
		killCtx:  killCtx,
		kill:     kill,
		loopDone: make(chan struct{}),
	}
	s.claimed.L = &s.mu
	return s, nil
}

// Start begins claiming runs in the background. When the store is a
// store.Notifier, its notifications wake the scheduler as well as its polls.
func (s *Scheduler) Start() {
	s.started.Store(true)
	go s.loop()
	s.goBackground(s.heartbeats)
	if n, ok := s.cfg.Store.(store.Notifier); ok {
		// The listener ends when the scheduler stops claiming.
		ctx, cancel := context.WithCancel(context.Background())
		s.goBackground(func() {
			<-s.stopping
			cancel()
		})
		s.goBackground(func() {
			n.Listen(ctx, &store.ListenParams{
				Wake:  s.notify,
				Error: func(err error) { s.log.Warn("database notifications interrupted; polling meanwhile", "err", err) },
			})
		})
	}
}

// goBackground runs f in a goroutine that Stop waits for.
func (s *Scheduler) goBackground(f func()) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
}

// InsertForeground creates the run of p to run in the foreground: when this
// process has a free worker slot, the run is created already claimed by it
// (in the same transaction, so no other process can take it and none is
// woken for it) and its activation starts here at once. Foreground runs
// count against Concurrency like any other: with every slot taken, or once
// the scheduler is stopping, the run is created runnable by any process,
// and the log says so. An existing run returned for a reused idempotency
// key is left as it is.
func (s *Scheduler) InsertForeground(ctx context.Context, p *store.RunInsertParams) (*store.Run, bool, error) {
	reserved := false
	select {
	case <-s.stopping:
	default:
		reserved = s.reserveForeground()
	}
	if !reserved {
		run, created, err := s.cfg.Store.RunInsert(ctx, p)
		if created {
			s.log.Info("no free worker slot for a foreground run: it runs in the background, on any process",
				"run_id", run.ID, "workers", s.cfg.Concurrency)
			s.Wake()
		}
		return run, created, err
	}
	q := *p
	q.Owner, q.LeaseDuration = s.cfg.Owner, s.cfg.LeaseDuration
	run, created, err := s.cfg.Store.RunInsert(ctx, &q)
	if err != nil || !created {
		s.unreserve(1)
		return run, created, err
	}
	if !s.start(run) {
		// Stop came meanwhile: hand the run back for another process.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.cfg.Store.RunRelease(rctx, &store.RunReleaseParams{ID: run.ID, Fence: run.Fence, Now: now()}); err != nil {
			s.log.Warn("could not hand back a foreground run at shutdown; it resumes when its lease expires", "run_id", run.ID, "err", err)
		}
	}
	return run, created, nil
}

// Every activation holds a worker slot from before its claim (or its
// insert, for a foreground run) to its end, so claims and foreground runs
// together never exceed Concurrency.

// reserveClaim takes every free slot for a claim of the loop and returns
// how many it took.
func (s *Scheduler) reserveClaim() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := max(s.cfg.Concurrency-len(s.active)-s.reserved, 0)
	s.reserved += k
	s.claiming = k
	return k
}

// reserveForeground takes one free slot for a foreground run. The slots a
// claim under way holds are mostly given back when it ends (it rarely
// finds as many runs as slots), so it waits for that claim rather than
// send the run to the background for a slot that is free a moment later.
func (s *Scheduler) reserveForeground() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.cfg.Concurrency-len(s.active)-s.reserved > 0 {
			s.reserved++
			return true
		}
		if s.claiming == 0 {
			return false
		}
		s.claimed.Wait()
	}
}

func (s *Scheduler) unreserve(n int) {
	s.mu.Lock()
	s.reserved -= n
	s.mu.Unlock()
}

// Wake makes the scheduler look for runnable runs now (a run was created or
// signalled in this process).
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// notify is Wake for database notifications, which may also announce
// wake-ups set by other processes: the timers are refreshed soon after.
func (s *Scheduler) notify() {
	s.notified.Store(true)
	s.Wake()
}

// Active returns how many activations are running.
func (s *Scheduler) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// Stop stops claiming, asks every running activation to stop at its next
// checkpoint (its run suspends and another process resumes it at once), and
// waits for them. When ctx is done first, the remaining guests are ended
// wherever they are; their runs resume from their last checkpoint. It
// returns once the scheduler's own goroutines (heartbeats, the listener)
// have ended too. Calling it again waits for the first call's work to end.
func (s *Scheduler) Stop(ctx context.Context) error {
	first := false
	s.stopOnce.Do(func() {
		first = true
		close(s.stopping)
	})
	if !first {
		<-s.stopped
		return nil
	}
	defer close(s.stopped)
	if !s.started.Load() {
		s.kill()
		return nil
	}
	<-s.loopDone
	s.mu.Lock()
	s.closing = true
	for _, r := range s.active {
		r.act.Stop(executor.StopShutdown)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("grace period over: stopping guests that did not reach a checkpoint", "active", s.Active())
		s.kill()
		<-done
	}
	s.kill()
	s.bg.Wait()
	return nil
}

const (
	// refreshEvery bounds how often database notifications make the
	// scheduler re-read its timers from the store: a busy cluster notifies
	// for every run it creates.
	refreshEvery = 50 * time.Millisecond
	// claimGap is the least time between two claims of the loop, unless the
	// first took all it could (there may be more): under load, wake-ups and
	// timers that come closer together than this share one claim instead
	// of costing one each.
	claimGap = 2 * time.Millisecond
	// remoteGrace is how much later than due a scheduler claims a run whose
	// wake-up it learnt from the store rather than set itself (see timers).
	remoteGrace = 20 * time.Millisecond
)

func (s *Scheduler) loop() {
	defer close(s.loopDone)
	var (
		backoff   time.Duration
		refreshed time.Time // when the timers were last read from the store
	)
	for {
		claimed, free, err := s.claim()
		if err == nil {
			s.mu.Lock()
			low := s.timers.low()
			s.mu.Unlock()
			since := time.Since(refreshed)
			if since >= s.cfg.PollInterval || low || (s.notified.Load() && since >= refreshEvery) {
				s.notified.Store(false)
				refreshed = time.Now()
				err = s.refresh()
			}
		}
		if err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			s.log.Error("claiming runs failed; retrying", "err", err, "retry_in", backoff)
		} else {
			backoff = 0
		}
		claimedAt := time.Now()
		wait := s.cfg.PollInterval
		more := free > 0 && claimed == free
		if s.notified.Load() {
			wait = min(wait, max(refreshEvery-time.Since(refreshed), 0))
		}
		// The next timer and the time the loop wakes are read and set under
		// one lock, so that an activation ending meanwhile with an earlier
		// wake-up sees that it must wake the loop. With every slot taken,
		// the end of an activation wakes it anyway.
		s.mu.Lock()
		switch {
		case backoff > 0:
			wait = backoff
		case more:
			wait = 0 // there may be more
		case free > 0:
			if at, ok := s.timers.next(); ok {
				wait = min(wait, max(time.Until(at), 0))
			}
		}
		s.armed = time.Now().Add(wait)
		s.mu.Unlock()
		if !s.sleep(wait, true) {
			return
		}
		if !more && !s.sleep(claimGap-time.Since(claimedAt), false) {
			return
		}
	}
}

// sleep waits for d, or until Stop, or, when wakeable, until Wake. It
// returns false on Stop.
func (s *Scheduler) sleep(d time.Duration, wakeable bool) bool {
	if d <= 0 {
		return true
	}
	wake := s.wake
	if !wakeable {
		wake = nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stopping:
		return false
	case <-wake:
	case <-t.C:
	}
	return true
}

// claim claims as many runs as there are free slots and starts them. It
// returns how many it claimed out of how many slots were free.
func (s *Scheduler) claim() (claimed, free int, err error) {
	free = s.reserveClaim()
	if free == 0 {
		s.mu.Lock()
		s.starved = true
		s.mu.Unlock()
		return 0, 0, nil
	}
	ctx, cancel := context.WithTimeout(s.killCtx, 10*time.Second)
	defer cancel()
	t := now()
	runs, err := s.cfg.Store.RunClaim(ctx, &store.RunClaimParams{
		Owner: s.cfg.Owner, Now: t, LeaseDuration: s.cfg.LeaseDuration, Limit: free,
	})
	for _, run := range runs {
		s.start(run) // the loop has not returned, so Stop has not begun closing
	}
	s.mu.Lock()
	s.reserved -= free - len(runs)
	s.claiming = 0
	s.claimed.Broadcast()
	s.starved = len(runs) == free
	if err == nil && !s.starved {
		// Whatever was due and free to take is taken now.
		s.timers.dropDue(t)
	}
	s.mu.Unlock()
	if err != nil {
		return 0, free, fmt.Errorf("claim: %w", err)
	}
	return len(runs), free, nil
}

// refresh merges the store's next wake-ups into the timers.
func (s *Scheduler) refresh() error {
	ctx, cancel := context.WithTimeout(s.killCtx, 10*time.Second)
	defer cancel()
	ws, err := s.cfg.Store.RunListWakeups(ctx, &store.RunListWakeupsParams{After: now(), Limit: s.cfg.Wakeups})
	if err != nil {
		return fmt.Errorf("list wake-ups: %w", err)
	}
	s.mu.Lock()
	s.timers.merge(ws, len(ws) == s.cfg.Wakeups)
	s.mu.Unlock()
	return nil
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// start starts the activation of a run claimed with a reserved slot,
// unless Stop is closing (it then returns false and frees the slot).
func (s *Scheduler) start(run *store.Run) bool {
	ctx, cancel := context.WithCancel(s.killCtx)
	r := &running{act: s.cfg.Executor.NewActivation(run), run: run, lease: store.Lease{RunID: run.ID, Fence: run.Fence}, cancel: cancel}
	s.mu.Lock()
	s.reserved--
	if s.closing {
		s.mu.Unlock()
		cancel()
		return false
	}
	s.active[run.ID] = r
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		res, err := r.act.Run(ctx)
		s.mu.Lock()
		if s.active[run.ID] == r { // not yet a newer activation of the run
			delete(s.active, run.ID)
		}
		// The loop needs waking when this slot is wanted (a claim took all
		// the slots it had) or when this run's wake-up comes before the
		// loop would wake anyway; otherwise a claim would find nothing.
		wake := s.starved
		if err == nil && res.WakeAt != nil && res.Status != store.StatusRunning {
			s.timers.push(store.Wakeup{RunID: run.ID, At: *res.WakeAt})
			wake = wake || res.WakeAt.Before(s.armed)
		}
		// A heartbeat that found the lease gone after the activation wrote
		// how it ended (the run no longer running) saw no loss.
		lost := ""
		switch {
		case r.leaseLost && (err != nil || res.Status == store.StatusRunning):
			lost = LeaseLostByHeartbeat
		case err == nil && res.LeaseLost:
			lost = LeaseLostByWrite
		}
		s.mu.Unlock()
		if lost != "" && s.cfg.Observer != nil {
			s.cfg.Observer.LeaseLost(run, lost)
		}
		if err != nil {
			s.log.Error("activation failed; the run resumes when its lease expires", "run_id", run.ID, "activation", run.Activations, "err", err)
		}
		if s.cfg.OnDone != nil {
			s.cfg.OnDone(run, res)
		}
		if wake {
			s.Wake()
		}
	}()
	return true
}

// heartbeats extends the leases of running activations, stops those whose
// lease was lost, and passes on cancellations.
func (s *Scheduler) heartbeats() {
	interval := s.cfg.LeaseDuration / 3
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.killCtx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		leases := make([]store.Lease, 0, len(s.active))
		asked := make(map[string]*running, len(s.active))
		for id, r := range s.active {
			leases = append(leases, r.lease)
			asked[id] = r
		}
		s.mu.Unlock()
		if len(leases) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(s.killCtx, interval)
		states, err := s.cfg.Store.RunHeartbeat(ctx, &store.RunHeartbeatParams{
			Owner: s.cfg.Owner, Leases: leases, Now: time.Now().UTC().Truncate(time.Microsecond), LeaseDuration: s.cfg.LeaseDuration,
		})
		cancel()
		if err != nil {
			s.log.Error("heartbeat failed", "err", err, "leases", len(leases))
			continue
		}
		s.mu.Lock()
		for _, st := range states {
			r := asked[st.RunID]
			switch {
			case r == nil || s.active[st.RunID] != r:
				// Its activation ended meanwhile, and the run may have been
				// claimed again: the state is about a lease it no longer has.
			case !st.Held && r.act.Released():
				// Its own last write gave the lease up; it is returning.
			case !st.Held:
				if r.leaseLost {
					break // noticed already; the activation is stopping
				}
				r.leaseLost = true
				s.log.Warn("lease lost; stopping the activation", "run_id", st.RunID, "activation", r.run.Activations)
				r.cancel()
			case st.CancelRequested:
				r.act.Stop(executor.StopCancel)
			}
		}
		s.mu.Unlock()
	}
}

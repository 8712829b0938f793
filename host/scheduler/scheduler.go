// Package scheduler claims runnable runs from the store and runs their
// activations, holding each run's lease with heartbeats. Many schedulers, in
// many processes, share one database: a claim takes a run under a lease with
// a fresh fence token, so a process that lost a lease can never write to that
// run again (the store refuses it), and a process that dies loses nothing but
// time: its leases expire and another scheduler claims the runs.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmflow/wasmflow/host/executor"
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
	// PollInterval is how often the store is polled for runnable runs when
	// nothing wakes the scheduler sooner. Default 1s.
	PollInterval time.Duration
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
	}
	return nil
}

// Scheduler claims and runs runs. Start it once; Stop it once.
type Scheduler struct {
	cfg  *Config
	log  *slog.Logger
	wake chan struct{}

	mu      sync.Mutex
	active  map[string]*running
	nextDue time.Time // earliest known wake-up of a run this process suspended

	stopping chan struct{} // closed by Stop: claim no more
	stopOnce sync.Once
	started  atomic.Bool
	stopped  chan struct{} // closed when Stop has finished
	killCtx  context.Context
	kill     context.CancelFunc // ends every activation at once
	loopDone chan struct{}
	wg       sync.WaitGroup
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
	return &Scheduler{
		cfg:      cfg,
		log:      cfg.Logger.With("owner", cfg.Owner),
		wake:     make(chan struct{}, 1),
		active:   make(map[string]*running),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
		killCtx:  killCtx,
		kill:     kill,
		loopDone: make(chan struct{}),
	}, nil
}

// Start begins claiming runs in the background. When the store is a
// store.Notifier, its notifications wake the scheduler as well as its polls.
func (s *Scheduler) Start() {
	s.started.Store(true)
	go s.loop()
	go s.heartbeats()
	if n, ok := s.cfg.Store.(store.Notifier); ok {
		go n.Listen(s.listenCtx(), &store.ListenParams{
			Wake:  s.Wake,
			Error: func(err error) { s.log.Warn("database notifications interrupted; polling meanwhile", "err", err) },
		})
	}
}

// listenCtx ends when the scheduler stops claiming.
func (s *Scheduler) listenCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.stopping
		cancel()
	}()
	return ctx
}

// ClaimNow claims the run with this id and starts it in this process at
// once, if it is runnable and this process has a free slot; it reports
// whether it did. It serves foreground runs: a caller that waits for a run
// it just created gets it executed where it waits, without a poll's delay.
func (s *Scheduler) ClaimNow(ctx context.Context, id string) (bool, error) {
	select {
	case <-s.stopping:
		return false, nil
	default:
	}
	n, err := s.claimAndStart(ctx, id)
	if err != nil {
		return false, fmt.Errorf("claim run %s: %w", id, err)
	}
	return n > 0, nil
}

// claimAndStart claims as many runnable runs as there are free slots (only
// the run with id, when id is set) and starts them.
func (s *Scheduler) claimAndStart(ctx context.Context, id string) (int, error) {
	s.mu.Lock()
	free := s.cfg.Concurrency - len(s.active)
	s.mu.Unlock()
	if free <= 0 {
		return 0, nil
	}
	if id != "" {
		free = 1
	}
	runs, err := s.cfg.Store.RunClaim(ctx, &store.RunClaimParams{
		Owner:         s.cfg.Owner,
		Now:           time.Now().UTC().Truncate(time.Microsecond),
		LeaseDuration: s.cfg.LeaseDuration,
		Limit:         free,
		RunID:         id,
	})
	if err != nil {
		return 0, err
	}
	for _, run := range runs {
		s.start(run)
	}
	return len(runs), nil
}

// Wake makes the scheduler look for runnable runs now (a run was created or
// signalled in this process, or a database notification arrived).
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
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
// wherever they are; their runs resume from their last checkpoint. Calling
// it again waits for the first call's work to end.
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
		s.kill()
		return nil
	case <-ctx.Done():
		s.log.Warn("grace period over: stopping guests that did not reach a checkpoint", "active", s.Active())
		s.kill()
		<-done
		return nil
	}
}

func (s *Scheduler) loop() {
	defer close(s.loopDone)
	var backoff time.Duration
	for {
		claimed, err := s.claim()
		if err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			s.log.Error("claiming runs failed; retrying", "err", err, "retry_in", backoff)
		} else {
			backoff = 0
		}
		wait := s.cfg.PollInterval
		if backoff > 0 {
			wait = backoff
		} else if claimed > 0 {
			wait = 0 // there may be more
		}
		s.mu.Lock()
		if !s.nextDue.IsZero() {
			wait = min(wait, max(time.Until(s.nextDue), 0))
		}
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-s.stopping:
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// claim claims as many runs as there are free slots and starts them.
func (s *Scheduler) claim() (int, error) {
	s.mu.Lock()
	if !s.nextDue.IsZero() && !time.Now().Before(s.nextDue) {
		s.nextDue = time.Time{}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.killCtx, 10*time.Second)
	defer cancel()
	n, err := s.claimAndStart(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	return n, nil
}

func (s *Scheduler) start(run *store.Run) {
	ctx, cancel := context.WithCancel(s.killCtx)
	r := &running{act: s.cfg.Executor.NewActivation(run), run: run, lease: store.Lease{RunID: run.ID, Fence: run.Fence}, cancel: cancel}
	s.mu.Lock()
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
		if err == nil && res.WakeAt != nil && res.Status != store.StatusRunning {
			if s.nextDue.IsZero() || res.WakeAt.Before(s.nextDue) {
				s.nextDue = *res.WakeAt
			}
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
		s.Wake() // a slot is free
	}()
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

// Package metrics holds a host's Prometheus metrics: what its activations
// did (as the executor's Observer), the leases it lost (as the scheduler's),
// what its API answered, the runs of the whole cluster as the store holds
// them, and the Go runtime's own. The API serves them at GET /metrics.
//
// Labels name modules, workflows and steps, never runs, so that the number
// of series stays bounded.
package metrics

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/internal/scheduler"
	"github.com/wasmflow/wasmflow/store"
)

// Config configures Metrics. Zero fields take the defaults shown.
type Config struct {
	// Store, when set, is read at scrape time for the gauges of the whole
	// cluster: runs by status, and the age of the oldest runnable run.
	Store Store
	// StoreTTL is how long scrapes reuse what one of them read from Store,
	// so that frequent scrapes of many processes do not load the database.
	// Default 5s; negative: read at every scrape.
	StoreTTL time.Duration
	// Logger receives failures to read Store. Default slog.Default().
	Logger *slog.Logger
}

// Metrics is one host's metrics, on a registry of their own so that hosts
// in one process (tests) do not collide.
type Metrics struct {
	registry       *prometheus.Registry
	activations    *prometheus.HistogramVec
	uncertain      *prometheus.CounterVec
	nondeterminism *prometheus.CounterVec
	steps          *prometheus.HistogramVec
	retries        *prometheus.CounterVec
	interrupts     *prometheus.CounterVec
	resumptions    *prometheus.CounterVec
	leaseLosses    *prometheus.CounterVec
	starts         *prometheus.CounterVec
	noImage        prometheus.Counter
	snapshotBytes  prometheus.Histogram
	restores       prometheus.Histogram
	logCapped      *prometheus.CounterVec
	purged         prometheus.Counter
	stepNames      stepNames
	fromStore      *storeCollector // nil without Config.Store
}

var (
	_ executor.Observer  = (*Metrics)(nil)
	_ scheduler.Observer = (*Metrics)(nil)
)

// New returns a host's metrics, with the Go runtime's and the process's. A
// nil cfg is the zero Config.
func New(cfg *Config) *Metrics {
	if cfg == nil {
		cfg = &Config{}
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		activations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasmflow_activation_duration_seconds",
			Help:    "Activations run by this process: how long each took, by engine and how it ended (the run's status afterwards: pending, sleeping or waiting when it suspended; completed, failed or cancelled; running when the lease was lost).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms .. 262s
		}, []string{"engine", "status"}),
		uncertain: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmflow_effects_uncertain_total",
			Help: "Effects executed again because an earlier execution started and its outcome was never recorded: each is a possible duplicate side effect, made safe only by its idempotency key.",
		}, []string{"module", "workflow"}),
		nondeterminism: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmflow_nondeterminism_total",
			Help: "Runs failed because their code asked for something other than what their journal holds.",
		}, []string{"module", "workflow"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasmflow_step_duration_seconds",
			Help:    "Step attempts that ended in this process, by module, workflow, step and outcome (completed or failed): how long each ran in the activation that ended it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms .. 262s
		}, []string{"module", "workflow", "step", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmflow_step_retries_total",
			Help: "Failed step attempts for which another attempt was scheduled, per the step's retry policy.",
		}, []string{"module", "workflow", "step"}),
		interrupts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmflow_interrupts_total",
			Help: "Runs this process suspended to resume in a fresh activation, by cause: shutdown, shutdown_forced, time_limit, isolated_step, step_timeout, hook or error_after_advancing.",
		}, []string{"module", "workflow", "cause"}),
		resumptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmflow_resumptions_total",
			Help: "Activations in this process that resumed a run after an interrupt, a handoff by a process shutting down, or an expired lease (a process that died, stalled or lost the database).",
		}, []string{"module", "workflow", "after"}),
		leaseLosses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmflow_lease_losses_total",
			Help: "Activations in this process that lost their run's lease to another claim, by what noticed it first: a heartbeat, or a write the store refused.",
		}, []string{"detected_by"}),
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmflow_activation_starts_total",
			Help: "Activations run by this process, by engine and how they began (activation_started's data.start): replay (the module as uploaded, its runtime's start run again) or image (from the module's init image).",
		}, []string{"engine", "start"}),
		noImage: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wasmflow_modules_without_image_total",
			Help: "Modules this process prepared without an init image (their _initialize talks to the host, or their state cannot be captured): their activations run the language runtime's start again. The log line says why.",
		}),
		snapshotBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wasmflow_snapshot_bytes",
			Help:    "Suspension snapshots this process stored, by size in bytes (compressed, as the memory that differs from the module's init image).",
			Buckets: prometheus.ExponentialBuckets(4096, 4, 9), // 4 KiB .. 256 MiB
		}),
		restores: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wasmflow_snapshot_restore_seconds",
			Help:    "Activations this process started from a run's suspension snapshot: how long reading, decoding and restoring it took.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100us .. 6.5s
		}),
		logCapped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmflow_guest_log_capped_total",
			Help: "Activations in this process whose guest's log (log calls, stdout and stderr) reached its limit per activation or per run, by limit (activation or run): the rest of their log lines were dropped, after one marker line.",
		}, []string{"module", "workflow", "limit"}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wasmflow_runs_purged_total",
			Help: "Finished runs this process deleted, with their events, journals and snapshots: by retention or on demand (runs purge).",
		}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.activations, m.uncertain, m.nondeterminism,
		m.steps, m.retries, m.interrupts, m.resumptions, m.leaseLosses,
		m.starts, m.noImage, m.snapshotBytes, m.restores, m.logCapped,
		m.purged,
	)
	if cfg.Store != nil {
		m.fromStore = newStoreCollector(cfg)
		m.registry.MustRegister(m.fromStore)
	}
	return m
}

// Registry is what GET /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// EffectUncertain implements executor.Observer.
func (m *Metrics) EffectUncertain(run *store.Run, step, effect string) {
	m.uncertain.WithLabelValues(run.ModuleName, run.Workflow).Inc()
}

// Nondeterminism implements executor.Observer.
func (m *Metrics) Nondeterminism(run *store.Run) {
	m.nondeterminism.WithLabelValues(run.ModuleName, run.Workflow).Inc()
}

// ActivationDone implements executor.Observer.
func (m *Metrics) ActivationDone(run *store.Run, engine string, d time.Duration, r *executor.Result) {
	m.activations.WithLabelValues(engine, string(r.Status)).Observe(d.Seconds())
	if r.Start != "" {
		m.starts.WithLabelValues(engine, r.Start).Inc()
	}
}

// ImageUnavailable implements executor.Observer.
func (m *Metrics) ImageUnavailable(digest, reason string) { m.noImage.Inc() }

// SnapshotWritten implements executor.Observer.
func (m *Metrics) SnapshotWritten(run *store.Run, bytes int) { m.snapshotBytes.Observe(float64(bytes)) }

// SnapshotRestored implements executor.Observer.
func (m *Metrics) SnapshotRestored(run *store.Run, d time.Duration) { m.restores.Observe(d.Seconds()) }

// StepEnded implements executor.Observer.
func (m *Metrics) StepEnded(run *store.Run, step string, d time.Duration, failed, retry bool) {
	step = m.stepNames.label(run, step)
	outcome := "completed"
	if failed {
		outcome = "failed"
	}
	m.steps.WithLabelValues(run.ModuleName, run.Workflow, step, outcome).Observe(d.Seconds())
	if retry {
		m.retries.WithLabelValues(run.ModuleName, run.Workflow, step).Inc()
	}
}

// Interrupted implements executor.Observer.
func (m *Metrics) Interrupted(run *store.Run, cause string) {
	m.interrupts.WithLabelValues(run.ModuleName, run.Workflow, cause).Inc()
}

// LogCapped implements executor.Observer.
func (m *Metrics) LogCapped(run *store.Run, kind string) {
	m.logCapped.WithLabelValues(run.ModuleName, run.Workflow, kind).Inc()
}

// Resumed implements executor.Observer.
func (m *Metrics) Resumed(run *store.Run, after string) {
	m.resumptions.WithLabelValues(run.ModuleName, run.Workflow, after).Inc()
}

// LeaseLost implements scheduler.Observer.
func (m *Metrics) LeaseLost(run *store.Run, by string) {
	m.leaseLosses.WithLabelValues(by).Inc()
}

// maxStepNames bounds the step label values of one workflow: steps whose
// names are made at run time (one per item) would otherwise make a series
// each. Steps beyond it are counted under otherSteps.
const (
	maxStepNames = 100
	otherSteps   = "_other"
)

// stepNames remembers the step names each workflow has used as labels.
type stepNames struct {
	mu   sync.Mutex
	seen map[[2]string]map[string]bool // module, workflow -> step names
}

// label returns step, or otherSteps once the workflow has maxStepNames
// other names.
func (n *stepNames) label(run *store.Run, step string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = make(map[[2]string]map[string]bool)
	}
	wf := [2]string{run.ModuleName, run.Workflow}
	names := n.seen[wf]
	if names[step] {
		return step
	}
	if len(names) >= maxStepNames {
		return otherSteps
	}
	if names == nil {
		names = make(map[string]bool)
		n.seen[wf] = names
	}
	names[step] = true
	return step
}

// RunsPurged counts n more finished runs deleted by this process.
func (m *Metrics) RunsPurged(n int64) { m.purged.Add(float64(n)) }

// Package metrics holds a host's Prometheus metrics: what its activations
// did (as the executor's Observer), what its API answered, and the Go
// runtime's own. The API serves them at GET /metrics.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wasmflow/wasmflow/host/executor"
	"github.com/wasmflow/wasmflow/store"
)

// Metrics is one host's metrics, on a registry of their own so that hosts
// in one process (tests) do not collide.
type Metrics struct {
	registry       *prometheus.Registry
	activations    *prometheus.HistogramVec
	uncertain      *prometheus.CounterVec
	nondeterminism *prometheus.CounterVec
	requests       *prometheus.HistogramVec
}

var _ executor.Observer = (*Metrics)(nil)

// New returns a host's metrics, with the Go runtime's and the process's.
func New() *Metrics {
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
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasmflow_http_request_duration_seconds",
			Help:    "HTTP requests answered by the API, by method, route and status (live event streams count until their headers).",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.activations, m.uncertain, m.nondeterminism, m.requests,
	)
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
}

// Request records one HTTP request. route is the route's pattern, not the
// path, so that run ids do not make a label value each.
func (m *Metrics) Request(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
}

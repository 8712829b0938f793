package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmflow/wasmflow/store"
)

// Store is what the metrics read from the store at scrape time.
type Store interface {
	RunCount(ctx context.Context, params *store.RunCountParams) ([]*store.RunCount, error)
	RunLag(ctx context.Context, params *store.RunLagParams) (time.Duration, error)
}

// storeTimeout bounds one read of the store, well within Prometheus'
// default scrape timeout (10s).
const storeTimeout = 5 * time.Second

var (
	runsDesc = prometheus.NewDesc("wasmflow_runs",
		"Runs in the store, of the whole cluster, by module, workflow and status (every status of a workflow that has runs, zero included). Read at scrape time, at most every few seconds.",
		[]string{"module", "workflow", "status"}, nil)
	lagDesc = prometheus.NewDesc("wasmflow_oldest_runnable_run_age_seconds",
		"How long the oldest run that is runnable now and held by no process has waited for a claim, in the whole cluster (0 when none waits): the workers' lag. Read at scrape time, at most every few seconds.",
		nil, nil)
)

// storeCollector serves the gauges read from the store, reusing one read
// for ttl.
type storeCollector struct {
	st  Store
	ttl time.Duration
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex // held while reading, so that concurrent scrapes share one read
	read time.Time  // when snap was read; zero: never
	snap *storeSnapshot
}

// storeSnapshot is one read of the store; nil fields failed.
type storeSnapshot struct {
	runs map[workflowKey]map[store.RunStatus]int64
	lag  *time.Duration
}

type workflowKey struct{ module, workflow string }

func newStoreCollector(cfg *Config) *storeCollector {
	c := &storeCollector{st: cfg.Store, ttl: cfg.StoreTTL, log: cfg.Logger, now: time.Now}
	if c.ttl == 0 {
		c.ttl = 5 * time.Second
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- runsDesc
	ch <- lagDesc
}

// Collect implements prometheus.Collector. A failed read leaves its
// metrics out of the scrape rather than failing it.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.snapshot()
	for wf, counts := range snap.runs {
		for _, status := range store.AllStatuses {
			ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(counts[status]), wf.module, wf.workflow, string(status))
		}
	}
	if snap.lag != nil {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, snap.lag.Seconds())
	}
}

// snapshot returns the last read if it is fresh enough, or reads again.
func (c *storeCollector) snapshot() *storeSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.snap != nil && now.Sub(c.read) < c.ttl {
		return c.snap
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	snap := &storeSnapshot{}
	if counts, err := c.st.RunCount(ctx, &store.RunCountParams{}); err != nil {
		c.log.Warn("metrics: counting runs failed; wasmflow_runs is left out of this scrape", "err", err)
	} else {
		snap.runs = make(map[workflowKey]map[store.RunStatus]int64)
		for _, rc := range counts {
			wf := workflowKey{rc.ModuleName, rc.Workflow}
			if snap.runs[wf] == nil {
				snap.runs[wf] = make(map[store.RunStatus]int64)
			}
			snap.runs[wf][rc.Status] += rc.Count // summed over module versions
		}
	}
	if lag, err := c.st.RunLag(ctx, &store.RunLagParams{Now: now.UTC().Truncate(time.Microsecond)}); err != nil {
		c.log.Warn("metrics: reading the oldest runnable run failed; its age is left out of this scrape", "err", err)
	} else {
		snap.lag = &lag
	}
	c.snap, c.read = snap, now
	return snap
}

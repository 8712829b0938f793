package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/wasmflow/wasmflow/store"
)

// fakeStore answers what it is told to and counts the reads.
type fakeStore struct {
	mu     sync.Mutex
	counts []*store.RunCount
	lag    time.Duration
	err    error
	reads  int
}

func (f *fakeStore) RunCount(ctx context.Context, p *store.RunCountParams) ([]*store.RunCount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.counts, f.err
}

func (f *fakeStore) RunLag(ctx context.Context, p *store.RunLagParams) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lag, f.err
}

func TestStoreGauges(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (*Metrics, *fakeStore, *time.Time) {
		t.Helper()
		st := &fakeStore{}
		m := New(&Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		clock := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
		m.fromStore.now = func() time.Time { return clock }
		return m, st, &clock
	}
	scrape := func(t *testing.T, m *Metrics, names ...string) string {
		t.Helper()
		var b strings.Builder
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, n := range names {
				if mf.GetName() != n {
					continue
				}
				for _, mt := range mf.GetMetric() {
					var labels []string
					for _, l := range mt.GetLabel() {
						labels = append(labels, l.GetName()+"="+l.GetValue())
					}
					fmt.Fprintf(&b, "%s{%s} %g\n", n, strings.Join(labels, ","), mt.GetGauge().GetValue())
				}
			}
		}
		return b.String()
	}

	t.Run("runs are summed over module versions, with every status of a workflow", func(t *testing.T) {
		t.Parallel()
		m, st, _ := setup(t)
		st.counts = []*store.RunCount{
			{ModuleName: "shop", ModuleVersion: "1", Workflow: "order", Status: store.StatusCompleted, Count: 3},
			{ModuleName: "shop", ModuleVersion: "2", Workflow: "order", Status: store.StatusCompleted, Count: 4},
			{ModuleName: "shop", ModuleVersion: "2", Workflow: "order", Status: store.StatusWaiting, Count: 1},
		}
		got := scrape(t, m, "wasmflow_runs")
		for _, want := range []string{
			"wasmflow_runs{module=shop,status=completed,workflow=order} 7\n",
			"wasmflow_runs{module=shop,status=waiting,workflow=order} 1\n",
			"wasmflow_runs{module=shop,status=failed,workflow=order} 0\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("scrape lacks %q; got:\n%s", want, got)
			}
		}
		if n := strings.Count(got, "\n"); n != len(store.AllStatuses) {
			t.Errorf("scrape has %d series, want %d (one per status):\n%s", n, len(store.AllStatuses), got)
		}
	})

	t.Run("scrapes within the TTL reuse one read", func(t *testing.T) {
		t.Parallel()
		m, st, clock := setup(t)
		st.lag = 1500 * time.Millisecond
		if got, want := scrape(t, m, "wasmflow_oldest_runnable_run_age_seconds"), "wasmflow_oldest_runnable_run_age_seconds{} 1.5\n"; got != want {
			t.Fatalf("scrape = %q, want %q", got, want)
		}
		st.lag = 3 * time.Second
		*clock = clock.Add(4 * time.Second)
		scrape(t, m, "wasmflow_oldest_runnable_run_age_seconds")
		if got, want := scrape(t, m, "wasmflow_oldest_runnable_run_age_seconds"), "wasmflow_oldest_runnable_run_age_seconds{} 1.5\n"; got != want {
			t.Fatalf("scrape within the TTL = %q, want the first read %q", got, want)
		}
		if st.reads != 1 {
			t.Fatalf("store read %d times within the TTL, want 1", st.reads)
		}
		*clock = clock.Add(time.Second)
		if got, want := scrape(t, m, "wasmflow_oldest_runnable_run_age_seconds"), "wasmflow_oldest_runnable_run_age_seconds{} 3\n"; got != want {
			t.Fatalf("scrape after the TTL = %q, want %q", got, want)
		}
	})

	t.Run("a failed read leaves the store gauges out but not the rest", func(t *testing.T) {
		t.Parallel()
		m, st, _ := setup(t)
		st.err = errors.New("database is down")
		if got := scrape(t, m, "wasmflow_runs", "wasmflow_oldest_runnable_run_age_seconds"); got != "" {
			t.Fatalf("scrape = %q, want no store gauges", got)
		}
		if got := scrape(t, m, "go_goroutines"); !strings.HasPrefix(got, "go_goroutines{} ") {
			t.Fatalf("go_goroutines = %q, want it scraped", got)
		}
	})
}

func labelValue(labels []*dto.LabelPair, name string) string {
	for _, l := range labels {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestStepNamesAreBoundedPerWorkflow(t *testing.T) {
	t.Parallel()
	m := New(nil)
	run := &store.Run{ModuleName: "shop", Workflow: "order"}
	for i := range maxStepNames + 10 {
		m.StepEnded(run, fmt.Sprintf("item-%d", i), time.Millisecond, false, false)
	}
	m.StepEnded(run, "item-0", time.Millisecond, true, true)
	m.StepEnded(&store.Run{ModuleName: "shop", Workflow: "refund"}, "item-200", time.Millisecond, false, false)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			series[mf.GetName()]++
			if mf.GetName() == "wasmflow_step_duration_seconds" && labelValue(mt.GetLabel(), "step") == otherSteps {
				if n := mt.GetHistogram().GetSampleCount(); n != 10 {
					t.Errorf("%q counted %d step ends, want 10", otherSteps, n)
				}
			}
		}
	}
	// maxStepNames names and otherSteps completed, item-0 failed, refund's own.
	if n, want := series["wasmflow_step_duration_seconds"], maxStepNames+3; n != want {
		t.Errorf("%d step duration series, want %d", n, want)
	}
	if n := series["wasmflow_step_retries_total"]; n != 1 {
		t.Errorf("%d retry series, want 1", n)
	}
}

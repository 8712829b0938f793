package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/clustertest"
	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/internal/proctest"
)

// The chaos test's settings, from the environment. The defaults are the
// short version that every test run includes; `make chaos` runs the long
// one.
const (
	envChaosDuration  = "WASMFLOW_CHAOS_DURATION"   // how long the chaos lasts (default 75s)
	envChaosKillEvery = "WASMFLOW_CHAOS_KILL_EVERY" // a server disturbed this often (default 3s)
	envChaosPGEvery   = "WASMFLOW_CHAOS_PG_EVERY"   // Postgres restarted this often (default 30s)
)

func chaosSetting(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10m", name, v)
	}
	return d
}

// chaosKind is one of the workflows the chaos test runs, with what a
// completed run of it must show.
type chaosKind struct {
	module, workflow string
	input            func(n int) map[string]any
	steps            []string // every step, each completed exactly once
	effects          int      // effects per run, each completed exactly once
	children         int      // child runs per run, each started once, each completing its one step once
	check            func(out json.RawMessage, effectKeys map[string]bool) error
}

var chaosKinds = []chaosKind{
	{
		module: "receipt", workflow: "receipt",
		input: func(n int) map[string]any {
			return map[string]any{"order_id": fmt.Sprintf("ord-%d", n), "amount_cents": 100 + n, "email": fmt.Sprintf("c%d@example.com", n)}
		},
		steps:   []string{"charge_payment", "send_receipt", "mark_sent"},
		effects: 2,
		check: func(out json.RawMessage, keys map[string]bool) error {
			var o struct {
				ChargeKey string `json:"charge_key"`
				EmailKey  string `json:"email_key"`
			}
			if err := json.Unmarshal(out, &o); err != nil {
				return err
			}
			if !keys[o.ChargeKey] || !keys[o.EmailKey] || o.ChargeKey == o.EmailKey {
				return fmt.Errorf("output keys %q and %q are not the run's two effect keys %v", o.ChargeKey, o.EmailKey, keys)
			}
			return nil
		},
	},
	{
		module: "bench", workflow: "steps",
		input: func(int) map[string]any { return map[string]any{"steps": 20} },
		steps: func() []string {
			var s []string
			for i := range 20 {
				s = append(s, fmt.Sprintf("s%d", i))
			}
			return s
		}(),
		check: func(out json.RawMessage, _ map[string]bool) error {
			var o struct{ Steps int }
			if err := json.Unmarshal(out, &o); err != nil || o.Steps != 20 {
				return fmt.Errorf("output %s, want steps 20 (%v)", out, err)
			}
			return nil
		},
	},
	{
		module: "export", workflow: "export",
		input: func(int) map[string]any { return map[string]any{"items": 300} },
		steps: []string{"write_files", "zip_files", "upload_files"},
		check: func(out json.RawMessage, _ map[string]bool) error {
			var o struct{ Processed, Sum int }
			if err := json.Unmarshal(out, &o); err != nil || o.Processed != 300 || o.Sum != 300*299/2 {
				return fmt.Errorf("output %s, want processed 300 and sum %d: the cursor lost or repeated items (%v)", out, 300*299/2, err)
			}
			return nil
		},
	},
	{
		module: "fanout", workflow: "fanout",
		input:    func(int) map[string]any { return map[string]any{"n": 10} },
		children: 10,
		check: func(out json.RawMessage, _ map[string]bool) error {
			var o struct{ Sum, Children int }
			if err := json.Unmarshal(out, &o); err != nil || o.Sum != 385 || o.Children != 10 {
				return fmt.Errorf("output %s, want sum 385 of 10 children (%v)", out, err)
			}
			return nil
		},
	},
}

// chaos is the state of one chaos test: three server slots on one
// Postgres server of the test's own.
type chaos struct {
	t     *testing.T
	pg    *pgtest.Server
	c     *cluster
	mu    sync.Mutex
	slots []*proctest.Process // the server in each slot, nil while it is down
	all   []*proctest.Process // every server started, for their logs
	http  *http.Client
}

// live returns the URL of a random server that is up (not killed, not
// stopped), or "" if there is none.
func (ch *chaos) live() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	var urls []string
	for _, p := range ch.slots {
		if p != nil {
			urls = append(urls, p.URL)
		}
	}
	if len(urls) == 0 {
		return ""
	}
	return urls[rand.IntN(len(urls))]
}

// do sends one request to a live server; it never fails the test, since
// the server may die under it.
func (ch *chaos) do(method, path string, body any, out any) (int, error) {
	url := ch.live()
	if url == "" {
		return 0, fmt.Errorf("no server is up")
	}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+ch.c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ch.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// retry calls do until it answers with one of the statuses or timeout
// passes.
func (ch *chaos) retry(timeout time.Duration, method, path string, body, out any, ok ...int) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		status, err := ch.do(method, path, body, out)
		for _, s := range ok {
			if status == s && err == nil {
				return status, nil
			}
		}
		if status >= 400 && status < 500 {
			return status, err // a refusal is an answer: retrying will not change it
		}
		if time.Now().After(deadline) {
			return status, fmt.Errorf("no answer within %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (ch *chaos) startServer(slot int) {
	ch.t.Helper()
	i := ch.c.Start()
	p := ch.c.Servers[i]
	ch.mu.Lock()
	ch.slots[slot] = p
	ch.all = append(ch.all, p)
	ch.mu.Unlock()
}

// take marks the server in slot as down and returns it.
func (ch *chaos) take(slot int) *proctest.Process {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	p := ch.slots[slot]
	ch.slots[slot] = nil
	return p
}

// chaosRun is a run whose creation a server acknowledged.
type chaosRun struct {
	id   string
	kind *chaosKind
}

// Must show 4 of the hardening issue: three servers on one Postgres run a
// steady stream of runs (effects with idempotency keys, chains of steps, a
// cursor loop) while a chaos loop kills a random server with SIGKILL and
// starts it again, now and then stops one with SIGSTOP for longer than its
// lease and lets it go on (its writes must be fenced off), and restarts
// Postgres (fast and immediate shutdowns in turn). Then every run whose
// creation was acknowledged completes with its exact output, no step
// completed twice, and every effect executed more than once was marked
// effect_uncertain before each execution after the first, in its timeline
// and in the guests' own log lines (what the guest really executed).
//
// Its length is WASMFLOW_CHAOS_DURATION (75s by default, about 14 kills
// and 2 Postgres restarts); `make chaos` runs it for 11 minutes.
func TestChaos(t *testing.T) {
	duration := chaosSetting(t, envChaosDuration, 75*time.Second)
	killEvery := chaosSetting(t, envChaosKillEvery, 3*time.Second)
	pgEvery := chaosSetting(t, envChaosPGEvery, 30*time.Second)
	const lease = 2 * time.Second

	pg := pgtest.NewServer(t)
	c := &cluster{&clustertest.Cluster{T: t, DBURL: pg.URL(t), Lease: lease.String(),
		Extra: []string{"--log-level", "info"}}} // the guests' log lines record what they executed
	c.Token = c.NewToken("admin")
	ch := &chaos{t: t, pg: pg, c: c, slots: make([]*proctest.Process, 3),
		http: &http.Client{Timeout: 5 * time.Second}}
	for slot := range ch.slots {
		ch.startServer(slot)
	}
	for _, k := range chaosKinds {
		c.Push(0, k.module)
	}

	// The load: runs started at a steady rate, each with an idempotency key
	// of its own so that a creation whose answer was lost is asked again
	// (of any server) without making a second run. In flight, runs are
	// bounded: the load waits while more than maxInFlight are unfinished.
	const rate, maxInFlight = 8, 60
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var (
		runsMu     sync.Mutex
		runs       []chaosRun
		createErrs []string
		inFlight   atomic.Int64
		reasked    atomic.Int64 // creations asked again after no answer
	)
	loadDone := make(chan struct{})
	go func() { // in-flight counter, from the cluster's counts
		for ctx.Err() == nil {
			var rc struct {
				Total    int64
				Statuses map[string]int64
			}
			if _, err := ch.do("GET", "/v1/runs/counts", nil, &rc); err == nil {
				inFlight.Store(rc.Total - rc.Statuses["completed"] - rc.Statuses["failed"] - rc.Statuses["cancelled"])
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		var wg sync.WaitGroup
		for n := 0; ctx.Err() == nil; n++ {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
			for inFlight.Load() > maxInFlight && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			if ctx.Err() != nil {
				break
			}
			k := &chaosKinds[n%len(chaosKinds)]
			body := map[string]any{"module": k.module, "workflow": k.workflow, "input": k.input(n),
				"idempotency_key": fmt.Sprintf("chaos-%d", n)}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var r run
				asked := 0
				deadline := time.Now().Add(2 * time.Minute)
				for {
					asked++
					status, err := ch.do("POST", "/v1/runs", body, &r)
					if err == nil && (status == http.StatusCreated || status == http.StatusOK) {
						break
					}
					if (status >= 400 && status < 500) || time.Now().After(deadline) {
						runsMu.Lock()
						createErrs = append(createErrs, fmt.Sprintf("%s: %d %v", body["idempotency_key"], status, err))
						runsMu.Unlock()
						return
					}
					time.Sleep(200 * time.Millisecond)
				}
				if asked > 1 {
					reasked.Add(1)
				}
				runsMu.Lock()
				runs = append(runs, chaosRun{id: r.ID, kind: k})
				runsMu.Unlock()
			}()
		}
		wg.Wait()
	}()

	// The chaos: every killEvery (with jitter) a random server is killed
	// with SIGKILL and started again, or, one time in four, stopped with
	// SIGSTOP past its lease and continued; every pgEvery Postgres is
	// restarted.
	var kills, stops, pgRestarts int
	var pgDown time.Duration
	began := time.Now()
	nextPG := began.Add(pgEvery)
	for tick := 0; time.Since(began) < duration; tick++ {
		time.Sleep(killEvery/2 + rand.N(killEvery))
		if time.Now().After(nextPG) {
			mode := pgtest.StopMode(pgRestarts % 2)
			down := pg.RestartWith(t, mode, time.Duration(500+rand.IntN(1500))*time.Millisecond)
			pgRestarts++
			pgDown += down
			t.Logf("chaos %s: Postgres restarted (%s shutdown), down %s", time.Since(began).Round(time.Second), mode, down.Round(time.Millisecond))
			nextPG = time.Now().Add(pgEvery)
			continue
		}
		slot := rand.IntN(len(ch.slots))
		if tick%4 == 3 {
			p := ch.take(slot)
			syscall.Kill(p.Pid(), syscall.SIGSTOP)
			time.Sleep(lease + time.Duration(500+rand.IntN(1500))*time.Millisecond)
			syscall.Kill(p.Pid(), syscall.SIGCONT)
			stops++
			ch.mu.Lock()
			ch.slots[slot] = p
			ch.mu.Unlock()
			continue
		}
		p := ch.take(slot)
		p.Kill()
		kills++
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
		ch.startServer(slot)
	}
	stopLoad()
	<-loadDone
	chaosEnd := time.Now()
	t.Logf("chaos over after %s: %d kill -9, %d SIGSTOP/SIGCONT, %d Postgres restarts (down %s in all); %d runs acknowledged",
		chaosEnd.Sub(began).Round(time.Second), kills, stops, pgRestarts, pgDown.Round(time.Millisecond), len(runs))
	for _, e := range createErrs {
		t.Errorf("a run's creation got no answer but errors: %s", e)
	}

	// The chaos did what it says, or the test proves less than it claims.
	// (A tick lasts killEvery on average, plus the restart or the stop.)
	if want := int(duration / (killEvery + 2*time.Second) * 3 / 4 * 7 / 10); kills < max(want, 1) {
		t.Errorf("%d kills, want at least %d", kills, want)
	}
	if want := int(duration/pgEvery) - 1; pgRestarts < max(want, 1) {
		t.Errorf("%d Postgres restarts, want at least %d", pgRestarts, max(want, 1))
	}

	// Every acknowledged run completes, with no one restarting anything.
	pending := make(map[string]chaosRun, len(runs))
	for _, r := range runs {
		pending[r.id] = r
	}
	deadline := time.Now().Add(3 * time.Minute)
	lost := 0
	for len(pending) > 0 {
		for id, cr := range pending {
			var r run
			if _, err := ch.retry(30*time.Second, "GET", "/v1/runs/"+id, nil, &r, http.StatusOK); err != nil {
				t.Fatalf("run %s: %v", id, err)
			}
			switch r.Status {
			case "completed":
				if err := cr.kind.check(r.Output, nil); err != nil && cr.kind.effects == 0 {
					t.Errorf("run %s (%s): %v", id, cr.kind.workflow, err)
				}
				delete(pending, id)
			case "failed", "cancelled":
				t.Errorf("run %s (%s): %s %v", id, cr.kind.workflow, r.Status, derefErr(r.Error))
				lost++
				delete(pending, id)
			}
		}
		if len(pending) > 0 {
			if time.Now().After(deadline) {
				for id, cr := range pending {
					t.Errorf("run %s (%s) did not complete within 3 minutes of the chaos's end", id, cr.kind.workflow)
					lost++
				}
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	settled := time.Since(chaosEnd)

	// What the guests executed, from their own log lines: the receipt guest
	// logs each execution of its effects with the idempotency key.
	executed := map[string]int{}
	keyRE := regexp.MustCompile(`idempotency_key=(\S+)`)
	ch.mu.Lock()
	for _, p := range ch.all {
		for _, line := range strings.Split(p.Output(), "\n") {
			if !strings.Contains(line, "charging") && !strings.Contains(line, "emailing receipt") {
				continue
			}
			if m := keyRE.FindStringSubmatch(line); m != nil {
				executed[strings.Trim(m[1], `"`)]++
			}
		}
	}
	ch.mu.Unlock()

	// Every run's timeline: each step completed once, each effect
	// completed once, every execution of an effect after its first marked
	// uncertain, and the guest executed no effect more often than its
	// timeline says.
	var steps, effects, uncertain, twiceSteps, unmarked, resumed, kids int
	var slowest time.Duration
	var slowestID string
	var slowestEvs []event
	for _, cr := range runs {
		failedBefore := t.Failed()
		var evs []event
		var body struct{ Events []event }
		if _, err := ch.retry(30*time.Second, "GET", "/v1/runs/"+cr.id+"/events", nil, &body, http.StatusOK); err != nil {
			t.Fatalf("events of run %s: %v", cr.id, err)
		}
		evs = body.Events
		if len(evs) > 1 {
			if took := evs[len(evs)-1].At.Sub(evs[0].At); took > slowest {
				slowest, slowestID, slowestEvs = took, cr.id, evs
			}
		}
		if len(activations(t, evs)) > 1 {
			resumed++
		}
		completed := map[string]int{}
		for _, e := range evs {
			if e.Type == "step_completed" {
				completed[e.Step]++
			}
		}
		for _, s := range cr.kind.steps {
			steps++
			if completed[s] != 1 {
				twiceSteps += max(completed[s]-1, 0)
				t.Errorf("run %s (%s): step %s completed %d times, want once", cr.id, cr.kind.workflow, s, completed[s])
			}
		}
		if len(completed) != len(cr.kind.steps) {
			t.Errorf("run %s (%s): steps completed %v, want %v", cr.id, cr.kind.workflow, completed, cr.kind.steps)
		}
		type effectCount struct{ started, completed, uncertain int }
		byKey := map[string]*effectCount{}
		var order []string
		for _, e := range evs {
			var d struct{ Key string }
			switch e.Type {
			case "effect_started", "effect_completed", "effect_uncertain":
				if err := json.Unmarshal(e.Data, &d); err != nil || d.Key == "" {
					t.Fatalf("run %s: %s event with data %s: no key (%v)", cr.id, e.Type, e.Data, err)
				}
			default:
				continue
			}
			ec := byKey[d.Key]
			if ec == nil {
				ec = &effectCount{}
				byKey[d.Key] = ec
				order = append(order, d.Key)
			}
			switch e.Type {
			case "effect_started":
				// An execution after the first must follow its mark.
				if ec.started > ec.uncertain {
					unmarked++
					t.Errorf("run %s: effect %s started again (execution %d) with no effect_uncertain before it", cr.id, d.Key, ec.started+1)
				}
				ec.started++
			case "effect_completed":
				ec.completed++
			case "effect_uncertain":
				ec.uncertain++
				uncertain++
			}
		}
		keys := map[string]bool{}
		for _, k := range order {
			ec := byKey[k]
			keys[k] = true
			effects++
			if ec.completed != 1 {
				t.Errorf("run %s: effect %s completed %d times, want once", cr.id, k, ec.completed)
			}
			if n := executed[k]; n > ec.started {
				unmarked++
				t.Errorf("run %s: the guest executed effect %s %d times, its timeline records %d executions", cr.id, k, n, ec.started)
			}
		}
		if len(order) != cr.kind.effects {
			t.Errorf("run %s (%s): %d effects, want %d", cr.id, cr.kind.workflow, len(order), cr.kind.effects)
		}
		if cr.kind.children > 0 {
			kids += ch.checkChildren(cr, evs)
		}
		if t.Failed() && !failedBefore {
			var b strings.Builder
			for _, e := range evs {
				fmt.Fprintf(&b, "\n  %d %s %s %s %s", e.Seq, e.At.Format("15:04:05.000"), e.Type, e.Step, e.Data)
			}
			t.Logf("the timeline of run %s:%s", cr.id, b.String())
		}
		if cr.kind.effects > 0 {
			var r run
			if _, err := ch.retry(30*time.Second, "GET", "/v1/runs/"+cr.id, nil, &r, http.StatusOK); err != nil {
				t.Fatalf("run %s: %v", cr.id, err)
			}
			if err := cr.kind.check(r.Output, keys); err != nil {
				t.Errorf("run %s (%s): %v", cr.id, cr.kind.workflow, err)
			}
			for k := range keys {
				if executed[k] == 0 {
					t.Errorf("run %s: no guest log line of an execution of effect %s: the log check sees nothing", cr.id, k)
				}
			}
		}
	}
	if os.Getenv("WASMFLOW_CHAOS_DEBUG") != "" {
		var b strings.Builder
		for _, e := range slowestEvs {
			if e.Type != "step_completed" && e.Type != "step_started" && e.Type != "checkpoint" {
				fmt.Fprintf(&b, "\n  %s %s %s %s", e.At.Format("15:04:05.000"), e.Type, e.Step, e.Data)
			}
		}
		t.Logf("the slowest run, %s, took %s:%s", slowestID, slowest.Round(time.Millisecond), b.String())
	}
	if len(runs) < 50 {
		t.Errorf("%d runs acknowledged in %s: the load was too thin to prove anything", len(runs), duration)
	}
	if resumed == 0 {
		t.Errorf("no run was resumed by another activation: the chaos hit no run in flight")
	}
	t.Logf("chaos summary: duration %s, kills %d, sigstops %d, postgres restarts %d, runs %d (re-asked creations %d), lost %d, "+
		"steps %d, steps completed twice %d, effects %d, effect_uncertain %d, unmarked duplicate effects %d, child runs %d, runs resumed %d, all complete %s after the chaos",
		chaosEnd.Sub(began).Round(time.Second), kills, stops, pgRestarts, len(runs), reasked.Load(), lost,
		steps, twiceSteps, effects, uncertain, unmarked, kids, resumed, settled.Round(time.Millisecond))
}

// checkChildren checks a completed fan-out: exactly its number of children,
// each started once (one child_started each, distinct inputs), each
// completed with its one step completed once. It returns how many children
// it checked.
func (ch *chaos) checkChildren(cr chaosRun, evs []event) int {
	t := ch.t
	var r run
	if _, err := ch.retry(30*time.Second, "GET", "/v1/runs/"+cr.id, nil, &r, http.StatusOK); err != nil {
		t.Fatalf("run %s: %v", cr.id, err)
	}
	if len(r.Children) != cr.kind.children {
		t.Errorf("run %s (%s): %d children, want %d", cr.id, cr.kind.workflow, len(r.Children), cr.kind.children)
	}
	started := 0
	for _, e := range evs {
		if e.Type == "child_started" {
			started++
		}
	}
	if started != cr.kind.children {
		t.Errorf("run %s (%s): %d child_started events, want %d", cr.id, cr.kind.workflow, started, cr.kind.children)
	}
	inputs := map[string]bool{}
	for _, k := range r.Children {
		var kr run
		if _, err := ch.retry(30*time.Second, "GET", "/v1/runs/"+k.ID, nil, &kr, http.StatusOK); err != nil {
			t.Fatalf("child %s: %v", k.ID, err)
		}
		if kr.Status != "completed" {
			t.Errorf("child %s of run %s: %s %v", k.ID, cr.id, kr.Status, derefErr(kr.Error))
		}
		if inputs[string(kr.Input)] {
			t.Errorf("run %s: two children with input %s: a child was started twice", cr.id, kr.Input)
		}
		inputs[string(kr.Input)] = true
		var body struct{ Events []event }
		if _, err := ch.retry(30*time.Second, "GET", "/v1/runs/"+k.ID+"/events", nil, &body, http.StatusOK); err != nil {
			t.Fatalf("events of child %s: %v", k.ID, err)
		}
		done := 0
		for _, e := range body.Events {
			if e.Type == "step_completed" {
				done++
			}
		}
		if done != 1 {
			t.Errorf("child %s of run %s: its step completed %d times, want once", k.ID, cr.id, done)
		}
	}
	return len(r.Children)
}

func derefErr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

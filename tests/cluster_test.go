// Package tests holds end-to-end tests: real wasmflow processes, over real
// HTTP, on a real PostgreSQL server that the tests start themselves.
package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/clustertest"
	"github.com/wasmflow/wasmflow/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// cluster is the shared cluster, with the helpers of these tests.
type cluster struct{ *clustertest.Cluster }

type (
	run   = clustertest.Run
	event = clustertest.Event
)

func newCluster(t *testing.T, lease string, extra ...string) *cluster {
	return &cluster{clustertest.New(t, lease, extra...)}
}

// activations returns, in order, the owners of the run's activations.
func activations(t *testing.T, evs []event) []string { return clustertest.Activations(t, evs) }

// checkOnce fails the test if any step of the run completed more than once.
func checkOnce(t *testing.T, id string, evs []event) {
	t.Helper()
	completed := map[string]int{}
	for _, e := range evs {
		if e.Type == "step_completed" {
			completed[e.Step]++
		}
	}
	for step, n := range completed {
		if n != 1 {
			t.Errorf("run %s: step %s completed %d times", id, step, n)
		}
	}
}

// exportDone checks an export run's output: every item processed once.
func exportDone(t *testing.T, r run, items int) {
	t.Helper()
	if r.Status != "completed" {
		t.Fatalf("export run %s: %s %v", r.ID, r.Status, r.Error)
	}
	var out struct{ Processed, Sum int }
	if err := json.Unmarshal(r.Output, &out); err != nil {
		t.Fatal(err)
	}
	if out.Processed != items || out.Sum != items*(items-1)/2 {
		t.Errorf("output %s: want processed=%d sum=%d", r.Output, items, items*(items-1)/2)
	}
}

// longExport starts two servers and a long export run, waits until its
// cursor loop is under way, and says which server runs it.
func (c *cluster) longExport(items int) (id string, running, other int) {
	c.T.Helper()
	c.Start()
	c.Start()
	c.Push(0, "export")
	id = c.StartRun(0, "export", "export", map[string]any{"items": items, "delay_ms": 10})
	_, evs := c.WaitFor(0, id, 60*time.Second, "a checkpoint of write_files", func(r run, evs []event) bool {
		for _, e := range evs {
			if e.Type == "checkpoint" {
				return true
			}
		}
		return false
	})
	running = c.OwnerIndex(activations(c.T, evs)[0])
	return id, running, 1 - running
}

// Must show 1: two servers on one Postgres; kill -9 the one running a long
// cursor step; the other completes the run after the lease expires, and no
// step body completed twice.
func TestKillNineTheServerRunningALongStep(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "3s")
	const items = 300
	id, victim, survivor := c.longExport(items)
	c.Servers[victim].Kill()
	killed := time.Now()

	r, evs := c.WaitFor(survivor, id, 90*time.Second, "completion", func(r run, _ []event) bool {
		return r.Status == "completed" || r.Status == "failed"
	})
	exportDone(t, r, items)
	checkOnce(t, id, evs)
	owners := activations(t, evs)
	if last := owners[len(owners)-1]; c.OwnerIndex(last) != survivor {
		t.Errorf("the last activation ran on %s, want the surviving server", last)
	}
	t.Logf("killed pid %d; the run completed on the other server %s later (lease 3s)", c.Servers[victim].Pid(), time.Since(killed).Round(time.Millisecond))
}

// Must show 2: SIGTERM to the server running a long step hands the run to
// the other server at once, without waiting for the lease to expire.
func TestSigtermHandsTheRunOver(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "30s") // a lease expiry would take 30s: the handoff must not wait for it
	const items = 300
	id, victim, survivor := c.longExport(items)
	if err := c.Servers[victim].Terminate(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	exited := time.Now()

	_, evs := c.WaitFor(survivor, id, 20*time.Second, "a second activation", func(r run, evs []event) bool {
		return len(activations(t, evs)) >= 2
	})
	var released, resumed time.Time
	for _, e := range evs {
		switch {
		case e.Type == "run_suspended" && strings.Contains(string(e.Data), `"interrupt"`):
			released = e.At
		case e.Type == "activation_started":
			resumed = e.At
		}
	}
	if released.IsZero() {
		t.Fatalf("no run_suspended (interrupt) event: the first server did not hand the run back at a checkpoint")
	}
	handoff := resumed.Sub(released)
	t.Logf("handoff: the run was handed back at a checkpoint and resumed on the other server %s later; the first process exited %s after the resume",
		handoff.Round(time.Millisecond), exited.Sub(resumed).Round(time.Millisecond))
	if handoff > 5*time.Second {
		t.Errorf("handoff took %s: the run waited for something other than the release (lease 30s)", handoff)
	}
	r, evs := c.WaitFor(survivor, id, 90*time.Second, "completion", func(r run, _ []event) bool {
		return r.Status == "completed" || r.Status == "failed"
	})
	exportDone(t, r, items)
	checkOnce(t, id, evs)
}

// Must show 4: ?wait answers with the finished run for a short workflow, and
// with waiting for signup until its signal arrives.
func TestWaitAnswersInTheForeground(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "5s")
	c.Start()
	c.Push(0, "receipt")
	c.Push(0, "signup")
	cl := c.Client(0)

	var r run
	cl.JSON(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "receipt", "workflow": "receipt", "input": map[string]any{"order_id": "B-7", "amount_cents": 990, "email": "b@example.com"}}, http.StatusCreated, &r)
	if r.Status != "completed" {
		t.Fatalf("receipt with ?wait: %s %v", r.Status, r.Error)
	}
	cl.JSON(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "signup", "workflow": "signup", "input": map[string]any{"email": "c@example.com"}}, http.StatusCreated, &r)
	if r.Status != "waiting" {
		t.Fatalf("signup with ?wait: %s %v, want waiting for its signal", r.Status, r.Error)
	}
	cl.JSON(t, "POST", "/v1/runs/"+r.ID+"/signals/email-confirmed", map[string]any{}, http.StatusAccepted, nil)
	r, _ = c.WaitFor(0, r.ID, 30*time.Second, "completion", func(r run, _ []event) bool {
		return r.Status == "completed" || r.Status == "failed"
	})
	if r.Status != "completed" {
		t.Fatalf("signup after its signal: %s %v", r.Status, r.Error)
	}
}

// Foreground runs run where they were asked for: with two servers on one
// Postgres, each of 100 runs started with ?wait on one or the other is
// executed by the server that took the request (its activation_started
// owner), never by the other, idle one.
func TestForegroundRunsRunInTheServerThatTookTheRequest(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "5s")
	c.Start()
	c.Start()
	c.Push(0, "bench")
	const runs = 100
	elsewhere := 0
	for i := range runs {
		server := i % 2
		var r run
		c.Client(server).JSON(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "bench", "workflow": "steps", "input": map[string]any{"steps": 3}}, http.StatusCreated, &r)
		if r.Status != "completed" {
			t.Fatalf("run %d (%s) with ?wait on server %d: %s %v", i, r.ID, server, r.Status, r.Error)
		}
		owners := activations(t, c.Events(server, r.ID))
		if len(owners) != 1 || c.OwnerIndex(owners[0]) != server {
			elsewhere++
			t.Errorf("run %d (%s) asked of server %d: activations by %v", i, r.ID, server, owners)
		}
	}
	t.Logf("%d of %d foreground runs executed in the server that took the request", runs-elsewhere, runs)
}

// Must show 3: 500 runs across two servers while one of them is killed and
// restarted three times: every run completes, none is lost, and no step
// completed twice.
func TestFiveHundredRunsThroughThreeKills(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "2s")
	c.Start()
	c.Start()
	c.Push(0, "bench")
	const runs, steps = 500, 10
	created := make(chan []string)
	go func() {
		ids := make([]string, 0, runs)
		for range runs {
			ids = append(ids, c.StartRun(0, "bench", "steps", map[string]any{"steps": steps}))
		}
		created <- ids
	}()
	// Kill and restart the second server while runs are created and run.
	for range 3 {
		time.Sleep(time.Second)
		c.Servers[1].Kill()
		c.Servers = c.Servers[:1]
		c.Start()
	}
	ids := <-created

	deadline := time.Now().Add(5 * time.Minute)
	pending := ids
	for len(pending) > 0 {
		var next []string
		for _, id := range pending {
			r := c.Get(0, id)
			switch r.Status {
			case "completed":
			case "failed", "cancelled":
				t.Fatalf("run %s: %s %v", id, r.Status, r.Error)
			default:
				next = append(next, id)
			}
		}
		pending = next
		if len(pending) > 0 && time.Now().After(deadline) {
			t.Fatalf("%d of %d runs did not complete, e.g. %s", len(pending), runs, pending[0])
		}
		time.Sleep(200 * time.Millisecond)
	}

	owners, resumed := map[string]int{}, 0
	for _, id := range ids {
		evs := c.Events(0, id)
		checkOnce(t, id, evs)
		done := 0
		for _, e := range evs {
			if e.Type == "step_completed" {
				done++
			}
		}
		if done != steps {
			t.Errorf("run %s: %d steps completed, want %d", id, done, steps)
		}
		acts := activations(t, evs)
		if len(acts) > 1 {
			resumed++
		}
		for _, o := range acts {
			owners[o]++
		}
	}
	t.Logf("%d runs completed; %d of them resumed after a kill; activations per process: %v", runs, resumed, owners)
	if len(owners) < 3 {
		t.Errorf("activations ran on %d processes, want the runs spread over the restarted ones too", len(owners))
	}
	if resumed == 0 {
		t.Errorf("no run was resumed: the kills hit no run in flight, so the test proved nothing")
	}
}

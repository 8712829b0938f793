// Package tests holds end-to-end tests: real wasmflow processes, over real
// HTTP, on a real PostgreSQL server that the tests start themselves.
package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// cluster is a set of wasmflow server processes on one Postgres schema.
type cluster struct {
	t       *testing.T
	dbURL   string
	token   string
	servers []*proctest.Process
	lease   string
	extra   []string // more server flags
}

func newCluster(t *testing.T, lease string, extra ...string) *cluster {
	c := &cluster{t: t, dbURL: pgtest.URL(t), lease: lease, extra: extra}
	c.token = c.newToken("admin")
	return c
}

// newToken creates a token with the CLI, as an operator would.
func (c *cluster) newToken(scope string) string {
	c.t.Helper()
	out, err := exec.Command(proctest.Binary(c.t), "token", "create", "--scope", scope, "--name", "e2e-"+scope, "--database-url", c.dbURL).Output()
	if err != nil {
		c.t.Fatalf("wasmflow token create: %v\n%s", err, out)
	}
	token := regexp.MustCompile(`wf_[A-Za-z0-9_-]+`).FindString(string(out))
	if token == "" {
		c.t.Fatalf("no token in the output of wasmflow token create:\n%s", out)
	}
	return token
}

// start starts one more server and returns its index.
func (c *cluster) start() int {
	addr := proctest.FreeAddr(c.t)
	args := append([]string{"server", "--listen", addr, "--database-url", c.dbURL,
		"--lease", c.lease, "--log-level", "warn", "--grace-period", "5s"}, c.extra...)
	p := proctest.Start(c.t, addr, args...)
	c.servers = append(c.servers, p)
	return len(c.servers) - 1
}

func (c *cluster) client(i int) *proctest.Client {
	return &proctest.Client{URL: c.servers[i].URL, Token: c.token}
}

func (c *cluster) push(i int, name string) {
	c.t.Helper()
	c.client(i).JSON(c.t, "POST", "/v1/modules?name="+name, testmodules.Bytes(c.t, name), http.StatusCreated, nil)
}

type run struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  *string         `json:"error"`
}

type event struct {
	Seq  int64           `json:"seq"`
	Type string          `json:"type"`
	Step string          `json:"step"`
	At   time.Time       `json:"at"`
	Data json.RawMessage `json:"data"`
}

func (c *cluster) startRun(i int, module, workflow string, input any) string {
	c.t.Helper()
	var r run
	c.client(i).JSON(c.t, "POST", "/v1/runs", map[string]any{"module": module, "workflow": workflow, "input": input}, http.StatusCreated, &r)
	return r.ID
}

func (c *cluster) get(i int, id string) run {
	c.t.Helper()
	var r run
	c.client(i).JSON(c.t, "GET", "/v1/runs/"+id, nil, http.StatusOK, &r)
	return r
}

func (c *cluster) events(i int, id string) []event {
	c.t.Helper()
	var body struct{ Events []event }
	c.client(i).JSON(c.t, "GET", "/v1/runs/"+id+"/events", nil, http.StatusOK, &body)
	return body.Events
}

// waitFor polls server i until f holds for the run or timeout passes.
func (c *cluster) waitFor(i int, id string, timeout time.Duration, what string, f func(run, []event) bool) (run, []event) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, evs := c.get(i, id), c.events(i, id)
		if f(r, evs) {
			return r, evs
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("run %s: %s did not happen within %s; status %s", id, what, timeout, r.Status)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// activations returns, in order, the owners of the run's activations.
func activations(t *testing.T, evs []event) []string {
	var owners []string
	for _, e := range evs {
		if e.Type == "activation_started" {
			var d struct{ Owner string }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			owners = append(owners, d.Owner)
		}
	}
	return owners
}

// ownerPid finds which server an owner name belongs to (owners carry the
// process id).
func (c *cluster) ownerIndex(owner string) int {
	for i, p := range c.servers {
		if strings.Contains(owner, fmt.Sprintf("-%d-", p.Pid())) {
			return i
		}
	}
	c.t.Fatalf("owner %s is none of the servers", owner)
	return -1
}

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
	c.t.Helper()
	c.start()
	c.start()
	c.push(0, "export")
	id = c.startRun(0, "export", "export", map[string]any{"items": items, "delay_ms": 10})
	_, evs := c.waitFor(0, id, 60*time.Second, "a checkpoint of write_files", func(r run, evs []event) bool {
		for _, e := range evs {
			if e.Type == "checkpoint" {
				return true
			}
		}
		return false
	})
	running = c.ownerIndex(activations(c.t, evs)[0])
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
	c.servers[victim].Kill()
	killed := time.Now()

	r, evs := c.waitFor(survivor, id, 90*time.Second, "completion", func(r run, _ []event) bool {
		return r.Status == "completed" || r.Status == "failed"
	})
	exportDone(t, r, items)
	checkOnce(t, id, evs)
	owners := activations(t, evs)
	if last := owners[len(owners)-1]; c.ownerIndex(last) != survivor {
		t.Errorf("the last activation ran on %s, want the surviving server", last)
	}
	t.Logf("killed pid %d; the run completed on the other server %s later (lease 3s)", c.servers[victim].Pid(), time.Since(killed).Round(time.Millisecond))
}

// Must show 2: SIGTERM to the server running a long step hands the run to
// the other server at once, without waiting for the lease to expire.
func TestSigtermHandsTheRunOver(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "30s") // a lease expiry would take 30s: the handoff must not wait for it
	const items = 300
	id, victim, survivor := c.longExport(items)
	if err := c.servers[victim].Terminate(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	exited := time.Now()

	_, evs := c.waitFor(survivor, id, 20*time.Second, "a second activation", func(r run, evs []event) bool {
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
	r, evs := c.waitFor(survivor, id, 90*time.Second, "completion", func(r run, _ []event) bool {
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
	c.start()
	c.push(0, "receipt")
	c.push(0, "signup")
	cl := c.client(0)

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
	r, _ = c.waitFor(0, r.ID, 30*time.Second, "completion", func(r run, _ []event) bool {
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
	c.start()
	c.start()
	c.push(0, "bench")
	const runs = 100
	elsewhere := 0
	for i := range runs {
		server := i % 2
		var r run
		c.client(server).JSON(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "bench", "workflow": "steps", "input": map[string]any{"steps": 3}}, http.StatusCreated, &r)
		if r.Status != "completed" {
			t.Fatalf("run %d (%s) with ?wait on server %d: %s %v", i, r.ID, server, r.Status, r.Error)
		}
		owners := activations(t, c.events(server, r.ID))
		if len(owners) != 1 || c.ownerIndex(owners[0]) != server {
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
	c.start()
	c.start()
	c.push(0, "bench")
	const runs, steps = 500, 10
	created := make(chan []string)
	go func() {
		ids := make([]string, 0, runs)
		for range runs {
			ids = append(ids, c.startRun(0, "bench", "steps", map[string]any{"steps": steps}))
		}
		created <- ids
	}()
	// Kill and restart the second server while runs are created and run.
	for range 3 {
		time.Sleep(time.Second)
		c.servers[1].Kill()
		c.servers = c.servers[:1]
		c.start()
	}
	ids := <-created

	deadline := time.Now().Add(5 * time.Minute)
	pending := ids
	for len(pending) > 0 {
		var next []string
		for _, id := range pending {
			r := c.get(0, id)
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
		evs := c.events(0, id)
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

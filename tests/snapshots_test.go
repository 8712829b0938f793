package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/clustertest"
)

// startWith starts one more server with flags of its own (an engine) and
// returns its index.
func (c *cluster) startWith(flags ...string) int {
	saved := c.Extra
	c.Extra = append(append([]string(nil), c.Extra...), flags...)
	defer func() { c.Extra = saved }()
	return c.Start()
}

// starts returns the data of the run's activation_started events.
func starts(t *testing.T, evs []event) []clustertest.StartData { return clustertest.Starts(t, evs) }

// signupWaiting starts a signup run on server i and waits until it waits
// for the email confirmation, parked.
func (c *cluster) signupWaiting(i int) (id string, evs []event) {
	c.T.Helper()
	id = c.StartRun(i, "signup", "signup", map[string]any{"email": "ada@example.com"})
	_, evs = c.WaitFor(i, id, 30*time.Second, "waiting for the confirmation", func(r run, _ []event) bool { return r.Status == "waiting" })
	return id, evs
}

// confirmSignup signals the confirmation through server i and waits for the
// run to complete there.
func (c *cluster) confirmSignup(i int, id string) []event {
	c.T.Helper()
	c.Client(i).JSON(c.T, "POST", "/v1/runs/"+id+"/signals/email-confirmed", map[string]any{"token": "t-1"}, http.StatusAccepted, nil)
	r, evs := c.WaitFor(i, id, 30*time.Second, "completion", func(r run, _ []event) bool { return r.Status == "completed" || r.Status == "failed" })
	if r.Status != "completed" || !strings.Contains(string(r.Output), `"confirmed":true`) {
		c.T.Fatalf("run %s %s: %s", id, r.Status, r.Output)
	}
	return evs
}

// effectKeys returns the idempotency keys of a run's effect executions, in
// order, and fails the test on an uncertain effect.
func effectKeys(t *testing.T, evs []event) []string {
	t.Helper()
	var keys []string
	for _, e := range evs {
		switch e.Type {
		case "effect_started":
			var d struct{ Key string }
			json.Unmarshal(e.Data, &d)
			keys = append(keys, d.Key)
		case "effect_uncertain":
			t.Errorf("an effect was uncertain: %s", e.Data)
		}
	}
	return keys
}

// A run parked by a process on one engine resumes from its snapshot in a
// process on the other, both ways, on Postgres: the snapshot is plain
// WebAssembly state.
func TestASnapshotResumesOnTheOtherEngine(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "3s")
	for _, way := range [][2]string{{"wazero", "wasmtime"}, {"wasmtime", "wazero"}} {
		t.Run(way[0]+" to "+way[1], func(t *testing.T) {
			c.T = t
			parker := c.startWith("--engine", way[0])
			if parker == 0 {
				c.Push(parker, "signup")
			}
			id, before := c.signupWaiting(parker)
			keys := effectKeys(t, before)
			// The parking process goes (it hands nothing back: the run waits
			// for a signal), and one on the other engine takes over.
			if err := c.Servers[parker].Terminate(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			resumer := c.startWith("--engine", way[1])
			evs := c.confirmSignup(resumer, id)
			checkOnce(t, id, evs)
			ss := starts(t, evs)
			if len(ss) != 2 || c.OwnerIndex(ss[1].Owner) != resumer || ss[1].Start != "snapshot" {
				t.Fatalf("activations %+v, want the second on the %s process (%d), from the snapshot", ss, way[1], resumer)
			}
			if got := effectKeys(t, evs); strings.Join(got, ",") != strings.Join(keys, ",") {
				t.Errorf("effect executions %v, want those before the handover only: %v", got, keys)
			}
			if err := c.Servers[resumer].Terminate(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// kill -9 of the process that keeps a parked run's instance warm loses
// nothing: the other process restores the run from its stored snapshot.
func TestKillingTheWarmProcessLosesNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "3s")
	a, b := c.startWith("--engine", "wazero"), c.startWith("--engine", "wasmtime")
	c.Push(a, "signup")
	id, before := c.signupWaiting(a)
	keys := effectKeys(t, before)
	holder := c.OwnerIndex(starts(t, before)[0].Owner)
	other := map[int]int{a: b, b: a}[holder]
	c.Servers[holder].Kill()
	<-c.Servers[holder].Done()
	evs := c.confirmSignup(other, id)
	checkOnce(t, id, evs)
	ss := starts(t, evs)
	if len(ss) != 2 || c.OwnerIndex(ss[1].Owner) != other || ss[1].Start != "snapshot" {
		t.Fatalf("activations %+v, want the second on the surviving process (%d), from the snapshot", ss, other)
	}
	if got := effectKeys(t, evs); strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Errorf("effect executions %v, want those before the kill only: %v", got, keys)
	}
}

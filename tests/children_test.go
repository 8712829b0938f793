package tests

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/clustertest"
	"github.com/wasmflow/wasmflow/internal/poll"
)

// A fan-out of 100 children survives a kill -9 of a process in the middle
// of it: exactly 100 children exist, each started once with its own input,
// and the parent completes with the sum of their squares.
func TestFanOutSurvivesKill9(t *testing.T) { testFanOutSurvivesKill9(t, "children") }

// The same with the Rust guest, which does not park: the parent's next
// activation replays its journal of 100 child starts.
func TestRustFanOutSurvivesKill9(t *testing.T) { testFanOutSurvivesKill9(t, "rust/children") }

func testFanOutSurvivesKill9(t *testing.T, guest string) {
	const n = 100
	c := newCluster(t, "2s", "--workers", "4")
	c.Start()
	c.Start()
	c.Push(0, guest)
	id := c.StartRun(0, "children", "fanout", map[string]any{"n": n, "ms": 40})

	// Kill whichever server runs the parent once some children have ended
	// and most have not.
	var victim int
	poll.Until(t, 60*time.Second, func() error {
		r := c.Get(1, id)
		done := 0
		for _, k := range r.Children {
			if k.Status == "completed" {
				done++
			}
		}
		if len(r.Children) != n || done < 5 {
			return fmt.Errorf("%d children, %d completed: the fan-out is not under way yet", len(r.Children), done)
		}
		if done == n {
			t.Fatalf("all %d children completed before the kill: the test did not kill in the middle", n)
		}
		owners := activations(t, c.Events(1, id))
		victim = c.OwnerIndex(owners[len(owners)-1])
		return nil
	})
	c.Servers[victim].Kill()
	other := 1 - victim

	r, evs := c.WaitFor(other, id, 90*time.Second, "completion", func(r run, _ []event) bool { return r.Status == "completed" || r.Status == "failed" })
	if r.Status != "completed" {
		t.Fatalf("fan-out %s: %v", r.Status, r.Error)
	}
	sum := n * (n + 1) * (2*n + 1) / 6
	var out struct{ Sum, Children int }
	if err := json.Unmarshal(r.Output, &out); err != nil || out.Sum != sum || out.Children != n {
		t.Errorf("fan-out output %s, want sum %d of %d children", r.Output, sum, n)
	}
	if len(r.Children) != n {
		t.Fatalf("%d children, want exactly %d", len(r.Children), n)
	}
	started := 0
	for _, e := range evs {
		if e.Type == "child_started" {
			started++
		}
	}
	if started != n {
		t.Errorf("%d child_started events, want %d", started, n)
	}
	seen := map[int]string{}
	for _, k := range r.Children {
		kr := c.Get(other, k.ID)
		var in struct{ I int }
		if err := json.Unmarshal(kr.Input, &in); err != nil {
			t.Fatal(err)
		}
		if prev, dup := seen[in.I]; dup {
			t.Errorf("children %s and %s both have input i=%d: a child was started twice", prev, k.ID, in.I)
		}
		seen[in.I] = k.ID
		if kr.Status != "completed" || kr.Parent == nil || *kr.Parent != id {
			t.Errorf("child %s: %s, parent %v", k.ID, kr.Status, kr.Parent)
		}
	}
	// The list of runs by parent agrees, page after page.
	listed := 0
	after := ""
	for {
		var page struct {
			Runs []clustertest.Run
			Next *string
		}
		c.Client(other).JSON(t, "GET", "/v1/runs?limit=30&parent="+id+after, nil, 200, &page)
		listed += len(page.Runs)
		if page.Next == nil {
			break
		}
		after = "&after=" + *page.Next
	}
	if listed != n {
		t.Errorf("GET /v1/runs?parent= lists %d children, want %d", listed, n)
	}
}

// With two servers on one database, the children of one fan-out run on
// both, at the same time: the fan-out takes far less than its children's
// time added up.
func TestChildrenRunInParallelOnTwoServers(t *testing.T) {
	const n, ms = 16, 400
	c := newCluster(t, "5s", "--workers", "2")
	c.Start()
	c.Start()
	c.Push(0, "children")
	// Each server compiles the module before the fan-out: a run in the
	// foreground of each (a compile on a loaded machine takes seconds,
	// which is not what this test measures).
	for i := range c.Servers {
		var warm run
		c.Client(i).JSON(t, "POST", "/v1/runs?wait=60s", map[string]any{"module": "children", "workflow": "square", "input": map[string]int{"i": 2}}, 201, &warm)
		if warm.Status != "completed" {
			t.Fatalf("warm-up run on server %d: %s", i, warm.Status)
		}
	}
	id := c.StartRun(0, "children", "fanout", map[string]any{"n": n, "ms": ms})
	r, _ := c.WaitFor(0, id, 60*time.Second, "completion", func(r run, _ []event) bool { return r.Status == "completed" || r.Status == "failed" })
	if r.Status != "completed" {
		t.Fatalf("fan-out %s: %v", r.Status, r.Error)
	}
	servers := map[int]int{}
	var sum time.Duration
	for _, k := range r.Children {
		kr := c.Get(0, k.ID)
		sum += kr.CompletedAt.Sub(kr.CreatedAt)
		for _, owner := range activations(t, c.Events(0, k.ID)) {
			servers[c.OwnerIndex(owner)]++
		}
	}
	if len(servers) != 2 {
		t.Errorf("the children's activations ran on servers %v, want both", servers)
	}
	// From the first child's start (the parent's first activation also
	// compiles the module) to the parent's end. One after another the
	// children would take at least n*ms; four workers in all take about a
	// quarter of it.
	var first time.Time
	for _, e := range c.Events(0, id) {
		if e.Type == "child_started" {
			first = e.At
			break
		}
	}
	wall := r.CompletedAt.Sub(first)
	if serial := time.Duration(n*ms) * time.Millisecond; wall > serial/2 {
		t.Errorf("the fan-out took %s, its children %s together (at least %s one after another): they did not run in parallel", wall, sum, serial)
	}
	t.Logf("fan-out of %d children of %d ms: %s wall, %s of children's time, activations per server %v", n, ms, wall, sum, servers)
}

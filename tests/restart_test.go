package tests

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/clustertest"
	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/internal/poll"
)

// A Postgres restart under load: two servers run runs of many steps, the
// database is restarted (a fast shutdown, as an operator's restart does:
// every connection is terminated) and stays down for 2 s, and every run in
// flight carries on within 2 s of the database being back, instead of
// failing its activation and waiting out its lease (30 s); every run
// completes, no step completes twice, and the servers claim new runs again
// without being restarted.
func TestRunsCarryOnThroughAPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := pgtest.NewServer(t)
	c := &cluster{&clustertest.Cluster{T: t, DBURL: pg.URL(t), Lease: "30s"}}
	c.Token = c.NewToken("admin")
	c.Start()
	c.Start()
	c.Push(0, "bench")
	// Each server compiles the module (and makes its image) on its first
	// run: a foreground run on each first, so that neither runs the long
	// runs seconds ahead of the other while it compiles.
	for i := range 2 {
		var warm run
		c.Client(i).JSON(t, "POST", "/v1/runs?wait=60s", map[string]any{"module": "bench", "workflow": "steps", "input": map[string]any{"steps": 1}}, http.StatusCreated, &warm)
		if warm.Status != "completed" {
			t.Fatalf("warm-up run on server %d: %s %v", i, warm.Status, warm.Error)
		}
	}
	const runs, steps = 6, 4000
	var ids []string
	for i := range runs {
		ids = append(ids, c.StartRun(i%2, "bench", "steps", map[string]any{"steps": steps}))
	}
	// Restart once every run is under way, looking at all of them in each
	// round so that none runs on unwatched.
	poll.Until(t, 60*time.Second, func() error {
		for _, id := range ids {
			if n := countType(c.Events(0, id), "step_completed"); n < 100 {
				return fmt.Errorf("run %s: %d steps completed, waiting for 100", id, n)
			}
		}
		return nil
	})
	restarted := time.Now()
	down := pg.Restart(t, 2*time.Second)
	back := restarted.Add(down)
	t.Logf("the database restarted in %s", down.Round(time.Millisecond))

	// The schedulers claim again: a new run completes at once.
	fresh := c.StartRun(1, "bench", "steps", map[string]any{"steps": 3})
	r, _ := c.WaitFor(1, fresh, 10*time.Second, "completion of a run started after the restart", func(r run, _ []event) bool {
		return r.Status == "completed" || r.Status == "failed"
	})
	if r.Status != "completed" {
		t.Fatalf("run %s started after the restart: %s %v", fresh, r.Status, r.Error)
	}
	t.Logf("a run started after the restart completed %s after the database was back", time.Since(back).Round(time.Millisecond))

	deadline := time.Now().Add(3 * time.Minute)
	for {
		var list struct{ Runs []run }
		c.Client(0).JSON(t, "GET", "/v1/runs?module=bench&limit=100", nil, http.StatusOK, &list)
		done := 0
		for _, r := range list.Runs {
			switch r.Status {
			case "completed":
				done++
			case "failed", "cancelled":
				t.Fatalf("run %s: %s %v", r.ID, r.Status, r.Error)
			}
		}
		if done == runs+3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runs completed within 3 minutes of the restart", done, runs)
		}
		time.Sleep(500 * time.Millisecond)
	}

	for _, id := range ids {
		evs := c.Events(0, id)
		checkOnce(t, id, evs)
		if n := countType(evs, "step_completed"); n != steps {
			t.Errorf("run %s: %d steps completed, want %d", id, n, steps)
		}
		// The last step completed before the restart, and the first one
		// completed after the database was back: how long it took the run
		// to go on. (Steps that ended while the database was down were
		// written once it was back, with the time they ended.)
		var before, after time.Time
		for _, e := range evs {
			switch {
			case e.Type != "step_completed":
			case e.At.Before(restarted):
				before = e.At
			case !e.At.Before(back) && after.IsZero():
				after = e.At
			}
		}
		if before.IsZero() || after.IsZero() {
			t.Fatalf("run %s was not in flight at the restart (last step before it %s, first after %s): make the runs longer", id, before, after)
		}
		resumed := after.Sub(back)
		t.Logf("run %s: %d activations; its timeline stopped %s before the restart and went on %s after the database was back",
			id, len(activations(t, evs)), restarted.Sub(before).Round(time.Millisecond), resumed.Round(time.Millisecond))
		if resumed > 2*time.Second {
			t.Errorf("run %s went on %s after the database was back, want under 2s (lease 30s)", id, resumed.Round(time.Millisecond))
		}
	}
}

func countType(evs []event, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

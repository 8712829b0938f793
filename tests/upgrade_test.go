package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/clustertest"
	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// A kill -9 of the server in the middle of a bulk upgrade leaves every run
// on its old version or on the new one, never half-moved: a run's version,
// its digest and its run_upgraded event change together. A second pass, on
// another server, moves the rest, and every run completes under the new
// code.
func TestBulkUpgradeSurvivesKill9(t *testing.T) {
	const n = 400
	c := newCluster(t, "2s", "--workers", "8")
	c.Start()
	c.Start()
	digests := map[string]string{}
	for _, v := range []string{"1", "2"} {
		var m struct{ Digest string }
		c.Client(0).JSON(t, "POST", "/v1/modules?name=versions&version="+v, testmodules.Bytes(t, "versions-v"+v), http.StatusCreated, &m)
		digests[v] = m.Digest
	}
	ids := make([]string, n)
	for i := range ids {
		var r clustertest.Run
		c.Client(i%2).JSON(t, "POST", "/v1/runs", map[string]any{"module": "versions", "version": "1", "workflow": "order"}, http.StatusCreated, &r)
		ids[i] = r.ID
	}
	poll.Until(t, 120*time.Second, func() error {
		var counts struct{ Statuses map[string]int64 }
		c.Client(1).JSON(t, "GET", "/v1/runs/counts?module=versions", nil, http.StatusOK, &counts)
		if w := counts.Statuses["waiting"]; w != n {
			return fmt.Errorf("%d of %d runs waiting for their signal (%v)", w, n, counts.Statuses)
		}
		return nil
	})

	// Upgrade through server 0, and kill it once some runs have moved and
	// most have not.
	done := make(chan struct{})
	go func() {
		// Not the test's client: the kill ends this request with an error.
		defer close(done)
		body := strings.NewReader(fmt.Sprintf(`{"from":"1","to":"2","limit":%d}`, n))
		req, _ := http.NewRequest("POST", c.Servers[0].URL+"/v1/modules/versions/upgrade", body)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	poll.Until(t, 60*time.Second, func() error {
		moved := onVersion(t, c, "2")
		if moved == n {
			t.Fatalf("all %d runs moved before the kill: the test did not kill in the middle", n)
		}
		if moved < 5 {
			return fmt.Errorf("%d runs moved: the upgrade is not under way yet", moved)
		}
		return nil
	})
	c.Servers[0].Kill()
	<-done

	moved := 0
	for _, id := range ids {
		if checkPin(t, c, id, digests) == "2" {
			moved++
		}
	}
	t.Logf("the kill -9 left %d of %d runs moved", moved, n)
	if moved == 0 || moved == n {
		t.Fatalf("%d of %d runs moved: the kill did not land in the middle of the upgrade", moved, n)
	}

	// A second pass on the other server moves the rest, page by page.
	var res struct {
		Checked, Upgraded, Diverged, Skipped int
		Next                                 *string
	}
	after, upgraded := "", 0
	for {
		c.Client(1).JSON(t, "POST", "/v1/modules/versions/upgrade", map[string]any{"from": "1", "to": "2", "limit": 150, "after": after}, http.StatusOK, &res)
		upgraded += res.Upgraded
		if res.Diverged != 0 || res.Skipped != 0 {
			t.Errorf("second pass: %+v, want every run moved", res)
		}
		if res.Next == nil {
			break
		}
		after = *res.Next
	}
	if upgraded != n-moved {
		t.Errorf("the second pass moved %d runs, want the %d left", upgraded, n-moved)
	}
	for _, id := range ids {
		if v := checkPin(t, c, id, digests); v != "2" {
			t.Errorf("run %s is on version %s after the second pass", id, v)
		}
		c.Client(1).JSON(t, "POST", "/v1/runs/"+id+"/signals/go", map[string]any{}, http.StatusAccepted, nil)
	}
	for _, id := range ids {
		r, _ := c.WaitFor(1, id, 120*time.Second, "completion", func(r run, _ []event) bool { return r.Status == "completed" || r.Status == "failed" })
		var out struct {
			Steps   []string
			Version int
		}
		if err := json.Unmarshal(r.Output, &out); err != nil || out.Version != 2 || fmt.Sprint(out.Steps) != "[a@1 b@1 c@2]" {
			t.Fatalf("run %s: %s %s, want steps [a@1 b@1 c@2] under version 2", id, r.Status, r.Output)
		}
	}
}

// onVersion counts the runs of module versions pinned to version v.
func onVersion(t *testing.T, c *cluster, v string) int {
	t.Helper()
	total, after := 0, ""
	for {
		var page struct {
			Runs []clustertest.Run
			Next *string
		}
		c.Client(1).JSON(t, "GET", "/v1/runs?module=versions&version="+v+"&limit=200"+after, nil, http.StatusOK, &page)
		total += len(page.Runs)
		if page.Next == nil {
			return total
		}
		after = "&after=" + *page.Next
	}
}

// checkPin checks that a run's version, digest and timeline agree, and
// returns its version.
func checkPin(t *testing.T, c *cluster, id string, digests map[string]string) string {
	t.Helper()
	var r struct {
		ModuleVersion string `json:"module_version"`
		ModuleDigest  string `json:"module_digest"`
	}
	c.Client(1).JSON(t, "GET", "/v1/runs/"+id, nil, http.StatusOK, &r)
	if digests[r.ModuleVersion] != r.ModuleDigest {
		t.Errorf("run %s: version %s with digest %s, which is version %s's", id, r.ModuleVersion, r.ModuleDigest, versionOf(digests, r.ModuleDigest))
	}
	upgraded := 0
	for _, e := range c.Events(1, id) {
		if e.Type != "run_upgraded" {
			continue
		}
		upgraded++
		var d struct {
			From, To struct{ Version, Digest string }
		}
		if err := json.Unmarshal(e.Data, &d); err != nil || d.From.Version != "1" || d.To.Version != "2" || d.To.Digest != digests["2"] {
			t.Errorf("run %s: run_upgraded %s, want from 1 to 2", id, e.Data)
		}
	}
	if want := map[string]int{"1": 0, "2": 1}[r.ModuleVersion]; upgraded != want {
		t.Errorf("run %s on version %s has %d run_upgraded events, want %d", id, r.ModuleVersion, upgraded, want)
	}
	return r.ModuleVersion
}

func versionOf(digests map[string]string, digest string) string {
	for v, d := range digests {
		if d == digest {
			return v
		}
	}
	return "none"
}

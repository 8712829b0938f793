package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// startDev starts `wasmflow dev` with the example modules and the embedded
// store in data, and any extra flags.
func startDev(t *testing.T, data string, flags ...string) (*proctest.Process, *proctest.Client) {
	t.Helper()
	addr := proctest.FreeAddr(t)
	modules := filepath.Dir(testmodules.Path(t, "export"))
	args := append([]string{"dev", "--listen", addr, "--data", data, "--modules", modules, "--log-level", "warn", "--lease", "3s"}, flags...)
	p := proctest.Start(t, addr, args...)
	return p, &proctest.Client{URL: p.URL}
}

type runJSON struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  *string         `json:"error"`
	Steps  []struct {
		Name   string          `json:"name"`
		Cursor json.RawMessage `json:"cursor"`
	} `json:"steps"`
}

// The README's first command: the dev host serves the examples over HTTP
// without a token, answers bad requests with clear errors, and stops cleanly
// on SIGTERM; on each engine (--engine wasmtime in builds with cgo).
func TestDevServesTheExamples(t *testing.T) {
	t.Parallel()
	for _, eng := range engines {
		t.Run(eng, func(t *testing.T) {
			t.Parallel()
			testDevServesTheExamples(t, eng)
		})
	}
}

func testDevServesTheExamples(t *testing.T, eng string) {
	p, c := startDev(t, t.TempDir(), "--engine", eng)
	out := p.WaitOutput(t, "}'\n", 10*time.Second) // the banner, up to the curl command's end
	if !strings.Contains(out, "engine "+eng+",") {
		t.Errorf("dev does not say it runs on %s:\n%s", eng, out)
	}

	// The run that the printed curl command starts completes.
	m := regexp.MustCompile(`-d '([^']+)'`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("dev printed no curl command:\n%s", out)
	}
	var run runJSON
	c.JSON(t, "POST", "/v1/runs?wait=30s", json.RawMessage(m[1]), http.StatusCreated, &run)
	if run.Status != "completed" {
		t.Fatalf("the run of the printed curl command: %+v", run)
	}

	if status, body := c.Do(t, "POST", "/v1/runs", json.RawMessage(`{"module":"receipt",`)); status != http.StatusBadRequest || !strings.Contains(string(body), `"code"`) {
		t.Errorf("broken JSON body: %d %s, want 400 with an error code", status, body)
	}
	if status, body := c.Do(t, "POST", "/v1/modules?name=junk", []byte("not wasm")); status != http.StatusBadRequest || !strings.Contains(string(body), "not a WebAssembly module") {
		t.Errorf("junk module: %d %s, want 400 naming the problem", status, body)
	}
	if status, body := c.Do(t, "GET", "/v1/runs/0198c0de-0000-7000-8000-000000000000", nil); status != http.StatusNotFound {
		t.Errorf("unknown run: %d %s, want 404", status, body)
	}
	if err := p.Terminate(30 * time.Second); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
}

// A run survives its host process being killed mid-step: a new process on
// the same store resumes it from its cursor and completes it.
func TestRunSurvivesKillNine(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p, c := startDev(t, data)

	const items = 400
	// Kill the process once the loop is well under way.
	id := exportUnderWay(t, c, items)
	p.Kill()

	_, c = startDev(t, data)
	var run runJSON
	deadline := time.Now().Add(90 * time.Second)
	for {
		c.JSON(t, "GET", "/v1/runs/"+id, nil, http.StatusOK, &run)
		if run.Status == "completed" || run.Status == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if run.Status != "completed" {
		t.Fatalf("run after kill -9 and restart: %+v", run)
	}
	var out struct{ Processed, Sum int }
	if err := json.Unmarshal(run.Output, &out); err != nil {
		t.Fatal(err)
	}
	if out.Processed != items || out.Sum != items*(items-1)/2 {
		t.Errorf("output %s: want processed=%d sum=%d (each item exactly once)", run.Output, items, items*(items-1)/2)
	}
	_, body := c.Do(t, "GET", "/v1/runs/"+id+"/events", nil)
	if n := strings.Count(string(body), `"activation_started"`); n < 2 {
		t.Errorf("%d activations, want at least 2 (before and after the kill): %s", n, body)
	}
}

// wasmflow dev restarted after kill -9 on the same data directory takes
// its runs back at once, instead of waiting out their leases (30 s): the
// embedded store is one process's, so no one else can hold them. A second
// dev on a data directory in use is refused, saying which process has it.
func TestDevTakesItsRunsBackAfterKillNine(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p, c := startDev(t, data, "--lease", "30s")

	out, err := exec.Command(proctest.Binary(t), "dev", "--listen", proctest.FreeAddr(t), "--data", data,
		"--modules", filepath.Dir(testmodules.Path(t, "export"))).CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("in use by process %d", p.Pid())) {
		t.Errorf("a second dev on the same data: %v\n%s\nwant it refused, naming process %d", err, out, p.Pid())
	}

	id := exportUnderWay(t, c, 300)
	p.Kill()

	_, c = startDev(t, data, "--lease", "30s")
	serving := time.Now()
	var resumed time.Time
	for resumed.IsZero() {
		var body struct {
			Events []struct {
				Type string    `json:"type"`
				At   time.Time `json:"at"`
			} `json:"events"`
		}
		c.JSON(t, "GET", "/v1/runs/"+id+"/events", nil, http.StatusOK, &body)
		n := 0
		for _, e := range body.Events {
			if e.Type == "activation_started" {
				if n++; n == 2 {
					resumed = e.At
				}
			}
		}
		if resumed.IsZero() && time.Since(serving) > 60*time.Second {
			t.Fatalf("the run was not resumed within 60s of the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := resumed.Sub(serving)
	t.Logf("the restarted dev resumed the run %s after it served", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the run resumed %s after the restarted dev served, want well under its 30s lease", took.Round(time.Millisecond))
	}
}

// exportUnderWay starts an export of items (10 ms each) and returns its id
// once its write_files step has saved a cursor.
func exportUnderWay(t *testing.T, c *proctest.Client, items int) string {
	t.Helper()
	var run runJSON
	c.JSON(t, "POST", "/v1/runs", map[string]any{"module": "export", "workflow": "export", "input": map[string]any{"items": items, "delay_ms": 10}}, http.StatusCreated, &run)
	poll.Until(t, 60*time.Second, func() error {
		c.JSON(t, "GET", "/v1/runs/"+run.ID, nil, http.StatusOK, &run)
		if len(run.Steps) > 0 && strings.Contains(string(run.Steps[0].Cursor), `"next":`) {
			return nil
		}
		return fmt.Errorf("write_files saved no cursor: %+v", run)
	})
	return run.ID
}

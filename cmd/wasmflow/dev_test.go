package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// binary builds the wasmflow command once per test binary.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wasmflow")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// devProcess is a running `wasmflow dev`.
type devProcess struct {
	cmd    *exec.Cmd
	url    string
	output *bytes.Buffer
}

// startDev starts `wasmflow dev` on a free loopback port with the example
// modules and the embedded store in data, and waits until it answers.
func startDev(t *testing.T, bin, data string) *devProcess {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	modules := filepath.Dir(testmodules.Path(t, "export"))
	out := &bytes.Buffer{}
	cmd := exec.Command(bin, "dev", "--listen", addr, "--data", data, "--modules", modules, "--log-level", "warn", "--lease", "3s")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, url: "http://" + addr, output: out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("wasmflow dev output:\n%s", out)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wasmflow dev did not answer on %s: %v\n%s", addr, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type runJSON struct {
	ID     string          `json:"id"`
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  *string         `json:"error"`
}

func do(t *testing.T, method, url, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func decodeRun(t *testing.T, b []byte) runJSON {
	t.Helper()
	var r runJSON
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("run JSON %s: %v", b, err)
	}
	return r
}

// The README's first command: the dev host serves the examples over HTTP,
// answers bad requests with clear errors, and stops cleanly on SIGTERM.
func TestDevServesTheExamples(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	p := startDev(t, bin, t.TempDir())

	status, body := do(t, "POST", p.url+"/v1/runs?wait=30s", "application/json",
		[]byte(`{"module":"receipt","workflow":"receipt","input":{"order_id":"A-1001","amount_cents":4200,"email":"a@example.com"}}`))
	if status != http.StatusCreated {
		t.Fatalf("start run: %d %s", status, body)
	}
	if r := decodeRun(t, body); r.Status != "completed" {
		t.Fatalf("receipt run: %s", body)
	}

	status, body = do(t, "POST", p.url+"/v1/runs", "application/json", []byte(`{"module":"receipt",`))
	if status != http.StatusBadRequest || !strings.Contains(string(body), `"code"`) {
		t.Errorf("broken JSON body: %d %s, want 400 with an error code", status, body)
	}
	status, body = do(t, "POST", p.url+"/v1/modules?name=junk", "application/wasm", []byte("not wasm"))
	if status != http.StatusBadRequest || !strings.Contains(string(body), "not a WebAssembly module") {
		t.Errorf("junk module: %d %s, want 400 naming the problem", status, body)
	}
	status, body = do(t, "GET", p.url+"/v1/runs/0198c0de-0000-7000-8000-000000000000", "", nil)
	if status != http.StatusNotFound {
		t.Errorf("unknown run: %d %s, want 404", status, body)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("wasmflow dev exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("wasmflow dev did not stop within 30s of SIGTERM")
	}
}

// A run survives its host process being killed mid-step: a new process on
// the same store resumes it from its cursor and completes it.
func TestRunSurvivesKillNine(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	data := t.TempDir()
	p := startDev(t, bin, data)

	const items = 400
	status, body := do(t, "POST", p.url+"/v1/runs", "application/json",
		[]byte(fmt.Sprintf(`{"module":"export","workflow":"export","input":{"items":%d,"delay_ms":10}}`, items)))
	if status != http.StatusCreated {
		t.Fatalf("start run: %d %s", status, body)
	}
	id := decodeRun(t, body).ID

	// Wait until the loop is well under way, then kill the process.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body = do(t, "GET", p.url+"/v1/runs/"+id, "", nil)
		if bytes.Contains(body, []byte(`"next":`)) && !bytes.Contains(body, []byte(`"next":0`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write_files saved no cursor: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()

	p = startDev(t, bin, data)
	status, body = do(t, "GET", p.url+"/v1/runs/"+id, "", nil)
	if status != http.StatusOK {
		t.Fatalf("get run after restart: %d %s", status, body)
	}
	deadline = time.Now().Add(90 * time.Second)
	var r runJSON
	for {
		_, body = do(t, "GET", p.url+"/v1/runs/"+id, "", nil)
		r = decodeRun(t, body)
		if r.Status == "completed" || r.Status == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.Status != "completed" {
		t.Fatalf("run after kill -9 and restart: %s", body)
	}
	var out struct{ Processed, Sum int }
	if err := json.Unmarshal(r.Output, &out); err != nil {
		t.Fatal(err)
	}
	if out.Processed != items || out.Sum != items*(items-1)/2 {
		t.Errorf("output %s: want processed=%d sum=%d (each item exactly once)", r.Output, items, items*(items-1)/2)
	}
	_, body = do(t, "GET", p.url+"/v1/runs/"+id+"/events", "", nil)
	if n := strings.Count(string(body), `"activation_started"`); n < 2 {
		t.Errorf("%d activations, want at least 2 (before and after the kill): %s", n, body)
	}
}

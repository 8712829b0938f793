// Package proctest runs real wasmflow processes for end-to-end tests: it
// builds the command once per test binary, starts processes on free
// loopback ports, waits until they answer, and talks to them over HTTP.
package proctest

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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/testmodules"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the wasmflow command, once per test binary, and returns its
// path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := testmodules.Root()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "wasmflow-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "wasmflow")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/wasmflow")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/wasmflow: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreeAddr returns a loopback address with a port that was free just now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Process is a running wasmflow process.
type Process struct {
	Cmd    *exec.Cmd
	URL    string // empty for processes without an API
	output *LockedBuffer
	done   chan struct{}
	err    error
}

// Start starts `wasmflow args...`. When addr is not empty the process serves
// the API there and Start waits until /healthz answers. The process is
// killed at the end of the test, and its output logged if the test failed.
func Start(t testing.TB, addr string, args ...string) *Process {
	t.Helper()
	out := &LockedBuffer{}
	cmd := exec.Command(Binary(t), args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, output: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of wasmflow %v (pid %d):\n%s", args, cmd.Process.Pid, out.String())
		}
	})
	if addr == "" {
		return p
	}
	p.URL = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("wasmflow %v exited before serving: %v\n%s", args, p.err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("wasmflow %v did not answer on %s: %v\n%s", args, addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitOutput returns the process's output once it contains s, or fails t
// after timeout. The output reaches the test through a pipe and a copying
// goroutine, so what the process printed before it answered a request may
// arrive after the answer.
func (p *Process) WaitOutput(t testing.TB, s string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := p.Output()
		if strings.Contains(out, s) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("wasmflow printed no %q in %s:\n%s", s, timeout, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Output returns what the process wrote so far.
func (p *Process) Output() string { return p.output.String() }

// Kill kills the process with SIGKILL and waits for it.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Kill()
	<-p.done
}

// Terminate sends SIGTERM and waits up to timeout for the process to exit,
// returning its exit error (nil for a clean exit).
func (p *Process) Terminate(timeout time.Duration) error {
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("pid %d did not exit within %s of SIGTERM", p.Pid(), timeout)
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Client calls a wasmflow API.
type Client struct {
	URL   string
	Token string // sent as a bearer token when set
}

// Do sends a request with an optional body (a []byte is sent as wasm, a
// json.RawMessage as it is, anything else encoded as JSON) and returns the status and body.
func (c *Client) Do(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		r, ctype = bytes.NewReader(b), "application/wasm"
	case json.RawMessage: // sent as is, valid JSON or not
		r, ctype = bytes.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// JSON sends a request like Do, checks the status, and decodes the answer
// into out.
func (c *Client) JSON(t testing.TB, method, path string, body any, wantStatus int, out any) {
	t.Helper()
	status, b := c.Do(t, method, path, body)
	if status != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, path, status, b, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// LockedBuffer is a bytes.Buffer safe for concurrent writers: a process's
// output, or a logger's destination.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// cli runs client commands of the built wasmflow against one server.
type cli struct {
	server string
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs `wasmflow args... --server URL` (unless args name a server) and returns what it printed and
// its exit status.
func (c *cli) run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if !slices.Contains(args, "--server") {
		args = append(args, "--server", c.server)
	}
	cmd := exec.CommandContext(ctx, proctest.Binary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("wasmflow %v: %v", args, err)
	}
	return r
}

// ok runs a command that must succeed.
func (c *cli) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := c.run(t, args...)
	if r.code != 0 {
		t.Fatalf("wasmflow %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// start starts a run without waiting and returns its id.
func (c *cli) start(t *testing.T, workflow, input string) string {
	t.Helper()
	var run runJSON
	decode(t, c.ok(t, "run", "start", "faults", workflow, "--input", input, "--json").stdout, &run)
	return run.ID
}

func decode(t *testing.T, s string, out any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
}

// field reads "name  value" from a run summary.
func field(t *testing.T, summary, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s+(.*)$`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no %q line in:\n%s", name, summary)
	}
	return strings.TrimSpace(m[1])
}

// background runs a command that keeps going, such as events --follow.
type background struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout bytes.Buffer
	done   chan error
}

func (b *background) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stdout.Write(p)
}

func (b *background) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stdout.String()
}

func (c *cli) background(t *testing.T, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(proctest.Binary(t), append(args, "--server", c.server)...), done: make(chan error, 1)}
	b.cmd.Stdout = b
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() { b.cmd.Process.Kill() })
	return b
}

// waitFor waits until the command's output contains s.
func (b *background) waitFor(t *testing.T, s string) {
	t.Helper()
	poll.Until(t, 30*time.Second, func() error {
		if out := b.output(); !strings.Contains(out, s) {
			return fmt.Errorf("no %q in the output:\n%s", s, out)
		}
		return nil
	})
}

// exit waits for the command to end and returns its error.
func (b *background) exit(t *testing.T) error {
	t.Helper()
	select {
	case err := <-b.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%v still running after 30s; output:\n%s", b.cmd.Args, b.output())
		return nil
	}
}

// The client commands, run as a user runs them, against a real dev server.
func TestClientCommands(t *testing.T) {
	t.Parallel()
	_, api := startDev(t, t.TempDir())
	c := &cli{server: api.URL}

	push := c.ok(t, "module", "push", testmodules.Path(t, "faults"), "--name", "faults")
	for _, want := range []string{"faults (pushed)", "sha256:", "panic", "sleepy", "await"} {
		if !strings.Contains(push.stdout, want) {
			t.Fatalf("module push printed no %q:\n%s", want, push.stdout)
		}
	}

	t.Run("pushing the same module again changes nothing", func(t *testing.T) {
		t.Parallel()
		r := c.ok(t, "module", "push", testmodules.Path(t, "faults"), "--name", "faults", "--json")
		var m struct{ Name, Version, Digest string }
		decode(t, r.stdout, &m)
		if m.Version != field(t, push.stdout, "version") || m.Digest != field(t, push.stdout, "digest") {
			t.Errorf("second push: %+v, first:\n%s", m, push.stdout)
		}
	})

	t.Run("module list shows every module with its workflows", func(t *testing.T) {
		t.Parallel()
		out := c.ok(t, "module", "list").stdout
		if !regexp.MustCompile(`(?m)^faults\s+1\s+sha256:\S+\s+\d+\s+\S+\s+loop, oom, .*await`).MatchString(out) {
			t.Errorf("module list:\n%s", out)
		}
		if !strings.Contains(out, "receipt") {
			t.Errorf("module list lacks the dev examples:\n%s", out)
		}
	})

	t.Run("module delete refuses a version runs need and deletes one they do not", func(t *testing.T) {
		t.Parallel()
		c.ok(t, "module", "push", testmodules.Path(t, "faults"), "--name", "pinned")
		c.ok(t, "module", "push", testmodules.Path(t, "faults"), "--name", "spare")
		if r := c.run(t, "run", "start", "pinned", "panic", "--wait", "30s"); r.code != 1 {
			t.Fatalf("failing run: exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		r := c.run(t, "module", "delete", "pinned", "--version", "1")
		if r.code == 0 || !strings.Contains(r.stderr, "still needed by 1 run") {
			t.Fatalf("delete of a pinned version: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if out := c.ok(t, "module", "delete", "spare", "--version", "1").stdout; !strings.Contains(out, "deleted module spare version 1") {
			t.Errorf("module delete:\n%s", out)
		}
		if out := c.ok(t, "module", "list").stdout; strings.Contains(out, "spare") || !strings.Contains(out, "pinned") {
			t.Errorf("module list after the delete:\n%s", out)
		}
		if r := c.run(t, "module", "delete", "spare", "--version", "1"); r.code == 0 || !strings.Contains(r.stderr, "no module spare version 1") {
			t.Errorf("second delete: exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		if r := c.run(t, "module", "delete", "spare"); r.code == 0 || !strings.Contains(r.stderr, "--version is required") {
			t.Errorf("delete without --version: exit %d\nstderr:\n%s", r.code, r.stderr)
		}
	})

	t.Run("run start --wait prints the completed run", func(t *testing.T) {
		t.Parallel()
		r := c.ok(t, "run", "start", "faults", "ok", "--wait", "30s")
		if field(t, r.stdout, "status") != "completed" || field(t, r.stdout, "output") != `{"ok":true}` {
			t.Errorf("run start --wait:\n%s", r.stdout)
		}
	})

	t.Run("run start --wait exits 1 when the run fails, and retry runs it again", func(t *testing.T) {
		t.Parallel()
		r := c.run(t, "run", "start", "faults", "panic", "--wait", "30s")
		if r.code != 1 || !strings.Contains(r.stderr, "failed: panic: boom") || field(t, r.stdout, "status") != "failed" {
			t.Fatalf("failing run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		id := field(t, r.stdout, "run")
		got := c.ok(t, "run", "get", id).stdout
		if field(t, got, "status") != "failed" || !strings.Contains(field(t, got, "error"), "boom") {
			t.Errorf("run get of the failed run:\n%s", got)
		}
		retried := c.ok(t, "run", "retry", id).stdout
		if field(t, retried, "attempt") != "2" || field(t, retried, "status") == "failed" {
			t.Errorf("run retry:\n%s", retried)
		}
	})

	t.Run("run start --wait shows a long run's events when piped", func(t *testing.T) {
		t.Parallel()
		// Longer than the one-second head start, so the command follows
		// the run's events.
		r := c.ok(t, "run", "start", "export", "export", "--input", `{"items":150,"delay_ms":10}`, "--wait", "60s")
		if field(t, r.stdout, "status") != "completed" {
			t.Fatalf("export run:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
		if !regexp.MustCompile(`(?m)^\s+\d+\s+\S+\s+step_started\s+write_files\s+\{"attempt":1`).MatchString(r.stderr) ||
			!strings.Contains(r.stderr, "run_completed") {
			t.Errorf("progress on stderr, want event lines:\n%s", r.stderr)
		}
	})

	t.Run("run events lists the timeline", func(t *testing.T) {
		t.Parallel()
		id := field(t, c.ok(t, "run", "start", "faults", "ok", "--wait", "30s").stdout, "run")
		out := c.ok(t, "run", "events", id).stdout
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !regexp.MustCompile(`^\s*1\s+\d{4}-\d\d-\d\dT\S+Z\s+run_created\s+-\s+\{"module":"faults"`).MatchString(lines[0]) ||
			!strings.Contains(lines[len(lines)-1], "run_completed") {
			t.Errorf("run events:\n%s", out)
		}
		var evs struct{ Events []struct{ Seq int } }
		decode(t, c.ok(t, "run", "events", id, "--json").stdout, &evs)
		if len(evs.Events) != len(lines) {
			t.Errorf("--json has %d events, the lines %d", len(evs.Events), len(lines))
		}
	})

	t.Run("run events --follow ends when the run completes", func(t *testing.T) {
		t.Parallel()
		id := c.start(t, "sleepy", "null")
		out := c.ok(t, "run", "events", id, "--follow").stdout
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.Contains(out, "timer_fired") || !strings.Contains(lines[len(lines)-1], "run_completed") {
			t.Errorf("run events --follow:\n%s", out)
		}
		for i, l := range lines {
			if seq := strings.Fields(l)[0]; seq != strconv.Itoa(i+1) {
				t.Errorf("line %d has seq %s, want each event once, in order:\n%s", i+1, seq, out)
				break
			}
		}
	})

	t.Run("run signal wakes a waiting run, seen live by events --follow", func(t *testing.T) {
		t.Parallel()
		r := c.ok(t, "run", "start", "faults", "await", "--input", `{"timeout_ms":60000}`, "--wait", "30s")
		if field(t, r.stdout, "status") != "waiting" {
			t.Fatalf("await run, want waiting:\n%s", r.stdout)
		}
		id := field(t, r.stdout, "run")
		follow := c.background(t, "run", "events", id, "--follow")
		follow.waitFor(t, `{"reason":"signal"`)

		sent := c.ok(t, "run", "signal", id, "go", "--data", `{"n":7}`).stdout
		if !strings.Contains(sent, "sent signal go to run "+id) {
			t.Errorf("run signal: %s", sent)
		}
		if err := follow.exit(t); err != nil {
			t.Errorf("events --follow: %v\n%s", err, follow.output())
		}
		if out := follow.output(); !strings.Contains(out, "signal_received") || !strings.Contains(out, "run_completed") {
			t.Errorf("events --follow after the signal:\n%s", out)
		}
		if got := c.ok(t, "run", "get", id).stdout; field(t, got, "output") != `{"n":7}` {
			t.Errorf("run get after the signal:\n%s", got)
		}
		if r := c.run(t, "run", "signal", id, "go"); r.code != 1 || !strings.Contains(r.stderr, "wasmflow: run_finished: ") {
			t.Errorf("signal to a finished run: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("run upgrade and module upgrade move runs after the replay check", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"1", "2", "3"} {
			c.ok(t, "module", "push", testmodules.Path(t, "versions-v"+v), "--name", "versions", "--version", v)
		}
		one := field(t, c.ok(t, "run", "start", "versions", "order", "--version", "1", "--wait", "30s").stdout, "run")
		two := field(t, c.ok(t, "run", "start", "versions", "order", "--version", "1", "--wait", "30s").stdout, "run")
		r := c.run(t, "run", "upgrade", one, "--version", "3")
		if r.code != 1 || !strings.Contains(r.stderr, "wasmflow: upgrade_diverged: ") || !strings.Contains(r.stderr, `step "x"`) {
			t.Fatalf("upgrade to an incompatible version: exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		if out := c.ok(t, "run", "upgrade", one, "--version", "2", "--dry-run").stdout; !strings.Contains(out, "up to position 2") {
			t.Errorf("run upgrade --dry-run:\n%s", out)
		}
		if out := c.ok(t, "run", "upgrade", one, "--version", "2").stdout; field(t, out, "workflow") != "versions/order (module version 2)" {
			t.Errorf("run upgrade:\n%s", out)
		}
		out := c.ok(t, "module", "upgrade", "versions", "--from", "1", "--to", "3", "--dry-run").stdout
		if !strings.Contains(out, "1 checked, 0 would be upgraded (dry run), 1 diverged") || !strings.Contains(out, two) {
			t.Errorf("module upgrade --dry-run to 3:\n%s", out)
		}
		if out := c.ok(t, "module", "upgrade", "versions", "--from", "1", "--to", "2").stdout; !strings.Contains(out, "1 checked, 1 upgraded, 0 diverged") {
			t.Errorf("module upgrade to 2:\n%s", out)
		}
	})

	t.Run("run cancel stops a waiting run once", func(t *testing.T) {
		t.Parallel()
		r := c.ok(t, "run", "start", "faults", "await", "--wait", "30s")
		id := field(t, r.stdout, "run")
		if got := c.ok(t, "run", "cancel", id).stdout; field(t, got, "status") != "cancelled" {
			t.Errorf("run cancel:\n%s", got)
		}
		if r := c.run(t, "run", "cancel", id); r.code != 1 || !strings.Contains(r.stderr, "wasmflow: invalid_transition: ") {
			t.Errorf("second cancel: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("runs list filters by status and pages with --all", func(t *testing.T) {
		t.Parallel()
		failed := c.start(t, "panic", "null")
		done := field(t, c.ok(t, "run", "start", "faults", "ok", "--wait", "30s").stdout, "run")
		c.ok(t, "run", "events", failed, "--follow") // until it has failed

		out := c.ok(t, "runs", "list", "--status", "failed", "--module", "faults").stdout
		if !strings.Contains(out, failed) || strings.Contains(out, done) {
			t.Errorf("runs list --status failed, want %s and not %s:\n%s", failed, done, out)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			if f := strings.Fields(l); f[3] != "failed" {
				t.Errorf("row with status %s in runs list --status failed:\n%s", f[3], out)
			}
		}

		one := c.ok(t, "runs", "list", "--limit", "1")
		all := c.ok(t, "runs", "list", "--limit", "1", "--all", "--json").stdout
		var list struct {
			Runs []struct{ ID string }
			Next *string
		}
		decode(t, all, &list)
		if strings.Count(one.stdout, "\n") != 2 || !strings.Contains(one.stderr, "--all") || len(list.Runs) < 2 || list.Next != nil {
			t.Errorf("runs list --limit 1:\n%s%s\nwith --all: %d runs, next %v", one.stdout, one.stderr, len(list.Runs), list.Next)
		}
	})

	t.Run("a module over the server's size limit is refused, naming the server's flag", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "big.wasm")
		if err := os.WriteFile(path, make([]byte, 32<<20+1), 0o644); err != nil { // the dev server's default: 32 MiB
			t.Fatal(err)
		}
		r := c.run(t, "module", "push", path, "--name", "big")
		if r.code != 1 || !strings.Contains(r.stderr, "too_large: ") || !strings.Contains(r.stderr, "module size limit (the server's --max-module-size)") {
			t.Errorf("module push of 32 MiB + 1 byte: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("a run over the server's payload limit fails naming the server's flag", func(t *testing.T) {
		t.Parallel()
		r := c.run(t, "run", "start", "faults", "big", "--input", `{"bytes":1048577}`, "--wait", "30s") // the dev server's default: 1 MiB
		if r.code != 1 || !strings.Contains(r.stderr, "over the 1048576-byte payload limit (--max-payload)") {
			t.Errorf("run of an output of 1 MiB + 1 byte: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("an unknown run is not_found, exit 1", func(t *testing.T) {
		t.Parallel()
		r := c.run(t, "run", "get", "0198c0de-0000-7000-8000-000000000000")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "wasmflow: not_found: ") {
			t.Errorf("run get of an unknown run: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("usage errors exit 2 without calling the server", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"run", "start", "faults"},
			{"run", "start", "faults", "ok", "--input", "{not json"},
			{"module", "push", "x.wasm"},
			{"runs", "list", "--limit", "0"},
		} {
			if r := c.run(t, args...); r.code != 2 || !strings.Contains(r.stderr, "wasmflow: ") {
				t.Errorf("wasmflow %v: exit %d, stderr %q; want 2 and a message", args, r.code, r.stderr)
			}
		}
		if r := c.run(t, "run", "get", "x", "--server", "http://"+proctest.FreeAddr(t)); r.code != 1 || !strings.Contains(r.stderr, "no wasmflow server answers at") {
			t.Errorf("no server: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

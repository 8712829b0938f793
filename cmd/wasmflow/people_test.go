package main_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// What a person meets first: errors on one line without internal prefixes,
// a flag error said once with a hint, --help that succeeds, a version that
// names the build, and runs that say when they already existed.
func TestCLIForPeople(t *testing.T) {
	t.Parallel()
	_, api := startDev(t, t.TempDir())
	c := &cli{server: api.URL}
	c.ok(t, "module", "push", testmodules.Path(t, "faults"), "--name", "faults")

	t.Run("a flag error is said once, on one line, with a hint", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			args []string
			hint string
		}{
			{[]string{"run", "start", "faults", "ok", "--wait", "10"}, "use a duration such as 10s"},
			{[]string{"runs", "list", "--limit", "ten"}, "use a whole number"},
			{[]string{"run", "start", "faults", "ok", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
			{[]string{"run", "start", "faults"}, "run start takes MODULE WORKFLOW"},
		} {
			r := c.run(t, tc.args...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "wasmflow: ") || !strings.Contains(lines[0], tc.hint) ||
				strings.Contains(r.stderr, "parse error") || strings.Contains(r.stderr, "Usage:") {
				t.Errorf("wasmflow %v: exit %d, stderr:\n%s\nwant exit 2 and one line with %q", tc.args, r.code, r.stderr, tc.hint)
			}
		}
	})

	t.Run("--help prints the usage and exits 0", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"run", "start", "--help"}, {"module", "push", "-h"}, {"dev", "--help"}, {"runs", "list", "--help"}} {
			r := c.run(t, args...)
			if r.code != 0 || !strings.Contains(r.stdout, "Usage: wasmflow") || r.stderr != "" {
				t.Errorf("wasmflow %v: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0 and the usage on stdout", args, r.code, r.stdout, r.stderr)
			}
		}
	})

	t.Run("version names the build", func(t *testing.T) {
		t.Parallel()
		out := c.ok(t, "version").stdout
		if !regexp.MustCompile(`^wasmflow (\(devel\)|v\S+)(, revision [0-9a-f]{40}( \(modified\))?, committed \S+)?, go1\.\d+`).MatchString(out) {
			t.Errorf("version: %q, want the module version, the VCS revision when recorded, and the Go version", out)
		}
		meta, err := exec.Command("go", "version", "-m", proctest.Binary(t)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`vcs.revision=([0-9a-f]+)`).FindSubmatch(meta); m != nil && !strings.Contains(out, string(m[1])) {
			t.Errorf("version %q does not show the revision %s the binary records", out, m[1])
		}
	})

	t.Run("an API error is one line: its code and a sentence", func(t *testing.T) {
		t.Parallel()
		id := field(t, c.ok(t, "run", "start", "faults", "await", "--wait", "30s").stdout, "run")
		c.ok(t, "run", "cancel", id)
		for verb, want := range map[string]string{
			"cancel": "wasmflow: invalid_transition: run " + id + " has already finished (cancelled): only a run that has not finished can be cancelled\n",
			"retry":  "wasmflow: invalid_transition: run " + id + " is cancelled, and a cancelled run stays cancelled: start a new run instead (only a failed run can be retried)\n",
		} {
			if r := c.run(t, "run", verb, id); r.code != 1 || r.stderr != want {
				t.Errorf("run %s of a cancelled run: exit %d, stderr %q\nwant exit 1, %q", verb, r.code, r.stderr, want)
			}
		}
	})

	t.Run("a reused idempotency key says the run already existed, and another body is refused", func(t *testing.T) {
		t.Parallel()
		first := c.ok(t, "run", "start", "faults", "ok", "--idempotency-key", "people-1", "--input", `{"a":1}`)
		id := field(t, first.stdout, "run")
		if strings.Contains(first.stderr, "already existed") {
			t.Errorf("first start says the run already existed: %s", first.stderr)
		}
		again := c.ok(t, "run", "start", "faults", "ok", "--idempotency-key", "people-1", "--input", `{ "a": 1 }`)
		if field(t, again.stdout, "run") != id || !strings.Contains(again.stderr, "run "+id+" already existed for this idempotency key") {
			t.Errorf("second start: stdout:\n%s\nstderr: %s\nwant run %s and a word that it already existed", again.stdout, again.stderr, id)
		}
		other := c.run(t, "run", "start", "faults", "ok", "--idempotency-key", "people-1", "--input", `{"a":2}`)
		if other.code != 1 || !strings.HasPrefix(other.stderr, "wasmflow: idempotency_key_reused: ") || !strings.Contains(other.stderr, id) {
			t.Errorf("start with the key and another input: exit %d, stderr %q", other.code, other.stderr)
		}
	})

	t.Run("a signal name with a space arrives as it was typed", func(t *testing.T) {
		t.Parallel()
		id := field(t, c.ok(t, "run", "start", "faults", "await", "--wait", "30s").stdout, "run")
		if out := c.ok(t, "run", "signal", id, "a b").stdout; !strings.Contains(out, "sent signal a b to run "+id) {
			t.Errorf("run signal ID \"a b\": %s", out)
		}
		if evs := c.ok(t, "run", "events", id, "--json").stdout; !strings.Contains(evs, `"name": "a b"`) {
			t.Errorf("the signal_received event does not name the signal a b:\n%s", evs)
		}
		c.ok(t, "run", "signal", id, "go")
	})

	t.Run("names outside the grammar are usage errors", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{
			{"module", "push", "x.wasm", "--name", "../../etc/passwd"},
			{"run", "start", "../faults", "ok"},
			{"run", "signal", "0198c0de-0000-7000-8000-000000000000", "a\x01b"},
		} {
			if r := c.run(t, args...); r.code != 2 || !strings.HasPrefix(r.stderr, "wasmflow: ") {
				t.Errorf("wasmflow %q: exit %d, stderr %q; want 2", args, r.code, r.stderr)
			}
		}
	})
}

package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// runs cancel, runs retry and runs purge act on the runs that match their
// filters, each counting first with --dry-run.
func TestRunsBulkCommands(t *testing.T) {
	t.Parallel()
	_, api := startDev(t, t.TempDir())
	c := &cli{server: api.URL}
	c.ok(t, "module", "push", testmodules.Path(t, "faults"), "--name", "faults")
	var ids []string
	for range 3 {
		r := c.ok(t, "run", "start", "faults", "await", "--input", `{"timeout_ms":600000}`, "--wait", "30s")
		if field(t, r.stdout, "status") != "waiting" {
			t.Fatalf("await run, want waiting:\n%s", r.stdout)
		}
		ids = append(ids, field(t, r.stdout, "run"))
	}
	failed := c.run(t, "run", "start", "faults", "panic", "--wait", "30s")
	if failed.code != 1 {
		t.Fatalf("panic run: exit %d\n%s", failed.code, failed.stdout)
	}

	if r := c.run(t, "runs", "cancel"); r.code != 1 || !strings.Contains(r.stderr, "without a filter") {
		t.Errorf("runs cancel without a filter: exit %d\n%s", r.code, r.stderr)
	}
	if got := c.ok(t, "runs", "cancel", "--module", "faults", "--workflow", "await", "--dry-run").stdout; !strings.Contains(got, "3 runs would be cancelled (dry run)") {
		t.Errorf("runs cancel --dry-run: %s", got)
	}
	if got := c.ok(t, "runs", "cancel", "--module", "faults", "--status", "waiting").stdout; !strings.Contains(got, "matched 3 runs: 3 cancelled, 0 running asked to stop") {
		t.Errorf("runs cancel: %s", got)
	}
	for _, id := range ids {
		if got := c.ok(t, "run", "get", id).stdout; field(t, got, "status") != "cancelled" {
			t.Errorf("run %s after runs cancel:\n%s", id, got)
		}
	}
	if got := c.ok(t, "runs", "retry", "--module", "faults", "--dry-run").stdout; !strings.Contains(got, "1 runs would be retried (dry run)") {
		t.Errorf("runs retry --dry-run: %s", got)
	}

	before := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	if got := c.ok(t, "runs", "purge", "--before", before, "--status", "cancelled", "--dry-run").stdout; !strings.Contains(got, "3 runs finished before") {
		t.Errorf("runs purge --dry-run: %s", got)
	}
	if got := c.ok(t, "runs", "purge", "--before", "30d").stdout; !strings.Contains(got, "purged 0 runs") {
		t.Errorf("runs purge --before 30d: %s", got)
	}
	if got := c.ok(t, "runs", "purge", "--before", before, "--status", "cancelled").stdout; !strings.Contains(got, "purged 3 runs") {
		t.Errorf("runs purge: %s", got)
	}
	if r := c.run(t, "run", "get", ids[0]); r.code != 1 || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("run get of a purged run: exit %d\n%s", r.code, r.stderr)
	}
	if r := c.run(t, "runs", "purge", "--before", "soon"); r.code == 0 || !strings.Contains(r.stderr, "--before") {
		t.Errorf("runs purge --before soon: exit %d\n%s", r.code, r.stderr)
	}
}

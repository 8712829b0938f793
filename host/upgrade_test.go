package host_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
)

// Upgrades with a replay check, and change markers, for every guest
// language × engine × store: the "versions" test guests of
// modules/TESTGUESTS.md, four versions of workflow "order".

// sdkLangs are the languages with versions guests: those with SDKs.
var sdkLangs = []string{"go", "rust"}

// pushVersions pushes versions-v1 … v4 of c's language as versions "1" …
// "4" of module "versions".
func pushVersions(t *testing.T, c *combo, b *bundle) {
	t.Helper()
	for v := 1; v <= 4; v++ {
		_, _, err := b.host.PushModule(context.Background(), &host.PushModuleParams{
			Name: "versions", Version: fmt.Sprint(v), Wasm: testmodules.Bytes(t, c.guest(fmt.Sprintf("versions-v%d", v))),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// startVersion starts a run of workflow order of version v and waits for
// it to wait for its signal.
func startVersion(t *testing.T, b *bundle, v string) *store.Run {
	t.Helper()
	run, _, err := b.host.StartRun(context.Background(), &host.StartRunParams{Module: "versions", Version: v, Workflow: "order"})
	if err != nil {
		t.Fatal(err)
	}
	return b.wait(t, run.ID, 60*time.Second, store.StatusWaiting)
}

// signalGo sends the signal the runs of order wait for.
func signalGo(t *testing.T, b *bundle, id string) {
	t.Helper()
	if _, err := b.host.Signal(context.Background(), id, "go", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
}

// divergence upgrades run id to version v and fails the test unless the
// upgrade is refused with the divergence want, leaving the run as it was.
func divergence(t *testing.T, b *bundle, id, v string, want host.Divergence) {
	t.Helper()
	ctx := context.Background()
	before, err := b.host.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: id, Version: v})
	var de *host.DivergenceError
	if !errors.As(err, &de) || !errors.Is(err, host.ErrUpgradeDiverged) || !errors.Is(err, host.ErrConflict) {
		t.Fatalf("upgrade to %s: %v, want a divergence", v, err)
	}
	d := de.Divergence
	if d.Position != want.Position || d.Journal != want.Journal || d.Code != want.Code || d.Message == "" {
		t.Errorf("upgrade to %s diverges at %d: journal %v, code %v (%q); want at %d: journal %v, code %v",
			v, d.Position, d.Journal, d.Code, d.Message, want.Position, want.Journal, want.Code)
	}
	after, err := b.host.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.ModuleDigest != before.ModuleDigest || after.ModuleVersion != before.ModuleVersion || after.EventCount != before.EventCount || after.Status != before.Status {
		t.Errorf("a refused upgrade changed the run: %s %s %d events %s, was %s %s %d events %s",
			after.ModuleVersion, after.ModuleDigest, after.EventCount, after.Status, before.ModuleVersion, before.ModuleDigest, before.EventCount, before.Status)
	}
}

// A compatible version 2 takes over a waiting version-1 run, which
// completes under version 2: the steps it had run keep their recorded
// outputs (the old branch of the change, replayed), and the step after the
// upgrade runs version 2's code. Incompatible versions are refused with
// the divergence named, and the run goes on untouched.
func TestConformanceUpgrade(t *testing.T) {
	forEachComboOf(t, sdkLangs, func(t *testing.T, c *combo) {
		ctx := context.Background()
		b := c.setup(t, setupOpts{})
		pushVersions(t, c, b)
		old := startVersion(t, b, "1")

		divergence(t, b, old.ID, "3", host.Divergence{Position: 1,
			Journal: host.JournalCall{Kind: "step", Name: "b"}, Code: host.JournalCall{Kind: "step", Name: "x"}})
		// Version 4 has deprecated the old branch: a run that took it
		// cannot move there.
		divergence(t, b, old.ID, "4", host.Divergence{Position: 1,
			Journal: host.JournalCall{Kind: "step", Name: "b"}, Code: host.JournalCall{Kind: "step", Name: "b2"}})

		dry, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: old.ID, Version: "2", DryRun: true})
		if err != nil || dry.Upgraded || dry.Position != 2 || dry.Run.ModuleVersion != "1" {
			t.Fatalf("dry run to 2: %+v, %v; want compatible up to position 2, nothing moved", dry, err)
		}
		if r, _ := b.host.Run(ctx, old.ID); r.ModuleVersion != "1" {
			t.Fatalf("a dry run moved the run to version %s", r.ModuleVersion)
		}
		up, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: old.ID, Version: "2"})
		if err != nil {
			t.Fatal(err)
		}
		if !up.Upgraded || up.Run.ModuleVersion != "2" || up.Run.ModuleDigest != up.To.Digest || up.From.Version != "1" || up.Run.Status != store.StatusWaiting {
			t.Fatalf("upgrade to 2: %+v (run on %s, %s)", up, up.Run.ModuleVersion, up.Run.Status)
		}
		evs := b.events(t, old.ID)
		if n := count(evs, store.EventRunUpgraded, ""); n != 1 {
			t.Errorf("%d run_upgraded events, want 1", n)
		}
		upgradedAt := evs[len(evs)-1].Seq
		signalGo(t, b, old.ID)
		b.completed(t, old.ID, `{"steps":["a@1","b@1","c@2"],"version":2}`)
		// The activation after the upgrade replayed version 2's code: it
		// did not resume the guest of version 1 from its snapshot or a
		// warm instance.
		for _, e := range b.events(t, old.ID) {
			if e.Type != store.EventActivationStarted || e.Seq < upgradedAt {
				continue
			}
			var d map[string]any
			decode(t, e.Data, &d)
			if d["start"] == executor.StartSnapshot || d["start"] == executor.StartWarm {
				t.Errorf("an activation after the upgrade started %v: from the old version's state", d)
			}
		}
	})
}

// Change markers: a new run of version 2 takes the new branch and journals
// the marker, and keeps it when replayed; a version that deprecated the
// change takes such a run over, and one without the change is refused.
func TestConformanceChangeMarkers(t *testing.T) {
	forEachComboOf(t, sdkLangs, func(t *testing.T, c *combo) {
		ctx := context.Background()
		b := c.setup(t, setupOpts{})
		pushVersions(t, c, b)
		fresh := startVersion(t, b, "2")
		entries, err := b.host.Steps(ctx, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) < 3 || entries[1].Kind != "change" || entries[1].Name != "fix-b" || entries[2].Name != "b2" {
			t.Fatalf("a new run of version 2 journaled %v, want the marker fix-b at position 1 and then step b2", kinds(entries))
		}
		divergence(t, b, fresh.ID, "1", host.Divergence{Position: 1,
			Journal: host.JournalCall{Kind: "change", Name: "fix-b"}, Code: host.JournalCall{Kind: "step", Name: "b"}})
		if _, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: fresh.ID, Version: "4"}); err != nil {
			t.Fatalf("upgrade of a run with the marker to the version that deprecated it: %v", err)
		}
		signalGo(t, b, fresh.ID)
		b.completed(t, fresh.ID, `{"steps":["a@2","b2@2","c@4"],"version":4}`)

		// Replayed under its own version, a run keeps the new branch.
		again := startVersion(t, b, "2")
		signalGo(t, b, again.ID)
		b.completed(t, again.ID, `{"steps":["a@2","b2@2","c@2"],"version":2}`)

		// Version 4 alone journals no marker.
		v4 := startVersion(t, b, "4")
		entries, err = b.host.Steps(ctx, v4)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Kind == "change" {
				t.Errorf("version 4 journaled marker %s: a deprecated change records nothing", e.Name)
			}
		}
		signalGo(t, b, v4.ID)
		b.completed(t, v4.ID, `{"steps":["a@4","b2@4","c@4"],"version":4}`)
	})
}

func kinds(entries []*store.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = string(e.Kind) + " " + e.Name
	}
	return out
}

// Only a run that is not running and has not finished can be upgraded; a
// version must exist and export the run's workflow.
func TestUpgradeRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &combo{lang: "go", engine: "wazero"}
	b := setup(t, openStore(t, "sqlite"), setupOpts{workers: -1})
	pushVersions(t, c, b)
	run, _, err := b.host.StartRun(ctx, &host.StartRunParams{Module: "versions", Version: "1", Workflow: "order"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version string
		kind    host.ErrorKind
	}{
		{"9", host.ErrModuleNotFound},
		{"not a version!", host.ErrInvalid},
	} {
		if _, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: run.ID, Version: tc.version}); !errors.Is(err, tc.kind) {
			t.Errorf("upgrade to %q: %v, want %s", tc.version, err, tc.kind)
		}
	}
	if _, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: "0190d7a5-7d1a-7000-8000-000000000000", Version: "2"}); !errors.Is(err, host.ErrNotFound) {
		t.Errorf("upgrade of no run: %v, want not found", err)
	}
	// A pending run that has never run agrees with every version.
	if up, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: run.ID, Version: "3"}); err != nil || !up.Upgraded || up.Position != 0 {
		t.Fatalf("upgrade of a pending run: %+v, %v", up, err)
	}
	claimed, err := b.st.RunClaim(ctx, &store.RunClaimParams{Owner: "test", Now: time.Now(), LeaseDuration: time.Minute, Limit: 1, RunID: run.ID})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %v", claimed, err)
	}
	if _, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: run.ID, Version: "2"}); !errors.Is(err, host.ErrRunRunning) || !errors.Is(err, host.ErrConflict) {
		t.Errorf("upgrade of a running run: %v, want run_running", err)
	}
	if _, err := b.st.RunApply(ctx, &store.RunApplyParams{RunID: run.ID, Fence: claimed[0].Fence, Status: store.StatusCancelled, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: run.ID, Version: "2"}); !errors.Is(err, host.ErrInvalidTransition) {
		t.Errorf("upgrade of a cancelled run: %v, want invalid_transition", err)
	}
}

// A bulk upgrade moves the runs that agree with the new version, leaves
// those that do not, counts each and groups the divergences, page by page;
// a dry run moves nothing.
func TestUpgradeModule(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := &combo{lang: "go", engine: "wazero"}
			b := setup(t, openStore(t, kind), setupOpts{})
			pushVersions(t, c, b)
			const olds, news = 12, 3
			var all, fresh []string
			for i := range olds + news {
				v := map[bool]string{true: "1", false: "2"}[i < olds]
				run, _, err := b.host.StartRun(ctx, &host.StartRunParams{Module: "versions", Version: v, Workflow: "order"})
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, run.ID)
				if v == "2" {
					fresh = append(fresh, run.ID)
				}
			}
			for _, id := range all {
				b.wait(t, id, 60*time.Second, store.StatusWaiting)
			}
			res, err := b.host.UpgradeModule(ctx, &host.UpgradeModuleParams{Name: "versions", From: "1", To: "3", DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Checked != olds || res.Diverged != olds || res.Upgraded != 0 || len(res.Divergences) != 1 || res.Next != "" {
				t.Fatalf("dry run 1 → 3: %+v", res)
			}
			g := res.Divergences[0]
			if g.Runs != olds || len(g.Examples) != 5 || g.Position != 1 || g.Journal.Name != "b" || g.Code.Name != "x" {
				t.Errorf("divergence group %+v", g)
			}
			dry, err := b.host.UpgradeModule(ctx, &host.UpgradeModuleParams{Name: "versions", From: "1", To: "2", DryRun: true})
			if err != nil || dry.Upgraded != olds || dry.Diverged != 0 {
				t.Fatalf("dry run 1 → 2: %+v, %v", dry, err)
			}
			moved, pages, after := 0, 0, ""
			for {
				res, err := b.host.UpgradeModule(ctx, &host.UpgradeModuleParams{Name: "versions", From: "1", To: "2", After: after, Limit: 5})
				if err != nil {
					t.Fatal(err)
				}
				moved += res.Upgraded
				pages++
				if res.Next == "" {
					break
				}
				after = res.Next
			}
			if moved != olds || pages < 3 {
				t.Errorf("moved %d runs in %d pages, want %d in at least 3", moved, pages, olds)
			}
			page, err := b.host.ListRuns(ctx, &host.ListRunsParams{Module: "versions", ModuleVersion: "1", Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Runs) != 0 {
				t.Errorf("%d runs left on version 1", len(page.Runs))
			}
			for _, id := range fresh {
				r, err := b.host.Run(ctx, id)
				if err != nil || r.ModuleVersion != "2" || count(b.events(t, id), store.EventRunUpgraded, "") != 0 {
					t.Errorf("run %s of version 2 was touched: %v %v", id, r.ModuleVersion, err)
				}
			}
			if _, err := b.host.UpgradeModule(ctx, &host.UpgradeModuleParams{Name: "versions", From: "1", To: "2", After: "nonsense"}); !errors.Is(err, host.ErrInvalid) {
				t.Errorf("a bad after: %v", err)
			}
		})
	}
}

// A bulk upgrade to a version that does not export a run's workflow counts
// the run as diverged, grouped by its workflow, and goes on.
func TestUpgradeModuleMissingWorkflow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, openStore(t, "sqlite"), setupOpts{})
	for v, guest := range map[string]string{"1": "faults", "2": "steps"} {
		if _, _, err := b.host.PushModule(ctx, &host.PushModuleParams{Name: "mix", Version: v, Wasm: testmodules.Bytes(t, guest)}); err != nil {
			t.Fatal(err)
		}
	}
	run, _, err := b.host.StartRun(ctx, &host.StartRunParams{Module: "mix", Version: "1", Workflow: "await"})
	if err != nil {
		t.Fatal(err)
	}
	b.wait(t, run.ID, 30*time.Second, store.StatusWaiting)
	res, err := b.host.UpgradeModule(ctx, &host.UpgradeModuleParams{Name: "mix", From: "1", To: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 1 || res.Diverged != 1 || len(res.Divergences) != 1 ||
		res.Divergences[0].Journal != (host.JournalCall{Kind: "workflow", Name: "await"}) || res.Divergences[0].Examples[0] != run.ID {
		t.Fatalf("bulk upgrade to a version without the workflow: %+v %+v", res, res.Divergences)
	}
	if _, err := b.host.UpgradeRun(ctx, &host.UpgradeRunParams{ID: run.ID, Version: "2"}); !errors.Is(err, host.ErrWorkflowNotFound) {
		t.Errorf("upgrade of one run to a version without its workflow: %v, want workflow_not_found", err)
	}
}

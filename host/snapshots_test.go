package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/store"
)

// suspensions returns the data of a run's run_suspended events.
func suspensions(t *testing.T, b *bundle, id string) []map[string]any {
	return eventsData(t, b, id, store.EventRunSuspended)
}

// started returns the data of a run's activation_started events.
func started(t *testing.T, b *bundle, id string) []map[string]any {
	return eventsData(t, b, id, store.EventActivationStarted)
}

func eventsData(t *testing.T, b *bundle, id string, typ store.EventType) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range b.events(t, id) {
		if ev.Type == typ {
			out = append(out, data(t, ev))
		}
	}
	return out
}

// awaitAndSignal starts the faults guest's await workflow, waits for it to
// wait, and signals it.
func awaitAndSignal(t *testing.T, b *bundle) string {
	t.Helper()
	id := b.start(t, "faults", "await", nil)
	b.wait(t, id, 30*time.Second, store.StatusWaiting)
	if _, err := b.host.Signal(context.Background(), id, "go", json.RawMessage(`{"hello":"world"}`)); err != nil {
		t.Fatal(err)
	}
	b.completed(t, id, `{"hello":"world"}`)
	return id
}

// A Go guest parks where its run waits; the activation after the signal
// starts from the snapshot stored with the suspension, on every engine and
// store, and the run completes as it would have by replay.
func TestAParkedRunResumesFromItsSnapshot(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng, noWarm: true}, "faults")
		id := awaitAndSignal(t, b)
		sus := suspensions(t, b, id)
		if len(sus) != 1 || sus[0]["reason"] != "signal" {
			t.Fatalf("suspensions %v, want one for the signal", sus)
		}
		if n, _ := sus[0]["snapshot_bytes"].(float64); n <= 0 {
			t.Errorf("the suspension stored no snapshot: %v", sus[0])
		}
		acts := started(t, b, id)
		if len(acts) != 2 || acts[0]["start"] != executor.StartImage || acts[1]["start"] != executor.StartSnapshot {
			t.Errorf("activations started %v, want from the image, then from the snapshot", acts)
		}
		if _, err := st.RunSnapshotGet(context.Background(), &store.RunSnapshotGetParams{RunID: id}); err == nil {
			t.Errorf("the finished run still has a snapshot")
		}
	})
}

// With suspension snapshots off, the same run suspends by the host ending
// the guest's call, and its second activation replays from the image.
func TestWithSnapshotsOffAParkingGuestReplays(t *testing.T) {
	t.Parallel()
	b := setup(t, openStore(t, "sqlite"), setupOpts{noSnapshots: true}, "faults")
	id := awaitAndSignal(t, b)
	if sus := suspensions(t, b, id); len(sus) != 1 || sus[0]["snapshot_bytes"] != nil {
		t.Errorf("suspensions %v, want one without a snapshot", sus)
	}
	acts := started(t, b, id)
	if len(acts) != 2 || acts[1]["start"] != executor.StartImage {
		t.Errorf("activations started %v, want the second from the image", acts)
	}
}

// snapshotStore damages the snapshot a run's activation reads.
type snapshotStore struct {
	store.Store
	damage func(*store.RunSnapshot)
}

func (s *snapshotStore) RunJournal(ctx context.Context, p *store.RunJournalParams) (*store.RunJournal, error) {
	j, err := s.Store.RunJournal(ctx, p)
	if err == nil && j.Snapshot != nil {
		s.damage(j.Snapshot)
	}
	return j, err
}

// A snapshot is a shortcut: one that is damaged, or belongs to another
// module, leads to a replay with the reason in activation_started, and the
// run completes as before.
func TestAnUnusableSnapshotLeadsToReplay(t *testing.T) {
	t.Parallel()
	cases := map[string]func(*store.RunSnapshot){
		"truncated":          func(sn *store.RunSnapshot) { sn.Data = sn.Data[:len(sn.Data)/2] },
		"flipped":            func(sn *store.RunSnapshot) { sn.Data[len(sn.Data)/2] ^= 0x08 },
		"of another digest":  func(sn *store.RunSnapshot) { sn.ModuleDigest = "sha256:00ff" },
		"of another attempt": func(sn *store.RunSnapshot) { sn.Attempt++ },
	}
	for name, damage := range cases {
		for _, kind := range storeKinds {
			t.Run(name+"/"+kind, func(t *testing.T) {
				t.Parallel()
				st := &snapshotStore{Store: openStore(t, kind), damage: damage}
				b := setup(t, st, setupOpts{noWarm: true, wrap: func(s store.Store) store.Store { return st }}, "faults")
				id := awaitAndSignal(t, b)
				acts := started(t, b, id)
				if len(acts) != 2 || acts[1]["start"] != executor.StartImage {
					t.Fatalf("activations started %v, want the second from the image (a replay)", acts)
				}
				if why, _ := acts[1]["snapshot_unusable"].(string); why == "" {
					t.Errorf("activation_started %v says nothing of why the snapshot was not used", acts[1])
				}
			})
		}
	}
	for _, kind := range storeKinds {
		t.Run("deleted/"+kind, func(t *testing.T) {
			t.Parallel()
			st := &deletedSnapshots{Store: openStore(t, kind)}
			b := setup(t, st, setupOpts{noWarm: true, wrap: func(s store.Store) store.Store { return st }}, "faults")
			id := awaitAndSignal(t, b)
			acts := started(t, b, id)
			if len(acts) != 2 || acts[1]["start"] != executor.StartImage || acts[1]["snapshot_unusable"] == nil {
				t.Fatalf("activations started %v, want the second a replay saying why", acts)
			}
		})
	}
}

// deletedSnapshots answers that no run has a snapshot.
type deletedSnapshots struct{ store.Store }

func (s *deletedSnapshots) RunJournal(ctx context.Context, p *store.RunJournalParams) (*store.RunJournal, error) {
	return s.Store.RunJournal(ctx, &store.RunJournalParams{RunID: p.RunID, FromSeq: p.FromSeq})
}

// A run that wakes in the process it parked in resumes in the very
// instance, kept warm: no restore, no replay.
func TestAParkedRunResumesInItsWarmInstance(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng}, "faults")
		id := awaitAndSignal(t, b)
		acts := started(t, b, id)
		if len(acts) != 2 || acts[1]["start"] != executor.StartWarm {
			t.Errorf("activations started %v, want the second warm", acts)
		}
	})
}

// A warm instance is a shortcut too: when another process has run the run
// since it parked, the instance is stale and thrown away, and the run
// resumes from its stored snapshot.
func TestAStaleWarmInstanceIsThrownAway(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t, "sqlite")
	b := setup(t, st, setupOpts{}, "bench")
	id := b.start(t, "bench", "steps", map[string]any{"steps": 2, "sleep_ms": 8000})
	run := b.wait(t, id, 30*time.Second, store.StatusSleeping)
	// Another process's activation: it claims the run and suspends it
	// again, as one that resumed and parked at once would.
	later := run.WakeAt.Add(time.Millisecond)
	claimed, err := st.RunClaim(ctx, &store.RunClaimParams{RunID: id, Owner: "another-process", Now: later, LeaseDuration: time.Minute, Limit: 1})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim as another process: %v %v", claimed, err)
	}
	if _, err := st.RunApply(ctx, &store.RunApplyParams{RunID: id, Fence: claimed[0].Fence, Now: time.Now(), Status: store.StatusPending, WakeAt: ptrTime(time.Now())}); err != nil {
		t.Fatal(err)
	}
	b.completed(t, id, `{"steps":2}`)
	acts := started(t, b, id)
	// The third parks again at the sleep, not yet over, and the fourth
	// resumes warm.
	if len(acts) < 3 || acts[2]["start"] != executor.StartSnapshot {
		t.Errorf("activations started %v, want the third from the snapshot, not the stale warm instance", acts)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// What one suspension of each example that suspends stores, as its
// run_suspended event says (README, "Snapshots"). The signup example must
// store at most 256 KiB.
func TestSnapshotSizesOfTheExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		module, workflow string
		input            any
		max              float64
	}{
		{"signup", "signup", map[string]any{"email": "ada@example.com", "confirm_timeout_ms": 1}, 256 << 10},
		{"export", "export", map[string]any{"items": 1000}, 16 << 20},
		{"bench", "steps", map[string]any{"steps": 3, "sleep_ms": 1}, 16 << 20},
		{"bench", "steps", map[string]any{"steps": 1000, "sleep_ms": 1}, 16 << 20},
		{"bench", "steps", map[string]any{"steps": 20000, "sleep_ms": 1}, 16 << 20},
	}
	b := setup(t, openStore(t, "sqlite"), setupOpts{noWarm: true}, "signup", "export", "bench")
	for _, c := range cases {
		id := b.start(t, c.module, c.workflow, c.input)
		run := b.wait(t, id, 60*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("%s %v: %s %s", c.module, c.input, run.Status, run.Error)
		}
		sus := suspensions(t, b, id)
		if len(sus) == 0 {
			t.Fatalf("%s %v did not suspend", c.module, c.input)
		}
		for _, s := range sus {
			n, ok := s["snapshot_bytes"].(float64)
			if !ok {
				t.Errorf("%s %v: a suspension stored no snapshot: %v", c.module, c.input, s)
				continue
			}
			t.Logf("%s %v: %s suspension stored %.0f bytes", c.module, c.input, s["reason"], n)
			if n > c.max {
				t.Errorf("%s %v: a suspension stored %.0f bytes, over %.0f", c.module, c.input, n, c.max)
			}
		}
	}
}

// The parking guest of ABI.md section 12, written in WebAssembly text
// from ABI.md alone, parks and resumes from its snapshot on both engines,
// and is the very text ABI.md prints.
func TestTheWATParkingGuestOfABIMD(t *testing.T) {
	t.Parallel()
	if !hasLang("wat") {
		t.Fatal("this test needs the WAT guests, which need cgo")
	}
	doc, err := os.ReadFile(filepath.Join("..", "abi", "ABI.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "modules", "wat", "nap.wat"))
	if err != nil {
		t.Fatal(err)
	}
	module := src[bytes.Index(src, []byte("(module")):]
	if !bytes.Contains(doc, module) {
		t.Errorf("modules/wat/nap.wat is not the example ABI.md section 12 prints")
	}
	for _, eng := range testEngines {
		b := setup(t, openStore(t, "sqlite"), setupOpts{engine: eng, noWarm: true}, "wat/nap")
		id := b.start(t, "nap", "nap", nil)
		b.completed(t, id, `{}`)
		acts := started(t, b, id)
		if len(acts) != 2 || acts[1]["start"] != executor.StartSnapshot {
			t.Errorf("%s: activations started %v, want the second from the snapshot", eng, acts)
		}
	}
}

package storetest

import (
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

func snapshotOf(t *testing.T, st store.Store, id string) *store.RunSnapshot {
	t.Helper()
	sn, err := st.RunSnapshotGet(ctx, &store.RunSnapshotGetParams{RunID: id})
	ok(t, err)
	return sn
}

// fourSteps makes run r1 running with four completed steps, an effect of
// step 0 and two of step withEffects.
func fourSteps(t *testing.T, st store.Store, withEffects int) *store.Run {
	t.Helper()
	run := running(t, st, "r1")
	now := at(time.Second)
	var es []*store.Entry
	for seq := range 4 {
		es = append(es, stepEntry("r1", seq, store.EntryCompleted, now))
	}
	efs := []*store.Effect{effect("r1", 0, 0, store.EffectCompleted, now),
		effect("r1", withEffects, 0, store.EffectCompleted, now), effect("r1", withEffects, 1, store.EffectStarted, now)}
	apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: now, Entries: es, Effects: efs})
	return run
}

var snapshotScenarios = []scenario{
	{"a suspension keeps the run's latest snapshot, and the run's end deletes it", func(t *testing.T, st store.Store) {
		run := running(t, st, "r1")
		_, err := st.RunSnapshotGet(ctx, &store.RunSnapshotGetParams{RunID: "r1"})
		wantErr(t, err, store.ErrNotFound)
		first := &store.RunSnapshot{ModuleDigest: "sha256:01", Format: "v1", Attempt: 1, Position: 2, Activation: 1, Data: []byte{1, 2, 3}, CreatedAt: at(time.Second)}
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(time.Second),
			Status: store.StatusSleeping, WakeAt: ptr(at(time.Minute)), Snapshot: first})
		got := snapshotOf(t, st, "r1")
		sameTime(t, "created_at", got.CreatedAt, at(time.Second))
		got.CreatedAt = time.Time{}
		equal(t, "snapshot", *got, store.RunSnapshot{RunID: "r1", ModuleDigest: "sha256:01", Format: "v1", Attempt: 1, Position: 2, Activation: 1, Data: []byte{1, 2, 3}})

		run = claim(t, st, "r1", "w", at(time.Minute))
		second := &store.RunSnapshot{ModuleDigest: "sha256:01", Format: "v1", Attempt: 1, Position: 5, Activation: 2, Data: []byte("second")}
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(2 * time.Minute),
			Status: store.StatusSleeping, WakeAt: ptr(at(3 * time.Minute)), Snapshot: second})
		got = snapshotOf(t, st, "r1")
		equal(t, "replaced snapshot position", got.Position, 5)
		equal(t, "replaced snapshot data", string(got.Data), "second")
		sameTime(t, "created_at defaults to now", got.CreatedAt, at(2*time.Minute))

		// A write with a stale fence changes nothing, the snapshot included.
		_, err = st.RunApply(ctx, &store.RunApplyParams{RunID: "r1", Fence: run.Fence - 1, Now: at(3 * time.Minute),
			Status: store.StatusSleeping, Snapshot: first})
		wantErr(t, err, store.ErrFenced)
		equal(t, "snapshot after a fenced write", snapshotOf(t, st, "r1").Position, 5)

		// Writes without a snapshot keep it.
		run = claim(t, st, "r1", "w", at(4*time.Minute))
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(4 * time.Minute), Entries: []*store.Entry{stepEntry("r1", 5, store.EntryRunning, at(4*time.Minute))}})
		equal(t, "snapshot after a write without one", snapshotOf(t, st, "r1").Position, 5)

		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(5 * time.Minute), Status: store.StatusCompleted, Output: []byte(`{}`)})
		_, err = st.RunSnapshotGet(ctx, &store.RunSnapshotGetParams{RunID: "r1"})
		wantErr(t, err, store.ErrNotFound)
	}},
	{"journal and effect lists start at a position", func(t *testing.T, st store.Store) {
		fourSteps(t, st, 2)
		got, err := st.EntryListByRun(ctx, &store.EntryListByRunParams{RunID: "r1", FromSeq: 2})
		ok(t, err)
		equal(t, "entries from 2", len(got), 2)
		equal(t, "first entry from 2", got[0].Seq, 2)
		gotEf, err := st.EffectListByRun(ctx, &store.EffectListByRunParams{RunID: "r1", FromStepSeq: 1})
		ok(t, err)
		equal(t, "effects from step 1", len(gotEf), 2)
		equal(t, "their step", gotEf[0].StepSeq, 2)
		all, err := st.EntryListByRun(ctx, &store.EntryListByRunParams{RunID: "r1"})
		ok(t, err)
		equal(t, "all entries", len(all), 4)
	}},
	{"a journal read starts at the run's snapshot when it matches, else where asked", func(t *testing.T, st store.Store) {
		run := fourSteps(t, st, 3)
		match := &store.SnapshotMatch{ModuleDigest: "sha256:01", Attempt: 1, Format: "v1"}
		read := func(from int, m *store.SnapshotMatch) *store.RunJournal {
			t.Helper()
			j, err := st.RunJournal(ctx, &store.RunJournalParams{RunID: "r1", FromSeq: from, Snapshot: m})
			ok(t, err)
			if len(j.Entries) == 0 || j.Entries[0].Seq != j.FromSeq || len(j.Entries) != 4-j.FromSeq {
				t.Fatalf("journal from %d: %d entries, the first %v", j.FromSeq, len(j.Entries), j.Entries)
			}
			for _, ef := range j.Effects {
				if ef.StepSeq < j.FromSeq {
					t.Fatalf("journal from %d holds an effect of step %d", j.FromSeq, ef.StepSeq)
				}
			}
			return j
		}
		j := read(1, match)
		equal(t, "from without a snapshot", j.FromSeq, 1)
		equal(t, "no snapshot stored", j.Snapshot == nil, true)
		equal(t, "effects from step 1", len(j.Effects), 2)

		sn := &store.RunSnapshot{ModuleDigest: "sha256:01", Format: "v1", Attempt: 1, Position: 3, Activation: 1, Data: []byte("state")}
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(time.Second), Status: store.StatusSleeping, WakeAt: ptr(at(time.Minute)), Snapshot: sn})
		j = read(0, match)
		equal(t, "from the matching snapshot", j.FromSeq, 3)
		equal(t, "its data", string(j.Snapshot.Data), "state")
		equal(t, "effects of step 3", len(j.Effects), 2)
		for name, m := range map[string]*store.SnapshotMatch{
			"another module":  {ModuleDigest: "sha256:02", Attempt: 1, Format: "v1"},
			"another attempt": {ModuleDigest: "sha256:01", Attempt: 2, Format: "v1"},
			"another format":  {ModuleDigest: "sha256:01", Attempt: 1, Format: "v2"},
		} {
			j = read(0, m)
			equal(t, "from, the snapshot of "+name, j.FromSeq, 0)
			equal(t, "the snapshot of "+name+" is returned", j.Snapshot != nil && j.Snapshot.Position == 3, true)
			equal(t, "all effects, the snapshot of "+name, len(j.Effects), 3)
		}
		j = read(2, nil)
		equal(t, "from, no snapshot asked for", j.FromSeq, 2)
		equal(t, "no snapshot asked for", j.Snapshot == nil, true)
	}},
}

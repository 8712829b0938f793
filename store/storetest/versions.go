package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// shopVersions stores versions 1 (the digest insertRun pins runs to) and 2
// of module shop.
func shopVersions(t *testing.T, st store.Store) {
	t.Helper()
	insertModule(t, st, "shop", "1", "sha256:aa", t0)
	insertModule(t, st, "shop", "2", "sha256:bb", t0)
}

// upgrade re-pins run to shop version 2, as seen in run.
func upgrade(st store.Store, run *store.Run, now time.Time) (*store.Run, error) {
	return st.RunUpgrade(ctx, &store.RunUpgradeParams{
		ID: run.ID, Status: run.Status, Fence: run.Fence, FromDigest: run.ModuleDigest,
		ToVersion: "2", ToDigest: "sha256:bb", Now: now,
		Event: store.RunEvent(now, store.RunUpgraded{
			From:     store.ModuleRef{Version: run.ModuleVersion, Digest: run.ModuleDigest},
			To:       store.ModuleRef{Version: "2", Digest: "sha256:bb"},
			Position: 1,
		}),
	})
}

func deleteModule(st store.Store, name, version string) error {
	return st.ModuleDelete(ctx, &store.ModuleDeleteParams{Name: name, Version: version})
}

// wantInUse checks that err refuses a delete because runs runs need the
// version.
func wantInUse(t *testing.T, err error, runs int64) {
	t.Helper()
	wantErr(t, err, store.ErrInUse)
	var inUse *store.InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("error %v is not an *InUseError", err)
	}
	equal(t, "runs in use", inUse.Runs, runs)
}

var versionScenarios = []scenario{
	{"upgrade re-pins a suspended run, appends run_upgraded and drops its snapshot", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		run := running(t, st, "r1")
		wake := at(time.Hour)
		apply(t, st, &store.RunApplyParams{RunID: "r1", Fence: run.Fence, Now: at(time.Second), Status: store.StatusSleeping, WakeAt: &wake,
			Snapshot: &store.RunSnapshot{ModuleDigest: "sha256:aa", Format: "v1", Attempt: 1, Position: 1, Activation: 1, Data: []byte("state")}})
		snapshotOf(t, st, "r1")
		seen := getRun(t, st, "r1")
		got, err := upgrade(st, seen, at(time.Minute))
		ok(t, err)
		equal(t, "version", got.ModuleVersion, "2")
		equal(t, "digest", got.ModuleDigest, "sha256:bb")
		equal(t, "status", got.Status, store.StatusSleeping)
		sameTimePtr(t, "wake_at", got.WakeAt, &wake)
		equal(t, "fence", got.Fence, seen.Fence)
		equal(t, "lease owner", got.LeaseOwner, seen.LeaseOwner)
		sameTime(t, "updated_at", got.UpdatedAt, at(time.Minute))
		equal(t, "returned run", got, getRun(t, st, "r1"))
		evs := events(t, st, "r1")
		last := evs[len(evs)-1]
		equal(t, "last event", last.Type, store.EventRunUpgraded)
		sameTime(t, "event at", last.At, at(time.Minute))
		sameJSON(t, "event data", last.Data, `{"from":{"version":"1","digest":"sha256:aa"},"to":{"version":"2","digest":"sha256:bb"},"position":1}`)
		_, err = st.RunSnapshotGet(ctx, &store.RunSnapshotGetParams{RunID: "r1"})
		wantErr(t, err, store.ErrNotFound)
		// The run wakes as it would have, under its new version.
		claimNone(t, st, at(30*time.Minute))
		equal(t, "claimed digest", claim(t, st, "r1", "w", wake).ModuleDigest, "sha256:bb")
	}},
	{"upgrade re-pins pending and failed runs, and the default event names both versions", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		insertRun(t, st, "p", t0)
		failed(t, st, "f", []*store.Entry{stepEntry("f", 0, store.EntryFailed, t0)}, nil)
		for _, id := range []string{"p", "f"} {
			seen := getRun(t, st, id)
			got, err := st.RunUpgrade(ctx, &store.RunUpgradeParams{ID: id, Status: seen.Status, Fence: seen.Fence,
				FromDigest: seen.ModuleDigest, ToVersion: "2", ToDigest: "sha256:bb", Now: at(time.Minute)})
			ok(t, err)
			equal(t, "status of "+id, got.Status, seen.Status)
			equal(t, "version of "+id, got.ModuleVersion, "2")
			evs := events(t, st, id)
			sameJSON(t, "event data of "+id, evs[len(evs)-1].Data,
				`{"from":{"version":"1","digest":"sha256:aa"},"to":{"version":"2","digest":"sha256:bb"},"position":0}`)
		}
		retried, err := st.RunRetry(ctx, &store.RunRetryParams{ID: "f", Now: at(2 * time.Minute)})
		ok(t, err)
		equal(t, "retried digest", retried.ModuleDigest, "sha256:bb")
	}},
	{"upgrade of a run that changed since it was read writes nothing", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		insertRun(t, st, "claimed", t0)
		insertRun(t, st, "cancelled", t0)
		insertRun(t, st, "repinned", t0)
		seenClaimed := getRun(t, st, "claimed")
		seenCancelled := getRun(t, st, "cancelled")
		seenRepinned := getRun(t, st, "repinned")
		claim(t, st, "claimed", "w", at(time.Second))
		_, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "cancelled", Now: at(time.Second)})
		ok(t, err)
		_, err = upgrade(st, seenRepinned, at(time.Second))
		ok(t, err)
		for _, seen := range []*store.Run{seenClaimed, seenCancelled, seenRepinned} {
			before := getRun(t, st, seen.ID)
			_, err := upgrade(st, seen, at(time.Minute))
			wantErr(t, err, store.ErrChanged)
			equal(t, "run "+seen.ID+" after a refused upgrade", getRun(t, st, seen.ID), before)
		}
		// A version whose digest is not the one checked is a change too.
		seen := insertRun(t, st, "pending", t0)
		_, err = st.RunUpgrade(ctx, &store.RunUpgradeParams{ID: "pending", Status: seen.Status, Fence: seen.Fence,
			FromDigest: seen.ModuleDigest, ToVersion: "2", ToDigest: "sha256:cc", Now: at(time.Minute)})
		wantErr(t, err, store.ErrChanged)
		equal(t, "version after a refused upgrade", getRun(t, st, "pending").ModuleVersion, "1")
	}},
	{"upgrade of an unknown run or to an unknown version is not found; of a running run, invalid", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		_, err := upgrade(st, &store.Run{ID: "nope", Status: store.StatusPending, ModuleDigest: "sha256:aa"}, t0)
		wantErr(t, err, store.ErrNotFound)
		seen := insertRun(t, st, "r1", t0)
		_, err = st.RunUpgrade(ctx, &store.RunUpgradeParams{ID: "r1", Status: seen.Status, Fence: seen.Fence,
			FromDigest: seen.ModuleDigest, ToVersion: "9", ToDigest: "sha256:bb", Now: t0})
		wantErr(t, err, store.ErrNotFound)
		run := claim(t, st, "r1", "w", t0)
		for _, status := range []store.RunStatus{store.StatusRunning, store.StatusCompleted, store.StatusCancelled, ""} {
			seen := *run
			seen.Status = status
			_, err = upgrade(st, &seen, t0)
			wantErr(t, err, store.ErrInvalidTransition)
		}
		equal(t, "version", getRun(t, st, "r1").ModuleVersion, "1")
	}},
	{"a version is not deleted while a pending, running, waiting or failed run needs it", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		insertRun(t, st, "pending", t0)
		running(t, st, "running")
		suspended(t, st, "waiting", store.StatusWaiting)
		failed(t, st, "failed", nil, nil)
		wantInUse(t, deleteModule(st, "shop", "1"), 4)
		_, err := st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "shop", Version: "1"})
		ok(t, err)
		// Once they completed or were cancelled, it goes.
		for _, id := range []string{"pending", "waiting", "failed"} {
			_, err := st.RunRetry(ctx, &store.RunRetryParams{ID: id, Now: at(time.Second)})
			if err != nil && !errors.Is(err, store.ErrInvalidTransition) {
				t.Fatal(err)
			}
			_, err = st.RunCancel(ctx, &store.RunCancelParams{ID: id, Now: at(time.Second)})
			ok(t, err)
		}
		wantInUse(t, deleteModule(st, "shop", "1"), 1)
		run := getRun(t, st, "running")
		apply(t, st, &store.RunApplyParams{RunID: "running", Fence: run.Fence, Now: at(time.Minute), Status: store.StatusCompleted, Output: []byte(`{}`)})
		ok(t, deleteModule(st, "shop", "1"))
		_, err = st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "shop", Version: "1"})
		wantErr(t, err, store.ErrNotFound)
		vs, err := st.ModuleListVersions(ctx, &store.ModuleListVersionsParams{Name: "shop"})
		ok(t, err)
		equal(t, "versions left", versions(vs), []string{"shop@2"})
		// The finished runs stay, pinned to what they ran.
		equal(t, "finished run's version", getRun(t, st, "running").ModuleVersion, "1")
	}},
	{"a failed run pins its version until it is purged", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		failed(t, st, "f", nil, nil)
		wantInUse(t, deleteModule(st, "shop", "1"), 1)
		res, err := st.RunPurge(ctx, &store.RunPurgeParams{Before: at(time.Hour), Statuses: []store.RunStatus{store.StatusFailed}})
		ok(t, err)
		equal(t, "purged", res.Count, int64(1))
		ok(t, deleteModule(st, "shop", "1"))
	}},
	{"a version upgraded away from can be deleted", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		seen := insertRun(t, st, "r1", t0)
		wantInUse(t, deleteModule(st, "shop", "1"), 1)
		_, err := upgrade(st, seen, at(time.Second))
		ok(t, err)
		ok(t, deleteModule(st, "shop", "1"))
		wantInUse(t, deleteModule(st, "shop", "2"), 1)
	}},
	{"delete removes the bytes and images of a digest no other version has", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		insertModule(t, st, "mail", "1", "sha256:aa", t0) // the same bytes as shop 1
		for _, d := range []string{"sha256:aa", "sha256:bb"} {
			ok(t, st.ModuleImagePut(ctx, &store.ModuleImagePutParams{Digest: d, Format: "v1", Image: []byte("image"), Now: t0}))
		}
		ok(t, deleteModule(st, "shop", "1"))
		b, err := st.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: "sha256:aa"})
		ok(t, err)
		equal(t, "shared bytes", string(b), "wasm:sha256:aa")
		_, err = st.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: "sha256:aa", Format: "v1"})
		ok(t, err)

		ok(t, deleteModule(st, "shop", "2"))
		_, err = st.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: "sha256:bb"})
		wantErr(t, err, store.ErrNotFound)
		_, err = st.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: "sha256:bb", Format: "v1"})
		wantErr(t, err, store.ErrNotFound)
		_, err = st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "shop"})
		wantErr(t, err, store.ErrNotFound)

		ok(t, deleteModule(st, "mail", "1"))
		_, err = st.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: "sha256:aa"})
		wantErr(t, err, store.ErrNotFound)
		// The same bytes can be uploaded again, and take their version back.
		m, created := insertModule(t, st, "shop", "", "sha256:bb", at(time.Second))
		equal(t, "created again", created, true)
		equal(t, "version", m.Version, "2")
		b, err = st.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: "sha256:bb"})
		ok(t, err)
		equal(t, "bytes again", string(b), "wasm:sha256:bb")
	}},
	{"a deleted version's name is never given to other bytes", func(t *testing.T, st store.Store) {
		insertModule(t, st, "shop", "", "sha256:aa", t0)
		insertModule(t, st, "shop", "", "sha256:bb", t0.Add(time.Second))
		ok(t, st.ModuleDelete(ctx, &store.ModuleDeleteParams{Name: "shop", Version: "2"}))
		ok(t, st.ModuleDelete(ctx, &store.ModuleDeleteParams{Name: "shop", Version: "1"}))
		m, _ := insertModule(t, st, "shop", "", "sha256:cc", t0.Add(2*time.Second))
		equal(t, "version numbered after the deleted ones", m.Version, "3")
		_, _, err := st.ModuleInsert(ctx, &store.ModuleInsertParams{Name: "shop", Version: "1", Digest: "sha256:dd", Bytes: []byte("wasm:dd"), Now: t0})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("other bytes under the deleted version 1: %v, want ErrConflict", err)
		}
		m, created := insertModule(t, st, "shop", "1", "sha256:aa", t0.Add(3*time.Second))
		if !created || m.Version != "1" {
			t.Fatalf("the same bytes back under their deleted version: %+v, created %v", m, created)
		}
		m, created = insertModule(t, st, "shop", "", "sha256:bb", t0.Add(4*time.Second))
		if !created || m.Version != "2" {
			t.Fatalf("the bytes of deleted version 2 uploaded again without a version: %+v, created %v; want version 2 back", m, created)
		}
	}},
	{"delete of an unknown module or version is not found", func(t *testing.T, st store.Store) {
		shopVersions(t, st)
		wantErr(t, deleteModule(st, "shop", "3"), store.ErrNotFound)
		wantErr(t, deleteModule(st, "nope", "1"), store.ErrNotFound)
		ok(t, deleteModule(st, "shop", "2"))
		wantErr(t, deleteModule(st, "shop", "2"), store.ErrNotFound)
	}},
}

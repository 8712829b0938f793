package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
)

// A version with a pinned run cannot be deleted, and the refusal says how
// many runs need it and what to do; once the run has finished, the version
// goes, and a run can no longer start on it.
func TestDeleteModuleVersionRefusesWhileRunsNeedIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, openStore(t, "sqlite"), setupOpts{}, "faults")
	id := b.start(t, "faults", "panic", nil)
	b.wait(t, id, 20*time.Second, store.StatusFailed)

	err := b.host.DeleteModuleVersion(ctx, "faults", "1")
	if !errors.Is(err, host.ErrVersionInUse) || !errors.Is(err, host.ErrConflict) {
		t.Fatalf("delete of a version a failed run needs: %v, want version_in_use, a conflict", err)
	}
	for _, want := range []string{"1 run ", "failed", "upgrade"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %q", err, want)
		}
	}
	vs, err := b.host.GetModule(ctx, "faults")
	if err != nil || len(vs) != 1 || vs[0].Pinned != 1 {
		t.Fatalf("GetModule after the refusal: %v, %v; want version 1 with 1 pinned run", vs, err)
	}

	if _, err := b.st.RunCancel(ctx, &store.RunCancelParams{ID: id, Now: time.Now()}); !errors.Is(err, store.ErrInvalidTransition) {
		t.Fatalf("cancel of a failed run: %v; a failed run is retried, purged or upgraded, not cancelled", err)
	}
	if _, err := b.host.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	b.wait(t, id, 20*time.Second, store.StatusFailed)
	if err := b.host.DeleteModuleVersion(ctx, "faults", "1"); !errors.Is(err, host.ErrVersionInUse) {
		t.Fatalf("delete while the failed run still needs the version: %v", err)
	}
}

// A run whose module was deleted between StartRun's look-up and the run's
// insert (the one window the store leaves open) fails at its activation
// with a reason that says so; the same bytes uploaded again then run, on
// the same process.
func TestRunOfADeletedModuleFailsAndTheBytesCanComeBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, openStore(t, "sqlite"), setupOpts{})
	wasm := testmodules.Bytes(t, "faults")
	sum := sha256.Sum256(wasm)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	insert := func() string {
		t.Helper()
		id := uuid.Must(uuid.NewV7()).String()
		if _, _, err := b.st.RunInsert(ctx, &store.RunInsertParams{ID: id, ModuleName: "faults", ModuleVersion: "1",
			ModuleDigest: digest, Workflow: "ok", Now: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	run := b.wait(t, insert(), 20*time.Second, store.StatusFailed)
	if !strings.Contains(run.Error, "no module with digest "+digest+" is stored") {
		t.Fatalf("run of a deleted module failed with %q, want the reason", run.Error)
	}

	if _, _, err := b.host.PushModule(ctx, &host.PushModuleParams{Name: "faults", Wasm: wasm}); err != nil {
		t.Fatal(err)
	}
	b.wait(t, insert(), 20*time.Second, store.StatusCompleted)
}

package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// A delete of the last version with some bytes and the upload of the same
// bytes under another name, made at once by two processes, never leave a
// module whose bytes are gone: the upload either commits first (and the
// delete keeps the bytes) or waits for the delete and writes them again.
func TestModuleDeleteRacesInsertOfTheSameBytes(t *testing.T) {
	a, b := twoProcesses(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 30 {
		digest := fmt.Sprintf("sha256:%02d", i)
		bytes := []byte("wasm " + digest)
		shop := fmt.Sprintf("shop%02d", i) // a deleted version is never given other bytes
		if _, _, err := a.ModuleInsert(ctx, &store.ModuleInsertParams{Name: shop, Version: "1", Digest: digest, Bytes: bytes, Now: now}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var delErr, insErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			delErr = a.ModuleDelete(ctx, &store.ModuleDeleteParams{Name: shop, Version: "1"})
		}()
		go func() {
			defer wg.Done()
			_, _, insErr = b.ModuleInsert(ctx, &store.ModuleInsertParams{Name: fmt.Sprintf("mail%02d", i), Version: "1", Digest: digest, Bytes: bytes, Now: now})
		}()
		wg.Wait()
		if delErr != nil || insErr != nil {
			t.Fatalf("round %d: delete %v, insert %v", i, delErr, insErr)
		}
		got, err := a.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: digest})
		if err != nil || string(got) != string(bytes) {
			t.Fatalf("round %d: the bytes of the module uploaded during the delete: %q, %v", i, got, err)
		}
	}
}

// An upgrade to a version and the delete of that version, made at once,
// never leave a run pinned to a deleted version: either the upgrade
// commits first and the delete is refused, or the delete commits first
// and the upgrade finds no version.
func TestRunUpgradeRacesModuleDelete(t *testing.T) {
	a, b := twoProcesses(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 30 {
		name := fmt.Sprintf("shop%02d", i)
		for _, v := range []string{"1", "2"} {
			if _, _, err := a.ModuleInsert(ctx, &store.ModuleInsertParams{Name: name, Version: v, Digest: "sha256:" + name + v, Bytes: []byte(v), Now: now}); err != nil {
				t.Fatal(err)
			}
		}
		run, _, err := a.RunInsert(ctx, &store.RunInsertParams{ID: fmt.Sprintf("r%02d", i), ModuleName: name, ModuleVersion: "1",
			ModuleDigest: "sha256:" + name + "1", Workflow: "w", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var upErr, delErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, upErr = a.RunUpgrade(ctx, &store.RunUpgradeParams{ID: run.ID, Status: run.Status, Fence: run.Fence,
				FromDigest: run.ModuleDigest, ToVersion: "2", ToDigest: "sha256:" + name + "2", Now: now})
		}()
		go func() {
			defer wg.Done()
			delErr = b.ModuleDelete(ctx, &store.ModuleDeleteParams{Name: name, Version: "2"})
		}()
		wg.Wait()
		switch {
		case upErr == nil && errors.Is(delErr, store.ErrInUse):
		case errors.Is(upErr, store.ErrNotFound) && delErr == nil:
		default:
			t.Fatalf("round %d: upgrade %v, delete %v; want one of them refused", i, upErr, delErr)
		}
	}
}

//go:build cgo

package host_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// The patch-marker guest of ABI.md, written in WebAssembly text without an
// SDK (modules/wat/changes.wat): changed answers 1 to a new run, records a
// marker only without the deprecated flag, answers the same on replay, and
// a marker right before the end costs no write of its own; changed inside
// a step is a guest fault.
func TestChangedWAT(t *testing.T) {
	forEachComboOf(t, []string{"wat"}, func(t *testing.T, c *combo) {
		applies := &applyCounter{n: map[string]int{}}
		b := c.setup(t, setupOpts{wrap: func(s store.Store) store.Store { applies.Store = s; return applies }}, "changes")
		id := b.start(t, "changes", "changed", nil)
		b.wait(t, id, 30*time.Second, store.StatusWaiting)
		waiting := applies.count(id)
		if _, err := b.host.Signal(context.Background(), id, "go", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		b.completed(t, id, `[1,1,1]`)
		if n := applies.count(id) - waiting; n != 2 {
			t.Errorf("the activation after the signal made %d writes, want 2: the signal's receipt, and the completion with the marker", n)
		}
		ctx := context.Background()
		run, err := b.host.Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := b.host.Steps(ctx, run)
		if err != nil {
			t.Fatal(err)
		}
		var journal []string
		for _, e := range entries {
			journal = append(journal, string(e.Kind)+" "+e.Name+" "+string(e.Status))
		}
		if want := []string{"change fix-1 completed", "step s completed", "signal go received", "change late completed"}; !equalStrings(journal, want) {
			t.Errorf("journal %q, want %q", journal, want)
		}
		var changes []string
		for _, e := range b.events(t, id) {
			if e.Type == store.EventChangeRecorded {
				changes = append(changes, data(t, e)["change"].(string))
			}
		}
		if want := []string{"fix-1", "late"}; !equalStrings(changes, want) {
			t.Errorf("change_recorded events for %q, want %q", changes, want)
		}

		bad := b.start(t, "changes", "in_step", nil)
		got := b.wait(t, bad, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if want := `changed called inside step "s"`; got.Status != store.StatusFailed || !strings.Contains(got.Error, want) {
			t.Errorf("in_step: run %s with error %q, want failed with %q", got.Status, got.Error, want)
		}
	})
}

package host_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// The signup example: a confirmed email activates the account. The
// scenarios of the examples take the guest (see testmodules.Path), so that
// every language's examples pass the same ones.
func TestSignupActivatesAfterConfirmation(t *testing.T) {
	testSignupActivatesAfterConfirmation(t, "signup")
}

func testSignupActivatesAfterConfirmation(t *testing.T, guest string) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng}, guest)
		id := b.start(t, "signup", "signup", map[string]any{"email": "ada@example.com"})
		b.wait(t, id, 30*time.Second, store.StatusWaiting)
		if _, err := b.host.Signal(context.Background(), id, "email-confirmed", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("run %s: %s", run.Status, run.Error)
		}
		evs := b.events(t, id)
		for _, step := range []string{"create_user", "create_account", "send_activation_email", "activate"} {
			if n := count(evs, store.EventStepCompleted, step); n != 1 {
				t.Errorf("step %s completed %d times, want 1", step, n)
			}
		}
		if n := count(evs, store.EventSignalConsumed, ""); n != 1 {
			t.Errorf("%d signals consumed, want 1", n)
		}
	})
}

// The signup example: when the activation email keeps failing, the run
// undoes what it created, in reverse order, and fails.
func TestSignupCompensatesWhenTheEmailKeepsFailing(t *testing.T) {
	testSignupCompensatesWhenTheEmailKeepsFailing(t, "signup")
}

func testSignupCompensatesWhenTheEmailKeepsFailing(t *testing.T, guest string) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng}, guest)
		id := b.start(t, "signup", "signup", map[string]any{"email": "bob@example.com", "fail_email": true})
		run := b.wait(t, id, 60*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusFailed {
			t.Fatalf("run %s, want failed after compensating", run.Status)
		}
		var completed []string
		for _, e := range b.events(t, id) {
			if e.Type == store.EventStepCompleted {
				completed = append(completed, e.Step)
			}
		}
		got := strings.Join(completed, ",")
		if !strings.HasSuffix(got, "create_account,undo:create_account,undo:create_user") &&
			!strings.HasSuffix(got, "create_account,undo:delete_account,undo:delete_user") {
			t.Errorf("completed steps %s: want the undos of create_account then create_user at the end", got)
		}
		if !strings.Contains(got, "undo:") {
			t.Errorf("no compensation step ran: %s", got)
		}
	})
}

// The receipt example: the charge and the receipt are effects with
// idempotency keys, each executed once.
func TestReceiptChargesAndSendsOnce(t *testing.T) {
	testReceiptChargesAndSendsOnce(t, "receipt")
}

func testReceiptChargesAndSendsOnce(t *testing.T, guest string) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		b := setup(t, st, setupOpts{engine: eng}, guest)
		id := b.start(t, "receipt", "receipt", map[string]any{"order_id": "A-1", "amount_cents": 4200, "email": "c@example.com"})
		run := b.wait(t, id, 30*time.Second, store.StatusCompleted, store.StatusFailed)
		if run.Status != store.StatusCompleted {
			t.Fatalf("run %s: %s", run.Status, run.Error)
		}
		effects, err := st.EffectListByRun(context.Background(), &store.EffectListByRunParams{RunID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(effects) != 2 {
			t.Fatalf("%d effects, want 2 (charge, email)", len(effects))
		}
		for _, e := range effects {
			if e.Status != store.EffectCompleted || e.Executions != 1 || e.Key == "" {
				t.Errorf("effect %s: %s, %d executions, key %q", e.Name, e.Status, e.Executions, e.Key)
			}
			if !strings.HasPrefix(e.Key, id+"/") {
				t.Errorf("effect %s key %q does not start with the run id", e.Name, e.Key)
			}
		}
		evs := b.events(t, id)
		for _, step := range []string{"charge_payment", "send_receipt", "mark_sent"} {
			if n := count(evs, store.EventStepCompleted, step); n != 1 {
				t.Errorf("step %s completed %d times, want 1", step, n)
			}
		}
	})
}

// The fanout example: 100 children of square, each its own run with the
// parent as its parent, started once each, and the sum of their squares.
func TestFanOutOfAHundred(t *testing.T) { testFanOutOfAHundred(t, "fanout") }

func testFanOutOfAHundred(t *testing.T, guest string) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st store.Store, eng string) {
		const n = 100
		b := setup(t, st, setupOpts{engine: eng}, guest)
		id := b.start(t, "fanout", "fanout", map[string]any{"n": n})
		run := b.completed(t, id, `{"sum":338350,"children":100}`)
		kids, err := b.host.Children(context.Background(), run)
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) != n {
			t.Errorf("%d children, want %d", len(kids), n)
		}
		squares := map[int]bool{}
		for _, k := range kids {
			if k.ParentID != id || k.Workflow != "square" || k.Status != store.StatusCompleted {
				t.Errorf("child %s: parent %q, workflow %s, status %s; want parent %s, square, completed", k.ID, k.ParentID, k.Workflow, k.Status, id)
			}
			var out struct{ Square int }
			if err := json.Unmarshal(k.Output, &out); err != nil {
				t.Errorf("child %s output %s: %v", k.ID, k.Output, err)
			}
			squares[out.Square] = true
			ranOnce(t, b.events(t, k.ID), "square")
		}
		for i := 1; i <= n; i++ {
			if !squares[i*i] {
				t.Errorf("no child completed with {\"square\":%d}", i*i)
			}
		}
		evs := b.events(t, id)
		if s, c := count(evs, store.EventChildStarted, ""), count(evs, store.EventChildCompleted, ""); s != n || c != n {
			t.Errorf("%d child_started and %d child_completed events, want %d of each", s, c, n)
		}
	})
}

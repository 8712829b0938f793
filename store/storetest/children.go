package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// child is the start of child run id of workflow "item".
func child(id string, end store.ParentEnd) *store.RunInsertParams {
	return &store.RunInsertParams{ID: id, ModuleName: "shop", ModuleVersion: "1", ModuleDigest: "sha256:aa", Workflow: "item",
		Input: json.RawMessage(`{"item":1}`), OnParentEnd: end}
}

// startChildren makes run's write number write at now, which starts
// children.
func startChildren(t *testing.T, st store.Store, run *store.Run, write int64, now time.Time, children ...*store.RunInsertParams) {
	t.Helper()
	apply(t, st, &store.RunApplyParams{RunID: run.ID, Fence: run.Fence, Write: write, Now: now, Children: children,
		Events: []*store.NewEvent{{Type: store.EventChildStarted, At: now}}})
}

// end ends run with status at now, telling its parent as the executor
// does (store.ChildEnded).
func end(t *testing.T, st store.Store, run *store.Run, status store.RunStatus, now time.Time) {
	t.Helper()
	p := &store.RunApplyParams{RunID: run.ID, Fence: run.Fence, Now: now, Status: status}
	ended := store.ChildEnded{Child: run.ID, Workflow: run.Workflow, Status: status}
	switch status {
	case store.StatusCompleted:
		p.Output, ended.Output = json.RawMessage(`{"n":1}`), json.RawMessage(`{"n":1}`)
	default:
		p.Error, ended.Error = "boom", "boom"
	}
	if run.ParentID != "" {
		p.ParentEvent = ended.Event(now)
	}
	apply(t, st, p)
}

// wait suspends run at now waiting for children ended in all, with an
// optional timeout.
func wait(t *testing.T, st store.Store, run *store.Run, children int64, timeout *time.Time, now time.Time) {
	t.Helper()
	apply(t, st, &store.RunApplyParams{RunID: run.ID, Fence: run.Fence, Now: now, Status: store.StatusWaiting,
		WakeAt: timeout, WakeAtChildrenEnded: children})
}

// family makes a running parent p that has started children c1 and c2 at
// t0+1s, and claims both children at t0+2s.
func family(t *testing.T, st store.Store) (p, c1, c2 *store.Run) {
	t.Helper()
	p = running(t, st, "p")
	startChildren(t, st, p, 1, at(time.Second), child("c1", store.ParentEndCancel), child("c2", store.ParentEndCancel))
	c1 = claim(t, st, "c1", "w", at(2*time.Second))
	c2 = claim(t, st, "c2", "w", at(2*time.Second))
	return p, c1, c2
}

func children(t *testing.T, st store.Store, parent string, ids ...string) *store.RunChildren {
	t.Helper()
	cs, err := st.RunChildren(ctx, &store.RunChildrenParams{ParentID: parent, IDs: ids})
	ok(t, err)
	return cs
}

func runIDs(runs []*store.Run) []string {
	ids := []string{}
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

var childScenarios = []scenario{
	{"a write starts its children pending and runnable at once, each with its parent", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		now := at(time.Second)
		c := child("c1", store.ParentEndAbandon)
		c.IdempotencyKey, c.Owner, c.LeaseDuration = "ignored", "ignored", time.Hour
		startChildren(t, st, p, 1, now, c, child("c2", ""))
		c1 := getRun(t, st, "c1")
		equal(t, "status", c1.Status, store.StatusPending)
		sameTimePtr(t, "wake_at", c1.WakeAt, &now)
		sameTime(t, "created_at", c1.CreatedAt, now)
		equal(t, "parent", c1.ParentID, "p")
		equal(t, "on parent end", c1.OnParentEnd, store.ParentEndAbandon)
		equal(t, "idempotency key", c1.IdempotencyKey, "")
		equal(t, "lease owner", c1.LeaseOwner, "")
		sameJSON(t, "input", c1.Input, `{"item":1}`)
		evs := events(t, st, "c1")
		equal(t, "events", eventTypes(evs), []store.EventType{store.EventRunCreated})
		sameJSON(t, "run_created", evs[0].Data, `{"module":"shop","version":"1","workflow":"item","parent":"p"}`)
		equal(t, "a child without OnParentEnd is cancelled with its parent", getRun(t, st, "c2").OnParentEnd, store.ParentEndCancel)
		equal(t, "parent", getRun(t, st, "p").ParentID, "")
		equal(t, "root's on parent end", getRun(t, st, "p").OnParentEnd, store.ParentEnd(""))
		equal(t, "parent's events", eventTypes(events(t, st, "p"))[2:], []store.EventType{store.EventChildStarted})
		runs := claimAll(t, st, now)
		equal(t, "claimed", runIDs(runs), []string{"c1", "c2"})
	}},
	{"a start sent again starts nothing twice", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		startChildren(t, st, p, 1, at(time.Second), child("c1", store.ParentEndCancel))
		// The same write again is a replay; another write that starts the
		// same child (a new activation replaying the journal) leaves it.
		res, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "p", Fence: p.Fence, Write: 1, Now: at(time.Second),
			Children: []*store.RunInsertParams{child("c1", store.ParentEndCancel)}})
		ok(t, err)
		equal(t, "replayed", res.Replayed, true)
		again := child("c1", store.ParentEndAbandon)
		again.Input = json.RawMessage(`{"item":2}`)
		startChildren(t, st, p, 2, at(2*time.Second), again, child("c2", store.ParentEndCancel))
		c1 := getRun(t, st, "c1")
		sameJSON(t, "input", c1.Input, `{"item":1}`)
		equal(t, "on parent end", c1.OnParentEnd, store.ParentEndCancel)
		sameTime(t, "created_at", c1.CreatedAt, at(time.Second))
		equal(t, "events of c1", len(events(t, st, "c1")), 1)
		equal(t, "children", runIDs(children(t, st, "p").Runs), []string{"c1", "c2"})
	}},
	{"a fenced write starts no children", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		claim(t, st, "p", "w2", at(time.Minute)) // the lease expired: p's fence is stale
		_, err := st.RunApply(ctx, &store.RunApplyParams{RunID: "p", Fence: p.Fence, Write: 1, Now: at(2 * time.Minute),
			Children: []*store.RunInsertParams{child("c1", store.ParentEndCancel)}})
		wantErr(t, err, store.ErrFenced)
		_, err = st.RunGetByID(ctx, &store.RunGetByIDParams{ID: "c1"})
		wantErr(t, err, store.ErrNotFound)
		// In a batch, beside a current write that starts its own.
		q := running(t, st, "q")
		outs := batcher(t, st).RunApplyBatch(ctx, []*store.RunApplyParams{
			{RunID: "p", Fence: p.Fence, Now: at(2 * time.Minute), Children: []*store.RunInsertParams{child("c1", store.ParentEndCancel)}},
			{RunID: "q", Fence: q.Fence, Now: at(2 * time.Minute), Children: []*store.RunInsertParams{child("c2", store.ParentEndCancel)}},
		})
		wantErr(t, outs[0].Err, store.ErrFenced)
		ok(t, outs[1].Err)
		_, err = st.RunGetByID(ctx, &store.RunGetByIDParams{ID: "c1"})
		wantErr(t, err, store.ErrNotFound)
		equal(t, "q's child", getRun(t, st, "c2").ParentID, "q")
		equal(t, "children of p", len(children(t, st, "p").Runs), 0)
	}},
	{"a thousand children start in one write", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		var cs []*store.RunInsertParams
		for i := range 1000 {
			cs = append(cs, child(fmt.Sprintf("c%04d", i), store.ParentEndCancel))
		}
		startChildren(t, st, p, 1, at(time.Second), cs...)
		got := children(t, st, "p")
		equal(t, "children", len(got.Runs), 1000)
		equal(t, "first", got.Runs[0].ID, "c0000")
		equal(t, "last", got.Runs[999].ID, "c0999")
		equal(t, "events of the last", len(events(t, st, "c0999")), 1)
	}},
	{"a child's end is counted by its parent, with the parent's event", func(t *testing.T, st store.Store) {
		p, c1, c2 := family(t, st)
		end(t, st, c1, store.StatusCompleted, at(3*time.Second))
		end(t, st, c2, store.StatusFailed, at(4*time.Second))
		got := getRun(t, st, "p")
		equal(t, "children ended", got.ChildrenEnded, int64(2))
		equal(t, "parent still running", got.Status, store.StatusRunning)
		sameTimePtr(t, "parent's lease untouched", got.WakeAt, p.WakeAt)
		evs := events(t, st, "p")
		equal(t, "parent's events", eventTypes(evs)[3:], []store.EventType{store.EventChildCompleted, store.EventChildFailed})
		sameJSON(t, "child_completed", evs[3].Data, `{"child":"c1","workflow":"item","status":"completed","output":{"n":1}}`)
		sameTime(t, "child_completed at", evs[3].At, at(3*time.Second))
		sameJSON(t, "child_failed", evs[4].Data, `{"child":"c2","workflow":"item","status":"failed","error":"boom"}`)
		// The parent's own write goes on after the events the children
		// appended.
		res := apply(t, st, &store.RunApplyParams{RunID: "p", Fence: p.Fence, Now: at(5 * time.Second),
			Events: []*store.NewEvent{{Type: store.EventCheckpoint}}})
		equal(t, "parent's event count", res.EventCount, int64(6))
		equal(t, "timeline", len(events(t, st, "p")), 6)
		// An end without a ParentEvent is counted all the same.
		startChildren(t, st, p, 0, at(5*time.Second), child("c3", store.ParentEndCancel))
		c3 := claim(t, st, "c3", "w", at(6*time.Second))
		apply(t, st, &store.RunApplyParams{RunID: "c3", Fence: c3.Fence, Now: at(7 * time.Second), Status: store.StatusCompleted})
		equal(t, "children ended", getRun(t, st, "p").ChildrenEnded, int64(3))
		equal(t, "timeline", len(events(t, st, "p")), 7) // and child_started
	}},
	{"a wait for children already ended wakes at once", func(t *testing.T, st store.Store) {
		p, c1, _ := family(t, st)
		end(t, st, c1, store.StatusCompleted, at(3*time.Second))
		now := at(4 * time.Second)
		wait(t, st, p, 1, ptr(at(time.Hour)), now)
		got := getRun(t, st, "p")
		equal(t, "status", got.Status, store.StatusWaiting)
		sameTimePtr(t, "wake_at", got.WakeAt, &now)
		equal(t, "claimed", claim(t, st, "p", "w", now).ID, "p")
	}},
	{"a wait for children wakes at the end that reaches its count", func(t *testing.T, st store.Store) {
		p, c1, c2 := family(t, st)
		wait(t, st, p, 2, nil, at(3*time.Second))
		sameTimePtr(t, "wake_at while none ended", getRun(t, st, "p").WakeAt, nil)
		end(t, st, c1, store.StatusCompleted, at(4*time.Second))
		sameTimePtr(t, "wake_at after one of two", getRun(t, st, "p").WakeAt, nil)
		claimNoneOf(t, st, "p", at(time.Hour))
		end(t, st, c2, store.StatusCompleted, at(5*time.Second))
		got := getRun(t, st, "p")
		sameTimePtr(t, "wake_at after two of two", got.WakeAt, ptr(at(5*time.Second)))
		equal(t, "children ended", got.ChildrenEnded, int64(2))
		equal(t, "status", got.Status, store.StatusWaiting)
		equal(t, "claimed", claim(t, st, "p", "w", at(5*time.Second)).ID, "p")
	}},
	{"a wait for children with a timeout wakes at whichever comes first", func(t *testing.T, st store.Store) {
		p, c1, c2 := family(t, st)
		wait(t, st, p, 1, ptr(at(time.Hour)), at(3*time.Second))
		sameTimePtr(t, "wake_at", getRun(t, st, "p").WakeAt, ptr(at(time.Hour)))
		end(t, st, c1, store.StatusFailed, at(4*time.Second))
		sameTimePtr(t, "wake_at after the child's end", getRun(t, st, "p").WakeAt, ptr(at(4*time.Second)))

		// The timeout first: the parent wakes, waits again for one more,
		// and its timeout passes; the child's end then changes nothing.
		p = claim(t, st, "p", "w", at(5*time.Second))
		wait(t, st, p, 2, ptr(at(6*time.Second)), at(5*time.Second))
		p = claim(t, st, "p", "w", at(7*time.Second))
		end(t, st, c2, store.StatusCompleted, at(8*time.Second))
		got := getRun(t, st, "p")
		equal(t, "status", got.Status, store.StatusRunning)
		sameTimePtr(t, "lease untouched", got.WakeAt, p.WakeAt)
		equal(t, "children ended", got.ChildrenEnded, int64(2))
	}},
	{"any other write clears a wait for children", func(t *testing.T, st store.Store) {
		p, c1, _ := family(t, st)
		wait(t, st, p, 1, nil, at(3*time.Second))
		signal(t, st, "p", "go", at(4*time.Second)) // a signal wakes it first
		p = claim(t, st, "p", "w", at(4*time.Second))
		apply(t, st, &store.RunApplyParams{RunID: "p", Fence: p.Fence, Now: at(5 * time.Second), Status: store.StatusSleeping,
			WakeAt: ptr(at(time.Hour))})
		end(t, st, c1, store.StatusCompleted, at(6*time.Second))
		got := getRun(t, st, "p")
		sameTimePtr(t, "sleeping parent's wake_at", got.WakeAt, ptr(at(time.Hour)))
		equal(t, "children ended", got.ChildrenEnded, int64(1))
		// WakeAtChildrenEnded means nothing without a waiting status.
		p = claim(t, st, "p", "w", at(time.Hour))
		apply(t, st, &store.RunApplyParams{RunID: "p", Fence: p.Fence, Now: at(time.Hour), Status: store.StatusSleeping,
			WakeAt: ptr(at(2 * time.Hour)), WakeAtChildrenEnded: 1})
		sameTimePtr(t, "sleeping with WakeAtChildrenEnded", getRun(t, st, "p").WakeAt, ptr(at(2*time.Hour)))
	}},
	{"a child's end and its parent's wait in one batch wake the parent in either order", func(t *testing.T, st store.Store) {
		for _, childFirst := range []bool{true, false} {
			t.Run(fmt.Sprint("child first ", childFirst), func(t *testing.T) {
				suffix := fmt.Sprint(childFirst)
				p := running(t, st, "p"+suffix)
				startChildren(t, st, p, 1, at(time.Second), child("c"+suffix, store.ParentEndCancel))
				c := claim(t, st, "c"+suffix, "w", at(2*time.Second))
				now := at(3 * time.Second)
				cw := &store.RunApplyParams{RunID: c.ID, Fence: c.Fence, Now: now, Status: store.StatusCompleted,
					ParentEvent: store.ChildEnded{Child: c.ID, Workflow: c.Workflow, Status: store.StatusCompleted}.Event(now)}
				pw := &store.RunApplyParams{RunID: p.ID, Fence: p.Fence, Now: now, Status: store.StatusWaiting, WakeAtChildrenEnded: 1}
				ws := []*store.RunApplyParams{pw, cw}
				if childFirst {
					ws = []*store.RunApplyParams{cw, pw}
				}
				for _, o := range batcher(t, st).RunApplyBatch(ctx, ws) {
					ok(t, o.Err)
				}
				got := getRun(t, st, p.ID)
				sameTimePtr(t, "parent's wake_at", got.WakeAt, &now)
				equal(t, "children ended", got.ChildrenEnded, int64(1))
				equal(t, "parent's last event", eventTypes(events(t, st, p.ID))[3], store.EventChildCompleted)
			})
		}
	}},
	{"a parent's end cancels its children that have not ended, and theirs, but not those it abandons", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		startChildren(t, st, p, 1, at(time.Second), child("c-run", store.ParentEndCancel), child("c-wait", store.ParentEndCancel),
			child("c-done", store.ParentEndCancel), child("c-free", store.ParentEndAbandon), child("c-pend", store.ParentEndCancel))
		cRun := claim(t, st, "c-run", "w", at(2*time.Second))
		cWait := claim(t, st, "c-wait", "w", at(2*time.Second))
		startChildren(t, st, cWait, 1, at(2*time.Second), child("g-pend", store.ParentEndCancel), child("g-free", store.ParentEndAbandon))
		apply(t, st, &store.RunApplyParams{RunID: "c-wait", Fence: cWait.Fence, Now: at(2 * time.Second), Status: store.StatusWaiting,
			WakeAtChildrenEnded: 1, Snapshot: &store.RunSnapshot{RunID: "c-wait", ModuleDigest: "sha256:aa", Format: "f", Data: []byte("s")}})
		cDone := claim(t, st, "c-done", "w", at(2*time.Second))
		end(t, st, cDone, store.StatusCompleted, at(3*time.Second))

		now := at(4 * time.Second)
		end(t, st, p, store.StatusFailed, now)

		got := getRun(t, st, "c-run")
		equal(t, "running child's status", got.Status, store.StatusRunning)
		equal(t, "running child's cancel requested", got.CancelRequested, true)
		for _, id := range []string{"c-wait", "c-pend", "g-pend"} {
			got := getRun(t, st, id)
			equal(t, id+" status", got.Status, store.StatusCancelled)
			sameTimePtr(t, id+" completed_at", got.CompletedAt, &now)
			sameTimePtr(t, id+" wake_at", got.WakeAt, nil)
			equal(t, id+" lease owner", got.LeaseOwner, "")
			evs := events(t, st, id)
			last := evs[len(evs)-1]
			equal(t, id+" last event", last.Type, store.EventRunCancelled)
			sameTime(t, id+" cancelled at", last.At, now)
			sameJSON(t, id+" run_cancelled", last.Data, fmt.Sprintf(`{"parent":%q}`, getRun(t, st, id).ParentID))
		}
		_, err := st.RunSnapshotGet(ctx, &store.RunSnapshotGetParams{RunID: "c-wait"})
		wantErr(t, err, store.ErrNotFound)
		equal(t, "c-wait's children ended", getRun(t, st, "c-wait").ChildrenEnded, int64(1))
		equal(t, "abandoned child", getRun(t, st, "c-free").Status, store.StatusPending)
		equal(t, "abandoned grandchild", getRun(t, st, "g-free").Status, store.StatusPending)
		equal(t, "completed child", getRun(t, st, "c-done").Status, store.StatusCompleted)
		gotP := getRun(t, st, "p")
		equal(t, "parent's children ended", gotP.ChildrenEnded, int64(3)) // c-done, c-wait, c-pend
		equal(t, "parent's events", eventTypes(events(t, st, "p"))[3:], []store.EventType{store.EventChildCompleted})
		claimed := runIDs(claimAll(t, st, now))
		equal(t, "claimable after the end", claimed, []string{"c-free", "g-free"})

		// The running child's activation ends it; its parent counts it.
		cRun = getRun(t, st, "c-run")
		end(t, st, cRun, store.StatusCancelled, at(5*time.Second))
		equal(t, "parent's children ended", getRun(t, st, "p").ChildrenEnded, int64(4))
		equal(t, "parent's last event", eventTypes(events(t, st, "p"))[4], store.EventChildFailed)
	}},
	{"cancelling a run that is not running tells its parent and cancels its children", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		startChildren(t, st, p, 1, at(time.Second), child("c", store.ParentEndCancel))
		wait(t, st, p, 1, nil, at(time.Second))
		c := claim(t, st, "c", "w", at(2*time.Second))
		startChildren(t, st, c, 1, at(2*time.Second), child("g-run", store.ParentEndCancel), child("g-pend", store.ParentEndCancel))
		claim(t, st, "g-run", "w", at(2*time.Second))
		apply(t, st, &store.RunApplyParams{RunID: "c", Fence: c.Fence, Now: at(3 * time.Second), Status: store.StatusWaiting,
			WakeAtChildrenEnded: 2, Snapshot: &store.RunSnapshot{RunID: "c", ModuleDigest: "sha256:aa", Format: "f", Data: []byte("s")}})

		now := at(4 * time.Second)
		got, err := st.RunCancel(ctx, &store.RunCancelParams{ID: "c", Now: now})
		ok(t, err)
		equal(t, "status", got.Status, store.StatusCancelled)
		equal(t, "children ended", got.ChildrenEnded, int64(1)) // g-pend
		_, err = st.RunSnapshotGet(ctx, &store.RunSnapshotGetParams{RunID: "c"})
		wantErr(t, err, store.ErrNotFound)
		equal(t, "running grandchild's cancel requested", getRun(t, st, "g-run").CancelRequested, true)
		equal(t, "pending grandchild", getRun(t, st, "g-pend").Status, store.StatusCancelled)
		sameJSON(t, "grandchild's run_cancelled", events(t, st, "g-pend")[1].Data, `{"parent":"c"}`)
		gotP := getRun(t, st, "p")
		equal(t, "parent's children ended", gotP.ChildrenEnded, int64(1))
		sameTimePtr(t, "parent woken", gotP.WakeAt, &now)
		evs := events(t, st, "p")
		last := evs[len(evs)-1]
		equal(t, "parent's event", last.Type, store.EventChildFailed)
		sameTime(t, "parent's event at", last.At, now)
		sameJSON(t, "parent's event data", last.Data, `{"child":"c","workflow":"item","status":"cancelled","error":"cancelled"}`)

		// Cancelling the waiting parent ends nothing more: its child has
		// ended. Cancelling a running run only requests it.
		_, err = st.RunCancel(ctx, &store.RunCancelParams{ID: "p", Now: at(5 * time.Second)})
		ok(t, err)
		_, err = st.RunCancel(ctx, &store.RunCancelParams{ID: "g-run", Now: at(5 * time.Second)})
		ok(t, err)
		equal(t, "c's children ended after a cancel request", getRun(t, st, "c").ChildrenEnded, int64(1))
	}},
	{"a parent's children are listed oldest first with its count of their ends, read together", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		startChildren(t, st, p, 1, at(time.Second), child("c-b", store.ParentEndCancel))
		startChildren(t, st, p, 2, at(2*time.Second), child("c-a", store.ParentEndCancel), child("c-c", store.ParentEndCancel))
		insertRun(t, st, "other", t0)
		got := children(t, st, "p")
		equal(t, "children", runIDs(got.Runs), []string{"c-b", "c-a", "c-c"})
		equal(t, "ended", got.Ended, int64(0))
		equal(t, "a child's parent", got.Runs[0].ParentID, "p")
		end(t, st, claim(t, st, "c-a", "w", at(3*time.Second)), store.StatusCompleted, at(3*time.Second))
		got = children(t, st, "p", "c-c", "c-a", "other", "nope")
		equal(t, "some children", runIDs(got.Runs), []string{"c-a", "c-c"})
		equal(t, "ended", got.Ended, int64(1))
		equal(t, "ended child's status", got.Runs[0].Status, store.StatusCompleted)
		equal(t, "no children", len(children(t, st, "other").Runs), 0)
		equal(t, "none of these", len(children(t, st, "p", "other").Runs), 0)
		_, err := st.RunChildren(ctx, &store.RunChildrenParams{ParentID: "nope"})
		wantErr(t, err, store.ErrNotFound)
	}},
	{"runs are listed by parent", func(t *testing.T, st store.Store) {
		p := running(t, st, "p")
		q := running(t, st, "q")
		startChildren(t, st, p, 1, at(time.Second), child("p1", store.ParentEndCancel), child("p2", store.ParentEndCancel))
		startChildren(t, st, q, 1, at(time.Second), child("q1", store.ParentEndCancel))
		runs, err := st.RunList(ctx, &store.RunListParams{ParentID: "p"})
		ok(t, err)
		equal(t, "p's children, newest first", runIDs(runs), []string{"p2", "p1"})
		runs, err = st.RunList(ctx, &store.RunListParams{ParentID: "p", Status: store.StatusPending, After: "p2"})
		ok(t, err)
		equal(t, "with other filters", runIDs(runs), []string{"p1"})
		runs, err = st.RunList(ctx, &store.RunListParams{})
		ok(t, err)
		equal(t, "all runs", len(runs), 5)
	}},
	{"a retried child keeps its parent, and its next end counts again", func(t *testing.T, st store.Store) {
		_, c1, _ := family(t, st)
		end(t, st, c1, store.StatusFailed, at(3*time.Second))
		got, err := st.RunRetry(ctx, &store.RunRetryParams{ID: "c1", Now: at(4 * time.Second)})
		ok(t, err)
		equal(t, "parent", got.ParentID, "p")
		equal(t, "on parent end", got.OnParentEnd, store.ParentEndCancel)
		c1 = claim(t, st, "c1", "w", at(5*time.Second))
		end(t, st, c1, store.StatusCompleted, at(6*time.Second))
		equal(t, "parent's children ended", getRun(t, st, "p").ChildrenEnded, int64(2))
	}},
	{"a run inserted with a parent is its child", func(t *testing.T, st store.Store) {
		insertRun(t, st, "p", t0)
		c := child("c", store.ParentEndAbandon)
		c.ParentID, c.Now = "p", t0
		run, created, err := st.RunInsert(ctx, c)
		ok(t, err)
		equal(t, "created", created, true)
		equal(t, "parent", run.ParentID, "p")
		equal(t, "on parent end", run.OnParentEnd, store.ParentEndAbandon)
		sameJSON(t, "run_created", events(t, st, "c")[0].Data, `{"module":"shop","version":"1","workflow":"item","parent":"p"}`)
		equal(t, "children", runIDs(children(t, st, "p").Runs), []string{"c"})
	}},
}

// claimAll claims every run claimable at now, in claim order.
func claimAll(t *testing.T, st store.Store, now time.Time) []*store.Run {
	t.Helper()
	runs, err := st.RunClaim(ctx, &store.RunClaimParams{Owner: "x", Now: now, LeaseDuration: lease, Limit: 100})
	ok(t, err)
	return runs
}

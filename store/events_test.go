package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

// TestEventData checks the JSON of each event type's data: the shapes the
// OpenAPI document describes and the web UI reads, key for key (absent
// keys included) and in the order the events have always been written.
func TestEventData(t *testing.T) {
	t.Parallel()
	at := time.Date(2031, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	zero := 0
	ms, timeout := int64(1500), int64(0)
	for _, tc := range []struct {
		name string
		data store.EventData
		typ  store.EventType
		json string
	}{
		{"run_created of a run", store.RunCreated{Module: "m", Version: "1", Workflow: "w"},
			store.EventRunCreated, `{"module":"m","version":"1","workflow":"w"}`},
		{"run_created of a child has its parent", store.RunCreated{Module: "m", Version: "1", Workflow: "w", Parent: "p"},
			store.EventRunCreated, `{"module":"m","parent":"p","version":"1","workflow":"w"}`},
		{"activation_started as the claim writes it", store.ActivationStarted{Owner: "w1", Activation: 1},
			store.EventActivationStarted, `{"owner":"w1","activation":1}`},
		{"activation_started as the first write completes it", store.ActivationStarted{Owner: "w1", Activation: 2, Start: "replay",
			NoImage: "no", SnapshotUnusable: "gone", ReplayedSteps: &zero},
			store.EventActivationStarted, `{"owner":"w1","activation":2,"start":"replay","no_image":"no","snapshot_unusable":"gone","replayed_steps":0}`},
		{"step_started of a first attempt", store.StepStarted{Attempt: 1, Seq: 3},
			store.EventStepStarted, `{"attempt":1,"resumed":false,"seq":3}`},
		{"step_started resumed from a cursor", store.StepStarted{Attempt: 2, Seq: 3, Resumed: true, Cursor: json.RawMessage(`{"page":2}`)},
			store.EventStepStarted, `{"attempt":2,"cursor":{"page":2},"resumed":true,"seq":3}`},
		{"step_completed", store.StepCompleted{Attempt: 1, DurationMS: 12},
			store.EventStepCompleted, `{"attempt":1,"duration_ms":12}`},
		{"step_failed with an empty error", store.StepFailed{Attempt: 1, DurationMS: 0},
			store.EventStepFailed, `{"attempt":1,"duration_ms":0,"error":"","retrying":false}`},
		{"step_failed and retrying", store.StepFailed{Attempt: 1, DurationMS: 5, Error: "boom", Retrying: true},
			store.EventStepFailed, `{"attempt":1,"duration_ms":5,"error":"boom","retrying":true}`},
		{"step_failed after advancing resumes", store.StepFailed{Attempt: 1, DurationMS: 5, Error: "boom", Resuming: true, Cursor: json.RawMessage(`"abc"`)},
			store.EventStepFailed, `{"attempt":1,"cursor":"abc","duration_ms":5,"error":"boom","resuming":true,"retrying":false}`},
		{"retry_scheduled", store.RetryScheduled{Attempt: 2, At: at},
			store.EventRetryScheduled, `{"at":"2031-05-06T07:08:09.5Z","attempt":2}`},
		{"checkpoint without a cursor", store.Checkpoint{Checkpoints: 3, Cursor: json.RawMessage(`""`)},
			store.EventCheckpoint, `{"checkpoints":3,"cursor":""}`},
		{"effect_started", store.EffectStartedData{Effect: "e", Key: "r/1/0", Execution: 1},
			store.EventEffectStarted, `{"effect":"e","execution":1,"key":"r/1/0"}`},
		{"effect_completed", store.EffectCompletedData{Effect: "e", Key: "r/1/0"},
			store.EventEffectCompleted, `{"effect":"e","key":"r/1/0"}`},
		{"effect_failed with an empty error", store.EffectFailedData{Effect: "e", Key: "r/1/0"},
			store.EventEffectFailed, `{"effect":"e","error":"","key":"r/1/0"}`},
		{"effect_uncertain", store.EffectUncertain{Effect: "e", Key: "r/1/0", Executions: 1},
			store.EventEffectUncertain, `{"effect":"e","executions":1,"key":"r/1/0"}`},
		{"timer_scheduled of a sleep", store.TimerScheduled{Timer: "nap", DurationMS: &ms, WakeAt: at},
			store.EventTimerScheduled, `{"duration_ms":1500,"timer":"nap","wake_at":"2031-05-06T07:08:09.5Z"}`},
		{"timer_scheduled of a wait's deadline of 0 ms", store.TimerScheduled{Timer: "signal:go", TimeoutMS: &timeout, WakeAt: at},
			store.EventTimerScheduled, `{"timeout_ms":0,"timer":"signal:go","wake_at":"2031-05-06T07:08:09.5Z"}`},
		{"timer_fired", store.TimerFired{Timer: "children:all"},
			store.EventTimerFired, `{"timer":"children:all"}`},
		{"signal_received", store.SignalReceived{Name: "go", ID: 7},
			store.EventSignalReceived, `{"id":7,"name":"go"}`},
		{"signal_consumed", store.SignalConsumed{Signal: "go", ID: 7},
			store.EventSignalConsumed, `{"id":7,"signal":"go"}`},
		{"run_suspended waiting for a signal", store.RunSuspended{Reason: "signal"},
			store.EventRunSuspended, `{"reason":"signal"}`},
		{"run_suspended by an interrupt, parked", store.RunSuspended{Reason: "interrupt", Cause: "shutdown", WakeAt: &at, SnapshotBytes: 4096},
			store.EventRunSuspended, `{"cause":"shutdown","reason":"interrupt","snapshot_bytes":4096,"wake_at":"2031-05-06T07:08:09.5Z"}`},
		{"run_suspended parked without a snapshot", store.RunSuspended{Reason: "sleep", WakeAt: &at, Snapshot: "none: too big"},
			store.EventRunSuspended, `{"reason":"sleep","snapshot":"none: too big","wake_at":"2031-05-06T07:08:09.5Z"}`},
		{"run_completed", store.RunEnded{Status: store.StatusCompleted},
			store.EventRunCompleted, `{}`},
		{"run_failed", store.RunEnded{Status: store.StatusFailed, Error: "boom"},
			store.EventRunFailed, `{"error":"boom"}`},
		{"run_cancelled", store.RunEnded{Status: store.StatusCancelled},
			store.EventRunCancelled, `{}`},
		{"run_cancelled with its parent", store.RunEnded{Status: store.StatusCancelled, Parent: "p"},
			store.EventRunCancelled, `{"parent":"p"}`},
		{"run_retried", store.RunRetried{Attempt: 2},
			store.EventRunRetried, `{"attempt":2}`},
		{"nondeterminism", store.Nondeterminism{Position: "entry 2",
			Expected: store.JournalCall{Kind: "step", Name: "a"}, Found: store.JournalCall{Kind: "timer", Name: "b"}},
			store.EventNondeterminism, `{"expected":{"kind":"step","name":"a"},"found":{"kind":"timer","name":"b"},"position":"entry 2"}`},
		{"child_started", store.ChildStarted{Child: "c", Workflow: "w", Module: "m", Version: "1"},
			store.EventChildStarted, `{"child":"c","module":"m","version":"1","workflow":"w"}`},
		{"run_upgraded", store.RunUpgraded{From: store.ModuleRef{Version: "1", Digest: "sha256:01"},
			To: store.ModuleRef{Version: "2", Digest: "sha256:02"}, Position: 3},
			store.EventRunUpgraded, `{"from":{"digest":"sha256:01","version":"1"},"position":3,"to":{"digest":"sha256:02","version":"2"}}`},
		{"child_completed's type", store.ChildEnded{Status: store.StatusCompleted, Output: json.RawMessage(`1`)},
			store.EventChildCompleted, `{"child":"","workflow":"","status":"completed","output":1}`},
		{"change_recorded", store.ChangeRecorded{Change: "fix-123"},
			store.EventChangeRecorded, `{"change":"fix-123"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, ev := range []*store.NewEvent{store.RunEvent(at, tc.data), store.StepEvent("s", at, tc.data)} {
				if ev.Type != tc.typ || !ev.At.Equal(at) || string(ev.Data) != tc.json {
					t.Fatalf("event = %s %v %s, want %s %v %s", ev.Type, ev.At, ev.Data, tc.typ, at, tc.json)
				}
			}
			if ev := store.StepEvent("s", at, tc.data); ev.Step != "s" {
				t.Errorf("StepEvent's step = %q, want s", ev.Step)
			}
			if ev := store.RunEvent(at, tc.data); ev.Step != "" {
				t.Errorf("RunEvent's step = %q, want none", ev.Step)
			}
		})
	}
}

package store

import (
	"encoding/json"
	"time"
)

// The types below are the data of the events of a run's timeline, one type
// per event type (ChildEnded, in children.go, is the data of child_completed
// and child_failed; RunEnded of run_completed, run_failed and
// run_cancelled). Everyone who appends an event builds its data with its
// type, so that an event's JSON is defined once: the executor, the store
// drivers, and the SQL of the Postgres functions that write the same events
// (which follow these shapes). Fields are in the order of their JSON names.
//
// Times are JSON strings in RFC 3339 with sub-second precision. A cursor is
// the step's saved cursor as JSON: the cursor itself when it is a JSON
// document, else a JSON string of its bytes.

// EventData is the data of an event of one type.
type EventData interface {
	// EventType is the type of the event whose data this is.
	EventType() EventType
}

// RunEvent returns the event with data d, about no step, at at.
func RunEvent(at time.Time, d EventData) *NewEvent {
	return StepEvent("", at, d)
}

// StepEvent returns the event with data d about step (empty when the event
// is about no step) at at.
func StepEvent(step string, at time.Time, d EventData) *NewEvent {
	data, err := json.Marshal(d)
	if err != nil {
		// Strings, numbers, times and JSON documents: a failure is a bug
		// in the caller, such as a cursor that is not JSON.
		panic("store: encode the data of a " + string(d.EventType()) + " event: " + err.Error())
	}
	return &NewEvent{Type: d.EventType(), Step: step, At: at, Data: data}
}

// RunCreated is the data of run_created, a run's first event.
type RunCreated struct {
	Module   string `json:"module"`
	Parent   string `json:"parent,omitempty"` // the parent run, for a child run
	Version  string `json:"version"`          // the module's version
	Workflow string `json:"workflow"`
}

// ActivationStarted is the data of activation_started, which a claim
// appends; the activation's first write completes it with how the
// activation began and what it replayed.
type ActivationStarted struct {
	Owner      string `json:"owner"`      // the process that holds the lease
	Activation int    `json:"activation"` // counts from 1 per run
	// Start says how the activation began: "replay", "image", "snapshot"
	// or "warm". Empty in the event as the claim writes it.
	Start string `json:"start,omitempty"`
	// NoImage, with Start "replay", says why the module has no init image.
	NoImage string `json:"no_image,omitempty"`
	// SnapshotUnusable says why a guest that parks replays instead of
	// starting from the run's snapshot.
	SnapshotUnusable string `json:"snapshot_unusable,omitempty"`
	// ReplayedSteps is how many steps the activation replayed (answered
	// from the journal) before its first write: 0 for a run's first
	// activation, and usually for one that resumed where the guest parked.
	// Nil, and absent, in the event as the claim writes it.
	ReplayedSteps *int `json:"replayed_steps,omitempty"`
}

// StepStarted is the data of step_started: an attempt of a step begins, or
// continues in a new activation.
type StepStarted struct {
	Attempt int `json:"attempt"` // counts from 1
	// Cursor is the saved cursor the body resumes from; absent when it
	// has none.
	Cursor  json.RawMessage `json:"cursor,omitempty"`
	Resumed bool            `json:"resumed"` // the attempt began in an earlier activation, or resumes from a cursor
	Seq     int             `json:"seq"`     // the step's position in the journal
}

// StepCompleted is the data of step_completed.
type StepCompleted struct {
	Attempt    int   `json:"attempt"`
	DurationMS int64 `json:"duration_ms"` // of the attempt in this activation
}

// StepFailed is the data of step_failed: an attempt of a step ended in an
// error.
type StepFailed struct {
	Attempt int `json:"attempt"`
	// Cursor, with Resuming, is the cursor the step resumes from.
	Cursor     json.RawMessage `json:"cursor,omitempty"`
	DurationMS int64           `json:"duration_ms"`
	Error      string          `json:"error"` // the guest's message
	// Resuming says the attempt failed after advancing its cursor and
	// resumes from it without using up an attempt; absent when false.
	Resuming bool `json:"resuming,omitempty"`
	Retrying bool `json:"retrying"` // another attempt follows (retry_scheduled)
}

// RetryScheduled is the data of retry_scheduled: the next attempt of a
// failed step and when it may begin.
type RetryScheduled struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"` // the attempt to come
}

// Checkpoint is the data of checkpoint, which is coalesced: one event per
// run of consecutive checkpoints of a step in an activation, rewritten with
// each.
type Checkpoint struct {
	Checkpoints int             `json:"checkpoints"` // how many the event stands for
	Cursor      json.RawMessage `json:"cursor"`      // the step's cursor at the last; "" when none
}

// EffectStartedData is the data of effect_started: an execution of an effect
// begins. (EffectStarted, EffectCompleted and EffectFailed are the
// statuses of an effect's record, hence the suffix of the three types.)
type EffectStartedData struct {
	Effect    string `json:"effect"`
	Execution int    `json:"execution"` // counts from 1
	Key       string `json:"key"`       // the idempotency key, the same for every execution
}

// EffectCompletedData is the data of effect_completed.
type EffectCompletedData struct {
	Effect string `json:"effect"`
	Key    string `json:"key"`
}

// EffectFailedData is the data of effect_failed.
type EffectFailedData struct {
	Effect string `json:"effect"`
	Error  string `json:"error"` // the guest's message
	Key    string `json:"key"`
}

// EffectUncertain is the data of effect_uncertain: an effect was started in
// an earlier activation that never recorded its outcome, and runs again
// with the same key.
type EffectUncertain struct {
	Effect     string `json:"effect"`
	Executions int    `json:"executions"` // the executions begun so far
	Key        string `json:"key"`
}

// TimerScheduled is the data of timer_scheduled: a sleep, or the deadline
// of a wait for a signal ("signal:" and its name) or for children
// ("children:" and the wait's name).
type TimerScheduled struct {
	DurationMS *int64    `json:"duration_ms,omitempty"` // a sleep's duration; absent for a deadline
	TimeoutMS  *int64    `json:"timeout_ms,omitempty"`  // a wait's timeout; absent for a sleep
	Timer      string    `json:"timer"`
	WakeAt     time.Time `json:"wake_at"`
}

// TimerFired is the data of timer_fired: a sleep ended, or a wait timed
// out (Timer as in TimerScheduled).
type TimerFired struct {
	Timer string `json:"timer"`
}

// SignalReceived is the data of signal_received, which SignalInsert
// appends.
type SignalReceived struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// SignalConsumed is the data of signal_consumed: a wait for a signal got
// it.
type SignalConsumed struct {
	ID     int64  `json:"id"`
	Signal string `json:"signal"` // the signal's name
}

// RunSuspended is the data of run_suspended: the activation ends and the
// run resumes in a new one.
type RunSuspended struct {
	// Cause, with Reason "interrupt", says why the activation was
	// interrupted.
	Cause string `json:"cause,omitempty"`
	// Reason is what the run waits for: "interrupt", "sleep", "signal",
	// "retry" or "children".
	Reason string `json:"reason"`
	// Snapshot, for a guest that parked, says why no snapshot was taken
	// ("none: " and why); absent when one was.
	Snapshot      string     `json:"snapshot,omitempty"`
	SnapshotBytes int        `json:"snapshot_bytes,omitempty"` // the size of the snapshot taken
	WakeAt        *time.Time `json:"wake_at,omitempty"`        // absent when only a signal or a child's end wakes the run
}

// RunEnded is the data of the event of a run's end: run_completed,
// run_failed or run_cancelled, after its Status. Its JSON is {} for a
// completed run, {"error"} for a failed one, and for a cancelled one {},
// {"error"} when it was cancelled while running, or {"parent"} when the
// cancel of its parent cancelled it.
type RunEnded struct {
	Status RunStatus `json:"-"`
	Error  string    `json:"error,omitempty"`
	Parent string    `json:"parent,omitempty"`
}

// RunRetried is the data of run_retried, which RunRetry appends.
type RunRetried struct {
	Attempt int `json:"attempt"` // the run's attempt that begins
}

// Nondeterminism is the data of nondeterminism: the code asked, at a
// position of the journal, for something other than what the journal
// holds there.
type Nondeterminism struct {
	Expected JournalCall `json:"expected"` // what the journal holds
	Found    JournalCall `json:"found"`    // what the code asked for
	Position string      `json:"position"`
}

// JournalCall is a call at a position of the journal, in Nondeterminism.
type JournalCall struct {
	Kind string `json:"kind"` // an EntryKind, or what else the code did there
	Name string `json:"name"`
}

// ChildStarted is the data of child_started, in the parent's timeline.
type ChildStarted struct {
	Child    string `json:"child"` // the child run's id
	Module   string `json:"module"`
	Version  string `json:"version"`
	Workflow string `json:"workflow"`
}

// RunUpgraded is the data of run_upgraded: the run was re-pinned from one
// version of its module to another, whose code replayed its journal up to
// Position (the entries it holds) making the same calls.
type RunUpgraded struct {
	From     ModuleRef `json:"from"`
	Position int       `json:"position"`
	To       ModuleRef `json:"to"`
}

// ModuleRef names a module version and its digest, in RunUpgraded.
type ModuleRef struct {
	Digest  string `json:"digest"`
	Version string `json:"version"`
}

// ChangeRecorded is the data of change_recorded: the run took the new
// code of a change and its journal now has the change's marker.
type ChangeRecorded struct {
	Change string `json:"change"` // the change id
}

// The EventType methods implement EventData.

func (RunCreated) EventType() EventType          { return EventRunCreated }
func (ActivationStarted) EventType() EventType   { return EventActivationStarted }
func (StepStarted) EventType() EventType         { return EventStepStarted }
func (StepCompleted) EventType() EventType       { return EventStepCompleted }
func (StepFailed) EventType() EventType          { return EventStepFailed }
func (RetryScheduled) EventType() EventType      { return EventRetryScheduled }
func (Checkpoint) EventType() EventType          { return EventCheckpoint }
func (EffectStartedData) EventType() EventType   { return EventEffectStarted }
func (EffectCompletedData) EventType() EventType { return EventEffectCompleted }
func (EffectFailedData) EventType() EventType    { return EventEffectFailed }
func (EffectUncertain) EventType() EventType     { return EventEffectUncertain }
func (TimerScheduled) EventType() EventType      { return EventTimerScheduled }
func (TimerFired) EventType() EventType          { return EventTimerFired }
func (SignalReceived) EventType() EventType      { return EventSignalReceived }
func (SignalConsumed) EventType() EventType      { return EventSignalConsumed }
func (RunSuspended) EventType() EventType        { return EventRunSuspended }
func (RunRetried) EventType() EventType          { return EventRunRetried }
func (Nondeterminism) EventType() EventType      { return EventNondeterminism }
func (ChildStarted) EventType() EventType        { return EventChildStarted }
func (RunUpgraded) EventType() EventType         { return EventRunUpgraded }
func (ChangeRecorded) EventType() EventType      { return EventChangeRecorded }

// EventType is run_completed, run_failed or run_cancelled, after the
// run's Status (run_failed for any status but completed and cancelled).
func (e RunEnded) EventType() EventType {
	switch e.Status {
	case StatusCompleted:
		return EventRunCompleted
	case StatusCancelled:
		return EventRunCancelled
	}
	return EventRunFailed
}

// EventType is child_completed for a completed child, child_failed
// otherwise. Build the event with Event, which drops the field the status
// does not carry.
func (c ChildEnded) EventType() EventType {
	if c.Status == StatusCompleted {
		return EventChildCompleted
	}
	return EventChildFailed
}

// Package store persists modules, runs and their journals and timelines
// behind one interface, Store. It knows runs and events; it knows nothing of
// engines, guests or HTTP. Two implementations exist: store/sqlite (the
// embedded default) and store/postgres. Both pass the same conformance suite,
// store/storetest.
//
// Every write to a run made on behalf of an activation is fenced: it carries
// the fence token the run was claimed with, and the store refuses it with
// ErrFenced once another claim has taken the run. A process that lost its lease
// can therefore never write to that run again.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Errors returned by every Store. Implementations translate their drivers'
// errors into these at the boundary; callers match them with errors.Is.
var (
	// ErrNotFound: the module, run or event asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrFenced: the write carried a fence token that is no longer current,
	// or the run is no longer running: the writer lost its lease.
	ErrFenced = errors.New("lease lost: run was claimed by another activation")
	// ErrConflict: a unique name is already taken (a module name and version
	// with different bytes).
	ErrConflict = errors.New("conflict")
	// ErrInvalidTransition: the run's status does not allow the change asked
	// for (cancelling a completed run, retrying a running one).
	ErrInvalidTransition = errors.New("invalid run status transition")
	// ErrUnavailable: the database could not be reached, or dropped the
	// connection (a restart, a failover, a network blip). The call may have
	// taken effect or not; it may succeed if made again once the database
	// is back. Reads are retried once by the store itself; fenced writes
	// (RunApply with Write set) are safe for the caller to send again.
	ErrUnavailable = errors.New("database unavailable")
	// ErrChanged: the run is no longer as the caller read it (a claim took
	// it, it was cancelled or re-pinned meanwhile); nothing was written.
	ErrChanged = errors.New("the run changed since it was read")
	// ErrInUse: the module version is still needed by runs; the error is
	// an *InUseError, which says how many.
	ErrInUse = errors.New("module version in use")
)

// InUseError is ModuleDelete's refusal: Runs runs still need the version.
// It matches ErrInUse with errors.Is.
type InUseError struct {
	Runs int64
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%d runs still need the module version", e.Runs)
}

// Is reports whether target is ErrInUse.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Store is the persistence interface of wasmflow. Methods are listed in
// alphabetical order; each takes a params struct so that adding a field never
// breaks a caller. All times are stored with microsecond precision.
type Store interface {
	// Close releases the store's connections.
	Close() error

	// EffectListByRun returns the run's effects, ordered by step seq, then
	// seq.
	EffectListByRun(ctx context.Context, params *EffectListByRunParams) ([]*Effect, error)

	// EntryListByRun returns the run's journal, ordered by seq.
	EntryListByRun(ctx context.Context, params *EntryListByRunParams) ([]*Entry, error)

	// EventList returns the run's events with seq > AfterSeq, in seq order,
	// at most Limit of them (all when Limit is 0).
	EventList(ctx context.Context, params *EventListParams) ([]*Event, error)

	// ModuleDelete deletes a module version, refusing with an *InUseError
	// while runs need it: every run of that name and version that is not
	// completed or cancelled (a failed run needs it too, since it may be
	// retried). The bytes and init images of its digest are deleted with it
	// unless another module (any name and version) has the same digest. An
	// unknown name or version is ErrNotFound.
	ModuleDelete(ctx context.Context, params *ModuleDeleteParams) error

	// ModuleGetBytes returns the module bytes stored for a digest.
	ModuleGetBytes(ctx context.Context, params *ModuleGetBytesParams) ([]byte, error)

	// ModuleGetByName returns the module with that name and version, or the
	// latest version (highest created_at) when Version is empty.
	ModuleGetByName(ctx context.Context, params *ModuleGetByNameParams) (*Module, error)

	// ModuleImageGet returns the init image stored for a module digest in
	// an image format, or ErrNotFound.
	ModuleImageGet(ctx context.Context, params *ModuleImageGetParams) (*ModuleImage, error)

	// ModuleImagePut stores a module's init image, replacing one stored
	// for the same digest and format.
	ModuleImagePut(ctx context.Context, params *ModuleImagePutParams) error

	// ModuleInsert stores a module. If a module with the same name and the
	// same digest exists, it returns that one and created false. If Version is
	// empty, the next free integer version for the name ("1", "2", ...) is
	// used. A taken name and version with another digest is ErrConflict.
	ModuleInsert(ctx context.Context, params *ModuleInsertParams) (module *Module, created bool, err error)

	// ModuleList returns the latest version of every module, ordered by name.
	ModuleList(ctx context.Context, params *ModuleListParams) ([]*Module, error)

	// ModuleListVersions returns every version of a module, newest first.
	ModuleListVersions(ctx context.Context, params *ModuleListVersionsParams) ([]*Module, error)

	// RunApply writes, in one transaction, what one step of an activation
	// changes: the run's status and fields, journal entries, effects, a
	// consumed signal, child runs, and events. It is fenced: if the run's fence is not
	// params.Fence or its status is not running, nothing is written and the
	// error is ErrFenced. A numbered write (params.Write) that the run has
	// applied already under the same fence writes nothing again and
	// reports Replayed, whatever the run's status now: a write whose
	// outcome is unknown (ErrUnavailable) can be sent again as it was. A
	// suspension (pending, sleeping, waiting) of a run whose cancellation
	// was requested meanwhile makes it runnable at once (wake_at Now), so
	// that its next activation ends it.
	RunApply(ctx context.Context, params *RunApplyParams) (*RunApplyResult, error)

	// RunCancel cancels a run. A pending, sleeping or waiting run becomes
	// cancelled at once (event run_cancelled, its snapshot deleted), and
	// ends as RunApply's terminal writes do (see RunApplyParams.ParentEvent):
	// its parent learns, its children are cancelled. A running run gets
	// CancelRequested set; its activation stops it. A finished run is
	// ErrInvalidTransition.
	RunCancel(ctx context.Context, params *RunCancelParams) (*Run, error)

	// RunClaim claims up to Limit runnable runs (wake_at <= Now, which
	// includes running runs whose lease expired), oldest wake_at first,
	// skipping runs another claimer holds. Each claimed run becomes running
	// under a lease for Owner until Now+LeaseDuration, its fence is
	// incremented, its activation count incremented, and an
	// activation_started event {owner, activation} is appended. If RunID is
	// set only that run is considered.
	RunClaim(ctx context.Context, params *RunClaimParams) ([]*Run, error)

	// RunCount counts the runs that match the non-empty fields of params,
	// in one group per module version, workflow and status (groups without
	// runs are left out), ordered by module name, version, workflow and
	// status.
	RunCount(ctx context.Context, params *RunCountParams) ([]*RunCount, error)

	// RunGetByID returns one run.
	RunGetByID(ctx context.Context, params *RunGetByIDParams) (*Run, error)

	// RunChildren returns the children of a run (all of them, or those of
	// IDs that are its children), oldest first, and the parent's
	// ChildrenEnded, read together: a child whose end the count includes
	// is terminal in the list, and a child not terminal in the list has
	// not been counted.
	RunChildren(ctx context.Context, params *RunChildrenParams) (*RunChildren, error)

	// RunHeartbeat extends the leases that are still held (matching run id
	// and fence, status running) to Now+LeaseDuration and reports, for each
	// lease asked about, whether it is still held and whether cancellation
	// was requested.
	RunHeartbeat(ctx context.Context, params *RunHeartbeatParams) ([]*LeaseState, error)

	// RunInsert creates a pending run, runnable at once, with a run_created
	// event. If IdempotencyKey is set and a run with that key exists, it
	// returns that run and created false.
	//
	// When Owner is set, the run is created already claimed by Owner, in the
	// same transaction, as if by RunClaim at Now: running under a lease until
	// Now+LeaseDuration, fence 1, activation 1, with an activation_started
	// event {owner, activation} after run_created. No other claimer can take
	// it meanwhile, and nothing wakes other processes for it. An existing
	// run returned for an idempotency key is left as it is.
	//
	// When ModuleDigest is empty, the store resolves the run's module in
	// the insert's own statement or transaction: version ModuleVersion of
	// ModuleName, or its latest version when ModuleVersion is empty, which
	// must list Workflow; the run returned names the version and digest
	// resolved. When there is no such version, or it lacks the workflow,
	// nothing is inserted and the error is ErrNotFound. A child run
	// (ParentID) names its digest.
	RunInsert(ctx context.Context, params *RunInsertParams) (run *Run, created bool, err error)

	// RunLag returns how long the oldest runnable run has waited for a
	// claim at Now: Now minus the earliest wake_at among the runs a claim at
	// Now would take (due pending, sleeping and waiting runs, running runs
	// whose lease expired). It is zero when no run is runnable.
	RunLag(ctx context.Context, params *RunLagParams) (time.Duration, error)

	// RunList returns runs newest first (by id, which sorts by creation),
	// filtered by the non-empty fields, with id < After when After is set.
	RunList(ctx context.Context, params *RunListParams) ([]*Run, error)

	// RunListWakeups returns the next Limit wake-ups later than After of
	// runs that are not running (pending, sleeping and waiting runs with a
	// wake_at), earliest first: what claims will take as time passes, unless
	// something changes them meanwhile. A zero After includes the due ones.
	// Running runs, whose wake_at is their lease expiry, are left out.
	RunListWakeups(ctx context.Context, params *RunListWakeupsParams) ([]*Wakeup, error)

	// RunPurge deletes, in one short transaction, up to Limit finished runs
	// (completed, failed or cancelled; only those of Statuses when set)
	// whose CompletedAt is before Before, oldest first, with everything
	// that belongs to them: events, journal entries, effects, signals and
	// snapshot. A child run is purged only once its parent is gone or is
	// purged by the same criteria, never while its parent is kept (the
	// parent reads its children); a purged parent's children that have not
	// finished go on, and their end counts nowhere. With DryRun nothing is
	// deleted and Count is every run that matches, without Limit. The purge
	// locks only finished runs, which no claim ever takes, and skips those
	// that others lock: it never waits for a claim, and no claim waits for
	// it. A status that is not a finished one is ErrInvalidTransition.
	RunPurge(ctx context.Context, params *RunPurgeParams) (*RunPurgeResult, error)

	// RunRelease gives up a lease without changing anything else: the run
	// becomes pending and runnable at once (used when a process hands a run
	// back without having started it).
	RunRelease(ctx context.Context, params *RunReleaseParams) error

	// RunRetry makes a failed run pending again with Attempt+1, keeping the
	// journal entries before the first failed one and deleting that entry,
	// every entry after it, and their effects. Any other status is
	// ErrInvalidTransition. Appends a run_retried event.
	RunRetry(ctx context.Context, params *RunRetryParams) (*Run, error)

	// RunJournal reads what an activation of the run starts from, in one
	// round trip: its journal entries and effects from a position on and,
	// when asked, its latest snapshot (see RunJournalParams).
	RunJournal(ctx context.Context, params *RunJournalParams) (*RunJournal, error)

	// RunSnapshotGet returns the run's latest snapshot, or ErrNotFound.
	RunSnapshotGet(ctx context.Context, params *RunSnapshotGetParams) (*RunSnapshot, error)

	// RunUpgrade re-pins a run that is not running (pending, sleeping,
	// waiting or failed) to another version of its module, in one
	// transaction, if the run is still as the caller read it: its status,
	// fence and digest are params' Status, Fence and FromDigest, and the
	// module version ToVersion still has the digest ToDigest. It sets the
	// run's module version and digest, appends Event, and deletes the run's
	// snapshot; its status, wake-up and lease are left as they are. A run
	// that changed meanwhile is ErrChanged and nothing is written; an
	// unknown run, or a ToVersion that does not exist (deleted meanwhile),
	// is ErrNotFound; a Status that cannot be upgraded (running, completed,
	// cancelled) is ErrInvalidTransition.
	RunUpgrade(ctx context.Context, params *RunUpgradeParams) (*Run, error)

	// SignalInsert records a signal for a run that has not finished (a
	// finished run is ErrInvalidTransition), increments the run's
	// SignalsReceived, makes a waiting run runnable at once, and appends a
	// signal_received event {name, id}.
	SignalInsert(ctx context.Context, params *SignalInsertParams) (*Signal, error)

	// SignalListPending returns the run's unconsumed signals, oldest first,
	// optionally only those with Name.
	SignalListPending(ctx context.Context, params *SignalListPendingParams) ([]*Signal, error)

	// TokenGetByHash returns the token whose secret hashes to Hash. An
	// unknown or revoked token is ErrNotFound. When Now is set, it becomes
	// the token's LastUsedAt.
	TokenGetByHash(ctx context.Context, params *TokenGetByHashParams) (*Token, error)

	// TokenInsert stores a token. A taken ID or Hash is ErrConflict.
	TokenInsert(ctx context.Context, params *TokenInsertParams) (*Token, error)

	// TokenList returns every token, revoked ones included, oldest first.
	TokenList(ctx context.Context, params *TokenListParams) ([]*Token, error)

	// TokenRevoke revokes a token at Now and returns it. Revoking a revoked
	// token keeps its first RevokedAt. An unknown ID is ErrNotFound.
	TokenRevoke(ctx context.Context, params *TokenRevokeParams) (*Token, error)
}

// Batcher is implemented by stores whose RunApply commits the writes of
// concurrent callers together (group commit); both stores here do. A store
// gathers the RunApply calls made while it is busy, up to a bound, and
// sends them through RunApplyBatch.
type Batcher interface {
	// RunApplyBatch applies writes to distinct runs in one transaction,
	// fenced as RunApply is, and answers each write separately, in order:
	// a write refused (ErrFenced, ErrNotFound) or one the database fails
	// does not keep the others from committing. ErrUnavailable is the
	// answer of every write whose outcome is unknown.
	RunApplyBatch(ctx context.Context, writes []*RunApplyParams) []RunApplyOutcome
}

// RunApplyOutcome is the answer to one write of a RunApplyBatch: Result
// when it committed (or had been applied already), Err otherwise.
type RunApplyOutcome struct {
	Result *RunApplyResult
	Err    error
}

// Notifier is implemented by stores that can tell a process, across
// processes, that a run may have become runnable now (store/postgres, with
// LISTEN/NOTIFY). It only cuts latency: schedulers poll as well.
type Notifier interface {
	// Listen calls params.Wake whenever a run may have become runnable, and
	// once after each (re)connection, since notifications may have been
	// missed meanwhile. It reconnects after failures, reporting each to
	// params.Error, and returns when ctx ends.
	Listen(ctx context.Context, params *ListenParams)
}

// ListenParams are the callbacks of Notifier.Listen. They must be quick.
type ListenParams struct {
	Wake  func()
	Error func(error) // optional
}

// Module is an uploaded module version. Bytes are fetched separately with
// ModuleGetBytes.
type Module struct {
	Name      string
	Version   string
	Digest    string // "sha256:" + hex
	Size      int64
	Workflows []string
	CreatedAt time.Time
}

// Run is the current state of a run: the projection of its events.
type Run struct {
	ID              string
	ModuleName      string
	ModuleVersion   string
	ModuleDigest    string
	Workflow        string
	Status          RunStatus
	Input           json.RawMessage
	Output          json.RawMessage // nil until completed
	Error           string
	Attempt         int // 1, +1 per RunRetry
	IdempotencyKey  string
	Progress        json.RawMessage // nil until the guest publishes one
	Activations     int             // claims so far
	CancelRequested bool
	SignalsReceived int64
	EventCount      int64
	WakeAt          *time.Time // when a non-running run becomes runnable; lease expiry while running; nil when waiting forever or finished
	LeaseOwner      string
	Fence           int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
	CompletedAt     *time.Time
	// ParentID is the run that started this one as a child; empty for a
	// run started through the API.
	ParentID string
	// OnParentEnd is what becomes of a child when its parent ends while it
	// has not: ParentEndCancel or ParentEndAbandon. Empty without a parent.
	OnParentEnd ParentEnd
	// ChildrenEnded counts the ends of this run's children (a child that
	// is retried and ends again counts again).
	ChildrenEnded int64
	// ChildrenWake is, while the run waits for children, the ChildrenEnded
	// at which it wakes (RunApplyParams.WakeAtChildrenEnded); 0 otherwise.
	ChildrenWake int64
}

// ParentEnd is what becomes of a child run when its parent ends first.
type ParentEnd string

const (
	// ParentEndCancel cancels the child (and, in turn, its children).
	ParentEndCancel ParentEnd = "cancel"
	// ParentEndAbandon lets the child go on alone.
	ParentEndAbandon ParentEnd = "abandon"
)

// EntryKind is the kind of a journal entry.
type EntryKind string

const (
	EntryStep   EntryKind = "step"
	EntryTimer  EntryKind = "timer"
	EntrySignal EntryKind = "signal"
	// EntryChild is the start of a child run: Name is its workflow,
	// Output the child's run id (or, when it failed to start, Error).
	EntryChild EntryKind = "child"
	// EntryChildren is a wait for child runs: Name is "all" or "any",
	// Output the answer (ABI.md, section 5.9) once received.
	EntryChildren EntryKind = "children"
	// EntryChange is a patch marker (ABI.md, section 5.10): Name is the
	// change id; its status is completed. It says the run took the new
	// code of that change.
	EntryChange EntryKind = "change"
)

// EntryStatus is the status of a journal entry. Steps go running →
// (retrying → running)* → completed | failed; timers scheduled → fired;
// signals and children waits waiting → received | timed_out; child starts
// are completed (started) or failed (refused).
type EntryStatus string

const (
	EntryRunning   EntryStatus = "running"
	EntryRetrying  EntryStatus = "retrying"
	EntryCompleted EntryStatus = "completed"
	EntryFailed    EntryStatus = "failed"
	EntryScheduled EntryStatus = "scheduled"
	EntryFired     EntryStatus = "fired"
	EntryWaiting   EntryStatus = "waiting"
	EntryReceived  EntryStatus = "received"
	EntryTimedOut  EntryStatus = "timed_out"
)

// Entry is one position of a run's journal: a step, a timer or a signal
// wait. It is written with RunApply as an upsert keyed by (RunID, Seq).
type Entry struct {
	RunID     string
	Seq       int
	Kind      EntryKind
	Name      string
	Status    EntryStatus
	Attempts  int
	Cursor    []byte // steps: last saved cursor
	Output    []byte // steps: output; signals: payload
	Error     string
	EffectSeq int        // steps: effects begun up to the saved cursor
	WakeAt    *time.Time // steps: next attempt; timers: fire time; signals: timeout
	StartedAt time.Time
	UpdatedAt time.Time
}

// EffectStatus is the status of an effect: started → completed | failed;
// failed and started (after a lost activation) → started again.
type EffectStatus string

const (
	EffectStarted   EffectStatus = "started"
	EffectCompleted EffectStatus = "completed"
	EffectFailed    EffectStatus = "failed"
)

// Effect is a recorded side effect, keyed by (RunID, StepSeq, Seq).
type Effect struct {
	RunID      string
	StepSeq    int
	Seq        int
	Name       string
	Status     EffectStatus
	Key        string // idempotency key
	Result     []byte
	Error      string
	Executions int // times the effect was begun
	StartedAt  time.Time
	UpdatedAt  time.Time
}

// Signal is a message sent to a run. ConsumedBy is the journal seq of the
// signal entry that received it, nil while unconsumed.
type Signal struct {
	ID         int64
	RunID      string
	Name       string
	Payload    json.RawMessage
	CreatedAt  time.Time
	ConsumedBy *int
}

// EventType names an event of a run's timeline.
type EventType string

const (
	EventRunCreated        EventType = "run_created"
	EventActivationStarted EventType = "activation_started"
	EventStepStarted       EventType = "step_started"
	EventStepCompleted     EventType = "step_completed"
	EventStepFailed        EventType = "step_failed"
	EventRetryScheduled    EventType = "retry_scheduled"
	EventCheckpoint        EventType = "checkpoint"
	EventEffectStarted     EventType = "effect_started"
	EventEffectCompleted   EventType = "effect_completed"
	EventEffectFailed      EventType = "effect_failed"
	EventEffectUncertain   EventType = "effect_uncertain"
	EventTimerScheduled    EventType = "timer_scheduled"
	EventTimerFired        EventType = "timer_fired"
	EventSignalReceived    EventType = "signal_received"
	EventSignalConsumed    EventType = "signal_consumed"
	EventRunSuspended      EventType = "run_suspended"
	EventRunCompleted      EventType = "run_completed"
	EventRunFailed         EventType = "run_failed"
	EventRunCancelled      EventType = "run_cancelled"
	EventRunRetried        EventType = "run_retried"
	EventNondeterminism    EventType = "nondeterminism"
	EventChildStarted      EventType = "child_started"
	EventChildCompleted    EventType = "child_completed"
	EventChildFailed       EventType = "child_failed"
	EventRunUpgraded       EventType = "run_upgraded"
	EventChangeRecorded    EventType = "change_recorded"
)

// Event is one event of a run's timeline. Seq counts from 1 per run without
// gaps.
type Event struct {
	RunID string
	Seq   int64
	Type  EventType
	Step  string // empty when the event is not about a step
	At    time.Time
	Data  json.RawMessage // a JSON object, "{}" when empty
}

// NewEvent is an event to append with RunApply.
type NewEvent struct {
	Type EventType
	Step string
	At   time.Time
	Data json.RawMessage // nil means {}
}

// ConsumedSignal marks a signal consumed by a journal entry.
type ConsumedSignal struct {
	SignalID int64
	EntrySeq int
}

// LeaseState reports one lease after a heartbeat.
type LeaseState struct {
	RunID           string
	Held            bool
	CancelRequested bool
}

type EffectListByRunParams struct {
	RunID       string
	FromStepSeq int // only the effects of steps at this journal position or later
}

type EntryListByRunParams struct {
	RunID   string
	FromSeq int // only the entries at this position or later
}

type EventListParams struct {
	RunID    string
	AfterSeq int64
	Limit    int
}

type ModuleDeleteParams struct {
	Name    string
	Version string
}

type ModuleGetBytesParams struct{ Digest string }

type ModuleGetByNameParams struct {
	Name    string
	Version string // empty: latest
}

type ModuleImageGetParams struct {
	Digest string
	Format string
}

type ModuleImagePutParams struct {
	Digest string
	Format string
	Image  []byte
	Now    time.Time
}

// ModuleImage is a module's init image: state derived from the module's
// bytes by the host (internal/snapshot), kept so that no process has to derive
// it again. The store does not read it.
type ModuleImage struct {
	Digest    string
	Format    string
	Image     []byte
	CreatedAt time.Time
}

type ModuleInsertParams struct {
	Name      string
	Version   string // empty: next integer
	Digest    string
	Bytes     []byte
	Workflows []string
	Now       time.Time
}

type ModuleListParams struct{}

type ModuleListVersionsParams struct{ Name string }

// RunApplyParams is everything one fenced write changes. Zero values mean
// "unchanged" unless documented otherwise.
type RunApplyParams struct {
	RunID string
	Fence int64
	// Write numbers the activation's writes, 1, 2, ... in the order it
	// makes them; with Fence it names this write. Zero: not numbered (the
	// write is never recognised as applied already).
	Write int64
	Now   time.Time // becomes updated_at

	// Status, when set, is the run's new status. Any status other than
	// running releases the lease. Terminal statuses set completed_at and
	// clear wake_at.
	Status RunStatus
	// WakeAt is when a pending, sleeping or waiting run becomes runnable
	// again; nil with a waiting status means never (only a signal wakes it).
	WakeAt *time.Time
	// WakeIfSignalsBeyond applies to a waiting status: if the run's
	// SignalsReceived is greater than this value (a signal arrived after the
	// activation looked), wake_at becomes Now instead of WakeAt.
	WakeIfSignalsBeyond int64
	// WakeAtChildrenEnded applies to a waiting status: when > 0, the run
	// wakes (wake_at becomes the Now of the child's end, unless WakeAt is
	// earlier) once its ChildrenEnded reaches this value, or at once (Now)
	// if it has already, as this write finds it; WakeAt still applies if it
	// comes first. Any other write to the run clears it. The child's end
	// and this write serialize on the run's row: whichever commits second
	// sees the other.
	WakeAtChildrenEnded int64
	Output              json.RawMessage // with StatusCompleted
	Error               string          // with StatusFailed
	Progress            json.RawMessage // nil: unchanged

	Entries []*Entry  // upserted by (RunID, Seq)
	Effects []*Effect // upserted by (RunID, StepSeq, Seq)
	Consume *ConsumedSignal
	// Children are child runs this write starts: pending and runnable at
	// once (at their Now, or this write's when zero), ParentID set to the
	// run, each with a run_created event (with "parent"). A child whose ID
	// exists already is left as it is, so a start sent again starts nothing
	// twice. An empty OnParentEnd is ParentEndCancel. ParentID,
	// IdempotencyKey, Owner and LeaseDuration are ignored. Child IDs that
	// sort after their parent's (as run IDs made later do) keep the
	// stores' row locks in one order.
	Children []*RunInsertParams

	// ParentEvent applies to a terminal Status of a run that has a parent:
	// it is appended to the parent's timeline, in the same transaction as
	// the parent's ChildrenEnded is incremented (waking it per
	// WakeAtChildrenEnded); build it with ChildEnded.Event. Without it the
	// end is counted all the same. Every terminal status, from RunApply or
	// RunCancel, also ends the run's children that have not ended and whose
	// OnParentEnd is cancel: a running child gets CancelRequested, any
	// other becomes cancelled at once (event run_cancelled {"parent": id},
	// its snapshot deleted), is counted in the run's ChildrenEnded (with no
	// parent event) and ends its own children in turn. RunCancel appends
	// the parent event itself: ChildEnded{Status: cancelled, Error:
	// "cancelled"}.
	ParentEvent *NewEvent

	// Snapshot, when set, becomes the run's snapshot, replacing the one it
	// had. A terminal Status deletes the run's snapshot.
	Snapshot *RunSnapshot

	// ReplaceEventSeq, when > 0, is the seq of an existing event whose At and
	// Data are overwritten by ReplaceEvent instead of appending (coalesced
	// checkpoints).
	ReplaceEventSeq int64
	ReplaceEvent    *NewEvent
	Events          []*NewEvent // appended in order
}

// RunSnapshot is a run's suspension snapshot: its guest's state when it
// parked at journal position Position, made by the host (internal/snapshot)
// and not read by the store.
type RunSnapshot struct {
	RunID        string
	ModuleDigest string
	Format       string
	Attempt      int
	Position     int
	Activation   int // the activation that parked
	Data         []byte
	CreatedAt    time.Time
}

type RunSnapshotGetParams struct{ RunID string }

type RunJournalParams struct {
	RunID string
	// FromSeq: the entries at this position or later, and the effects of
	// their steps.
	FromSeq int
	// Snapshot, when set, asks for the run's snapshot too, and for the
	// journal from the snapshot's position instead of FromSeq when the
	// snapshot is one the reader can use: taken of the module, in the
	// attempt and in the format given.
	Snapshot *SnapshotMatch
}

// SnapshotMatch is what a snapshot must have been taken of for a reader
// to start from it.
type SnapshotMatch struct {
	ModuleDigest string
	Attempt      int
	Format       string
}

// Matches reports whether sn was taken of what m names.
func (m *SnapshotMatch) Matches(sn *RunSnapshot) bool {
	return sn.ModuleDigest == m.ModuleDigest && sn.Attempt == m.Attempt && sn.Format == m.Format
}

// RunJournal is what RunJournal read.
type RunJournal struct {
	// FromSeq is where Entries and Effects start: the snapshot's position
	// when it matched, else the FromSeq asked for.
	FromSeq int
	Entries []*Entry  // by seq
	Effects []*Effect // by step seq, then seq
	// Snapshot is the run's snapshot when one was asked for and is
	// stored, whether it matched or not.
	Snapshot *RunSnapshot
}

// RunApplyResult reports the run after a RunApply.
type RunApplyResult struct {
	CancelRequested bool
	EventCount      int64 // seq of the last event
	SignalsReceived int64
	// Run is the run's row as the write left it, when the write ended the
	// run and was applied now (not Replayed), so that a caller waiting for
	// the run's end need not read it again.
	Run *Run
	// Replayed: the write had been applied already, by an earlier sending
	// whose answer was lost, and nothing was written now. The counts are
	// then the run's at this call, which may include events and signals
	// added by others after the write.
	Replayed bool
}

type RunCancelParams struct {
	ID  string
	Now time.Time
}

type RunClaimParams struct {
	Owner         string
	Now           time.Time
	LeaseDuration time.Duration
	Limit         int
	RunID         string // optional: claim only this run
}

type RunCountParams struct {
	Module        string
	ModuleVersion string
	Workflow      string
}

// RunCount is the number of runs of one module version and workflow in one
// status.
type RunCount struct {
	ModuleName    string
	ModuleVersion string
	Workflow      string
	Status        RunStatus
	Count         int64
}

type RunGetByIDParams struct{ ID string }

type RunChildrenParams struct {
	ParentID string
	IDs      []string // optional: only these
}

// RunChildren is a run's children and its count of their ends, read
// together.
type RunChildren struct {
	Runs  []*Run
	Ended int64 // the parent's ChildrenEnded
}

type RunHeartbeatParams struct {
	Owner         string
	Leases        []Lease
	Now           time.Time
	LeaseDuration time.Duration
}

// Lease identifies one claim of a run.
type Lease struct {
	RunID string
	Fence int64
}

type RunInsertParams struct {
	ID             string
	ModuleName     string
	ModuleVersion  string
	ModuleDigest   string
	Workflow       string
	Input          json.RawMessage
	IdempotencyKey string // optional
	Now            time.Time
	// Owner, when set, creates the run claimed by Owner under a lease of
	// LeaseDuration (see RunInsert).
	Owner         string
	LeaseDuration time.Duration
	// ParentID and OnParentEnd, for a child run (RunApplyParams.Children
	// sets ParentID itself). With a ParentID, RunInsert makes the run a
	// child as RunApply does (an empty OnParentEnd is ParentEndCancel), but
	// unfenced: the parent neither journals nor counts the start.
	ParentID    string
	OnParentEnd ParentEnd
}

type RunLagParams struct{ Now time.Time }

type RunListParams struct {
	Status         RunStatus
	Module         string
	ModuleVersion  string
	Workflow       string
	IdempotencyKey string
	ParentID       string // only the children of this run
	After          string // run id: return runs with a smaller id
	Limit          int    // default 50
}

type RunListWakeupsParams struct {
	After time.Time // optional: only wake-ups later than this
	Limit int       // default 100
}

// Wakeup is when a run that is not running becomes claimable.
type Wakeup struct {
	RunID string
	At    time.Time
}

type RunPurgeParams struct {
	Before   time.Time   // only runs that finished before this
	Statuses []RunStatus // optional: only runs in these finished statuses
	Limit    int         // runs in one call; default 500
	DryRun   bool        // count, delete nothing
}

// RunPurgeResult is what a RunPurge deleted, or with DryRun would delete.
type RunPurgeResult struct {
	Count int64
}

type RunReleaseParams struct {
	ID    string
	Fence int64
	Now   time.Time
}

type RunRetryParams struct {
	ID  string
	Now time.Time
}

// RunUpgradeParams is a re-pin of a run to ToVersion of its module, and
// the run as the caller saw it when it checked that version against the
// run's journal.
type RunUpgradeParams struct {
	ID         string
	Status     RunStatus // as seen: pending, sleeping, waiting or failed
	Fence      int64     // as seen
	FromDigest string    // as seen
	ToVersion  string
	ToDigest   string
	// Event is the run_upgraded event appended; nil appends RunUpgraded
	// with the run's versions and no position.
	Event *NewEvent
	Now   time.Time // becomes updated_at
}

type SignalInsertParams struct {
	RunID   string
	Name    string
	Payload json.RawMessage
	Now     time.Time
}

type SignalListPendingParams struct {
	RunID string
	Name  string // optional
}

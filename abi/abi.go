// Package abi is the contract between the wasmflow host and guest modules:
// the ABI version, the names of the functions each side provides, and the
// status codes that cross the boundary. ABI.md in this directory is the
// normative description; this package only gives its names to Go code.
//
// The package imports nothing so that guest code (the Go SDK) and the host
// can both depend on it.
package abi

// Version is the ABI version this package describes. A guest declares the
// version it was written against by exporting ExportABIVersion; the host
// refuses modules that declare any other version.
const Version = 1

// ImportModule is the module name under which the host provides every
// function listed in ABI.md.
const ImportModule = "wasmflow"

// Functions the guest exports.
const (
	// ExportMemory is the guest's linear memory.
	ExportMemory = "memory"
	// ExportInitialize, when present, is called once before any other
	// export (WASI reactors, Go's -buildmode=c-shared): in every instance, or
	// once per module when the host images its state (ABI.md, section 11).
	ExportInitialize = "_initialize"
	// ExportABIVersion: () -> i32. Returns the ABI version (Version).
	ExportABIVersion = "wasmflow_abi_version"
	// ExportDescribe: () -> (). Calls FuncDeclareWorkflow once per workflow.
	ExportDescribe = "wasmflow_describe"
	// ExportRun: () -> (). Runs the invocation obtained with FuncWorkflow and
	// FuncInput, and ends it with FuncComplete or FuncFail.
	ExportRun = "wasmflow_run"
	// ExportResume: () -> (), optional. Continues a parked workflow in an
	// instance restored from the run's snapshot: the guest makes again the
	// call that answered Park (ABI.md, section 12). Exporting it says the
	// guest can park.
	ExportResume = "wasmflow_resume"
)

// Park is what FuncStepBegin, FuncStepEnd, FuncSleep, FuncAwaitSignal,
// FuncChildAwait, FuncCheckpoint and FuncCursorSet
// return to a guest that exports ExportResume when the run suspends there:
// the guest must return from the export it is in (ABI.md, section 12).
const Park = 255

// Functions the host provides in ImportModule. Signatures are in wasm types;
// ptr and len are i32 offsets and byte counts in the guest's memory.
const (
	FuncResultLen       = "result_len"       // () -> i32
	FuncResultRead      = "result_read"      // (ptr, len) -> i32
	FuncDeclareWorkflow = "declare_workflow" // (name_ptr, name_len) -> i32
	// FuncDeclareWorkflowOptions is optional for guests: only in
	// ExportDescribe, after FuncDeclareWorkflow of the name; the options
	// are a WorkflowOptions JSON object.
	FuncDeclareWorkflowOptions = "declare_workflow_options" // (name_ptr, name_len, opts_ptr, opts_len) -> i32
	FuncRunID                  = "run_id"                   // () -> i32
	FuncWorkflow               = "workflow"                 // () -> i32
	FuncInput                  = "input"                    // () -> i32
	FuncAttempt                = "attempt"                  // () -> i32
	FuncStepBegin              = "step_begin"               // (name_ptr, name_len, opts_ptr, opts_len) -> i32
	FuncStepAttempt            = "step_attempt"             // () -> i32
	FuncStepEnd                = "step_end"                 // (status, ptr, len) -> i32
	FuncCheckpoint             = "checkpoint"               // () -> i32
	FuncCursorSet              = "cursor_set"               // (ptr, len) -> i32
	FuncEffectBegin            = "effect_begin"             // (name_ptr, name_len) -> i32
	FuncEffectEnd              = "effect_end"               // (status, ptr, len) -> i32
	FuncSleep                  = "sleep"                    // (name_ptr, name_len, duration_ms i64) -> i32
	FuncAwaitSignal            = "await_signal"             // (name_ptr, name_len, timeout_ms i64) -> i32
	FuncChildStart             = "child_start"              // (req_ptr, req_len) -> i32
	FuncChildAwait             = "child_await"              // (ids_ptr, ids_len, mode, timeout_ms i64) -> i32
	FuncChanged                = "changed"                  // (name_ptr, name_len, flags) -> i32
	FuncComplete               = "complete"                 // (ptr, len) -> i32
	FuncFail                   = "fail"                     // (ptr, len) -> i32
	FuncLog                    = "log"                      // (level, ptr, len) -> i32
	FuncProgress               = "progress"                 // (ptr, len) -> i32
	FuncNow                    = "now"                      // () -> i64
	FuncRandom                 = "random"                   // (ptr, len) -> i32
)

// Results of FuncStepBegin.
const (
	// StepRun: run the step's body. The result register holds the step's
	// saved cursor (empty if it has none).
	StepRun = 0
	// StepDone: the step completed in an earlier activation. The result
	// register holds its recorded output; do not run the body.
	StepDone = 1
	// StepFailed: the step failed for good in an earlier activation. The
	// result register holds its error message; do not run the body.
	StepFailed = 2
)

// Statuses passed to FuncStepEnd and FuncEffectEnd.
const (
	// EndOK: the body succeeded; the bytes are its output.
	EndOK = 0
	// EndError: the body failed; the bytes are an error message. A step is
	// retried according to its policy.
	EndError = 1
	// EndPermanent: the body failed and must not be retried; the bytes are
	// an error message.
	EndPermanent = 2
)

// Results of FuncStepEnd.
const (
	// StepEndRecorded: the outcome is recorded; for an error it means the
	// step failed for good (no attempts left) and the guest decides what
	// follows (usually compensation, then FuncFail).
	StepEndRecorded = 0
)

// Results of FuncEffectBegin.
const (
	// EffectRun: execute the effect. The result register holds its
	// idempotency key.
	EffectRun = 0
	// EffectDone: the effect completed earlier. The result register holds
	// its recorded result; do not execute it.
	EffectDone = 1
	// EffectRerun: an earlier execution started but its outcome was never
	// recorded (the effect is uncertain). Execute it again with the same
	// idempotency key, which the result register holds.
	EffectRerun = 2
)

// Results of FuncAwaitSignal.
const (
	// SignalReceived: the result register holds the signal's payload.
	SignalReceived = 0
	// SignalTimedOut: the timeout elapsed before a signal arrived.
	SignalTimedOut = 1
)

// Results of FuncChildStart.
const (
	// ChildStarted: the result register holds the child's run id.
	ChildStarted = 0
	// ChildRefused: no child was started; the result register holds why.
	ChildRefused = 1
)

// Modes of FuncChildAwait.
const (
	// AwaitAll waits until every child in the array has ended.
	AwaitAll = 0
	// AwaitAny waits until one of them has.
	AwaitAny = 1
)

// Results of FuncChildAwait.
const (
	// ChildrenReady: the result register holds the results (a JSON array
	// of ChildResult).
	ChildrenReady = 0
	// ChildrenTimedOut: the timeout elapsed first.
	ChildrenTimedOut = 1
)

// JSON is JSON text kept as it is, as encoding/json's RawMessage is (this
// package imports nothing).
type JSON []byte

// MarshalJSON returns j, or null for nil.
func (j JSON) MarshalJSON() ([]byte, error) {
	if j == nil {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON keeps a copy of b.
func (j *JSON) UnmarshalJSON(b []byte) error {
	*j = append((*j)[:0], b...)
	return nil
}

// ChildRequest is FuncChildStart's argument (ABI.md, section 5.9).
type ChildRequest struct {
	Workflow    string `json:"workflow"`
	Input       JSON   `json:"input,omitempty"`
	Module      string `json:"module,omitempty"`
	Version     string `json:"version,omitempty"`
	OnParentEnd string `json:"on_parent_end,omitempty"`
}

// What becomes of a child when its parent ends first (ChildRequest.OnParentEnd).
const (
	OnParentEndCancel  = "cancel"
	OnParentEndAbandon = "abandon"
)

// ChildResult is one element of FuncChildAwait's answer.
type ChildResult struct {
	ID     string `json:"id"`
	Status string `json:"status"` // completed, failed or cancelled
	Output JSON   `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Flags of FuncChanged.
const (
	// ChangeAsk asks whether the run takes the new code of the change.
	ChangeAsk = 0
	// ChangeDeprecated says the old code of the change is gone: the run
	// takes the new code, and nothing is recorded (ABI.md, section 5.10).
	ChangeDeprecated = 1
)

// Results of FuncChanged.
const (
	// ChangeOld: take the old code; the run's journal was written before
	// the change.
	ChangeOld = 0
	// ChangeNew: take the new code.
	ChangeNew = 1
)

// Levels for FuncLog.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
	LogError = 3
)

// StepOptions is the JSON object a guest may pass to FuncStepBegin. Every
// field is optional; the zero value of each means the default given.
type StepOptions struct {
	// MaxAttempts is how many times the body may run before the step fails
	// for good. Default DefaultMaxAttempts; 1 means no retry.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// BackoffMS is the delay before the second attempt. Default
	// DefaultBackoffMS. Each further attempt doubles it, up to MaxBackoffMS.
	BackoffMS int64 `json:"backoff_ms,omitempty"`
	// MaxBackoffMS caps the delay between attempts. Default
	// DefaultMaxBackoffMS.
	MaxBackoffMS int64 `json:"max_backoff_ms,omitempty"`
	// NonRetryable lists error-message prefixes that fail the step at once.
	NonRetryable []string `json:"non_retryable,omitempty"`
	// TimeoutMS bounds one attempt of the body; an attempt that runs longer
	// fails (and is retried per policy). Default 0: no step timeout, only the
	// activation deadline.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// Isolated makes the step start in a fresh activation: if anything ran
	// live in the current activation, the host suspends the run first.
	Isolated bool `json:"isolated,omitempty"`
	// ResumeErrorsAfterAdvancing makes an error (not a permanent or
	// non-retryable one) after the body saved a new cursor resume the step
	// from that cursor without using up an attempt, after the backoff the
	// next retry would have waited (Rails' resume_errors_after_advancing).
	ResumeErrorsAfterAdvancing bool `json:"resume_errors_after_advancing,omitempty"`
}

// WorkflowOptions is the JSON object a guest may pass to
// FuncDeclareWorkflowOptions. Every field is optional.
type WorkflowOptions struct {
	// ResumeDelayMS is how long an interrupted run of the workflow waits
	// before it resumes, in milliseconds (Rails' resume_options wait:).
	// Nil or negative: the host's delay; 0: none.
	ResumeDelayMS *int64 `json:"resume_delay_ms,omitempty"`
}

// The defaults of StepOptions' retry policy.
const (
	DefaultMaxAttempts  = 3
	DefaultBackoffMS    = 1000  // 1 s
	DefaultMaxBackoffMS = 60000 // 60 s
)

// WithDefaults returns o with its retry policy's defaults in the fields
// that are zero (or negative).
func (o StepOptions) WithDefaults() StepOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BackoffMS <= 0 {
		o.BackoffMS = DefaultBackoffMS
	}
	if o.MaxBackoffMS <= 0 {
		o.MaxBackoffMS = DefaultMaxBackoffMS
	}
	return o
}

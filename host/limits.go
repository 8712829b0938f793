package host

import (
	"time"

	"github.com/wasmflow/wasmflow/internal/executor"
)

// Limits bound what one guest may do. Zero fields take the defaults shown;
// Config.Limits takes them.
type Limits struct {
	// ModuleSize bounds uploaded modules, in bytes. Default 32 MiB.
	ModuleSize int
	// ActivationTimeout bounds one activation. A guest still running then is
	// stopped and its run fails; at a checkpoint after half of it the run is
	// suspended and continues in a new activation. Default 5m.
	ActivationTimeout time.Duration
	// Payload bounds every payload that crosses the ABI: input, output,
	// step output, cursor, effect result, signal payload, progress. Error
	// messages longer than this are truncated. Default 1 MiB.
	Payload int
	// EventsPerRun bounds a run's timeline. Default 100000.
	EventsPerRun int64
	// LogLine bounds one guest log line; longer lines are truncated.
	// Default 8 KiB.
	LogLine int
	// LogBytesPerActivation and LogLinesPerActivation bound what one
	// activation's guest writes to the host's log: its log calls and its
	// stdout and stderr lines together (lines written while replaying are
	// not counted). The first line over either is replaced by one marker
	// line and the rest are dropped. Default 1 MiB and 1000 lines.
	LogBytesPerActivation int
	LogLinesPerActivation int
	// LogBytesPerRun and LogLinesPerRun bound the same over all of a run's
	// activations in this process (a process does not know what others
	// logged for the run). Default 16 MiB and 10000 lines.
	LogBytesPerRun int64
	LogLinesPerRun int64
	// Activations bounds how many activations one run may have, as Rails'
	// max_resumptions does: a run that keeps being interrupted, crashing its
	// process or losing its lease fails instead of looping for ever. Sleeps,
	// signals and retries count too, so the default is generous. Default
	// 10000.
	Activations int
	// MemoryPages is the engine's memory limit, in 64 KiB pages; the
	// executor only uses it to explain out-of-memory failures. Default 4096.
	MemoryPages uint32
	// TableElements bounds the elements of a module's tables together: a
	// module whose tables start larger is refused, and table.grow fails
	// beyond it. Default 1000000 (a Go guest's table has about 6,500).
	TableElements uint32
	// SnapshotSize bounds a run's suspension snapshot, compressed, in
	// bytes: a larger one is not stored, and the run replays instead.
	// Default 16 MiB.
	SnapshotSize int
	// Hint, when set, says how this program's operator changes a limit.
	// The messages of runs that fail on a limit, of modules refused for
	// one, and of the log lines and events that say one was reached name
	// the limit and its value; Hint is given the names of the fields of
	// the limits a message names, and its answer is added after them in
	// parentheses (the wasmflow CLI answers with its flags:
	// "--max-payload"). Nil, or an empty answer: nothing is added.
	Hint func(fields ...string) string
}

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits { return Limits(executor.Limits(l).WithDefaults()) }

// Hooks let tests stop activations at chosen points (see host/flowtest).
// Nil functions never fire.
type Hooks struct {
	// Interrupt is asked at each checkpoint of a step, after each step
	// completes, and before each step begins; true suspends the run there
	// as a graceful stop would (reason interrupt).
	Interrupt func(p *Point) bool
	// Crash is asked at the same points and before an effect's outcome is
	// recorded; true ends the activation as if the process had died:
	// nothing more is written and the lease is left to expire.
	Crash func(p *Point) bool
}

// PointKind says where a Point is.
type PointKind string

// The points where Hooks are asked.
const (
	PointBeforeStep      PointKind = "before_step"
	PointDuringStep      PointKind = "during_step"
	PointAfterStep       PointKind = "after_step"
	PointBeforeEffectEnd PointKind = "before_effect_end"
)

// Point is a place in an activation where Hooks are asked.
type Point struct {
	Kind   PointKind
	Run    *Run
	Step   string
	Cursor []byte // PointDuringStep: the cursor just saved, if any
	Effect string // PointBeforeEffectEnd
}

// executorHooks adapts hs to the executor's hooks.
func executorHooks(hs Hooks) executor.Hooks {
	adapt := func(f func(*Point) bool) func(*executor.Point) bool {
		if f == nil {
			return nil
		}
		return func(p *executor.Point) bool {
			return f(&Point{Kind: PointKind(p.Kind), Run: p.Run, Step: p.Step, Cursor: p.Cursor, Effect: p.Effect})
		}
	}
	return executor.Hooks{Interrupt: adapt(hs.Interrupt), Crash: adapt(hs.Crash)}
}

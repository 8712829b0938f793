// Package wasmflow is the Go guest SDK of wasmflow: it lets a Go program,
// built for GOOS=wasip1 GOARCH=wasm with -buildmode=c-shared, offer durable
// workflows to a wasmflow host through ABI version 1 (abi/ABI.md).
//
// A module registers its workflows in init and has an empty main:
//
//	func init() {
//		wasmflow.Workflow("greet", func(ctx *wasmflow.Context, in Input) (Output, error) {
//			msg, err := wasmflow.Step(ctx, "compose", func(s *wasmflow.StepContext) (string, error) {
//				return "hello, " + in.Name, nil
//			})
//			if err != nil {
//				return Output{}, err
//			}
//			return Output{Message: msg}, nil
//		})
//	}
//
//	func main() {}
//
// The SDK exports wasmflow_abi_version, wasmflow_describe and wasmflow_run
// itself.
//
// # Replay
//
// The host runs a workflow function from the top in every activation and
// answers what the run's journal already holds from the journal: a completed
// step returns its recorded output without running its body again. Code
// outside step bodies must therefore be deterministic: given the same input
// and the same recorded results it must call Step, Sleep and AwaitSignal with
// the same names in the same order. Take time from Context.Now (or time.Now,
// which the host serves from the same workflow clock outside steps) and
// randomness from Context.Random or Context.Rand; do no I/O outside steps; do
// not depend on map iteration order or on goroutine scheduling. The host
// checks every journaled call and fails the run with a nondeterminism error
// when the code asks for something else than the journal holds.
//
// Step bodies run at most until they complete once. Inside them the clock and
// the random source are real, and I/O is allowed. A step body that saves a
// cursor (StepContext.Set) may be interrupted at that point and resumed in a
// later activation from the saved cursor; side effects on the outside world
// belong in Effect, which records them and gives them a stable idempotency
// key.
package wasmflow

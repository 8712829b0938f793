//go:build wasip1

package wasmflow

import "github.com/wasmflow/wasmflow/abi"

// The host functions of abi/ABI.md, section 5. Pointers are offsets in the
// guest's linear memory (wasm32), passed as uint32; the wrappers in host.go
// keep the buffers alive across each call.

//go:wasmimport wasmflow result_len
func sysResultLen() uint32

//go:wasmimport wasmflow result_read
func sysResultRead(ptr, n uint32) uint32

//go:wasmimport wasmflow declare_workflow
func sysDeclareWorkflow(namePtr, nameLen uint32) uint32

//go:wasmimport wasmflow declare_workflow_options
func sysDeclareWorkflowOptions(namePtr, nameLen, optsPtr, optsLen uint32) uint32

//go:wasmimport wasmflow run_id
func sysRunID() uint32

//go:wasmimport wasmflow workflow
func sysWorkflow() uint32

//go:wasmimport wasmflow input
func sysInput() uint32

//go:wasmimport wasmflow attempt
func sysAttempt() uint32

//go:wasmimport wasmflow step_begin
func sysStepBegin(namePtr, nameLen, optsPtr, optsLen uint32) uint32

//go:wasmimport wasmflow step_attempt
func sysStepAttempt() uint32

//go:wasmimport wasmflow step_end
func sysStepEnd(status, ptr, n uint32) uint32

//go:wasmimport wasmflow checkpoint
func sysCheckpoint() uint32

//go:wasmimport wasmflow cursor_set
func sysCursorSet(ptr, n uint32) uint32

//go:wasmimport wasmflow effect_begin
func sysEffectBegin(namePtr, nameLen uint32) uint32

//go:wasmimport wasmflow effect_end
func sysEffectEnd(status, ptr, n uint32) uint32

//go:wasmimport wasmflow sleep
func sysSleep(namePtr, nameLen uint32, durationMS int64) uint32

//go:wasmimport wasmflow await_signal
func sysAwaitSignal(namePtr, nameLen uint32, timeoutMS int64) uint32

//go:wasmimport wasmflow child_start
func sysChildStart(ptr, n uint32) uint32

//go:wasmimport wasmflow child_await
func sysChildAwait(ptr, n, mode uint32, timeoutMS int64) uint32

//go:wasmimport wasmflow changed
func sysChanged(namePtr, nameLen, flags uint32) uint32

//go:wasmimport wasmflow complete
func sysComplete(ptr, n uint32) uint32

//go:wasmimport wasmflow fail
func sysFail(ptr, n uint32) uint32

//go:wasmimport wasmflow log
func sysLog(level, ptr, n uint32) uint32

//go:wasmimport wasmflow progress
func sysProgress(ptr, n uint32) uint32

//go:wasmimport wasmflow now
func sysNow() int64

//go:wasmimport wasmflow random
func sysRandom(ptr, n uint32) uint32

// The exports of abi/ABI.md, section 2. Users write an empty main; the SDK
// provides these.

//go:wasmexport wasmflow_abi_version
func exportABIVersion() int32 { return abi.Version }

//go:wasmexport wasmflow_describe
func exportDescribe() { describe() }

//go:wasmexport wasmflow_run
func exportRun() { startWorkflow() }

//go:wasmexport wasmflow_resume
func exportResume() { resumeWorkflow() }

//go:build !wasip1

package wasmflow

// Stubs of the host functions, so that the package builds, vets and
// documents on any platform. Workflows run only inside a wasmflow host.

const notInHost = "wasmflow: only runs inside a wasmflow host (GOOS=wasip1 GOARCH=wasm)"

func sysResultLen() uint32                              { panic(notInHost) }
func sysResultRead(ptr, n uint32) uint32                { panic(notInHost) }
func sysDeclareWorkflow(namePtr, nameLen uint32) uint32 { panic(notInHost) }
func sysDeclareWorkflowOptions(namePtr, nameLen, optsPtr, optsLen uint32) uint32 {
	panic(notInHost)
}
func sysRunID() uint32                                               { panic(notInHost) }
func sysWorkflow() uint32                                            { panic(notInHost) }
func sysInput() uint32                                               { panic(notInHost) }
func sysAttempt() uint32                                             { panic(notInHost) }
func sysStepBegin(namePtr, nameLen, optsPtr, optsLen uint32) uint32  { panic(notInHost) }
func sysStepAttempt() uint32                                         { panic(notInHost) }
func sysStepEnd(status, ptr, n uint32) uint32                        { panic(notInHost) }
func sysCheckpoint() uint32                                          { panic(notInHost) }
func sysCursorSet(ptr, n uint32) uint32                              { panic(notInHost) }
func sysEffectBegin(namePtr, nameLen uint32) uint32                  { panic(notInHost) }
func sysEffectEnd(status, ptr, n uint32) uint32                      { panic(notInHost) }
func sysSleep(namePtr, nameLen uint32, durationMS int64) uint32      { panic(notInHost) }
func sysAwaitSignal(namePtr, nameLen uint32, timeoutMS int64) uint32 { panic(notInHost) }
func sysChildStart(ptr, n uint32) uint32                             { panic(notInHost) }
func sysChildAwait(ptr, n, mode uint32, timeoutMS int64) uint32      { panic(notInHost) }
func sysChanged(namePtr, nameLen, flags uint32) uint32               { panic(notInHost) }
func sysComplete(ptr, n uint32) uint32                               { panic(notInHost) }
func sysFail(ptr, n uint32) uint32                                   { panic(notInHost) }
func sysLog(level, ptr, n uint32) uint32                             { panic(notInHost) }
func sysProgress(ptr, n uint32) uint32                               { panic(notInHost) }
func sysNow() int64                                                  { panic(notInHost) }
func sysRandom(ptr, n uint32) uint32                                 { panic(notInHost) }

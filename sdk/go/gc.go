package wasmflow

import "runtime/debug"

// gcPercent is the garbage collector's target the SDK sets (GOGC): collect
// when the heap has grown by 10% over what the last collection kept, not
// Go's default 100%.
//
// A parked run's snapshot holds every page of memory that differs from
// the module's init image (abi/ABI.md, section 12), and Go does not give
// freed pages back to a WebAssembly memory: a page the heap ever used stays
// dirty. So the heap's high-water mark is the size of every snapshot of a
// run and the work of every restore. With the default target a Go guest's
// heap grew to about 5 MB of dirty pages over a few thousand steps; with
// 10% it stays under 2 MB, at the cost of a collection every few hundred
// steps of a workflow with a small live heap. A workflow whose live heap
// is large can call debug.SetGCPercent in its own init (which runs after
// this one) to trade snapshot size for collector time.
const gcPercent = 10

func init() { debug.SetGCPercent(gcPercent) }

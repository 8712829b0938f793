package wasmflow

import "github.com/wasmflow/wasmflow/abi"

// Parking (abi/ABI.md, section 12). The workflow runs on a goroutine of its
// own. When a host call answers abi.Park, that goroutine hands control back
// to the export it runs under, which returns to the host, and blocks; the
// host snapshots the instance's memory, goroutine stacks included. In an
// instance restored from that snapshot, wasmflow_resume wakes the goroutine,
// which makes the parked call again. Goroutines run only while the host is
// in an export, so whatever is runnable when the export returns stays as it
// is until the next one.
var (
	// yielded is where the workflow goroutine hands control back to the
	// export: after parking, or when the workflow function returned (which
	// the host reports as a workflow that never completed).
	yielded = make(chan struct{})
	// resumed wakes the parked workflow goroutine.
	resumed = make(chan struct{})
)

// startWorkflow runs the invocation on its own goroutine and returns once it
// parks (complete and fail end the export's call from the host's side).
func startWorkflow() {
	go func() {
		runInvocation()
		yielded <- struct{}{}
	}()
	<-yielded
}

// resumeWorkflow wakes the parked workflow goroutine and returns once it
// parks again.
func resumeWorkflow() {
	resumed <- struct{}{}
	<-yielded
}

// park hands control back to the export and waits for wasmflow_resume. It
// reports whether r, the answer of a host call that may park, was Park: the
// caller then makes the call again (or, after step_end, begins the step
// again).
func park(r uint32) bool {
	if r != abi.Park {
		return false
	}
	yielded <- struct{}{}
	<-resumed
	return true
}

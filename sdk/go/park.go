package wasmflow

import "github.com/wasmflow/wasmflow/abi"

// The workflow goroutine is made in init, waiting for wasmflow_run, so
// that the module's init image holds it with its stack grown: every run
// starts from the image, and a goroutine made for each run began with
// Go's smallest stack and grew it, copying it each time, as the
// workflow's JSON went deeper (about a tenth of a short run's time in the
// guest). Its first frame reserves workflowStackReserve bytes, so that the
// garbage collector, which halves a stack that uses less than a quarter of
// itself, leaves the stack as it is.
const workflowStackReserve = 24 << 10

// start hands wasmflow_run to the workflow goroutine made in init.
var start = make(chan struct{})

func init() {
	go workflowGoroutine()
	<-yielded // it has grown its stack and waits for start
}

func workflowGoroutine() {
	var reserve [workflowStackReserve]byte
	keep(&reserve)
	yielded <- struct{}{}
	<-start
	runInvocation()
	yielded <- struct{}{}
}

// keep makes the reserve a frame of workflowGoroutine's stack.
//
//go:noinline
func keep(b *[workflowStackReserve]byte) { b[0] = 1 }

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
// parks (complete and fail end the export's call from the host's side):
// on the goroutine made in init, or on a new one if that one has run
// already (a host that calls wasmflow_run twice in one instance).
func startWorkflow() {
	select {
	case start <- struct{}{}:
	default:
		go func() {
			runInvocation()
			yielded <- struct{}{}
		}()
	}
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

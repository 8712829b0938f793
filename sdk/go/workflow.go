package wasmflow

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/wasmflow/wasmflow/abi"
)

// runner runs one workflow function on a decoded invocation.
type runner func(ctx *Context, input []byte) ([]byte, error)

var registry struct {
	names   []string
	byName  map[string]runner
	options map[string][]byte // encoded abi.WorkflowOptions, for workflows that have any
}

// WorkflowOption sets an option of a workflow, for all its runs.
type WorkflowOption func(*abi.WorkflowOptions)

// ResumeDelay sets how long an interrupted run of the workflow (stopped at
// a checkpoint by a host shutdown, its activation's time budget, an
// isolated step) waits before it resumes, as Rails' resume_options wait:
// does. Without it the host's delay applies (--resume-delay, none unless
// set); ResumeDelay(0) resumes at once whatever the host's setting.
func ResumeDelay(d time.Duration) WorkflowOption {
	ms := millis(d)
	return func(o *abi.WorkflowOptions) { o.ResumeDelayMS = &ms }
}

// Workflow registers a workflow under name; call it from an init function.
// The host learns the module's workflows, in registration order, when the
// module is uploaded.
//
// When a run of the workflow starts, its JSON input is decoded into In (an
// empty or null input gives In's zero value) and fn is called. If fn returns
// a nil error, its output is encoded as JSON and completes the run. If fn
// returns an error, the compensations registered with Context.Compensate run
// in reverse order, each as its own step, and the run fails with the error's
// message. If fn panics, the run fails at once with "panic: " and the value,
// without compensation: a panic means a bug, and compensating from an unknown
// state could do more harm than stopping.
//
// Options (ResumeDelay) apply to every run of the workflow; the host learns
// them with the workflows.
//
// Workflow panics if name is empty, longer than 256 bytes, or registered
// twice.
func Workflow[In, Out any](name string, fn func(ctx *Context, in In) (Out, error), opts ...WorkflowOption) {
	if name == "" || len(name) > 256 {
		panic(fmt.Sprintf("wasmflow: workflow name must be 1 to 256 bytes, got %q", name))
	}
	if _, dup := registry.byName[name]; dup {
		panic(fmt.Sprintf("wasmflow: workflow %q is registered twice", name))
	}
	if registry.byName == nil {
		registry.byName = make(map[string]runner)
	}
	registry.names = append(registry.names, name)
	warmJSON[In]()
	warmJSON[Out]()
	if b := encodeWorkflowOptions(opts); b != nil {
		if registry.options == nil {
			registry.options = make(map[string][]byte)
		}
		registry.options[name] = b
	}
	registry.byName[name] = func(ctx *Context, input []byte) ([]byte, error) {
		var in In
		if len(input) > 0 {
			if err := json.Unmarshal(input, &in); err != nil {
				return nil, fmt.Errorf("wasmflow: the input of workflow %q does not decode into %T: %w", name, in, err)
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("wasmflow: the output of workflow %q does not encode as JSON: %w", name, err)
		}
		return b, nil
	}
}

// warmJSON has encoding/json build what it keeps for T and the types in T
// (the encoders, and the list of fields its decoder shares) without
// encoding a value: a nil *T encodes as null and calls no MarshalJSON.
// Called from Workflow, in init, it puts them in the module's init image:
// every run starts from the image, and building them again in each run
// was about a third of a short run's time in the guest.
func warmJSON[T any]() { _, _ = json.Marshal((*T)(nil)) }

// describe declares every registered workflow (wasmflow_describe).
func describe() {
	for _, name := range registry.names {
		hostDeclareWorkflow(name)
		if opts, ok := registry.options[name]; ok {
			hostDeclareWorkflowOptions(name, opts)
		}
	}
}

func encodeWorkflowOptions(opts []WorkflowOption) []byte {
	if len(opts) == 0 {
		return nil
	}
	var o abi.WorkflowOptions
	for _, opt := range opts {
		opt(&o)
	}
	b, err := json.Marshal(&o)
	if err != nil {
		panic(fmt.Sprintf("wasmflow: encode workflow options: %v", err))
	}
	return b
}

// runInvocation runs the invocation the host asks for (wasmflow_run) and
// ends it with complete or fail, neither of which returns.
func runInvocation() {
	name := string(readResult(sysWorkflow()))
	fn, ok := registry.byName[name]
	if !ok {
		hostFail(fmt.Sprintf("wasmflow: this module has no workflow %q (it has %q)", name, registry.names))
		return
	}
	ctx := &Context{workflow: name}
	out, err, panicked := call(ctx, fn, readResult(sysInput()))
	if panicked {
		hostFail(err.Error())
		return
	}
	if err != nil {
		hostFail(ctx.compensate(err))
		return
	}
	hostComplete(out)
}

// call runs fn, turning a panic into an error whose message starts with
// "panic: ". The stack goes to the run's log.
func call(ctx *Context, fn runner, input []byte) (out []byte, err error, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			ctx.Logger().Error("workflow panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			out, err, panicked = nil, fmt.Errorf("panic: %v", v), true
		}
	}()
	out, err = fn(ctx, input)
	return out, err, false
}

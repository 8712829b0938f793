package wasmflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wasmflow/wasmflow/abi"
)

// Child is a child run this run started: a run in its own right (its own
// journal, retries and timeline, on whichever process claims it) that the
// parent can wait for.
type Child struct {
	// ID is the child's run id.
	ID string
	// Workflow is the workflow it runs.
	Workflow string
}

// ChildOption changes how a child starts.
type ChildOption func(*abi.ChildRequest)

// InModule runs the child in another module, by name, at version (empty:
// the module's latest version when the child starts). Without it a child
// runs the very module version its parent runs.
func InModule(name, version string) ChildOption {
	return func(r *abi.ChildRequest) { r.Module, r.Version = name, version }
}

// Abandon lets the child go on alone if its parent ends first. By default
// the host cancels a parent's children that have not ended when it ends.
func Abandon() ChildOption {
	return func(r *abi.ChildRequest) { r.OnParentEnd = abi.OnParentEndAbandon }
}

// ChildRefusedError is StartChild's error when the host refused the start
// (no such module, version or workflow). No run was made.
type ChildRefusedError struct {
	Workflow string
	Reason   string
}

func (e *ChildRefusedError) Error() string {
	return fmt.Sprintf("child of workflow %q not started: %s", e.Workflow, e.Reason)
}

// StartChild starts a child run of workflow with input (encoded as JSON).
// The start is journaled: a replay returns the same child and starts
// nothing, and a crash never starts it twice. Starts in a row commit
// together, so a loop of them costs about one write. Only in workflow
// code, never inside a step body.
func StartChild(ctx *Context, workflow string, input any, opts ...ChildOption) (*Child, error) {
	in, err := json.Marshal(input)
	if err != nil {
		return nil, fmt.Errorf("wasmflow: the input of child %q does not encode as JSON: %w", workflow, err)
	}
	req := abi.ChildRequest{Workflow: workflow, Input: in}
	for _, o := range opts {
		o(&req)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("wasmflow: child %q: %w", workflow, err)
	}
	if hostChildStart(b) == abi.ChildRefused {
		return nil, &ChildRefusedError{Workflow: workflow, Reason: string(result())}
	}
	return &Child{ID: string(result()), Workflow: workflow}, nil
}

// ChildResult is how a child ended: completed with an output, or failed or
// cancelled with an error message.
type ChildResult struct {
	ID     string
	Status string // "completed", "failed" or "cancelled"
	Output json.RawMessage
	Error  string
}

// Err is nil for a completed child and a *ChildError otherwise.
func (r ChildResult) Err() error {
	if r.Status == "completed" {
		return nil
	}
	return &ChildError{ID: r.ID, Status: r.Status, Message: r.Error}
}

// Decode decodes a completed child's output into v, or returns Err.
func (r ChildResult) Decode(v any) error {
	if err := r.Err(); err != nil {
		return err
	}
	if err := json.Unmarshal(r.Output, v); err != nil {
		return fmt.Errorf("wasmflow: the output of child %s does not decode into %T: %w", r.ID, v, err)
	}
	return nil
}

// ChildError is a child that failed or was cancelled, as its parent sees
// it: a value to handle (compensate, try something else, fail in turn).
type ChildError struct {
	ID      string
	Status  string // "failed" or "cancelled"
	Message string
}

func (e *ChildError) Error() string {
	return fmt.Sprintf("child run %s %s: %s", e.ID, e.Status, e.Message)
}

// AwaitChild waits for c to end and decodes its output into T; a child
// that failed or was cancelled is a *ChildError. The run suspends while
// it waits, costing nothing, and resumes on any process.
func AwaitChild[T any](ctx *Context, c *Child) (T, error) {
	var v T
	rs, _ := await(abi.AwaitAll, NoTimeout, []*Child{c})
	if err := rs[0].Decode(&v); err != nil {
		return v, err
	}
	return v, nil
}

// AwaitAll waits until every child has ended and returns their results in
// the order given. It reports false if timeout passed first (NoTimeout,
// any negative value, waits as long as it takes). The answer is journaled:
// a replay returns the same results. Only in workflow code.
func AwaitAll(ctx *Context, timeout time.Duration, children ...*Child) ([]ChildResult, bool) {
	return await(abi.AwaitAll, timeout, children)
}

// AwaitAny waits until one of the children has ended and returns its
// result (the earliest to end; ties go to the first given). It reports
// false if timeout passed first. Only in workflow code.
func AwaitAny(ctx *Context, timeout time.Duration, children ...*Child) (ChildResult, bool) {
	if len(children) == 0 {
		panic("wasmflow: AwaitAny of no children would wait for ever")
	}
	rs, ok := await(abi.AwaitAny, timeout, children)
	if !ok {
		return ChildResult{}, false
	}
	return rs[0], true
}

func await(mode uint32, timeout time.Duration, children []*Child) ([]ChildResult, bool) {
	ids := make([]string, len(children))
	for i, c := range children {
		ids[i] = c.ID
	}
	b, _ := json.Marshal(ids) // strings always encode
	ms := int64(-1)
	if timeout >= 0 {
		ms = millis(timeout)
	}
	if hostChildAwait(b, mode, ms) == abi.ChildrenTimedOut {
		return nil, false
	}
	var rs []abi.ChildResult
	if err := json.Unmarshal(result(), &rs); err != nil {
		panic(fmt.Sprintf("wasmflow: the host's answer to child_await does not decode: %v", err))
	}
	out := make([]ChildResult, len(rs))
	for i, r := range rs {
		out[i] = ChildResult{ID: r.ID, Status: r.Status, Output: json.RawMessage(r.Output), Error: r.Error}
	}
	return out, true
}

// Branch is one branch of Parallel: a workflow of this module and its
// input.
type Branch struct {
	Workflow string
	Input    any
}

// Parallel runs the branches as child runs of this module, all at once, on
// whichever processes claim them, and returns their outputs decoded into T
// in the order given. If any branch failed (or did not start), the error
// joins each failure (*ChildError, *ChildRefusedError), and the outputs of
// the branches that completed are still in place.
func Parallel[T any](ctx *Context, branches ...Branch) ([]T, error) {
	out := make([]T, len(branches))
	var errs []error
	children := make([]*Child, 0, len(branches))
	at := make([]int, 0, len(branches))
	for i, b := range branches {
		c, err := StartChild(ctx, b.Workflow, b.Input)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		children, at = append(children, c), append(at, i)
	}
	rs, _ := AwaitAll(ctx, NoTimeout, children...)
	for k, r := range rs {
		if err := r.Decode(&out[at[k]]); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

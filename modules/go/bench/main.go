// Command bench is the workflow `wasmflow bench` runs: a chain of trivial
// steps, so that what is measured is the host (claims, activations, one
// journal write per step) and not the guest's work.
//
// Input (payload_bytes and sleep_ms optional):
//
//	{"steps": 3, "payload_bytes": 0, "sleep_ms": 0}
//
// Each step returns its index and, when payload_bytes is positive, a string
// of that many bytes, to see what larger step results cost. With sleep_ms,
// the run then sleeps that long (a durable sleep) before it completes: what
// resuming a run with a long journal costs.
package main

import (
	"fmt"
	"strings"
	"time"

	wasmflow "github.com/wasmflow/wasmflow/sdk/go"
)

// Input is the workflow's input.
type Input struct {
	Steps        int   `json:"steps"`
	PayloadBytes int   `json:"payload_bytes"`
	SleepMS      int64 `json:"sleep_ms"`
}

// Result is what each step returns and the journal keeps.
type Result struct {
	I       int    `json:"i"`
	Payload string `json:"payload,omitempty"`
}

// Output is the workflow's output: the steps it completed.
type Output struct {
	Steps int `json:"steps"`
}

func init() {
	wasmflow.Workflow("steps", steps)
}

func steps(ctx *wasmflow.Context, in Input) (Output, error) {
	pad := strings.Repeat("x", max(in.PayloadBytes, 0))
	for i := range in.Steps {
		if _, err := wasmflow.Step(ctx, fmt.Sprintf("s%d", i), func(*wasmflow.StepContext) (Result, error) {
			return Result{I: i, Payload: pad}, nil
		}); err != nil {
			return Output{}, err
		}
	}
	if in.SleepMS > 0 {
		wasmflow.Sleep(ctx, "after_steps", time.Duration(in.SleepMS)*time.Millisecond)
	}
	return Output{Steps: in.Steps}, nil
}

func main() {}

// Command fanout is the example of step dependencies: workflow "fanout"
// starts N child runs of workflow "square" of the same module, which run
// beside each other on whichever host processes claim them, waits for all
// of them, and adds up their results. The parent holds no process while it
// waits; each child is a run of its own, with its own timeline.
//
// Input of fanout: {"n": N} (default 10); it completes with
// {"sum": 1²+…+N², "children": N}. Input of square: {"i": I}; it completes
// with {"square": I*I}, computed in a step.
package main

import (
	"fmt"

	wasmflow "github.com/wasmflow/wasmflow/sdk/go"
)

// Square is what a square child returns.
type Square struct {
	Square int `json:"square"`
}

func init() {
	wasmflow.Workflow("fanout", func(ctx *wasmflow.Context, in struct {
		N *int `json:"n"`
	}) (map[string]int, error) {
		n := 10
		if in.N != nil {
			n = *in.N
		}
		if n < 0 || n > 10000 {
			return nil, fmt.Errorf("n is %d; it is 0 to 10000", n)
		}
		branches := make([]wasmflow.Branch, n)
		for i := range branches {
			branches[i] = wasmflow.Branch{Workflow: "square", Input: map[string]int{"i": i + 1}}
		}
		squares, err := wasmflow.Parallel[Square](ctx, branches...)
		if err != nil {
			return nil, err
		}
		sum := 0
		for _, s := range squares {
			sum += s.Square
		}
		return map[string]int{"sum": sum, "children": n}, nil
	})

	wasmflow.Workflow("square", func(ctx *wasmflow.Context, in struct {
		I int `json:"i"`
	}) (Square, error) {
		return wasmflow.Step(ctx, "square", func(s *wasmflow.StepContext) (Square, error) {
			return Square{Square: in.I * in.I}, nil
		})
	})
}

func main() {}

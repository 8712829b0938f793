// Command steps is a test guest: workflow "abc" runs steps a, b and c. Built
// with -ldflags "-X main.order=reordered" it runs a, c, b instead: the same
// workflow with changed code, which must fail a replayed run with a
// nondeterminism error.
package main

import wasmflow "github.com/wasmflow/wasmflow/sdk/go"

// order is set at link time; "reordered" swaps steps b and c.
var order string

func init() {
	wasmflow.Workflow("abc", func(ctx *wasmflow.Context, _ struct{}) ([]string, error) {
		names := []string{"a", "b", "c"}
		if order == "reordered" {
			names = []string{"a", "c", "b"}
		}
		var done []string
		for _, name := range names {
			out, err := wasmflow.Step(ctx, name, func(s *wasmflow.StepContext) (string, error) { return name, nil })
			if err != nil {
				return nil, err
			}
			done = append(done, out)
		}
		return done, nil
	})
}

func main() {}

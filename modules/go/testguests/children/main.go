// Command children is a test guest: the child-run workflows of
// modules/TESTGUESTS.md (module "children").
package main

import (
	"errors"
	"time"

	wasmflow "github.com/wasmflow/wasmflow/sdk/go"
)

type square struct {
	Square int `json:"square"`
}

func startOrFail(ctx *wasmflow.Context, workflow string, input any, opts ...wasmflow.ChildOption) *wasmflow.Child {
	c, err := wasmflow.StartChild(ctx, workflow, input, opts...)
	if err != nil {
		panic(err)
	}
	return c
}

func init() {
	wasmflow.Workflow("square", func(ctx *wasmflow.Context, in struct {
		I  int `json:"i"`
		MS int `json:"ms"`
	}) (square, error) {
		return wasmflow.Step(ctx, "square", func(s *wasmflow.StepContext) (square, error) {
			time.Sleep(time.Duration(in.MS) * time.Millisecond)
			return square{Square: in.I * in.I}, nil
		})
	})

	wasmflow.Workflow("fanout", func(ctx *wasmflow.Context, in struct {
		N  *int `json:"n"`
		MS int  `json:"ms"`
	}) (map[string]int, error) {
		n := 3
		if in.N != nil {
			n = *in.N
		}
		kids := make([]*wasmflow.Child, n)
		for i := range kids {
			kids[i] = startOrFail(ctx, "square", map[string]int{"i": i + 1, "ms": in.MS})
		}
		results, _ := wasmflow.AwaitAll(ctx, wasmflow.NoTimeout, kids...)
		sum := 0
		for _, r := range results {
			var s square
			if err := r.Decode(&s); err != nil {
				return nil, err
			}
			sum += s.Square
		}
		return map[string]int{"sum": sum, "children": n}, nil
	})

	wasmflow.Workflow("sleeper", func(ctx *wasmflow.Context, in struct {
		MS *int `json:"ms"`
	}) (map[string]int, error) {
		ms := 200
		if in.MS != nil {
			ms = *in.MS
		}
		wasmflow.Sleep(ctx, "nap", time.Duration(ms)*time.Millisecond)
		return map[string]int{"slept": ms}, nil
	})

	wasmflow.Workflow("fails", func(ctx *wasmflow.Context, _ struct{}) (struct{}, error) {
		return struct{}{}, errors.New("child failed on purpose")
	})

	wasmflow.Workflow("first", func(ctx *wasmflow.Context, _ struct{}) (map[string]any, error) {
		slow := startOrFail(ctx, "sleeper", map[string]int{"ms": 60000})
		fast := startOrFail(ctx, "square", map[string]int{"i": 7})
		r, _ := wasmflow.AwaitAny(ctx, wasmflow.NoTimeout, slow, fast)
		if r.ID != fast.ID {
			return nil, errors.New("first: the sleeper ended first")
		}
		var s square
		if err := r.Decode(&s); err != nil {
			return nil, err
		}
		return map[string]any{"first": s}, nil
	})

	wasmflow.Workflow("compensate", func(ctx *wasmflow.Context, _ struct{}) (map[string]string, error) {
		c := startOrFail(ctx, "fails", nil)
		_, err := wasmflow.AwaitChild[struct{}](ctx, c)
		var ce *wasmflow.ChildError
		if !errors.As(err, &ce) {
			return nil, errors.New("compensate: the failing child did not fail")
		}
		undo, err := wasmflow.Step(ctx, "undo", func(s *wasmflow.StepContext) (string, error) { return "undone", nil })
		if err != nil {
			return nil, err
		}
		return map[string]string{"child": ce.Status, "error": ce.Message, "undo": undo}, nil
	})

	wasmflow.Workflow("waiter", func(ctx *wasmflow.Context, in struct {
		N *int `json:"n"`
	}) (struct{}, error) {
		n := 2
		if in.N != nil {
			n = *in.N
		}
		kids := make([]*wasmflow.Child, n)
		for i := range kids {
			kids[i] = startOrFail(ctx, "sleeper", map[string]int{"ms": 60000})
		}
		wasmflow.AwaitAll(ctx, wasmflow.NoTimeout, kids...)
		return struct{}{}, nil
	})

	wasmflow.Workflow("timeout", func(ctx *wasmflow.Context, _ struct{}) (map[string]bool, error) {
		c := startOrFail(ctx, "sleeper", map[string]int{"ms": 60000}, wasmflow.Abandon())
		_, ok := wasmflow.AwaitAll(ctx, 50*time.Millisecond, c)
		return map[string]bool{"timed_out": !ok}, nil
	})

	wasmflow.Workflow("refused", func(ctx *wasmflow.Context, _ struct{}) (map[string]string, error) {
		_, err := wasmflow.StartChild(ctx, "nosuch", nil)
		var re *wasmflow.ChildRefusedError
		if !errors.As(err, &re) {
			return nil, errors.New("refused: the start of a child of no such workflow was not refused")
		}
		return map[string]string{"refused": re.Reason}, nil
	})
}

func main() {}

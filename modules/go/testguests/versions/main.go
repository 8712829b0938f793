// Command versions is a test guest: workflow "order" in four versions of
// its code, built from this one source with -ldflags "-X main.version=N"
// (modules/TESTGUESTS.md is the contract). Version 2 changes step b to b2
// behind the patch marker "fix-b", version 3 changes it to x without one,
// and version 4 deprecates the marker. Workflow "in_step" calls Changed
// where it must not be called.
package main

import (
	"strconv"

	wasmflow "github.com/wasmflow/wasmflow/sdk/go"
)

// version is set at link time: 1 to 4.
var version = "1"

type output struct {
	Steps   []string `json:"steps"`
	Version int      `json:"version"`
}

func init() {
	wasmflow.Workflow("order", func(ctx *wasmflow.Context, _ struct{}) (*output, error) {
		v, err := strconv.Atoi(version)
		if err != nil {
			return nil, err
		}
		out := &output{Version: v}
		step := func(name string) error {
			got, err := wasmflow.Step(ctx, name, func(*wasmflow.StepContext) (string, error) { return name + "@" + version, nil })
			if err != nil {
				return err
			}
			out.Steps = append(out.Steps, got)
			return nil
		}
		if err := step("a"); err != nil {
			return nil, err
		}
		second := "b"
		switch v {
		case 2:
			if wasmflow.Changed(ctx, "fix-b") {
				second = "b2"
			}
		case 3:
			second = "x"
		case 4:
			wasmflow.Deprecated(ctx, "fix-b")
			second = "b2"
		}
		if err := step(second); err != nil {
			return nil, err
		}
		if _, _, err := wasmflow.AwaitSignal[any](ctx, "go", wasmflow.NoTimeout); err != nil {
			return nil, err
		}
		if err := step("c"); err != nil {
			return nil, err
		}
		return out, nil
	})
	// in_step calls Changed inside a step body: a guest fault.
	wasmflow.Workflow("in_step", func(ctx *wasmflow.Context, _ struct{}) (string, error) {
		return wasmflow.Step(ctx, "a", func(*wasmflow.StepContext) (string, error) {
			if wasmflow.Changed(ctx, "fix-b") {
				return "new", nil
			}
			return "old", nil
		})
	})
}

func main() {}

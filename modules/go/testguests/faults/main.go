// Command faults is a test guest with one workflow per behaviour the host's
// tests need: guests that misbehave (loop, oom, badptr, panic), and small
// workflows for retries, sleeps, signals, effects, cursors, isolated steps
// and limits. Every guest language has a faults module with the same
// workflows; modules/TESTGUESTS.md is their contract.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	wasmflow "github.com/wasmflow/wasmflow/sdk/go"
)

// hoard keeps what oom allocates reachable, so the collector cannot free it.
var hoard [][]byte

type none struct{}

func init() {
	// loop never returns and never reaches a checkpoint: the host must stop
	// it at the activation time limit.
	wasmflow.Workflow("loop", func(ctx *wasmflow.Context, _ none) (none, error) {
		n := uint64(0)
		for {
			n = n*6364136223846793005 + 1442695040888963407
		}
	})

	// oom allocates until the Go runtime cannot grow memory and dies with
	// "fatal error: out of memory". Chunks double so that it gets there in
	// a few large allocations: at 1 MiB a time, reaching a 64 MiB limit
	// takes nearly two seconds under wazero.
	wasmflow.Workflow("oom", func(ctx *wasmflow.Context, _ none) (none, error) {
		for n := 1 << 20; ; n *= 2 {
			hoard = append(hoard, make([]byte, n))
		}
	})

	// badptr passes the host a pointer far outside its memory.
	wasmflow.Workflow("badptr", func(ctx *wasmflow.Context, _ none) (none, error) {
		rawLog(1, 0xFFFFFF00, 1024)
		return none{}, errors.New("badptr: the host accepted an out-of-bounds pointer")
	})

	wasmflow.Workflow("panic", func(ctx *wasmflow.Context, _ none) (none, error) {
		panic("boom")
	})

	wasmflow.Workflow("ok", func(ctx *wasmflow.Context, _ none) (map[string]bool, error) {
		return map[string]bool{"ok": true}, nil
	})

	// flaky's step fails on attempts 1 and 2 and succeeds on 3.
	wasmflow.Workflow("flaky", func(ctx *wasmflow.Context, _ none) (map[string]int, error) {
		attempt, err := wasmflow.Step(ctx, "flaky", func(s *wasmflow.StepContext) (int, error) {
			if s.Attempt() < 3 {
				return 0, fmt.Errorf("flaky: attempt %d fails", s.Attempt())
			}
			return s.Attempt(), nil
		}, wasmflow.MaxAttempts(5), wasmflow.Backoff(50*time.Millisecond, 50*time.Millisecond))
		if err != nil {
			return nil, err
		}
		return map[string]int{"attempt": attempt}, nil
	})

	// sleepy sleeps ms milliseconds (default 200) on timer "nap".
	wasmflow.Workflow("sleepy", func(ctx *wasmflow.Context, in struct {
		MS *int64 `json:"ms"`
	}) (map[string]bool, error) {
		d := 200 * time.Millisecond
		if in.MS != nil {
			d = time.Duration(*in.MS) * time.Millisecond
		}
		wasmflow.Sleep(ctx, "nap", d)
		return map[string]bool{"slept": true}, nil
	})

	// effects runs two effects in one step; each returns its idempotency
	// key, so the output shows the keys they ran with.
	wasmflow.Workflow("effects", func(ctx *wasmflow.Context, _ none) (map[string]string, error) {
		return wasmflow.Step(ctx, "effects", func(s *wasmflow.StepContext) (map[string]string, error) {
			first, err := wasmflow.Effect(s, "first", func(key string) (string, error) { return key, nil })
			if err != nil {
				return nil, err
			}
			second, err := wasmflow.Effect(s, "second", func(key string) (string, error) { return key, nil })
			if err != nil {
				return nil, err
			}
			return map[string]string{"first": first, "second": second}, nil
		})
	})

	// await waits for signal "go" and returns its payload; without
	// timeout_ms it waits for ever.
	wasmflow.Workflow("await", func(ctx *wasmflow.Context, in struct {
		TimeoutMS *int64 `json:"timeout_ms"`
	}) (json.RawMessage, error) {
		timeout := wasmflow.NoTimeout
		if in.TimeoutMS != nil {
			timeout = time.Duration(*in.TimeoutMS) * time.Millisecond
		}
		payload, ok, err := wasmflow.AwaitSignal[json.RawMessage](ctx, "go", timeout)
		if err != nil {
			return nil, err
		}
		if !ok {
			return json.RawMessage(`{"timed_out":true}`), nil
		}
		return payload, nil
	})

	// cursor counts items in one step, saving its cursor after each item:
	// interrupted anywhere, it resumes at the first item not yet saved.
	wasmflow.Workflow("cursor", countItems)
	// patient is cursor with a resume delay of its own.
	wasmflow.Workflow("patient", countItems, wasmflow.ResumeDelay(300*time.Millisecond))

	// in_effect saves its step's cursor (or, with {"checkpoint": 1},
	// checkpoints) inside an effect: the host must refuse it.
	wasmflow.Workflow("in_effect", func(ctx *wasmflow.Context, in struct {
		Checkpoint int `json:"checkpoint"`
	}) (none, error) {
		return wasmflow.Step(ctx, "pay", func(s *wasmflow.StepContext) (none, error) {
			return wasmflow.Effect(s, "charge", func(key string) (none, error) {
				if in.Checkpoint == 1 {
					s.Checkpoint()
				} else {
					s.Set(1)
				}
				return none{}, errors.New("in_effect: the host accepted a checkpoint inside an effect")
			})
		})
	})

	// advancing's step advances its integer cursor by one and then fails,
	// until the cursor reaches items: with resume_errors_after_advancing
	// and one attempt, it completes in its first attempt.
	wasmflow.Workflow("advancing", func(ctx *wasmflow.Context, in struct {
		Items *int64 `json:"items"`
	}) (map[string]int64, error) {
		items := int64(3)
		if in.Items != nil {
			items = *in.Items
		}
		attempt, err := wasmflow.Step(ctx, "advance", func(s *wasmflow.StepContext) (int, error) {
			var i int64
			s.Cursor(&i)
			if i < items {
				s.Set(i + 1)
				return 0, fmt.Errorf("advancing: failed after item %d", i)
			}
			return s.Attempt(), nil
		}, wasmflow.MaxAttempts(1), wasmflow.Backoff(20*time.Millisecond, 20*time.Millisecond), wasmflow.ResumeErrorsAfterAdvancing())
		if err != nil {
			return nil, err
		}
		return map[string]int64{"attempt": int64(attempt), "items": items}, nil
	})

	// unadvanceable advances a cursor that is a string (SDK guests only).
	wasmflow.Workflow("unadvanceable", func(ctx *wasmflow.Context, _ none) (int64, error) {
		return wasmflow.Step(ctx, "count", func(s *wasmflow.StepContext) (int64, error) {
			s.Set("page-1")
			return s.Advance(), nil
		})
	})

	// isolated runs step "before", the isolated step "alone", then "after".
	wasmflow.Workflow("isolated", func(ctx *wasmflow.Context, _ none) ([]string, error) {
		var done []string
		for _, name := range []string{"before", "alone", "after"} {
			var opts []wasmflow.StepOption
			if name == "alone" {
				opts = append(opts, wasmflow.Isolated())
			}
			out, err := wasmflow.Step(ctx, name, func(s *wasmflow.StepContext) (string, error) { return name, nil }, opts...)
			if err != nil {
				return nil, err
			}
			done = append(done, out)
		}
		return done, nil
	})

	// checkpoints calls checkpoint n times in one step: the cost of one
	// checkpoint host call, for the benchmarks.
	wasmflow.Workflow("checkpoints", func(ctx *wasmflow.Context, in struct {
		N *int `json:"n"`
	}) (map[string]int, error) {
		n := 1000
		if in.N != nil {
			n = *in.N
		}
		done, err := wasmflow.Step(ctx, "spin", func(s *wasmflow.StepContext) (int, error) {
			for i := 0; i < n; i++ {
				s.Checkpoint()
			}
			return n, nil
		})
		if err != nil {
			return nil, err
		}
		return map[string]int{"checkpoints": done}, nil
	})

	// big returns a JSON string of the given length, to hit the payload
	// limit.
	wasmflow.Workflow("big", func(ctx *wasmflow.Context, in struct {
		Bytes int `json:"bytes"`
	}) (string, error) {
		return strings.Repeat("x", in.Bytes), nil
	})
}

func main() {}

// countItems is the cursor workflow: one step "count" over the input's
// items, its cursor {"next":I,"sum":S} saved after each item.
func countItems(ctx *wasmflow.Context, in struct {
	Items *int `json:"items"`
}) (map[string]int, error) {
	items := 100
	if in.Items != nil {
		items = *in.Items
	}
	type cursor struct {
		Next int `json:"next"`
		Sum  int `json:"sum"`
	}
	cur, err := wasmflow.Step(ctx, "count", func(s *wasmflow.StepContext) (cursor, error) {
		var c cursor
		s.Cursor(&c)
		for i := c.Next; i < items; i++ {
			c.Sum += i
			c.Next = i + 1
			s.Set(c)
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]int{"processed": cur.Next, "sum": cur.Sum}, nil
}

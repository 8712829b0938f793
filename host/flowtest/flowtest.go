// Package flowtest helps test workflows: hooks that interrupt a run during or
// after a chosen step, or crash it between an effect's start and its
// outcome, as a graceful shutdown or a killed process would, and a helper to
// wait for a run to reach a status. It is the counterpart of Rails'
// interrupt_job_during_step and interrupt_job_after_step.
//
//	h, _ := host.New(ctx, &host.Config{Store: st, Hooks: flowtest.InterruptAfterStep("charge")})
package flowtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/store"
)

// InterruptDuringStep interrupts a run at each checkpoint of step whose
// cursor satisfies match (nil matches every checkpoint), once per distinct
// cursor: the run suspends with its cursor saved and resumes in a fresh
// activation.
func InterruptDuringStep(step string, match func(cursor []byte) bool) host.Hooks {
	var mu sync.Mutex
	seen := make(map[string]bool)
	return host.Hooks{Interrupt: func(p *host.Point) bool {
		if p.Kind != host.PointDuringStep || p.Step != step || (match != nil && !match(p.Cursor)) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		key := p.Run.ID + "\x00" + string(p.Cursor)
		if seen[key] {
			return false
		}
		seen[key] = true
		return true
	}}
}

// InterruptAfterStep interrupts a run once, right after step completes.
func InterruptAfterStep(step string) host.Hooks {
	return once(func(p *host.Point) bool { return p.Kind == host.PointAfterStep && p.Step == step }, false)
}

// CrashBeforeEffectEnd ends the activation once, as if the process died,
// after effect of step was executed and before its outcome was recorded. The
// run stays claimed until its lease expires; then another activation runs
// the effect again with the same idempotency key.
func CrashBeforeEffectEnd(step, effect string) host.Hooks {
	return once(func(p *host.Point) bool {
		return p.Kind == host.PointBeforeEffectEnd && p.Step == step && p.Effect == effect
	}, true)
}

// once fires f's first match per run.
func once(f func(p *host.Point) bool, crash bool) host.Hooks {
	var mu sync.Mutex
	fired := make(map[string]bool)
	hook := func(p *host.Point) bool {
		if !f(p) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if fired[p.Run.ID] {
			return false
		}
		fired[p.Run.ID] = true
		return true
	}
	if crash {
		return host.Hooks{Crash: hook}
	}
	return host.Hooks{Interrupt: hook}
}

// Observe returns hooks that call f at every point and never stop the run:
// tests use it to see what the guest did.
func Observe(f func(p *host.Point)) host.Hooks {
	return host.Hooks{Interrupt: func(p *host.Point) bool { f(p); return false }}
}

// Combine merges hooks: a point stops the run if any of them says so. Every
// hook is asked, in order.
func Combine(hooks ...host.Hooks) host.Hooks {
	ask := func(pick func(host.Hooks) func(*host.Point) bool) func(*host.Point) bool {
		return func(p *host.Point) bool {
			stop := false
			for _, h := range hooks {
				if f := pick(h); f != nil && f(p) {
					stop = true
				}
			}
			return stop
		}
	}
	return host.Hooks{
		Interrupt: ask(func(h host.Hooks) func(*host.Point) bool { return h.Interrupt }),
		Crash:     ask(func(h host.Hooks) func(*host.Point) bool { return h.Crash }),
	}
}

// Wait polls a run until its status is one of statuses and returns it, or
// fails after timeout with the run's last state.
func Wait(ctx context.Context, h *host.Host, id string, timeout time.Duration, statuses ...store.RunStatus) (*store.Run, error) {
	deadline := time.Now().Add(timeout)
	for {
		run, err := h.Run(ctx, id)
		if err != nil {
			return nil, err
		}
		if slices.Contains(statuses, run.Status) {
			return run, nil
		}
		if time.Now().After(deadline) {
			return run, fmt.Errorf("run %s is %s after %s, want one of %v (error: %q)", id, run.Status, timeout, statuses, run.Error)
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

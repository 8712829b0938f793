//go:build cgo

package host_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	wt "github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/store"
)

// hostileWAT is a module with one workflow, "hostile", whose wasmflow_run
// is body: the guests of the hostile-guest suite, each a few instructions
// of WebAssembly text. They may call any wasmflow function, and the WASI
// functions a runtime would ($clock_time_get, $random_get, $poll_oneoff,
// $fd_write). Memory: the workflow's name at 0, a step name "s" at 16,
// "{}" at 32, and 64 KiB of zeros from 1024 on; extra is more module
// fields (functions, tables).
func hostileWAT(body, extra string) string {
	return hostileWATDescribing(`(drop (call $declare (i32.const 0) (i32.const 7)))`, body, extra)
}

// hostileWATDescribing is hostileWAT with describe as wasmflow_describe's
// body.
func hostileWATDescribing(describe, body, extra string) string {
	return `(module
  (import "wasmflow" "declare_workflow" (func $declare (param i32 i32) (result i32)))
  (import "wasmflow" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wasmflow" "input" (func $input (result i32)))
  (import "wasmflow" "step_begin" (func $step_begin (param i32 i32 i32 i32) (result i32)))
  (import "wasmflow" "step_end" (func $step_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "cursor_set" (func $cursor_set (param i32 i32) (result i32)))
  (import "wasmflow" "effect_begin" (func $effect_begin (param i32 i32) (result i32)))
  (import "wasmflow" "effect_end" (func $effect_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "sleep" (func $sleep (param i32 i32 i64) (result i32)))
  (import "wasmflow" "await_signal" (func $await_signal (param i32 i32 i64) (result i32)))
  (import "wasmflow" "complete" (func $complete (param i32 i32) (result i32)))
  (import "wasmflow" "fail" (func $fail (param i32 i32) (result i32)))
  (import "wasmflow" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasmflow" "progress" (func $progress (param i32 i32) (result i32)))
  (import "wasmflow" "random" (func $random (param i32 i32) (result i32)))
  (import "wasmflow" "child_start" (func $child_start (param i32 i32) (result i32)))
  (import "wasmflow" "child_await" (func $child_await (param i32 i32 i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "hostile")
  (data (i32.const 16) "s")
  (data (i32.const 32) "{}")
  (data (i32.const 48) "EFAULT")
  (data (i32.const 64) "the host did not refuse the pointer")
  (data (i32.const 112) "table.grow refused")
  (data (i32.const 160) "{\"workflow\":\"hostile\",\"bogus\":1}")
  (data (i32.const 224) "{\"workflow\":\"hostile\",\"on_parent_end\":\"orphan\"}")
  (data (i32.const 288) "[\"00000000-0000-7000-8000-000000000000\"]")
  (data (i32.const 352) "[]")
  (data (i32.const 368) "{\"workflow\":\"hostile\"}")
  (data (i32.const 400) "not json")
  (func (export "wasmflow_abi_version") (result i32) (i32.const 1))
  (func (export "wasmflow_describe") ` + describe + `)
  ;; $efault fails the run with "EFAULT" when a WASI function answered it
  ;; (21), and with the other message when it did not.
  (func $efault (param i32)
    (if (i32.eq (local.get 0) (i32.const 21))
      (then (drop (call $fail (i32.const 48) (i32.const 6)))))
    (drop (call $fail (i32.const 64) (i32.const 35))))
  (func $step (drop (call $step_begin (i32.const 16) (i32.const 1) (i32.const 0) (i32.const 0))))
  (func $done (drop (call $complete (i32.const 32) (i32.const 2))) unreachable)
  (func (export "wasmflow_run") ` + body + `)
  ` + extra + `)`
}

type hostileCase struct {
	name string
	body string
	want string // in the run's error
}

// wild is a pointer far outside a guest's memory; a wild buffer is wild
// with a length of 16.
const wild = "(i32.const 0xFFFFFF00)"

// The hostile-guest suite: guests that loop, allocate, recurse, pass wild
// pointers to every host function that takes one, flood the log, or come
// as very large modules. Each fails its own run, within the activation
// time limit plus 100 ms, with a reason that says what the guest did,
// while other runs on the same host complete; the host never crashes.
//
// Not parallel, and one engine at a time: a guest spinning in wazero's
// compiled code holds its thread until wazero's own check stops it, so
// guests spinning on every core delay other tests' timers (and theirs)
// by more than the 100 ms this test allows.
func TestHostileGuests(t *testing.T) {
	const timeout = 2 * time.Second
	oob := "out-of-bounds pointer"
	cases := []hostileCase{
		{"endless loop outside a step", `(loop $l (br $l))`,
			"activation exceeded its time limit of 2s without reaching a checkpoint"},
		{"endless loop inside a step", `(call $step) (loop $l (br $l))`,
			`activation exceeded its time limit of 2s without reaching a checkpoint; the guest was stopped in step "s"`},
		{"endless sleep in poll_oneoff", `
			;; one clock subscription, relative, due in an hour
			(i64.store (i32.const 1048) (i64.const 3600000000000))
			(drop (call $poll_oneoff (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 4096)))
			(call $done)`,
			"activation exceeded its time limit of 2s without reaching a checkpoint"},
		{"memory bomb", `(loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable`,
			"guest trapped: wasm error: unreachable (out of memory: memory at 255 MiB of the 256 MiB limit)"},
		{"deep recursion", `(call $deep)`, "guest trapped: wasm error: stack overflow"},
		{"wild pointer to result_read", `(drop (call $input)) (drop (call $result_read ` + wild + ` (i32.const 2)))`, "result_read: guest passed an " + oob},
		{"wild pointer to step_begin's name", `(drop (call $step_begin ` + wild + ` (i32.const 1) (i32.const 0) (i32.const 0)))`, "step_begin: guest passed an " + oob},
		{"wild pointer to step_begin's options", `(drop (call $step_begin (i32.const 16) (i32.const 1) ` + wild + ` (i32.const 16)))`, "step_begin: guest passed an " + oob},
		{"wild pointer to step_end", `(call $step) (drop (call $step_end (i32.const 0) ` + wild + ` (i32.const 16)))`, "step_end: guest passed an " + oob},
		{"wild pointer to step_end's error", `(call $step) (drop (call $step_end (i32.const 1) ` + wild + ` (i32.const 16)))`, "step_end: guest passed an " + oob},
		{"wild pointer to cursor_set", `(call $step) (drop (call $cursor_set ` + wild + ` (i32.const 16)))`, "cursor_set: guest passed an " + oob},
		{"wild pointer to effect_begin", `(call $step) (drop (call $effect_begin ` + wild + ` (i32.const 1)))`, "effect_begin: guest passed an " + oob},
		{"wild pointer to effect_end", `(call $step) (drop (call $effect_begin (i32.const 16) (i32.const 1))) (drop (call $effect_end (i32.const 0) ` + wild + ` (i32.const 16)))`, "effect_end: guest passed an " + oob},
		{"wild pointer to sleep", `(drop (call $sleep ` + wild + ` (i32.const 1) (i64.const 1)))`, "sleep: guest passed an " + oob},
		{"wild pointer to await_signal", `(drop (call $await_signal ` + wild + ` (i32.const 1) (i64.const 1)))`, "await_signal: guest passed an " + oob},
		{"wild pointer to complete", `(drop (call $complete ` + wild + ` (i32.const 16)))`, "complete: guest passed an " + oob},
		{"wild pointer to fail", `(drop (call $fail ` + wild + ` (i32.const 16)))`, "fail: guest passed an " + oob},
		{"wild pointer to log", `(drop (call $log (i32.const 1) ` + wild + ` (i32.const 16)))`, "log: guest passed an " + oob},
		{"wild pointer to progress", `(drop (call $progress ` + wild + ` (i32.const 16)))`, "progress: guest passed an " + oob},
		{"wild pointer to random", `(drop (call $random ` + wild + ` (i32.const 16)))`, "random: guest passed an " + oob},
		{"length past the end of memory", `(drop (call $log (i32.const 1) (i32.const 1024) (i32.const 0xFFFFFFFF)))`, "log: guest passed an " + oob},
		// The WASI functions answer as WASI says: EFAULT, writing nothing (the
		// guest then fails its run with "EFAULT").
		{"wild pointer to clock_time_get", `(call $efault (call $clock_time_get (i32.const 0) (i64.const 0) ` + wild + `))`, "EFAULT"},
		{"wild pointer to random_get", `(call $efault (call $random_get ` + wild + ` (i32.const 16)))`, "EFAULT"},
		{"wild pointer to poll_oneoff's subscriptions", `(call $efault (call $poll_oneoff ` + wild + ` (i32.const 2048) (i32.const 1) (i32.const 4096)))`, "EFAULT"},
		{"wild pointer to poll_oneoff's events", `(call $efault (call $poll_oneoff (i32.const 1024) ` + wild + ` (i32.const 1) (i32.const 4096)))`, "EFAULT"},
		{"wild pointer to poll_oneoff's count", `(call $efault (call $poll_oneoff (i32.const 1024) (i32.const 2048) (i32.const 1) ` + wild + `))`, "EFAULT"},
		{"too many poll_oneoff subscriptions", `(call $efault (call $poll_oneoff (i32.const 1024) (i32.const 2048) (i32.const 0x7FFFFFFF) (i32.const 4096)))`, "EFAULT"},
		{"wild pointer to fd_write", `(call $efault (call $fd_write (i32.const 1) ` + wild + ` (i32.const 1) (i32.const 4096)))`, "EFAULT"},
		{"wild pointer to fd_write's buffer", `(i32.store (i32.const 4000) (i32.const 0xFFFFFF00)) (i32.store (i32.const 4004) (i32.const 16))
			(call $efault (call $fd_write (i32.const 2) (i32.const 4000) (i32.const 1) (i32.const 4096)))`, "EFAULT"},
		{"stdout flood", `(i32.store (i32.const 4000) (i32.const 0)) (i32.store (i32.const 4004) (i32.const 65536))
			(loop $l (drop (call $fd_write (i32.const 1) (i32.const 4000) (i32.const 1) (i32.const 4096))) (br $l))`,
			"activation exceeded its time limit of 2s without reaching a checkpoint"},
		{"log flood", `(loop $l (drop (call $log (i32.const 1) (i32.const 1024) (i32.const 8192))) (br $l))`,
			"activation exceeded its time limit of 2s without reaching a checkpoint"},
		{"table grown without end", `
			(if (i32.eq (table.grow $t (ref.null func) (i32.const 0x7FFFFFF0)) (i32.const -1))
				(then (drop (call $fail (i32.const 112) (i32.const 18))) unreachable))
			(call $done)`, "table.grow refused"},
	}
	extra := `(func $deep (call $deep)) (table $t 1 funcref)`
	for _, eng := range testEngines {
		t.Run(eng, func(t *testing.T) {
			var log lockedBuffer
			b := setup(t, openStore(t, "sqlite"), setupOpts{
				engine: eng, workers: 8,
				limits: host.Limits{ActivationTimeout: timeout},
				logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo})),
			}, "wat/faults")
			ids := make([]string, len(cases))
			for i, c := range cases {
				name := fmt.Sprintf("hostile-%d", i)
				// The guest's first act is a log line, "hostile": when it
				// started.
				push(t, b.host, name, hostileWAT(`(drop (call $log (i32.const 1) (i32.const 0) (i32.const 7)))`+c.body, extra))
				ids[i] = b.start(t, name, "hostile", nil)
			}
			var ok []string
			for range 10 {
				ok = append(ok, b.start(t, "faults", "ok", nil))
			}
			late := lateness(t)
			for i := range cases {
				b.wait(t, ids[i], 30*time.Second, store.StatusCompleted, store.StatusFailed)
			}
			// The machine's own delays (other processes on its two cores)
			// are not the host's: what a timer of the test was late by is
			// allowed on top of the 100 ms. It excuses the host's own
			// pauses too (a garbage collection), which delay every timer
			// of the process alike; on an idle machine it is a few ms.
			margin := 100*time.Millisecond + late()
			t.Logf("the test's timers were late by up to %s", margin-100*time.Millisecond)
			for i, c := range cases {
				run := b.wait(t, ids[i], 30*time.Second, store.StatusCompleted, store.StatusFailed)
				if run.Status != store.StatusFailed || !strings.Contains(run.Error, c.want) {
					t.Errorf("%s: run %s with error %q, want failed with %q", c.name, run.Status, run.Error, c.want)
					continue
				}
				d := runTime(t, b, &log, ids[i])
				t.Logf("%s: failed after %s", c.name, d)
				if d > timeout+margin {
					t.Errorf("%s: failed %s after its guest started, over the %s limit plus %s", c.name, d, timeout, margin)
				}
			}
			for _, id := range ok {
				b.completed(t, id, `{"ok":true}`)
			}
			if n := log.Len(); n > 4<<20 {
				t.Errorf("the host's log holds %d bytes: a guest's log is not bounded", n)
			}
		})
	}
}

// lateness measures how late a timer of the test fires, from now until
// the function it returns is called, which returns the most it was late.
func lateness(t *testing.T) func() time.Duration {
	t.Helper()
	stop, done := make(chan struct{}), make(chan time.Duration)
	go func() {
		worst := time.Duration(0)
		for {
			const tick = 5 * time.Millisecond
			start := time.Now()
			select {
			case <-stop:
				done <- worst
				return
			case <-time.After(tick):
				worst = max(worst, time.Since(start)-tick)
			}
		}
	}()
	return func() time.Duration {
		close(stop)
		return <-done
	}
}

// runTime is how long a run's guest ran: from its first log line to the
// run's last event.
func runTime(t *testing.T, b *bundle, log *lockedBuffer, id string) time.Duration {
	t.Helper()
	evs := b.events(t, id)
	for _, line := range strings.Split(log.String(), "\n") {
		if !strings.Contains(line, "run_id="+id) || !strings.Contains(line, "msg=hostile") {
			continue
		}
		at, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		start, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		return evs[len(evs)-1].At.Sub(start)
	}
	t.Fatalf("run %s: no log line of its guest's start", id)
	return 0
}

// push compiles a hostile guest's text and uploads it.
func push(t *testing.T, h *host.Host, name, wat string) {
	t.Helper()
	wasm, err := wt.Wat2Wasm(wat)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if _, _, err := h.PushModule(context.Background(), &host.PushModuleParams{Name: name, Wasm: wasm}); err != nil {
		t.Fatalf("push %s: %v", name, err)
	}
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// repeat is WebAssembly text that runs stmt n times; it uses the local
// named by counter, which the body must declare.
func repeat(counter string, n int, stmt string) string {
	return fmt.Sprintf(`(local.set %[1]s (i32.const 0))
		(loop $again
			%[3]s
			(local.set %[1]s (i32.add (local.get %[1]s) (i32.const 1)))
			(br_if $again (i32.lt_u (local.get %[1]s) (i32.const %[2]d))))`, counter, n, stmt)
}

// A guest's log (its log calls and the lines of its stdout and stderr) is
// bounded per activation and per run: past a limit, one marker line says
// which, a metric counts it, and the rest is dropped.
func TestGuestLogIsCapped(t *testing.T) {
	t.Parallel()
	logNUL := `(drop (call $log (i32.const 1) (i32.const 1024) (i32.const 8192)))` // 8 KiB of NUL bytes
	logLine := `(drop (call $log (i32.const 1) (i32.const 0) (i32.const 7)))`
	stdoutLine := `(drop (call $fd_write (i32.const 1) (i32.const 4000) (i32.const 1) (i32.const 4012)))`
	cases := []struct {
		name   string
		limits host.Limits
		body   string
		lines  int            // guest lines in the host's log
		capped map[string]int // marker lines (and the metric) by limit
	}{
		{
			name: "8 KiB lines of NUL bytes stop at the bytes per activation",
			body: `(local $i i32) ` + repeat("$i", 2000, logNUL) + ` (call $done)`,
			// 1 MiB holds 42 such lines, as 24 KiB of U+FFFD each.
			lines: 42, capped: map[string]int{executor.LogCappedActivation: 1},
		},
		{
			name:   "log calls and stdout lines share the lines per activation",
			limits: host.Limits{LogLinesPerActivation: 100},
			body: `(local $i i32)
				(i32.store (i32.const 4000) (i32.const 5000)) (i32.store (i32.const 4004) (i32.const 2))
				(i32.store16 (i32.const 5000) (i32.const 0x0a78)) ;; "x\n"
				` + repeat("$i", 300, stdoutLine) + repeat("$i", 300, logLine) + ` (call $done)`,
			lines: 100, capped: map[string]int{executor.LogCappedActivation: 1},
		},
		{
			name:   "lines per run count over the run's activations",
			limits: host.Limits{LogLinesPerActivation: 100, LogLinesPerRun: 150},
			body: `(local $i i32) ` + repeat("$i", 120, logLine) + `
				(drop (call $sleep (i32.const 16) (i32.const 1) (i64.const 10)))
				` + repeat("$i", 120, logLine) + ` (call $done)`,
			// 100 in the first activation (the rest dropped), 50 in the
			// second, which replays the first's silently.
			lines: 150, capped: map[string]int{executor.LogCappedActivation: 1, executor.LogCappedRun: 1},
		},
	}
	for _, c := range cases {
		for _, eng := range testEngines {
			t.Run(c.name+"/"+eng, func(t *testing.T) {
				t.Parallel()
				var log lockedBuffer
				b := setup(t, openStore(t, "sqlite"), setupOpts{
					engine: eng, limits: c.limits,
					logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo})),
				})
				push(t, b.host, "flood", hostileWAT(c.body, ""))
				id := b.start(t, "flood", "hostile", nil)
				b.completed(t, id, `{}`)
				text := log.String()
				if n := strings.Count(text, "source=guest"); n != c.lines {
					t.Errorf("%d guest lines in the host's log, want %d", n, c.lines)
				}
				for _, kind := range []string{executor.LogCappedActivation, executor.LogCappedRun} {
					if n := strings.Count(text, "log_capped="+kind); n != c.capped[kind] {
						t.Errorf("%d marker lines for the %s limit, want %d", n, kind, c.capped[kind])
					}
					if n := metric(t, b.host, "wasmflow_guest_log_capped_total", "limit", kind); int(n) != c.capped[kind] {
						t.Errorf("wasmflow_guest_log_capped_total{limit=%q} is %v, want %d", kind, n, c.capped[kind])
					}
				}
				if strings.Contains(text, `\x00`) || strings.Contains(text, `\u0000`) {
					t.Error("NUL bytes reached the host's log, escaped")
				}
				if n := len(text); n > 2<<20 {
					t.Errorf("the host's log holds %d bytes", n)
				}
			})
		}
	}
}

// Modules that are hostile by their shape: each is refused at upload with
// the limit it exceeds, or accepted and run like any other; the host
// never crashes.
func TestHostileModules(t *testing.T) {
	t.Parallel()
	var many strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&many, "(func $f%d (result i32) (i32.const %d))\n", i, i)
	}
	cases := []struct {
		name, describe, body, extra string
		refused                     string // empty: accepted, and its run completes
		limits                      host.Limits
	}{
		{name: "a wild pointer to declare_workflow is refused",
			describe: `(drop (call $declare ` + wild + ` (i32.const 7)))`, body: `(call $done)`,
			refused: "wasmflow_describe: declare_workflow: guest passed an out-of-bounds pointer"},
		{name: "a describe that never returns is refused at the time limit",
			describe: `(loop $l (br $l))`, body: `(call $done)`,
			limits:  host.Limits{ActivationTimeout: 2 * time.Second},
			refused: "wasmflow_describe failed: guest stopped: it ran past the time limit of 2s for preparing a module (the activation timeout, at most 10s)"},
		{name: "a module with 100,000 functions is accepted and runs",
			body: `(drop (call $f99999)) (call $done)`, extra: many.String()},
		{name: "a huge table is refused",
			body: `(call $done)`, extra: `(table 100000000 funcref)`,
			refused: "module refused: its tables start with 100000000 elements, over the limit of 1000000"},
		{name: "many tables share the limit",
			body: `(call $done)`, extra: strings.Repeat("(table 300000 funcref)", 4),
			refused: "module refused: its tables start with 1200000 elements, over the limit of 1000000"},
		{name: "an _initialize that never returns is refused at the time limit",
			body: `(call $done)`, extra: `(func (export "_initialize") (loop $l (br $l)))`,
			limits:  host.Limits{ActivationTimeout: 2 * time.Second},
			refused: "_initialize failed: guest stopped: it ran past the time limit of 2s for preparing a module (the activation timeout, at most 10s)"},
		{name: "a start function that never returns is refused at the time limit",
			body: `(call $done)`, extra: `(func $spin (loop $l (br $l))) (start $spin)`,
			limits:  host.Limits{ActivationTimeout: 2 * time.Second},
			refused: "module cannot be instantiated: guest stopped: it ran past the time limit of 2s for preparing a module (the activation timeout, at most 10s)"},
		{name: "a module over the size limit is refused",
			body: `(call $done)`, extra: many.String(), limits: host.Limits{ModuleSize: 64 << 10},
			refused: "over the 65536-byte module size limit"},
	}
	for _, c := range cases {
		for _, eng := range testEngines {
			t.Run(c.name+"/"+eng, func(t *testing.T) {
				t.Parallel()
				b := setup(t, openStore(t, "sqlite"), setupOpts{engine: eng, limits: c.limits})
				describe := c.describe
				if describe == "" {
					describe = `(drop (call $declare (i32.const 0) (i32.const 7)))`
				}
				wasm, err := wt.Wat2Wasm(hostileWATDescribing(describe, c.body, c.extra))
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				_, _, err = b.host.PushModule(context.Background(), &host.PushModuleParams{Name: "shape", Wasm: wasm})
				t.Logf("%d bytes: upload took %s (%v)", len(wasm), time.Since(start), err)
				if c.refused != "" {
					if err == nil || !strings.Contains(err.Error(), c.refused) {
						t.Fatalf("upload: %v, want refused with %q", err, c.refused)
					}
					return
				}
				if err != nil {
					t.Fatalf("upload: %v", err)
				}
				b.completed(t, b.start(t, "shape", "hostile", nil), `{}`)
			})
		}
	}
}

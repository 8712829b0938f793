//go:build cgo

package wasmtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	wt "github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wasmflow/wasmflow/internal/engine"
)

var errBoom = errors.New("boom")

const guestWAT = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "fail" (func $fail))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\n")
  (func (export "spin") (loop $l (br $l)))
  (func (export "add") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "fail") (call $fail))
  (func (export "exit") (call $exit (i32.const 3)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "trap") unreachable)
  (func (export "hello") (result i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8))))`

func newTestEngine(t *testing.T, cacheDir string) (*Engine, engine.Module) {
	t.Helper()
	ctx := context.Background()
	e, err := New(ctx, &Config{
		CacheDir:         cacheDir,
		MemoryLimitPages: 4,
		HostModule:       "host",
		HostFuncs: []engine.HostFunc{
			{Func: engine.Func{Name: "add", Params: []engine.ValueType{engine.I32, engine.I32}, Results: []engine.ValueType{engine.I32}},
				Call: func(ctx context.Context, mem engine.Memory, stack []uint64) error {
					if b, ok := mem.Read(16, 5); !ok || string(b) != "hello" {
						return errors.New("memory view wrong")
					}
					stack[0] = uint64(uint32(int32(stack[0]) + int32(stack[1])))
					return nil
				}},
			{Func: engine.Func{Name: "fail"}, Call: func(context.Context, engine.Memory, []uint64) error { return errBoom }},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return e, compileWAT(t, e, guestWAT)
}

// compileWAT compiles wat on e, closed when the test ends.
func compileWAT(t *testing.T, e *Engine, wat string) engine.Module {
	t.Helper()
	ctx := context.Background()
	wasm, err := wt.Wat2Wasm(wat)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(ctx) })
	return m
}

func TestEngine(t *testing.T) {
	ctx := context.Background()
	_, m := newTestEngine(t, "")
	if !m.ExportsMemory("memory") || len(m.Imports()) != 4 || len(m.Exports()) != 7 {
		t.Fatalf("shape: mem %v imports %v exports %v", m.ExportsMemory("memory"), m.Imports(), m.Exports())
	}
	var stderr bytes.Buffer
	inst, err := m.Instantiate(ctx, &engine.InstanceConfig{Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close(ctx)

	if res, err := inst.Call(ctx, "add", 2, uint64(uint32(0xffffffff))); err != nil || res[0] != 1 {
		t.Fatalf("add: %v %v", res, err)
	}
	if _, err := inst.Call(ctx, "hello"); err != nil || stderr.String() != "hello\n" {
		t.Fatalf("hello: %q %v", stderr.String(), err)
	}
	var trap *engine.Trap
	if _, err := inst.Call(ctx, "fail"); !errors.Is(err, errBoom) || !errors.As(err, &trap) {
		t.Fatalf("fail: %v", err)
	}
	if res, err := inst.Call(ctx, "grow", 2); err != nil || res[0] != 1 {
		t.Fatalf("grow within limit: %v %v", res, err)
	}
	if res, err := inst.Call(ctx, "grow", 2); err != nil || int32(res[0]) != -1 {
		t.Fatalf("grow over limit: %v %v", res, err)
	}
	if inst.MemorySize() != 3*65536 {
		t.Fatalf("memory size %d", inst.MemorySize())
	}
	if _, err := inst.Call(ctx, "trap"); !errors.As(err, &trap) {
		t.Fatalf("trap: %v", err)
	}

	cause := errors.New("deadline for the test")
	cctx, cancel := context.WithTimeoutCause(ctx, 50*time.Millisecond, cause)
	defer cancel()
	start := time.Now()
	if _, err := inst.Call(cctx, "spin"); !errors.Is(err, cause) {
		t.Fatalf("spin: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("spin stopped after %s", d)
	}
	if _, err := inst.Call(ctx, "exit"); err == nil {
		t.Fatal("exit: no error")
	} else if ee := (*engine.ExitError)(nil); !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("exit: %v", err)
	}
}

func TestCompileCache(t *testing.T) {
	dir := t.TempDir()
	newTestEngine(t, dir)
	files, _ := filepath.Glob(filepath.Join(dir, "wasmtime-*.cwasm"))
	if len(files) != 1 {
		t.Fatalf("cache files: %v", files)
	}
	st1, _ := os.Stat(files[0])
	_, m := newTestEngine(t, dir) // from the cache
	if len(m.Exports()) != 7 {
		t.Fatal("cached module lost its exports")
	}
	st2, _ := os.Stat(files[0])
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Fatal("cache entry rewritten: not loaded")
	}
}

func TestInvalidModule(t *testing.T) {
	e, _ := newTestEngine(t, "")
	if _, err := e.Compile(context.Background(), []byte("not wasm")); !errors.Is(err, engine.ErrInvalidModule) {
		t.Fatalf("got %v", err)
	}
}

// TestCancelRacingClose cancels contexts while calls return and instances
// close, thousands of times over: the stop flag a cancelled context sets is
// memory the C side reads, so a setter that outlives its instance would
// write freed memory (glibc reports it as a corrupted heap, at once under
// GLIBC_TUNABLES=glibc.malloc.check=3 with its debug allocator).
func TestCancelRacingClose(t *testing.T) {
	_, m := newTestEngine(t, "")
	const goroutines, rounds = 8, 1000
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		go func() {
			for r := 0; r < rounds; r++ {
				inst, err := m.Instantiate(context.Background(), &engine.InstanceConfig{})
				if err != nil {
					errs <- err
					return
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { // cancel at about the moment the call returns
					for k := 0; k < r%7; k++ {
						runtime.Gosched()
					}
					cancel()
					close(done)
				}()
				res, err := inst.Call(ctx, "add", 1, 2)
				if err == nil && res[0] != 3 {
					errs <- fmt.Errorf("add: %v", res)
					return
				}
				if err != nil && !errors.Is(err, context.Canceled) {
					errs <- fmt.Errorf("add: %v", err)
					return
				}
				inst.Close(context.Background())
				<-done
			}
			errs <- nil
		}()
	}
	for g := 0; g < goroutines; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Traps read as wazero's do: the first line of the message says what the
// guest did ("wasm error: stack overflow"), whatever wasmtime puts before
// its reason (a backtrace).
func TestTrapReasons(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, &Config{MemoryLimitPages: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	wasm, err := wt.Wat2Wasm(`(module
  (memory 1)
  (table 1 funcref)
  (type $v (func))
  (func $deep (param i32) (result i32) (i32.add (call $deep (local.get 0)) (i32.const 1)))
  (func (export "recurse") (drop (call $deep (i32.const 0))))
  (func (export "unreachable") unreachable)
  (func (export "oob") (drop (i32.load (i32.const 0x7fffffff))))
  (func (export "div") (drop (i32.div_s (i32.const 1) (i32.const 0))))
  (func (export "overflow") (drop (i32.div_s (i32.const 0x80000000) (i32.const -1))))
  (func (export "null") (call_indirect (type $v) (i32.const 0)))
  (func (export "table") (call_indirect (type $v) (i32.const 5)))
  (func (export "convert") (drop (i32.trunc_f32_s (f32.const nan)))))`)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	cases := []struct{ export, want string }{
		{"recurse", "wasm error: stack overflow"},
		{"unreachable", "wasm error: unreachable"},
		{"oob", "wasm error: out of bounds memory access"},
		{"div", "wasm error: integer divide by zero"},
		{"overflow", "wasm error: integer overflow"},
		{"null", "wasm error: invalid table access"},
		{"table", "wasm error: invalid table access"},
		{"convert", "wasm error: invalid conversion to integer"},
	}
	for _, c := range cases {
		t.Run(c.export, func(t *testing.T) {
			inst, err := m.Instantiate(ctx, &engine.InstanceConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Close(ctx)
			_, err = inst.Call(ctx, c.export)
			var trap *engine.Trap
			if !errors.As(err, &trap) {
				t.Fatalf("got %v, want a trap", err)
			}
			if first, _, _ := strings.Cut(trap.Message, "\n"); first != c.want {
				t.Fatalf("first line %q, want %q (message %.2000q)", first, c.want, trap.Message)
			}
			if len(trap.Message) > 4096 {
				t.Fatalf("message of %d bytes: the backtrace is not bounded", len(trap.Message))
			}
		})
	}
}

// Package enginetest is the conformance suite of the engine interface:
// every implementation of engine.Engine runs it (see Run), so that the
// executor can count on the same behaviour from each: instantiation,
// memory and its bounds, deadlines, host calls and their arguments, and
// the reasons traps give.
package enginetest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// GuestWasm is the suite's guest, testdata/guest.wat compiled.
//
//go:embed testdata/guest.wasm
var GuestWasm []byte

// MemoryLimitPages is the memory limit the suite gives the engine.
const MemoryLimitPages = 4

const page = 65536

// NewEngine makes an engine of the implementation under test with cfg.
type NewEngine func(ctx context.Context, cfg *engine.Config) (engine.Engine, error)

// errBoom is what the host function fail returns.
var errBoom = errors.New("boom")

// callsKey is the context key of the host calls a test records.
type callsKey struct{}

// calls records what the host functions received.
type calls struct {
	mix []any
}

// hostFuncs are the guest's imports from module "host".
func hostFuncs() []engine.HostFunc {
	fn := func(name string, params, results []engine.ValueType, call func(context.Context, engine.Memory, []uint64) error) engine.HostFunc {
		return engine.HostFunc{Func: engine.Func{Name: name, Params: params, Results: results}, Call: call}
	}
	i32, i64, f32, f64 := engine.I32, engine.I64, engine.F32, engine.F64
	return []engine.HostFunc{
		// mix records its arguments, decoded, in the call's context and
		// returns their sum.
		fn("mix", []engine.ValueType{i32, i64, f32, f64}, []engine.ValueType{i64}, func(ctx context.Context, _ engine.Memory, stack []uint64) error {
			a, b := int32(stack[0]), int64(stack[1])
			c, d := math.Float32frombits(uint32(stack[2])), math.Float64frombits(stack[3])
			if rec, ok := ctx.Value(callsKey{}).(*calls); ok {
				rec.mix = []any{a, b, c, d}
			}
			stack[0] = uint64(int64(a) + b + int64(c) + int64(d))
			return nil
		}),
		// sum returns the sum of n bytes at ptr, or -1 when they are out
		// of bounds.
		fn("sum", []engine.ValueType{i32, i32}, []engine.ValueType{i32}, func(_ context.Context, mem engine.Memory, stack []uint64) error {
			b, ok := mem.Read(uint32(stack[0]), uint32(stack[1]))
			sum := int32(-1)
			if ok {
				sum = 0
				for _, x := range b {
					sum += int32(x)
				}
			}
			stack[0] = uint64(uint32(sum))
			return nil
		}),
		// fill writes n bytes 0xab at ptr; out of bounds, it ends the call.
		fn("fill", []engine.ValueType{i32, i32}, nil, func(_ context.Context, mem engine.Memory, stack []uint64) error {
			if !mem.Write(uint32(stack[0]), bytes.Repeat([]byte{0xab}, int(uint32(stack[1])))) {
				return errors.New("fill: out of bounds")
			}
			return nil
		}),
		fn("fail", nil, nil, func(context.Context, engine.Memory, []uint64) error { return errBoom }),
	}
}

// bundle is what each test gets: the compiled guest.
type bundle struct {
	eng engine.Engine
	mod engine.Module
}

// Run runs the suite on the engines newEngine makes.
func Run(t *testing.T, newEngine NewEngine) {
	t.Helper()
	ctx := context.Background()
	eng, err := newEngine(ctx, &engine.Config{MemoryLimitPages: MemoryLimitPages, HostModule: "host", HostFuncs: hostFuncs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, GuestWasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.Close(ctx) })
	b := &bundle{eng: eng, mod: mod}
	for _, group := range []struct {
		name  string
		tests map[string]func(*testing.T, *bundle)
	}{
		{"compile", map[string]func(*testing.T, *bundle){
			"lists the guest's imports and exports with their types":   testShape,
			"refuses bytes that are not wasm as ErrInvalidModule":      func(t *testing.T, _ *bundle) { testInvalidBytes(t, eng) },
			"refuses a module that imports a function nobody provides": func(t *testing.T, _ *bundle) { testUnknownImport(t, eng) },
		}},
		{"instantiate", map[string]func(*testing.T, *bundle){
			"runs the start section, once per instance":          testStart,
			"gives every instance memory and globals of its own": testIndependentInstances,
			"reads and sets exported globals, mutable only":      testGlobals,
		}},
		{"memory", map[string]func(*testing.T, *bundle){
			"grows up to the memory limit and no further":               testGrow,
			"is readable and writable between calls, within its bounds": testMemoryBetweenCalls,
		}},
		{"deadline", map[string]func(*testing.T, *bundle){
			"stops a spinning guest when its deadline passes":      testDeadline,
			"stops a spinning guest when its context is cancelled": testCancel,
			"does not start a guest whose context is already done": testDoneBefore,
		}},
		{"host calls", map[string]func(*testing.T, *bundle){
			"pass every number type both ways, and the call's context": testMix,
			"return multiple values of every number type":              testResults,
			"see the guest's memory, within its bounds":                testHostMemory,
			"end the guest call with the host function's error":        testHostError,
			"give proc_exit's code as an ExitError":                    testExit,
			"write WASI stdout to the instance's writer":               testStdout,
			"refuse an export that does not exist":                     testNoSuchExport,
		}},
		{"traps", map[string]func(*testing.T, *bundle){
			"say why the guest trapped": testTraps,
		}},
		{"recycled instances", map[string]func(*testing.T, *bundle){
			"start as new ones, and a closed handle reaches nothing": testRecycle,
		}},
	} {
		t.Run(group.name, func(t *testing.T) {
			for name, test := range group.tests {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					test(t, b)
				})
			}
		})
	}
}

// instance returns a fresh instance of the guest, closed with the test.
func (b *bundle) instance(t *testing.T, cfg *engine.InstanceConfig) engine.Instance {
	t.Helper()
	if cfg == nil {
		cfg = &engine.InstanceConfig{}
	}
	inst, err := b.mod.Instantiate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close(context.Background()) })
	return inst
}

// call calls an export that must succeed.
func call(t *testing.T, inst engine.Instance, name string, args ...uint64) []uint64 {
	t.Helper()
	res, err := inst.Call(context.Background(), name, args...)
	if err != nil {
		t.Fatalf("%s%v: %v", name, args, err)
	}
	return res
}

func i32(v int32) uint64 { return uint64(uint32(v)) }

func testShape(t *testing.T, b *bundle) {
	i32, i64, f32, f64 := engine.I32, engine.I64, engine.F32, engine.F64
	find := func(fs []engine.Func, module, name string) *engine.Func {
		for i := range fs {
			if fs[i].Module == module && fs[i].Name == name {
				return &fs[i]
			}
		}
		return nil
	}
	for _, want := range []engine.Func{
		{Module: "host", Name: "mix", Params: []engine.ValueType{i32, i64, f32, f64}, Results: []engine.ValueType{i64}},
		{Module: "host", Name: "fail"},
		{Module: engine.WASIModule, Name: "proc_exit", Params: []engine.ValueType{i32}},
	} {
		got := find(b.mod.Imports(), want.Module, want.Name)
		if got == nil || got.Signature() != want.Signature() {
			t.Errorf("import %s.%s: %v, want %s", want.Module, want.Name, got, want.Signature())
		}
	}
	if n := len(b.mod.Imports()); n != 6 {
		t.Errorf("%d imports, want 6: %v", n, b.mod.Imports())
	}
	for _, want := range []engine.Func{
		{Name: "mix", Params: []engine.ValueType{i32, i64, f32, f64}, Results: []engine.ValueType{i64}},
		{Name: "results", Params: []engine.ValueType{i32}, Results: []engine.ValueType{i32, i64, f32, f64}},
		{Name: "spin"},
	} {
		got := find(b.mod.Exports(), "", want.Name)
		if got == nil || got.Signature() != want.Signature() {
			t.Errorf("export %s: %v, want %s", want.Name, got, want.Signature())
		}
	}
	if n := len(b.mod.Exports()); n != 17 {
		t.Errorf("%d exported functions, want 17: %v", n, b.mod.Exports())
	}
	if !b.mod.ExportsMemory("memory") || b.mod.ExportsMemory("nope") {
		t.Errorf("ExportsMemory: memory %v, nope %v", b.mod.ExportsMemory("memory"), b.mod.ExportsMemory("nope"))
	}
}

func testInvalidBytes(t *testing.T, eng engine.Engine) {
	for _, wasm := range [][]byte{nil, []byte("not wasm"), GuestWasm[:len(GuestWasm)/2]} {
		if _, err := eng.Compile(context.Background(), wasm); !errors.Is(err, engine.ErrInvalidModule) {
			t.Errorf("Compile of %d bytes that are not a module: %v, want ErrInvalidModule", len(wasm), err)
		}
	}
}

// importsNope is a module that imports host.nope, a function of type
// () -> (), and nothing else.
var importsNope = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
	0x02, 0x0d, 0x01, 0x04, 'h', 'o', 's', 't', 0x04, 'n', 'o', 'p', 'e', 0x00, 0x00, // import section
}

func testUnknownImport(t *testing.T, eng engine.Engine) {
	ctx := context.Background()
	mod, err := eng.Compile(ctx, importsNope)
	if err != nil {
		return // refused at compile time
	}
	defer mod.Close(ctx)
	if inst, err := mod.Instantiate(ctx, &engine.InstanceConfig{}); err == nil {
		inst.Close(ctx)
		t.Fatal("a module that imports host.nope was instantiated")
	}
}

func testStart(t *testing.T, b *bundle) {
	for range 2 {
		if n, ok := b.instance(t, nil).Global("starts"); !ok || n != 1 {
			t.Errorf("global starts after instantiation: %d %v, want 1", n, ok)
		}
	}
}

func testIndependentInstances(t *testing.T, b *bundle) {
	one, two := b.instance(t, nil), b.instance(t, nil)
	call(t, one, "store", 16, 'J')
	one.SetGlobal("counter", 9)
	if got := call(t, two, "load", 16); got[0] != 'h' {
		t.Errorf("the other instance's memory at 16 is %q, want the data segment's h", rune(got[0]))
	}
	if got := call(t, one, "load", 16); got[0] != 'J' {
		t.Errorf("memory at 16 is %q after a store of J", rune(got[0]))
	}
	if n, _ := two.Global("counter"); n != 0 {
		t.Errorf("the other instance's counter is %d, want 0", n)
	}
}

func testGlobals(t *testing.T, b *bundle) {
	inst := b.instance(t, nil)
	if !inst.SetGlobal("counter", math.MaxUint64-1) {
		t.Fatal("SetGlobal of a mutable i64 failed")
	}
	if n, ok := inst.Global("counter"); !ok || n != math.MaxUint64-1 {
		t.Errorf("counter after SetGlobal: %d %v", n, ok)
	}
	if n, ok := inst.Global("seven"); !ok || n != 7 {
		t.Errorf("immutable global seven: %d %v", n, ok)
	}
	if inst.SetGlobal("seven", 8) {
		t.Error("SetGlobal of an immutable global succeeded")
	}
	if _, ok := inst.Global("nope"); ok || inst.SetGlobal("nope", 1) {
		t.Error("a global that does not exist was read or set")
	}
}

func testGrow(t *testing.T, b *bundle) {
	inst := b.instance(t, nil)
	for _, step := range []struct {
		pages uint64
		want  int32
	}{{2, 1}, {MemoryLimitPages, -1}, {1, 3}, {1, -1}, {0, MemoryLimitPages}} {
		if got := call(t, inst, "grow", step.pages); int32(got[0]) != step.want {
			t.Errorf("memory.grow %d: %d, want %d", step.pages, int32(got[0]), step.want)
		}
	}
	if got := call(t, inst, "size"); got[0] != MemoryLimitPages || inst.MemorySize() != MemoryLimitPages*page {
		t.Errorf("memory.size %d pages, MemorySize %d bytes; want %d pages", got[0], inst.MemorySize(), MemoryLimitPages)
	}
	if inst.Memory().Grow(1) {
		t.Error("Memory.Grow beyond the limit succeeded")
	}
	call(t, inst, "store", MemoryLimitPages*page-1, 1) // the last byte is in bounds
}

func testMemoryBetweenCalls(t *testing.T, b *bundle) {
	inst := b.instance(t, nil)
	mem := inst.Memory()
	if got, ok := mem.Read(16, 5); !ok || string(got) != "hello" {
		t.Errorf("Read(16, 5): %q %v", got, ok)
	}
	if !mem.Write(page-2, []byte("ok")) {
		t.Error("Write of the last two bytes failed")
	}
	if got := call(t, inst, "load", page-1); got[0] != 'k' {
		t.Errorf("the guest reads %q where the host wrote k", rune(got[0]))
	}
	if mem.Write(page-1, []byte("no")) {
		t.Error("Write across the end of memory succeeded")
	}
	if _, ok := mem.Read(page-4, 5); ok {
		t.Error("Read across the end of memory succeeded")
	}
	if !mem.Grow(1) || mem.Size() != 2*page || inst.MemorySize() != 2*page {
		t.Errorf("after Grow(1): Size %d, MemorySize %d, want %d", mem.Size(), inst.MemorySize(), 2*page)
	}
	if !mem.Write(page, []byte("x")) {
		t.Error("Write to the grown page failed")
	}
}

// spinStopped calls spin with ctx and checks that it stops soon with an
// error that is not a trap and satisfies is.
func spinStopped(t *testing.T, b *bundle, ctx context.Context, is func(error) bool) {
	t.Helper()
	inst := b.instance(t, nil)
	start := time.Now()
	_, err := inst.Call(ctx, "spin")
	var trap *engine.Trap
	switch {
	case err == nil:
		t.Fatal("spin returned")
	case errors.As(err, &trap):
		t.Errorf("spin stopped with a trap: %v", err)
	case !is(err):
		t.Errorf("spin stopped with %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("spin stopped after %s", d)
	}
}

func testDeadline(t *testing.T, b *bundle) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	spinStopped(t, b, ctx, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) })
}

func testCancel(t *testing.T, b *bundle) {
	cause := errors.New("the test cancelled it")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	spinStopped(t, b, ctx, func(err error) bool { return errors.Is(err, cause) })
}

func testDoneBefore(t *testing.T, b *bundle) {
	inst := b.instance(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := inst.Call(ctx, "store", 0, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("a call with a done context: %v, want context.Canceled", err)
	}
	if got, _ := inst.Memory().Read(0, 1); got[0] != 0 {
		t.Error("the guest ran with a done context")
	}
}

func testMix(t *testing.T, b *bundle) {
	inst := b.instance(t, nil)
	rec := &calls{}
	ctx := context.WithValue(context.Background(), callsKey{}, rec)
	res, err := inst.Call(ctx, "mix", i32(-2), uint64(1<<40), uint64(math.Float32bits(-1.5)), math.Float64bits(1e3+0.25))
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{int32(-2), int64(1 << 40), float32(-1.5), float64(1e3 + 0.25)}; !slices.Equal(rec.mix, want) {
		t.Errorf("the host function received %v, want %v", rec.mix, want)
	}
	if want := int64(-2 + 1<<40 - 1 + 1000); int64(res[0]) != want {
		t.Errorf("mix returned %d, want %d", int64(res[0]), want)
	}
}

func testResults(t *testing.T, b *bundle) {
	res := call(t, b.instance(t, nil), "results", i32(-7))
	if len(res) != 4 || int32(res[0]) != -7 || int64(res[1]) != -7 ||
		math.Float32frombits(uint32(res[2])) != -7 || math.Float64frombits(res[3]) != -7 {
		t.Errorf("results(-7): %#x, want -7 as i32, i64, f32 and f64", res)
	}
}

func testHostMemory(t *testing.T, b *bundle) {
	inst := b.instance(t, nil)
	if got := call(t, inst, "sum", 16, 5); int32(got[0]) != 'h'+'e'+'l'+'l'+'o' {
		t.Errorf("the host summed %d over hello", int32(got[0]))
	}
	if got := call(t, inst, "sum", page-2, 3); int32(got[0]) != -1 {
		t.Errorf("a read across the end of memory gave %d, want -1 (out of bounds)", int32(got[0]))
	}
	call(t, inst, "fill", 100, 3)
	if got, _ := inst.Memory().Read(99, 5); !bytes.Equal(got, []byte{0, 0xab, 0xab, 0xab, 0}) {
		t.Errorf("after the host's fill of 3 bytes at 100: % x", got)
	}
	if _, err := inst.Call(context.Background(), "fill", page-1, 2); err == nil {
		t.Error("a host write across the end of memory did not end the call")
	}
}

func testHostError(t *testing.T, b *bundle) {
	_, err := b.instance(t, nil).Call(context.Background(), "fail")
	var trap *engine.Trap
	if !errors.Is(err, errBoom) || !errors.As(err, &trap) {
		t.Errorf("a host function's error: %v, want a *engine.Trap wrapping it", err)
	}
}

func testExit(t *testing.T, b *bundle) {
	_, err := b.instance(t, nil).Call(context.Background(), "exit", 3)
	var exit *engine.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Errorf("proc_exit(3): %v, want *engine.ExitError with code 3", err)
	}
}

func testStdout(t *testing.T, b *bundle) {
	var stdout bytes.Buffer
	inst := b.instance(t, &engine.InstanceConfig{Stdout: &stdout})
	if errno := call(t, inst, "hello"); errno[0] != 0 || stdout.String() != "hello\n" {
		t.Errorf("fd_write to stdout: errno %d, stdout %q", errno[0], stdout.String())
	}
	// Without a writer, output is discarded.
	if errno := call(t, b.instance(t, nil), "hello"); errno[0] != 0 {
		t.Errorf("fd_write to a discarded stdout: errno %d", errno[0])
	}
}

func testNoSuchExport(t *testing.T, b *bundle) {
	if _, err := b.instance(t, nil).Call(context.Background(), "nope"); err == nil {
		t.Error("a call of an export that does not exist succeeded")
	}
}

func testTraps(t *testing.T, b *bundle) {
	for _, tc := range []struct {
		name, export string
		args         []uint64
		reason       string
	}{
		{"unreachable", "unreachable", nil, "unreachable"},
		{"a division by zero", "divide", []uint64{1, 0}, "integer divide by zero"},
		{"the one overflowing division", "divide", []uint64{i32(math.MinInt32), i32(-1)}, "integer overflow"},
		{"NaN to an integer", "truncate", []uint64{math.Float64bits(math.NaN())}, "invalid conversion to integer"},
		{"a float too large for an integer", "truncate", []uint64{math.Float64bits(1e10)}, "integer overflow"},
		{"a load past the end of memory", "load", []uint64{page}, "out of bounds memory access"},
		{"endless recursion", "recurse", nil, "stack overflow"},
		{"an indirect call of the wrong type", "indirect", []uint64{0}, "indirect call type mismatch"},
		{"an indirect call past the table", "indirect", []uint64{5}, "invalid table access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.instance(t, nil).Call(context.Background(), tc.export, tc.args...)
			var trap *engine.Trap
			if !errors.As(err, &trap) {
				t.Fatalf("%s%v: %v, want a *engine.Trap", tc.export, tc.args, err)
			}
			if want := "wasm error: " + tc.reason; !strings.HasPrefix(trap.Message, want) {
				t.Errorf("%s%v: trap %q, want it to start with %q", tc.export, tc.args, firstLine(trap.Message), want)
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// testRecycle checks engine.Recycler on a module of its own: a recycled
// instance starts exactly as a new one (memory and the globals named put
// back, whatever the last user did), one whose memory grew is handed out
// only by Grown for its size, and a closed handle reaches nothing of the
// instance's next user.
func testRecycle(t *testing.T, b *bundle) {
	ctx := context.Background()
	mod, err := b.eng.Compile(ctx, GuestWasm)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	r, ok := mod.(engine.Recycler)
	if !ok {
		t.Fatal("the engine's modules are not engine.Recyclers")
	}
	r.Recycle([]string{"starts", "counter"})
	instantiate := func() engine.Instance {
		t.Helper()
		inst, err := mod.Instantiate(ctx, &engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return inst
	}
	fresh := func(inst engine.Instance, pages uint32) {
		t.Helper()
		if inst.MemorySize() != pages*page {
			t.Fatalf("memory of %d bytes, want %d pages", inst.MemorySize(), pages)
		}
		if got := call(t, inst, "load", 16); got[0] != 'h' {
			t.Fatalf("memory at 16: %q, want the data segment's h", rune(got[0]))
		}
		for _, at := range []uint64{100, page - 1, uint64(pages)*page - 1} {
			if got := call(t, inst, "load", at); got[0] != 0 {
				t.Fatalf("memory at %d: %d, want 0", at, got[0])
			}
		}
		if n, _ := inst.Global("counter"); n != 0 {
			t.Fatalf("counter %d, want 0", n)
		}
		if n, _ := inst.Global("starts"); n != 1 {
			t.Fatalf("starts %d, want the start function's 1", n)
		}
	}
	first := instantiate()
	fresh(first, 1)
	call(t, first, "store", 16, 88)
	call(t, first, "store", 100, 7)
	call(t, first, "store", page-1, 9)
	first.SetGlobal("counter", 9)
	first.Close(ctx)
	again := instantiate()
	fresh(again, 1)
	if _, err := first.Call(ctx, "load", 16); err == nil {
		t.Fatal("a closed handle's call succeeded")
	}
	if first.Memory().Write(16, []byte("x")) || first.SetGlobal("counter", 1) || first.MemorySize() != 0 {
		t.Fatal("a closed handle reached the recycled instance")
	}
	fresh(again, 1)

	call(t, again, "grow", 1)
	call(t, again, "store", page+100, 5)
	again.Close(ctx)
	third := instantiate()
	fresh(third, 1) // the grown one is not handed out as a new one
	defer third.Close(ctx)
	if r.Grown(3) != nil {
		t.Fatal("Grown(3) handed out an instance of another size")
	}
	grown := r.Grown(2)
	if grown == nil {
		t.Fatal("Grown(2) gave nothing: the grown instance was not kept")
	}
	defer grown.Close(ctx)
	fresh(grown, 2)
	if got := call(t, grown, "load", page+100); got[0] != 0 {
		t.Fatalf("the grown page holds %d, want 0", got[0])
	}
}

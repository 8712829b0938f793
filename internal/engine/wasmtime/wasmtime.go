//go:build cgo

// Package wasmtime implements engine.Engine with wasmtime (through
// wasmtime-go, which needs cgo): compiled ahead to native code, faster to
// instantiate and to run than wazero, selected with --engine wasmtime.
//
// Host functions given under engine.WASIModule replace wasmtime's own WASI
// functions of the same name (the linker allows shadowing), as on wazero,
// so that both engines serve clocks and randomness alike.
//
// Differences from the wazero engine, all invisible to guests that follow
// abi/ABI.md:
//   - WASI stdout and stderr can only be files in wasmtime-go: each instance
//     writes them to an anonymous in-memory file (memfd on Linux, an unlinked
//     temporary file elsewhere), and what is new is copied to
//     InstanceConfig.Stdout/Stderr after every Call (at most maxOutput bytes
//     per Call and stream), so output arrives per call, not per write. The
//     file is in memory and grows until the Call returns: the executor
//     serves fd_write itself and gives no streams here, so its instances
//     have no such file.
//   - A trap's message is rewritten to read as wazero's: the reason first
//     ("wasm error: stack overflow", in wazero's words), then at most
//     maxFrames wasm frames.
package wasmtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	wt "github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// Version is the wasmtime-go version this package is built with; it keys
// the compile cache (wasmtime also refuses incompatible serialized code).
const Version = "v39.0.1"

// tick is the epoch period: the granularity of stopping a guest.
const tick = 10 * time.Millisecond

// maxOutput bounds what one Call copies from a guest's stdout or stderr.
const maxOutput = 1 << 20

// Config configures the engine; see engine.Config.
type Config = engine.Config

// Engine is the wasmtime engine.
type Engine struct {
	eng      *wt.Engine
	linker   *wt.Linker
	memLimit int64
	cacheDir string
	kept     *engine.Budget // of recycled instances' memories

	stop     chan struct{}
	ticker   sync.WaitGroup
	closeMu  sync.Once
	closeErr error
}

var _ engine.Engine = (*Engine)(nil)

// New creates a wasmtime engine with WASI and the host functions, and starts
// its epoch ticker.
func New(ctx context.Context, cfg *Config) (*Engine, error) {
	pages := cfg.MemoryLimitPages
	if pages == 0 {
		pages = 4096
	}
	wcfg := wt.NewConfig()
	wcfg.SetEpochInterruption(true)
	eng := wt.NewEngineWithConfig(wcfg)
	linker := wt.NewLinker(eng)
	if err := linker.DefineWasi(); err != nil {
		linker.Close()
		eng.Close()
		return nil, fmt.Errorf("wasmtime: define wasi: %w", err)
	}
	// The host's WASI functions replace wasmtime's of the same name.
	linker.AllowShadowing(true)
	for _, hf := range cfg.HostFuncs {
		ty := wt.NewFuncType(toValTypes(hf.Params), toValTypes(hf.Results))
		if err := linker.FuncNew(cfg.ModuleOf(hf), hf.Name, ty, adapt(hf)); err != nil {
			linker.Close()
			eng.Close()
			return nil, fmt.Errorf("wasmtime: define %s.%s: %w", cfg.ModuleOf(hf), hf.Name, err)
		}
	}
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
			linker.Close()
			eng.Close()
			return nil, fmt.Errorf("wasmtime: compile cache in %s: %w", cfg.CacheDir, err)
		}
	}
	e := &Engine{
		eng:      eng,
		linker:   linker,
		memLimit: int64(pages) * 65536,
		cacheDir: cfg.CacheDir,
		kept:     engine.NewBudget(engine.KeptMemoryLimit),
		stop:     make(chan struct{}),
	}
	e.ticker.Add(1)
	go e.tick()
	return e, nil
}

// tick advances the engine's epoch: each store's deadline is one tick ahead,
// and the deadline callback decides whether its guest goes on.
func (e *Engine) tick() {
	defer e.ticker.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.eng.IncrementEpoch()
		}
	}
}

// Name returns "wasmtime".
func (e *Engine) Name() string { return "wasmtime" }

// Close stops the ticker and releases the engine. Modules and instances
// must be closed first.
func (e *Engine) Close(ctx context.Context) error {
	e.closeMu.Do(func() {
		close(e.stop)
		e.ticker.Wait()
		e.linker.Close()
		e.eng.Close()
	})
	return e.closeErr
}

// Compile compiles wasm, or loads its serialized code from the cache.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (engine.Module, error) {
	var path string
	if e.cacheDir != "" {
		sum := sha256.Sum256(wasm)
		path = filepath.Join(e.cacheDir, "wasmtime-"+Version+"-"+hex.EncodeToString(sum[:])+".cwasm")
		if b, err := os.ReadFile(path); err == nil {
			// The cache directory is trusted: deserializing runs its code.
			if m, err := wt.NewModuleDeserialize(e.eng, b); err == nil {
				return newModule(e, m), nil
			}
			// Stale or corrupt: compile again and overwrite it.
		}
	}
	m, err := wt.NewModule(e.eng, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	if path != "" {
		if b, err := m.Serialize(); err == nil {
			writeAtomic(path, b) // best effort: a failed write costs a compile next time
		}
	}
	return newModule(e, m), nil
}

func writeAtomic(path string, b []byte) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}

type module struct {
	e       *Engine
	m       *wt.Module
	imports []engine.Func
	exports map[string]engine.Func
	mems    map[string]bool
	recycle *engine.InstancePool // nil: instances are closed, not recycled
}

var _ engine.Recycler = (*module)(nil)

// Grown implements engine.Recycler.
func (m *module) Grown(pages uint32) engine.Instance {
	if m.recycle == nil {
		return nil
	}
	return m.recycle.Take(int(pages) * 65536)
}

// Recycle implements engine.Recycler. A new wasmtime instance maps its
// memory image copy-on-write: every page the guest writes is a page fault,
// which costs about as much as copying the page ten times over on the
// virtual machines we measured, and the store costs its own making and
// closing. A recycled instance's pages are its own already.
func (m *module) Recycle(globals []string) {
	if m.recycle == nil {
		m.recycle = engine.NewInstancePool(m.e.kept, globals)
	}
}

func newModule(e *Engine, m *wt.Module) *module {
	mod := &module{e: e, m: m, exports: map[string]engine.Func{}, mems: map[string]bool{}}
	for _, im := range m.Imports() {
		ft := im.Type().FuncType()
		if ft == nil {
			continue
		}
		name := ""
		if n := im.Name(); n != nil {
			name = *n
		}
		mod.imports = append(mod.imports, engine.Func{Module: im.Module(), Name: name, Params: fromValTypes(ft.Params()), Results: fromValTypes(ft.Results())})
	}
	for _, ex := range m.Exports() {
		ty := ex.Type()
		if ft := ty.FuncType(); ft != nil {
			mod.exports[ex.Name()] = engine.Func{Name: ex.Name(), Params: fromValTypes(ft.Params()), Results: fromValTypes(ft.Results())}
		} else if ty.MemoryType() != nil {
			mod.mems[ex.Name()] = true
		}
	}
	return mod
}

func (m *module) Imports() []engine.Func { return append([]engine.Func(nil), m.imports...) }

func (m *module) Exports() []engine.Func {
	fs := make([]engine.Func, 0, len(m.exports))
	for _, f := range m.exports {
		fs = append(fs, f)
	}
	return fs
}

func (m *module) ExportsMemory(name string) bool { return m.mems[name] }

func (m *module) Close(ctx context.Context) error {
	if m.recycle != nil {
		m.recycle.Close()
	}
	m.m.Close()
	return nil
}

func (m *module) Instantiate(ctx context.Context, cfg *engine.InstanceConfig) (engine.Instance, error) {
	return engine.Instantiate(m.recycle, cfg, func() (engine.Recyclable, error) { return m.instantiate(ctx, cfg) })
}

// instantiate makes a new instance in a new store.
func (m *module) instantiate(ctx context.Context, cfg *engine.InstanceConfig) (_ *instance, err error) {
	i := &instance{mod: m, flag: newStopFlag(), funcs: map[string]*wt.Func{}}
	i.store = wt.NewStoreWithData(m.e.eng, i)
	defer func() {
		if err != nil {
			i.close()
		}
	}()
	i.store.Limiter(m.e.memLimit, -1, -1, -1, -1)
	installEpochCallback(i.store, i.flag)

	wasi := wt.NewWasiConfig() // no args, env, preopens or stdin
	if cfg.Stdout != nil && cfg.Stdout != io.Discard {
		if i.stdout, err = newOutput(wasi, "stdout", cfg.Stdout); err != nil {
			wasi.Close()
			return nil, fmt.Errorf("wasmtime: stdout: %w", err)
		}
	}
	if cfg.Stderr != nil && cfg.Stderr != io.Discard {
		if i.stderr, err = newOutput(wasi, "stderr", cfg.Stderr); err != nil {
			wasi.Close()
			return nil, fmt.Errorf("wasmtime: stderr: %w", err)
		}
	}
	i.store.SetWasi(wasi)

	// The wasm start section runs here: guard it like a Call.
	err = i.guard(ctx, func() error {
		inst, err := m.e.linker.Instantiate(i.store, m.m)
		i.inst = inst
		return err
	})
	if err != nil {
		return nil, err
	}
	if ex := i.inst.GetExport(i.store, "memory"); ex != nil {
		i.memory = ex.Memory()
	}
	return i, nil
}

type output struct {
	f   *os.File
	off int64
	w   io.Writer
}

func newOutput(wasi *wt.WasiConfig, name string, w io.Writer) (*output, error) {
	f, path, err := newOutFile(name)
	if err != nil {
		return nil, err
	}
	var serr error
	if name == "stdout" {
		serr = wasi.SetStdoutFile(path)
	} else {
		serr = wasi.SetStderrFile(path)
	}
	doneOpening(path)
	if serr != nil {
		f.Close()
		return nil, serr
	}
	return &output{f: f, w: w}, nil
}

// flush copies what the guest wrote since the last flush, up to maxOutput.
func (o *output) flush() {
	if o == nil {
		return
	}
	st, err := o.f.Stat()
	if err != nil || st.Size() <= o.off {
		return
	}
	start := o.off
	if st.Size()-start > maxOutput {
		start = st.Size() - maxOutput // keep the tail
	}
	io.Copy(o.w, io.NewSectionReader(o.f, start, st.Size()-start))
	o.off = st.Size()
}

// instance is one instance in its own store. A module that recycles hands
// it out wrapped by its engine.InstancePool, a new handle each time.
type instance struct {
	mod    *module
	store  *wt.Store
	inst   *wt.Instance
	memory *wt.Memory
	funcs  map[string]*wt.Func
	flag   stopFlag
	closed bool

	flagMu  sync.Mutex // guards setting the flag against freeing it
	flagGen uint64     // the Call a setter belongs to

	stdout, stderr *output
	stack          []uint64 // host functions' arguments and results

	// Set for the duration of a Call: what host functions see.
	ctx     context.Context
	hostErr error // the error a host function ended the call with

	globals map[string]*exportedGlobal // looked up so far; nil: no such global
}

var _ engine.Recyclable = (*instance)(nil)

func (i *instance) Call(ctx context.Context, name string, args ...uint64) ([]uint64, error) {
	if i.closed {
		return nil, engine.ErrInstanceClosed
	}
	fn := i.funcs[name]
	if fn == nil {
		if ex := i.inst.GetExport(i.store, name); ex != nil {
			fn = ex.Func()
		}
		if fn == nil {
			return nil, fmt.Errorf("module does not export function %q", name)
		}
		i.funcs[name] = fn
	}
	sig, ok := i.mod.exports[name]
	if !ok || len(args) != len(sig.Params) {
		return nil, fmt.Errorf("function %q takes %d arguments, got %d", name, len(sig.Params), len(args))
	}
	params := make([]interface{}, len(args))
	for k, a := range args {
		params[k] = toVal(sig.Params[k], a).Get()
	}
	var res interface{}
	err := i.guard(ctx, func() error {
		var err error
		res, err = fn.Call(i.store, params...)
		return err
	})
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case nil:
		return nil, nil
	case []wt.Val:
		out := make([]uint64, len(r))
		for k, v := range r {
			out[k] = fromVal(v)
		}
		return out, nil
	default:
		return []uint64{fromGo(r)}, nil
	}
}

// guard runs f (which enters wasm) with ctx as the host functions' context,
// stopping the guest when ctx is done, and maps its error.
func (i *instance) guard(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("guest stopped: %w", context.Cause(ctx))
	}
	i.ctx, i.hostErr = ctx, nil
	// The stop flag is C memory that Close frees, and context.AfterFunc's
	// stop does not wait for a setter already running: setting and freeing
	// go under flagMu, and a setter of an earlier call does nothing.
	i.flagMu.Lock()
	i.flagGen++
	gen := i.flagGen
	i.flag.clear()
	i.flagMu.Unlock()
	i.store.SetEpochDeadline(1)
	stop := context.AfterFunc(ctx, func() {
		i.flagMu.Lock()
		defer i.flagMu.Unlock()
		if !i.closed && i.flagGen == gen {
			i.flag.set()
		}
	})
	err := f()
	stop()
	hostErr := i.hostErr
	i.ctx, i.hostErr = nil, nil
	i.stdout.flush()
	i.stderr.flush()
	if err == nil {
		return nil
	}
	return mapError(ctx, err, hostErr, i.flag.isSet())
}

// mapError turns wasmtime's errors into the engine's.
func mapError(ctx context.Context, err, hostErr error, stopped bool) error {
	if hostErr != nil {
		return &engine.Trap{Message: fmt.Sprintf("wasm error: host function ended the call: %v", hostErr), Err: hostErr}
	}
	if stopped && ctx.Err() != nil {
		return fmt.Errorf("guest stopped: %w", context.Cause(ctx))
	}
	var werr *wt.Error
	if errors.As(err, &werr) {
		if code, ok := werr.ExitStatus(); ok {
			return &engine.ExitError{Code: uint32(code)}
		}
	}
	// wasmtime's message is "error while executing at wasm backtrace:",
	// the backtrace (one line per frame: 16,000 after a deep recursion),
	// then the cause. Put the reason first, in wazero's words for a trap,
	// and keep the first frames.
	msg := err.Error()
	frames, cause := backtrace(msg)
	reason := cause
	var trap *wt.Trap
	if errors.As(err, &trap) {
		code := trap.Code()
		if code != nil && *code == wt.Interrupt && ctx.Err() != nil {
			return fmt.Errorf("guest stopped: %w", context.Cause(ctx))
		}
		if code != nil {
			if r, ok := trapReasons[*code]; ok {
				reason = r
			}
		}
	}
	if reason == "" {
		reason, _, _ = strings.Cut(msg, "\n")
	}
	if frames != "" {
		reason += "\n" + frames
	}
	return &engine.Trap{Message: "wasm error: " + reason, Err: err}
}

// trapReasons are wazero's words for each trap, so that a guest fault
// reads the same on both engines.
var trapReasons = map[wt.TrapCode]string{
	wt.StackOverflow:          "stack overflow",
	wt.MemoryOutOfBounds:      "out of bounds memory access",
	wt.HeapMisaligned:         "unaligned atomic",
	wt.TableOutOfBounds:       "invalid table access",
	wt.IndirectCallToNull:     "invalid table access",
	wt.BadSignature:           "indirect call type mismatch",
	wt.IntegerOverflow:        "integer overflow",
	wt.IntegerDivisionByZero:  "integer divide by zero",
	wt.BadConversionToInteger: "invalid conversion to integer",
	wt.UnreachableCodeReached: "unreachable",
	wt.Interrupt:              "interrupted",
	wt.OutOfFuel:              "out of fuel",
}

// maxFrames bounds the wasm frames a trap's message keeps.
const maxFrames = 32

// backtrace splits a wasmtime error message into its wasm frames (at
// most maxFrames of them, as "wasm stack trace:" and a line each) and its
// cause, on one line.
func backtrace(msg string) (frames, cause string) {
	head, rest, found := strings.Cut(msg, "\n\nCaused by:\n")
	if !found {
		return "", ""
	}
	rest, _, _ = strings.Cut(rest, "\n\nStack backtrace:")
	// The cause is a numbered chain ("0: memory fault at ...", "1: wasm
	// trap: ..."): its last link is the root.
	lines := strings.Split(strings.TrimSpace(rest), "\n")
	cause = strings.TrimSpace(lines[len(lines)-1])
	if i := strings.Index(cause, ": "); i > 0 && strings.Trim(cause[:i], "0123456789") == "" {
		cause = cause[i+2:]
	}
	lines = strings.Split(head, "\n")
	if strings.HasPrefix(lines[0], "error while executing") {
		lines = lines[1:]
	}
	if n := len(lines) - maxFrames; n > 0 {
		lines = append(lines[:maxFrames], fmt.Sprintf("    ... %d more frames", n))
	}
	return "wasm stack trace:\n" + strings.Join(lines, "\n"), cause
}

func (i *instance) MemorySize() uint32 {
	if i.memory == nil || i.closed {
		return 0
	}
	return uint32(i.memory.DataSize(i.store))
}

func (i *instance) Memory() engine.Memory { return storeMemory{i: i} }

func (i *instance) Close(context.Context) error {
	i.close()
	return nil
}

// Reusable implements engine.Recyclable.
func (i *instance) Reusable() bool { return !i.closed && i.stdout == nil && i.stderr == nil }

// storeMemory is the exported memory outside a host call, through the
// instance's store; nothing once the instance is closed.
type storeMemory struct{ i *instance }

func (m storeMemory) mem() memory {
	if m.i.closed {
		return memory{}
	}
	return memory{caller: m.i.store, m: m.i.memory}
}

func (m storeMemory) Read(ptr, n uint32) ([]byte, bool) { return m.mem().Read(ptr, n) }

func (m storeMemory) Write(ptr uint32, b []byte) bool { return m.mem().Write(ptr, b) }

func (m storeMemory) Size() uint32 { return m.mem().Size() }

func (m storeMemory) Grow(pages uint32) bool { return m.mem().Grow(pages) }

func (m storeMemory) Bytes() []byte { return m.mem().data() }

// exportedGlobal is an exported global of an instance, looked up once:
// wasmtime-go makes a new type object, with a finalizer, on every look at a
// global's type.
type exportedGlobal struct {
	g       *wt.Global
	kind    engine.ValueType // Other: not a number
	mutable bool
}

func (i *instance) global(name string) *exportedGlobal {
	if i.closed {
		return nil
	}
	if g, ok := i.globals[name]; ok {
		return g
	}
	var eg *exportedGlobal
	if ex := i.inst.GetExport(i.store, name); ex != nil && ex.Global() != nil {
		g := ex.Global()
		ty := g.Type(i.store)
		kind, _ := fromValKind(ty.Content().Kind())
		eg = &exportedGlobal{g: g, kind: kind, mutable: ty.Mutable()}
	}
	if i.globals == nil {
		i.globals = map[string]*exportedGlobal{}
	}
	i.globals[name] = eg
	return eg
}

func (i *instance) Global(name string) (uint64, bool) {
	g := i.global(name)
	if g == nil || g.kind == engine.Other {
		return 0, false
	}
	return fromVal(g.g.Get(i.store)), true
}

func (i *instance) SetGlobal(name string, bits uint64) bool {
	g := i.global(name)
	if g == nil || g.kind == engine.Other || !g.mutable {
		return false
	}
	return g.g.Set(i.store, toVal(g.kind, bits)) == nil
}

func fromValKind(k wt.ValKind) (engine.ValueType, bool) {
	switch k {
	case wt.KindI32:
		return engine.I32, true
	case wt.KindI64:
		return engine.I64, true
	case wt.KindF32:
		return engine.F32, true
	case wt.KindF64:
		return engine.F64, true
	}
	return engine.Other, false
}

// close releases the instance and its store.
func (i *instance) close() {
	if i.closed {
		return
	}
	i.flagMu.Lock()
	i.closed = true // no setter touches the flag from now on
	i.flagMu.Unlock()
	i.store.Close()
	i.flag.free()
	for _, o := range []*output{i.stdout, i.stderr} {
		if o != nil {
			o.f.Close()
		}
	}
}

// adapt turns a HostFunc into a wasmtime callback. An error (or a panic)
// from the host function is kept on the instance and ends the guest call
// with a trap; Call returns it as an *engine.Trap wrapping the error.
func adapt(hf engine.HostFunc) func(*wt.Caller, []wt.Val) ([]wt.Val, *wt.Trap) {
	n := max(len(hf.Params), len(hf.Results))
	return func(caller *wt.Caller, args []wt.Val) (results []wt.Val, trap *wt.Trap) {
		i, _ := caller.Data().(*instance)
		if i == nil {
			return nil, wt.NewTrap("wasmflow: host function called outside an instance")
		}
		defer func() {
			if r := recover(); r != nil {
				i.hostErr = fmt.Errorf("host function %s panicked: %v", hf.Name, r)
				results, trap = nil, wt.NewTrap(i.hostErr.Error())
			}
		}()
		// Host functions never call back into the guest, so one scratch
		// stack per instance serves every call.
		if cap(i.stack) < n {
			i.stack = make([]uint64, n)
		}
		stack := i.stack[:n]
		clear(stack)
		for k, a := range args {
			stack[k] = fromVal(a)
		}
		ctx := i.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		// The exported memory, found once instantiation is over; before
		// that (a start function calling the host) it is looked up.
		mem := memory{caller: caller, m: i.memory}
		if mem.m == nil {
			if ex := caller.GetExport("memory"); ex != nil {
				mem.m = ex.Memory()
			}
		}
		if err := hf.Call(ctx, mem, stack); err != nil {
			i.hostErr = err
			return nil, wt.NewTrap("wasmflow: host function " + hf.Name + " ended the call")
		}
		results = make([]wt.Val, len(hf.Results))
		for k, t := range hf.Results {
			results[k] = toVal(t, stack[k])
		}
		return results, nil
	}
}

type memory struct {
	caller wt.Storelike
	m      *wt.Memory
}

func (m memory) data() []byte {
	if m.m == nil {
		return nil
	}
	return m.m.UnsafeData(m.caller)
}

func (m memory) Read(ptr, n uint32) ([]byte, bool) {
	d := m.data()
	if uint64(ptr)+uint64(n) > uint64(len(d)) {
		return nil, false
	}
	// The view dies when memory grows: copy it.
	return append([]byte(nil), d[ptr:ptr+n]...), true
}

func (m memory) Write(ptr uint32, b []byte) bool {
	d := m.data()
	if uint64(ptr)+uint64(len(b)) > uint64(len(d)) {
		return false
	}
	copy(d[ptr:], b)
	return true
}

func (m memory) Grow(pages uint32) bool {
	if m.m == nil {
		return pages == 0
	}
	_, err := m.m.Grow(m.caller, uint64(pages))
	return err == nil
}

func (m memory) Bytes() []byte { return m.data() }

func (m memory) Size() uint32 {
	if m.m == nil {
		return 0
	}
	return uint32(m.m.DataSize(m.caller))
}

func toValTypes(ts []engine.ValueType) []*wt.ValType {
	out := make([]*wt.ValType, len(ts))
	for k, t := range ts {
		switch t {
		case engine.I32:
			out[k] = wt.NewValType(wt.KindI32)
		case engine.I64:
			out[k] = wt.NewValType(wt.KindI64)
		case engine.F32:
			out[k] = wt.NewValType(wt.KindF32)
		case engine.F64:
			out[k] = wt.NewValType(wt.KindF64)
		default:
			panic(fmt.Sprintf("wasmtime: host function value type %v", t))
		}
	}
	return out
}

func fromValTypes(ts []*wt.ValType) []engine.ValueType {
	out := make([]engine.ValueType, len(ts))
	for k, t := range ts {
		switch t.Kind() {
		case wt.KindI32:
			out[k] = engine.I32
		case wt.KindI64:
			out[k] = engine.I64
		case wt.KindF32:
			out[k] = engine.F32
		case wt.KindF64:
			out[k] = engine.F64
		default:
			out[k] = engine.Other
		}
	}
	return out
}

// Values travel as uint64 the way wazero encodes them: i32 zero-extended,
// floats as their IEEE bits.
func toVal(t engine.ValueType, v uint64) wt.Val {
	switch t {
	case engine.I64:
		return wt.ValI64(int64(v))
	case engine.F32:
		return wt.ValF32(math.Float32frombits(uint32(v)))
	case engine.F64:
		return wt.ValF64(math.Float64frombits(v))
	default:
		return wt.ValI32(int32(uint32(v)))
	}
}

func fromVal(v wt.Val) uint64 {
	switch v.Kind() {
	case wt.KindI32:
		return uint64(uint32(v.I32()))
	case wt.KindI64:
		return uint64(v.I64())
	case wt.KindF32:
		return uint64(math.Float32bits(v.F32()))
	case wt.KindF64:
		return math.Float64bits(v.F64())
	}
	return 0
}

func fromGo(r interface{}) uint64 {
	switch v := r.(type) {
	case int32:
		return uint64(uint32(v))
	case int64:
		return uint64(v)
	case float32:
		return uint64(math.Float32bits(v))
	case float64:
		return math.Float64bits(v)
	}
	return 0
}

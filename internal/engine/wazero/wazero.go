// Package wazero implements engine.Engine with wazero, a WebAssembly runtime
// in pure Go: the default engine, and the one that builds with CGO_ENABLED=0.
package wazero

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// Config configures the engine; see engine.Config.
type Config = engine.Config

// Engine is the wazero engine.
type Engine struct {
	rt   wazero.Runtime
	kept *engine.Budget // of released memories, for new instances
}

var _ engine.Engine = (*Engine)(nil)

// New creates a wazero runtime with WASI and the host functions, which
// compiles modules to native code.
func New(ctx context.Context, cfg *Config) (*Engine, error) {
	return newEngine(ctx, cfg, wazero.NewRuntimeConfig())
}

// NewInterpreter creates a wazero runtime that interprets modules instead
// of compiling them: compiling is many times faster (a Go guest's: 0.16 s
// against 1.3 s here) and running many times slower, the trade for code
// that runs once, such as a module's _initialize while its init image is
// made. It keeps no compile cache (Config.CacheDir is ignored).
func NewInterpreter(ctx context.Context, cfg *Config) (*Engine, error) {
	c := *cfg
	c.CacheDir = ""
	return newEngine(ctx, &c, wazero.NewRuntimeConfigInterpreter())
}

func newEngine(ctx context.Context, cfg *Config, rc wazero.RuntimeConfig) (*Engine, error) {
	pages := cfg.MemoryLimitPages
	if pages == 0 {
		pages = 4096
	}
	rc = rc.
		WithCoreFeatures(api.CoreFeaturesV2).
		WithMemoryLimitPages(pages).
		// Needed to stop guests that never return (deadlines, lost leases):
		// it costs some speed on tight loops, a price worth paying for
		// untrusted code. See BenchmarkActivation.
		WithCloseOnContextDone(true)
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wazero: compilation cache in %s: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateHostModules(ctx, rt, cfg); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &Engine{rt: rt, kept: engine.NewBudget(engine.KeptMemoryLimit)}, nil
}

// instantiateHostModules provides WASI, with the host's replacements for
// some of its functions, and the host's own modules.
func instantiateHostModules(ctx context.Context, rt wazero.Runtime, cfg *Config) error {
	builders := map[string]wazero.HostModuleBuilder{}
	wasi := rt.NewHostModuleBuilder(engine.WASIModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wasi)
	builders[engine.WASIModule] = wasi
	order := []string{engine.WASIModule}
	for _, hf := range cfg.HostFuncs {
		name := cfg.ModuleOf(hf)
		b, ok := builders[name]
		if !ok {
			b = rt.NewHostModuleBuilder(name)
			builders[name] = b
			order = append(order, name)
		}
		// A later export of a name replaces an earlier one: this is how
		// wazero lets a host replace a WASI function.
		b.NewFunctionBuilder().
			WithGoModuleFunction(adapt(hf), toAPI(hf.Params), toAPI(hf.Results)).
			Export(hf.Name)
	}
	for _, name := range order {
		if _, err := builders[name].Instantiate(ctx); err != nil {
			return fmt.Errorf("wazero: instantiate host module %q: %w", name, err)
		}
	}
	return nil
}

func adapt(hf engine.HostFunc) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		// The instance's memory view, made once per instance and passed
		// down by Call, so that a host call allocates nothing for it.
		mem, _ := ctx.Value(memoryKey{}).(*memory)
		if mem == nil || mem.m != mod.Memory() {
			mem = &memory{mod.Memory()} // a start function, or another caller
		}
		if err := hf.Call(ctx, mem, stack); err != nil {
			// wazero recovers this panic and returns it, wrapped, from the
			// export's Call: the guest call ends here.
			panic(err)
		}
	}
}

// Name returns "wazero".
func (e *Engine) Name() string { return "wazero" }

// Compile compiles wasm.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (engine.Module, error) {
	cm, err := e.rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	return &module{rt: e.rt, cm: cm, kept: e.kept}, nil
}

// CompileWithMemory implements engine.MemoryStarter: on Linux, instances
// map memory copy-on-write instead of copying it, so that starting one
// costs the pages it touches rather than a copy of the whole memory.
func (e *Engine) CompileWithMemory(ctx context.Context, wasm, memory []byte) (engine.Module, error) {
	mod, err := e.Compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	m := mod.(*module)
	m.alloc = newImageAllocator(memory, e.kept)
	return m, nil
}

var _ engine.MemoryStarter = (*Engine)(nil)

// Close closes the runtime and every module compiled with it.
func (e *Engine) Close(ctx context.Context) error { return e.rt.Close(ctx) }

type module struct {
	rt      wazero.Runtime
	cm      wazero.CompiledModule
	alloc   *imageAllocator // instances' memory starts from it; nil: from the data segments
	kept    *engine.Budget
	recycle *engine.InstancePool // nil: instances are closed, not recycled
}

var _ engine.Recycler = (*module)(nil)

// Recycle implements engine.Recycler.
func (m *module) Recycle(globals []string) {
	if m.recycle == nil {
		m.recycle = engine.NewInstancePool(m.kept, globals)
	}
}

// Grown implements engine.Recycler.
func (m *module) Grown(pages uint32) engine.Instance {
	if m.recycle == nil {
		return nil
	}
	return m.recycle.Take(int(pages) * 65536)
}

func (m *module) Imports() []engine.Func {
	var fs []engine.Func
	for _, d := range m.cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		fs = append(fs, engine.Func{Module: mod, Name: name, Params: fromAPI(d.ParamTypes()), Results: fromAPI(d.ResultTypes())})
	}
	return fs
}

func (m *module) Exports() []engine.Func {
	var fs []engine.Func
	for name, d := range m.cm.ExportedFunctions() {
		fs = append(fs, engine.Func{Name: name, Params: fromAPI(d.ParamTypes()), Results: fromAPI(d.ResultTypes())})
	}
	return fs
}

func (m *module) ExportsMemory(name string) bool {
	_, ok := m.cm.ExportedMemories()[name]
	return ok
}

func (m *module) Instantiate(ctx context.Context, cfg *engine.InstanceConfig) (engine.Instance, error) {
	return engine.Instantiate(m.recycle, cfg, func() (engine.Recyclable, error) { return m.instantiate(ctx, cfg) })
}

// instantiate makes a new instance.
func (m *module) instantiate(ctx context.Context, cfg *engine.InstanceConfig) (*instance, error) {
	// Clocks, randomness and poll_oneoff are the host's (HostFuncs): what
	// is configured here is only what wazero's other WASI functions use.
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module at once
		WithStartFunctions().
		WithStdout(orDiscard(cfg.Stdout)).
		WithStderr(orDiscard(cfg.Stderr))
	ictx := ctx
	if m.alloc != nil {
		ictx = m.alloc.context(ctx)
	}
	mod, err := m.rt.InstantiateModule(ictx, m.cm, mc)
	if err != nil {
		return nil, mapError(ctx, err)
	}
	return &instance{mod: mod, mem: &memory{mod.Memory()}, streams: cfg.HasOutput()}, nil
}

func (m *module) Close(ctx context.Context) error {
	if m.recycle != nil {
		m.recycle.Close()
	}
	if m.alloc != nil {
		m.alloc.close()
	}
	return m.cm.Close(ctx)
}

type instance struct {
	mod     api.Module
	mem     *memory
	streams bool // writes to an output stream
}

var _ engine.Recyclable = (*instance)(nil)

// Reusable implements engine.Recyclable: wazero closes a module whose
// guest exited or whose context ended during a call.
func (i *instance) Reusable() bool { return !i.streams && !i.mod.IsClosed() }

// memoryKey is the context key under which Call passes the instance's
// memory view to host functions.
type memoryKey struct{}

func (i *instance) Call(ctx context.Context, name string, args ...uint64) ([]uint64, error) {
	fn := i.mod.ExportedFunction(name)
	if fn == nil {
		return nil, fmt.Errorf("module does not export function %q", name)
	}
	res, err := fn.Call(context.WithValue(ctx, memoryKey{}, i.mem), args...)
	if err != nil {
		return nil, mapError(ctx, err)
	}
	return res, nil
}

func (i *instance) MemorySize() uint32 {
	if mem := i.mod.Memory(); mem != nil {
		return mem.Size()
	}
	return 0
}

func (i *instance) Memory() engine.Memory { return i.mem }

func (i *instance) Global(name string) (uint64, bool) {
	g := i.mod.ExportedGlobal(name)
	if g == nil || !isNumber(g.Type()) {
		return 0, false
	}
	return g.Get(), true
}

func (i *instance) SetGlobal(name string, bits uint64) bool {
	g, ok := i.mod.ExportedGlobal(name).(api.MutableGlobal)
	if !ok || !isNumber(g.Type()) {
		return false
	}
	g.Set(bits)
	return true
}

func isNumber(t api.ValueType) bool {
	switch t {
	case api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64:
		return true
	}
	return false
}

func (i *instance) Close(ctx context.Context) error { return i.mod.Close(ctx) }

// mapError turns wazero's errors into the engine's.
func mapError(ctx context.Context, err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			if ctx.Err() != nil {
				return fmt.Errorf("guest stopped: %w", context.Cause(ctx))
			}
		}
		return &engine.ExitError{Code: exit.ExitCode()}
	}
	msg := err.Error()
	// wazero appends the wasm stack trace; keep it, it names the guest's
	// functions, but drop Go stacks of recovered host panics.
	if i := strings.Index(msg, "\n\ngoroutine "); i > 0 {
		msg = msg[:i]
	}
	// Every trap but this one says "wasm error: ..." on wazero.
	if strings.HasPrefix(msg, "stack overflow") {
		msg = "wasm error: " + msg
	}
	return &engine.Trap{Message: msg, Err: err}
}

type memory struct{ m api.Memory }

func (m *memory) Read(ptr, n uint32) ([]byte, bool) {
	if m.m == nil {
		return nil, n == 0
	}
	view, ok := m.m.Read(ptr, n)
	if !ok {
		return nil, false
	}
	// The view dies when memory grows: copy it before returning.
	return append([]byte(nil), view...), true
}

func (m *memory) Write(ptr uint32, b []byte) bool {
	if m.m == nil {
		return len(b) == 0
	}
	return m.m.Write(ptr, b)
}

func (m *memory) Bytes() []byte {
	if m.m == nil {
		return nil
	}
	view, _ := m.m.Read(0, m.m.Size())
	return view
}

func (m *memory) Size() uint32 {
	if m.m == nil {
		return 0
	}
	return m.m.Size()
}

func (m *memory) Grow(pages uint32) bool {
	if m.m == nil {
		return pages == 0
	}
	_, ok := m.m.Grow(pages)
	return ok
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func toAPI(ts []engine.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		switch t {
		case engine.I32:
			out[i] = api.ValueTypeI32
		case engine.I64:
			out[i] = api.ValueTypeI64
		case engine.F32:
			out[i] = api.ValueTypeF32
		case engine.F64:
			out[i] = api.ValueTypeF64
		default:
			panic(fmt.Sprintf("wazero: host function value type %v", t))
		}
	}
	return out
}

func fromAPI(ts []api.ValueType) []engine.ValueType {
	out := make([]engine.ValueType, len(ts))
	for i, t := range ts {
		switch t {
		case api.ValueTypeI32:
			out[i] = engine.I32
		case api.ValueTypeI64:
			out[i] = engine.I64
		case api.ValueTypeF32:
			out[i] = engine.F32
		case api.ValueTypeF64:
			out[i] = engine.F64
		default:
			out[i] = engine.Other
		}
	}
	return out
}

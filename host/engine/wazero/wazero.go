// Package wazero implements engine.Engine with wazero, a WebAssembly runtime
// in pure Go: the default engine, and the one that builds with CGO_ENABLED=0.
package wazero

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmflow/wasmflow/host/engine"
)

// Config configures the engine; see engine.Config.
type Config = engine.Config

// Engine is the wazero engine.
type Engine struct {
	rt wazero.Runtime
}

var _ engine.Engine = (*Engine)(nil)

// New creates a wazero runtime with WASI and the host functions.
func New(ctx context.Context, cfg *Config) (*Engine, error) {
	pages := cfg.MemoryLimitPages
	if pages == 0 {
		pages = 4096
	}
	rc := wazero.NewRuntimeConfig().
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
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wazero: instantiate wasi: %w", err)
	}
	if len(cfg.HostFuncs) > 0 {
		b := rt.NewHostModuleBuilder(cfg.HostModule)
		for _, hf := range cfg.HostFuncs {
			b.NewFunctionBuilder().
				WithGoModuleFunction(adapt(hf), toAPI(hf.Params), toAPI(hf.Results)).
				Export(hf.Name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			rt.Close(ctx)
			return nil, fmt.Errorf("wazero: instantiate host module %q: %w", cfg.HostModule, err)
		}
	}
	return &Engine{rt: rt}, nil
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
	return &module{rt: e.rt, cm: cm}, nil
}

// Close closes the runtime and every module compiled with it.
func (e *Engine) Close(ctx context.Context) error { return e.rt.Close(ctx) }

type module struct {
	rt wazero.Runtime
	cm wazero.CompiledModule
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
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module at once
		WithStartFunctions().
		WithSysNanotime().
		WithStdout(orDiscard(cfg.Stdout)).
		WithStderr(orDiscard(cfg.Stderr))
	if cfg.Walltime != nil {
		wall := cfg.Walltime
		mc = mc.WithWalltime(func() (int64, int32) {
			t := wall()
			return t.Unix(), int32(t.Nanosecond())
		}, sys.ClockResolution(time.Microsecond))
	} else {
		mc = mc.WithSysWalltime()
	}
	if cfg.Random != nil {
		mc = mc.WithRandSource(cfg.Random)
	} else {
		mc = mc.WithRandSource(crand.Reader)
	}
	if cfg.Sleep != nil {
		sleep := cfg.Sleep
		mc = mc.WithNanosleep(func(ns int64) { sleep(time.Duration(ns)) })
	} else {
		mc = mc.WithSysNanosleep()
	}
	mod, err := m.rt.InstantiateModule(ctx, m.cm, mc)
	if err != nil {
		return nil, mapError(ctx, err)
	}
	return &instance{mod: mod, mem: &memory{mod.Memory()}}, nil
}

func (m *module) Close(ctx context.Context) error { return m.cm.Close(ctx) }

type instance struct {
	mod api.Module
	mem *memory
}

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

func (m *memory) Size() uint32 {
	if m.m == nil {
		return 0
	}
	return m.m.Size()
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

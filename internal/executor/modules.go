package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/store"
)

// ModuleError says why module bytes cannot be used. The host's API answers it
// with 400.
type ModuleError struct {
	Reason string
}

func (e *ModuleError) Error() string { return e.Reason }

func moduleErrorf(format string, args ...any) error {
	return &ModuleError{Reason: fmt.Sprintf(format, args...)}
}

// Modules compiles modules once per process and keeps them, keyed by digest,
// for every activation that needs them.
type Modules struct {
	e  *Executor
	mu sync.Mutex
	// compiled holds one entry per digest; its once makes concurrent
	// activations of a new module wait for a single compilation.
	compiled map[string]*compiledEntry
}

type compiledEntry struct {
	once  sync.Once
	p     *Prepared
	err   error
	retry bool // err is not kept: the next Load tries again
}

func newModules(e *Executor) *Modules {
	return &Modules{e: e, compiled: make(map[string]*compiledEntry)}
}

// Digest returns the content address of module bytes.
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Load returns the prepared module for a digest, preparing the stored bytes
// on first use.
func (m *Modules) Load(ctx context.Context, digest string) (*Prepared, error) {
	m.mu.Lock()
	ce, ok := m.compiled[digest]
	if !ok {
		ce = &compiledEntry{}
		m.compiled[digest] = ce
	}
	m.mu.Unlock()
	ce.once.Do(func() {
		wasm, err := m.e.store.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: digest})
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				// Not kept: the module may have been deleted, and its
				// bytes may be uploaded again.
				ce.err, ce.retry = moduleErrorf("no module with digest %s is stored", digest), true
			} else {
				ce.err = fmt.Errorf("load module %s: %w", digest, err)
			}
			return
		}
		if got := Digest(wasm); got != digest {
			ce.err = moduleErrorf("stored bytes of module %s hash to %s", digest, got)
			return
		}
		ce.p, ce.err = m.prepare(ctx, digest, wasm, false)
		if ce.err == nil && importsFunc(ce.p.Module, abi.FuncDeclareWorkflowOptions) {
			// The workflows' options are the module's description's: ask
			// it, as its upload did. The same bytes passed that at upload,
			// so a failure now is the moment's (the time limit on a starved
			// machine): not a *ModuleError, so that no run fails for it and
			// the next activation asks again. It is not cancelled with the
			// activation that happens to load the module first.
			d, err := m.describe(context.WithoutCancel(ctx), ce.p)
			if err != nil {
				ce.p.Module.Close(ctx)
				ce.p, ce.err = nil, fmt.Errorf("describe module %s again: %v", digest, err)
				return
			}
			ce.p.options = d.options
		}
	})
	if ce.err != nil {
		var me *ModuleError
		if !errors.As(ce.err, &me) || ce.retry {
			// A passing store failure: let the next activation try again.
			m.mu.Lock()
			delete(m.compiled, digest)
			m.mu.Unlock()
		}
		return nil, ce.err
	}
	return ce.p, nil
}

func (m *Modules) compile(ctx context.Context, wasm []byte) (engine.Module, error) {
	return compileOn(ctx, m.e.engine, wasm)
}

// compileOn compiles wasm on eng, a *ModuleError for bytes it refuses.
func compileOn(ctx context.Context, eng engine.Engine, wasm []byte) (engine.Module, error) {
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		if errors.Is(err, engine.ErrInvalidModule) {
			return nil, moduleErrorf("%v", err)
		}
		return nil, err
	}
	return mod, nil
}

// Inspection is what Inspect learned of a module.
type Inspection struct {
	Digest    string
	Workflows []string
}

// Inspect validates module bytes the way ABI.md's upload checks say, and
// returns the workflows the module declares. A *ModuleError says which check
// failed. A module that passes is kept compiled for its runs.
func (m *Modules) Inspect(ctx context.Context, wasm []byte) (*Inspection, error) {
	if limit := m.e.limits.ModuleSize; len(wasm) > limit {
		return nil, moduleErrorf("module is %d bytes, over the %d-byte limit%s", len(wasm), limit, m.e.limits.hint("ModuleSize"))
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, moduleErrorf("not a WebAssembly module: the bytes do not start with the wasm magic number \\0asm")
	}
	digest := Digest(wasm)
	p, err := m.prepare(ctx, digest, wasm, true)
	if err != nil {
		return nil, err
	}
	d, err := m.describe(ctx, p)
	if err != nil {
		p.Module.Close(ctx)
		return nil, err
	}
	p.options = d.options
	m.mu.Lock()
	if _, ok := m.compiled[digest]; ok {
		p.Module.Close(ctx)
	} else {
		ce := &compiledEntry{p: p}
		ce.once.Do(func() {})
		m.compiled[digest] = ce
	}
	m.mu.Unlock()
	return &Inspection{Digest: digest, Workflows: d.workflows}, nil
}

var requiredExports = []engine.Func{
	{Name: abi.ExportABIVersion, Results: []engine.ValueType{engine.I32}},
	{Name: abi.ExportDescribe},
	{Name: abi.ExportRun},
}

// checkShape checks imports and exports against the ABI.
func checkShape(mod engine.Module, host []engine.HostFunc) error {
	want := make(map[string]engine.Func, len(host))
	for _, hf := range host {
		if hf.Module == "" {
			want[hf.Name] = hf.Func
		}
	}
	for _, imp := range mod.Imports() {
		switch imp.Module {
		case abi.ImportModule:
			hf, ok := want[imp.Name]
			if !ok {
				return moduleErrorf("module imports %s.%s, which ABI version %d does not provide", imp.Module, imp.Name, abi.Version)
			}
			if !slices.Equal(hf.Params, imp.Params) || !slices.Equal(hf.Results, imp.Results) {
				return moduleErrorf("module imports %s.%s with type %s; ABI version %d defines it as %s", imp.Module, imp.Name, imp.Signature(), abi.Version, hf.Signature())
			}
		case "wasi_snapshot_preview1":
		default:
			return moduleErrorf("module imports %s.%s: only %q and \"wasi_snapshot_preview1\" imports are provided", imp.Module, imp.Name, abi.ImportModule)
		}
	}
	exports := make(map[string]engine.Func)
	for _, ex := range mod.Exports() {
		exports[ex.Name] = ex
	}
	var missing []string
	for _, req := range requiredExports {
		ex, ok := exports[req.Name]
		if !ok {
			missing = append(missing, req.Name)
			continue
		}
		if !slices.Equal(ex.Params, req.Params) || !slices.Equal(ex.Results, req.Results) {
			return moduleErrorf("export %s has type %s; the ABI requires %s", req.Name, ex.Signature(), req.Signature())
		}
	}
	if !mod.ExportsMemory(abi.ExportMemory) {
		missing = append(missing, abi.ExportMemory+" (memory)")
	}
	if len(missing) > 0 {
		return moduleErrorf("module is not a wasmflow module: it does not export %s (see abi/ABI.md, section 2)", strings.Join(missing, ", "))
	}
	if _, ok := exports["_start"]; ok {
		return moduleErrorf("module exports _start: it is a WASI command, not a reactor; build Go guests with -buildmode=c-shared")
	}
	if ex, ok := exports[abi.ExportInitialize]; ok && (len(ex.Params) > 0 || len(ex.Results) > 0) {
		return moduleErrorf("export %s has type %s; the ABI requires () -> ()", abi.ExportInitialize, ex.Signature())
	}
	return nil
}

type describeState struct {
	workflows []string
	options   map[string]abi.WorkflowOptions // declared with declare_workflow_options
}

// describe instantiates the module without a run and asks it for its ABI
// version, its workflows and their options.
func (m *Modules) describe(ctx context.Context, p *Prepared) (*describeState, error) {
	mod := p.Module
	a := &Activation{e: m.e, run: &store.Run{ID: "describe"}, describe: &describeState{}}
	ctx, inst, cancel, err := m.instantiateAlone(ctx, mod, a)
	if err != nil {
		return nil, err
	}
	defer cancel()
	explain := func(what string, err error) error {
		if a.end != nil && a.end.kind == endFault {
			return moduleErrorf("%s: %s", what, a.end.result.Reason)
		}
		msg := fmt.Sprintf("%s failed: %v", what, err)
		if tail := a.stderr.tail(); tail != "" {
			msg += "; stderr: " + tail
		}
		return moduleErrorf("%s", msg)
	}
	if hasFunc(mod, abi.ExportInitialize) {
		if _, err := inst.Call(ctx, abi.ExportInitialize); err != nil {
			return nil, explain(abi.ExportInitialize, err)
		}
	}
	res, err := inst.Call(ctx, abi.ExportABIVersion)
	if err != nil {
		return nil, explain(abi.ExportABIVersion, err)
	}
	if v := uint32(res[0]); v != abi.Version {
		return nil, moduleErrorf("module declares ABI version %d; this host supports version %d", v, abi.Version)
	}
	if _, err := inst.Call(ctx, abi.ExportDescribe); err != nil {
		return nil, explain(abi.ExportDescribe, err)
	}
	if len(a.describe.workflows) == 0 {
		return nil, moduleErrorf("module declares no workflows (%s called %s no times)", abi.ExportDescribe, abi.FuncDeclareWorkflow)
	}
	return a.describe, nil
}

// instantiateAlone instantiates mod for a, which is no run's activation (a
// module's description, or its image being made), within the describe
// timeout. cancel closes the instance too.
func (m *Modules) instantiateAlone(ctx context.Context, mod engine.Module, a *Activation) (context.Context, engine.Instance, func(), error) {
	a.dbctx = ctx
	a.stderr = &tailWriter{max: tailSize}
	d := min(m.e.limits.ActivationTimeout, describeTimeout)
	which := m.e.limits.how("ActivationTimeout")
	if which == "" {
		which = "the activation timeout"
	}
	ctx, cancel := context.WithTimeoutCause(context.WithValue(ctx, ctxKey{}, a), d,
		fmt.Errorf("it ran past the time limit of %s for preparing a module (%s, at most %s)", d, which, describeTimeout))
	inst, err := mod.Instantiate(ctx, &engine.InstanceConfig{}) // stderr: the host's fd_write, to a.stderr
	if err != nil {
		cancel()
		return nil, nil, nil, moduleErrorf("module cannot be instantiated: %v", err)
	}
	return ctx, inst, func() { inst.Close(ctx); cancel() }, nil
}

// importsFunc reports whether mod imports the host function name.
func importsFunc(mod engine.Module, name string) bool {
	for _, im := range mod.Imports() {
		if im.Module == abi.ImportModule && im.Name == name {
			return true
		}
	}
	return false
}

func hasFunc(mod engine.Module, name string) bool {
	for _, ex := range mod.Exports() {
		if ex.Name == name {
			return true
		}
	}
	return false
}

// Package engine is the interface between wasmflow and a WebAssembly
// runtime. The executor uses it; engine/wazero and engine/wasmtime implement
// it, and both pass the conformance suite in engine/enginetest. It knows
// nothing of runs or stores: it
// compiles modules, instantiates them with the host functions it was given,
// and calls their exports.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Engine compiles modules. One Engine serves the whole process; it is safe
// for concurrent use.
type Engine interface {
	// Name identifies the engine ("wazero").
	Name() string
	// Compile validates and compiles wasm. The error describes why bytes are
	// not a usable module.
	Compile(ctx context.Context, wasm []byte) (Module, error)
	// Close releases everything the engine holds.
	Close(ctx context.Context) error
}

// MemoryStarter is implemented by engines that start instances from given
// memory contents more cheaply than from data segments (wazero, which maps
// them copy-on-write where the platform allows).
type MemoryStarter interface {
	// CompileWithMemory compiles wasm, which has no data segments, into a
	// module whose instances start with memory 0 holding a copy of memory
	// (its length a whole number of pages, at least the declared minimum).
	// memory must not change afterwards.
	CompileWithMemory(ctx context.Context, wasm, memory []byte) (Module, error)
}

// Recycler is implemented by modules whose closed instances the engine can
// put back as a new instance starts and hand out again, for less than a
// new instance costs (wasmtime: no new store, and none of the pages the
// last instance wrote is faulted in again).
type Recycler interface {
	// Recycle lets the module recycle its instances from now on. The
	// caller promises that an instance's whole state is its memory and the
	// exported mutable globals named globals: every mutable global is
	// exported under one of those names, and no instance changes its
	// tables or WASI's file descriptors. An instance
	// is handed out again only when it is exactly as a new one would be in
	// those: the same memory size, memory and globals. Instances with
	// output streams (InstanceConfig) are never recycled.
	Recycle(globals []string)
	// Grown returns a recycled instance whose memory is pages 64 KiB
	// pages, exactly as a new instance grown to that size would be (the
	// pages past the new instance's memory are zeros), or nil when the
	// module keeps none of that size. A caller about to grow a new
	// instance's memory that far (a snapshot's restore) takes one whose
	// pages the kernel has given already.
	Grown(pages uint32) Instance
}

// Module is a compiled module, shared by all its instances.
type Module interface {
	// Imports lists the functions the module imports.
	Imports() []Func
	// Exports lists the functions the module exports.
	Exports() []Func
	// ExportsMemory reports whether the module exports a memory named name.
	ExportsMemory(name string) bool
	// Instantiate creates a fresh instance. It does not call any export
	// (not even a start function other than the wasm start section).
	Instantiate(ctx context.Context, cfg *InstanceConfig) (Instance, error)
	// Close releases the compiled code.
	Close(ctx context.Context) error
}

// Instance is one instantiation of a module. It is used by one goroutine at
// a time.
type Instance interface {
	// Call calls an exported function. ctx is the context the instance's host
	// functions receive; when it is done the guest is stopped (or not
	// started) and Call returns an error that wraps context.Cause(ctx),
	// which is ctx.Err() unless the context was given a cause. A trap
	// returns a *Trap whose message starts with "wasm error: " and the
	// reason in wazero's words ("unreachable", "integer divide by zero",
	// "stack overflow", ...); a WASI
	// proc_exit returns an *ExitError; an error returned by a host function
	// is returned wrapped, so errors.Is and errors.As find it.
	Call(ctx context.Context, name string, args ...uint64) ([]uint64, error)
	// MemorySize is the current size of the exported memory in bytes.
	MemorySize() uint32
	// Memory is the exported memory, for reading and writing the instance's
	// state between calls.
	Memory() Memory
	// Global reads the exported global name as bits (i32 zero-extended,
	// floats as IEEE bits); false if there is no such number global.
	Global(name string) (uint64, bool)
	// SetGlobal sets the exported mutable global name; false if there is
	// no such mutable number global.
	SetGlobal(name string, bits uint64) bool
	// Close releases the instance.
	Close(ctx context.Context) error
}

// ValueType is a WebAssembly number type.
type ValueType byte

const (
	I32 ValueType = iota + 1
	I64
	F32
	F64
	Other // any type the host has no use for (v128, references)
)

func (t ValueType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	}
	return "other"
}

// Func describes an imported or exported function.
type Func struct {
	Module  string // import module; empty for exports
	Name    string
	Params  []ValueType
	Results []ValueType
}

// Signature renders the function type as "(i32, i32) -> i32".
func (f Func) Signature() string {
	return fmt.Sprintf("%v -> %v", typeList(f.Params), typeList(f.Results))
}

func typeList(ts []ValueType) string {
	s := "("
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += t.String()
	}
	return s + ")"
}

// Config configures an engine; every implementation takes it. The zero
// value is usable.
type Config struct {
	// CacheDir, when set, keeps compiled modules on disk between processes
	// (in the engine's own format, keyed by the engine's version).
	CacheDir string
	// MemoryLimitPages caps every instance's memory, in 64 KiB pages.
	// Default 4096 (256 MiB).
	MemoryLimitPages uint32
	// HostModule is the import module name of HostFuncs whose Module is
	// empty.
	HostModule string
	// HostFuncs are provided to every instance, under their Func.Module or
	// HostModule. Functions of module WASIModule replace the engine's own
	// WASI functions of the same name.
	HostFuncs []HostFunc
}

// WASIModule is the import module of the WASI functions every engine
// provides (wasi_snapshot_preview1).
const WASIModule = "wasi_snapshot_preview1"

// ModuleOf returns the import module f is provided under.
func (c *Config) ModuleOf(f HostFunc) string {
	if f.Module != "" {
		return f.Module
	}
	return c.HostModule
}

// HostFunc is a function the host provides to guests. Call receives the
// context given to Instance.Call, the caller's memory, and the parameters in
// stack; it writes the results into stack (which has room for
// max(len(Params), len(Results)) values). Returning a non-nil error ends the
// guest call: Instance.Call returns it wrapped.
type HostFunc struct {
	Func
	Call func(ctx context.Context, mem Memory, stack []uint64) error
}

// Memory is a guest's linear memory as host functions see it.
type Memory interface {
	// Read returns a copy of n bytes at ptr, or false if out of bounds.
	Read(ptr, n uint32) ([]byte, bool)
	// Write copies b to ptr, or returns false if out of bounds.
	Write(ptr uint32, b []byte) bool
	// Size is the memory's current size in bytes.
	Size() uint32
	// Grow adds pages to the memory, as memory.grow does; false if the
	// memory cannot grow that far.
	Grow(pages uint32) bool
	// Bytes is the memory itself, not a copy, for the host to fill in bulk
	// while the guest does not run (a snapshot's restore). It is valid
	// until the memory grows or the instance is called or closed; disjoint
	// ranges of it may be written from several goroutines at once.
	Bytes() []byte
}

// InstanceConfig is what one instance sees of the outside world through
// the engine's WASI: no files, no environment, no arguments, no network,
// only the output streams given here (nil: discarded). Clocks, randomness
// and poll_oneoff are the host's to serve (Config.HostFuncs under
// WASIModule), so that every engine serves them alike.
type InstanceConfig struct {
	Stdout io.Writer
	Stderr io.Writer
}

// HasOutput reports whether the instance writes to an output stream (nil
// and io.Discard are none).
func (c *InstanceConfig) HasOutput() bool {
	return c.Stdout != nil && c.Stdout != io.Discard || c.Stderr != nil && c.Stderr != io.Discard
}

// ExitError reports that the guest called WASI proc_exit.
type ExitError struct {
	Code uint32
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("guest exited with code %d", e.Code)
}

// Trap reports that the guest trapped (unreachable, an out-of-bounds memory
// access, a stack overflow, a division by zero, ...), or that a host function
// ended the call: Unwrap gives the host function's error.
type Trap struct {
	Message string
	Err     error
}

func (t *Trap) Error() string { return t.Message }

func (t *Trap) Unwrap() error { return t.Err }

// ErrInvalidModule wraps every error Compile returns for bad bytes.
var ErrInvalidModule = errors.New("invalid WebAssembly module")

package executor

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/snapshot"
	"github.com/wasmflow/wasmflow/store"
)

// ImageFormat names the way init images are made and encoded. A change to
// either (what the capture's clocks answer, the encoding) changes it, so
// that no process starts a guest from an image made another way.
const ImageFormat = "v3"

// Prepared is a module ready for activations: the code to instantiate and
// the state it starts in.
type Prepared struct {
	// Module is what activations instantiate: the module baked with its
	// init image, or the module as uploaded when it has none.
	Module engine.Module
	// Image is the init image Module starts in; nil when Module is the
	// module as uploaded (its activations run _initialize, if exported).
	Image *snapshot.State
	// NoImage says why the module has no image, when it has none.
	NoImage string
	// Parks says the guest can park (it exports wasmflow_resume) and its
	// state can be snapshotted (it has an image to encode snapshots
	// against).
	Parks bool

	layout  *snapshot.Layout               // with Image: where the module's state is
	options map[string]abi.WorkflowOptions // by workflow, as the module's description declared them
}

// startKind is what activation_started's data.start says of an
// activation that starts from Prepared.
func (p *Prepared) startKind() string {
	if p.Image != nil {
		return StartImage
	}
	return StartReplay
}

// How an activation began, in activation_started's data.start.
const (
	// StartReplay: a fresh instance of the module as uploaded, which ran
	// its _initialize, then replayed the journal.
	StartReplay = "replay"
	// StartImage: an instance started from the module's init image, then
	// replayed the journal.
	StartImage = "image"
)

// captureState serves the WASI clocks and randomness while a module's init
// image is made, deterministically, so that every process and engine makes
// the same image of the same module. It also remembers the first wasmflow
// function _initialize called: such a module cannot be imaged.
type captureState struct {
	rng     *rand.Rand
	ticks   int64
	refused string
}

// captureEpoch is the realtime clock a module's _initialize sees.
var captureEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func newCaptureState(digest string) *captureState {
	seed := sha256.Sum256([]byte("wasmflow init image " + ImageFormat + " " + digest))
	return &captureState{rng: rand.New(rand.NewChaCha8(seed))}
}

// monotonic advances a microsecond at every reading.
func (c *captureState) monotonic() int64 {
	c.ticks++
	return monotonicStart + c.ticks*int64(time.Microsecond)
}

func (c *captureState) now() time.Time {
	return captureEpoch.Add(time.Duration(c.monotonic() - monotonicStart))
}

func (c *captureState) random(b []byte) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], c.rng.Uint64())
		copy(b[i:], w[:])
	}
}

// prepare makes the Prepared module for wasm, its tables capped
// (snapshot.CapTables): from its init image (kept in
// the store and the cache directory, made when neither has it), or as
// uploaded when it cannot be imaged. Upload also checks the module's shape
// (checkShape) on the compiled code before any of it runs.
//
// At upload, the image is stored even when this process found it in its
// cache directory, so that every process sharing the store finds it.
func (m *Modules) prepare(ctx context.Context, digest string, wasm []byte, upload bool) (*Prepared, error) {
	wasm, err := snapshot.CapTables(wasm, m.e.limits.TableElements)
	if err != nil {
		return nil, moduleErrorf("module refused: %v%s", err, m.e.limits.hint("TableElements"))
	}
	layout, err := snapshot.Parse(wasm)
	if err == nil {
		var p *Prepared
		if p, err = m.fromImage(ctx, digest, wasm, layout, upload); err == nil {
			return p, nil
		}
		if !errors.Is(err, snapshot.ErrNotImageable) {
			return nil, err // the module cannot run at all, or the store failed
		}
	}
	reason := strings.TrimPrefix(err.Error(), snapshot.ErrNotImageable.Error()+": ")
	m.e.log.Warn("module has no init image: its activations run its runtime's start", "digest", digest, "reason", reason)
	if m.e.obs != nil {
		m.e.obs.ImageUnavailable(digest, reason)
	}
	mod, err := m.compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	if err := checkShape(mod, HostFuncs()); err != nil {
		mod.Close(ctx)
		return nil, err
	}
	return &Prepared{Module: mod, NoImage: reason}, nil
}

// fromImage bakes the module's init image into it and compiles the result.
// An error wrapping snapshot.ErrNotImageable means the module must run as
// uploaded; a *ModuleError, that it cannot run at all.
func (m *Modules) fromImage(ctx context.Context, digest string, wasm []byte, layout *snapshot.Layout, upload bool) (*Prepared, error) {
	img, stored, err := m.loadImage(ctx, digest, layout)
	if err != nil {
		return nil, err
	}
	made := img == nil
	if made {
		if img, err = m.makeImage(ctx, digest, wasm, layout); err != nil {
			return nil, err
		}
	}
	if made || (upload && !stored) {
		m.saveImage(ctx, digest, img)
	}
	mod, err := m.compileBaked(ctx, wasm, layout, img)
	if err != nil {
		var me *ModuleError
		if errors.As(err, &me) {
			return nil, fmt.Errorf("%w: the engine refuses the module baked with its image: %v", snapshot.ErrNotImageable, err)
		}
		return nil, err
	}
	parks := hasFunc(mod, abi.ExportResume)
	if r, ok := mod.(engine.Recycler); ok && parks {
		// A guest that parks keeps its whole state in its memory and
		// mutable globals (abi/ABI.md, section 12), and the baked module
		// exports all of them.
		names := make([]string, len(layout.Globals))
		for k, g := range layout.Globals {
			names[k] = g.ExportName()
		}
		r.Recycle(names)
	}
	return &Prepared{Module: mod, Image: img, Parks: parks, layout: layout}, nil
}

// compileBaked compiles the module baked with img: with its memory as data
// segments, or given to an engine that starts memories better itself.
func (m *Modules) compileBaked(ctx context.Context, wasm []byte, layout *snapshot.Layout, img *snapshot.State) (engine.Module, error) {
	ms, direct := m.e.engine.(engine.MemoryStarter)
	baked, err := snapshot.Bake(wasm, layout, img, !direct)
	if err != nil {
		return nil, err
	}
	if !direct {
		return m.compile(ctx, baked)
	}
	mod, err := ms.CompileWithMemory(ctx, baked, img.Memory)
	if err != nil && errors.Is(err, engine.ErrInvalidModule) {
		return nil, moduleErrorf("%v", err)
	}
	return mod, err
}

// makeImage instantiates the module instrumented to export its globals, on
// the image engine, runs its _initialize with deterministic clocks and
// randomness, and captures the state it leaves.
func (m *Modules) makeImage(ctx context.Context, digest string, wasm []byte, layout *snapshot.Layout) (*snapshot.State, error) {
	mod, err := compileOn(ctx, m.e.imaging, snapshot.Instrument(wasm, layout))
	if err != nil {
		return nil, err
	}
	defer mod.Close(ctx)
	if err := checkShape(mod, HostFuncs()); err != nil {
		return nil, err
	}
	a := &Activation{e: m.e, run: &store.Run{ID: "image"}, capture: newCaptureState(digest)}
	ctx, inst, cancel, err := m.instantiateAlone(ctx, mod, a)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if hasFunc(mod, abi.ExportInitialize) {
		if _, err := inst.Call(ctx, abi.ExportInitialize); err != nil {
			if a.capture.refused != "" {
				return nil, fmt.Errorf("%w: %s calls %s", snapshot.ErrNotImageable, abi.ExportInitialize, a.capture.refused)
			}
			msg := fmt.Sprintf("%s failed: %v", abi.ExportInitialize, err)
			if tail := a.stderr.tail(); tail != "" {
				msg += "; stderr: " + tail
			}
			return nil, moduleErrorf("%s", msg)
		}
	}
	return capture(inst, layout, a.capture.monotonic())
}

// capture reads an instance's state between calls.
func capture(inst engine.Instance, layout *snapshot.Layout, clock int64) (*snapshot.State, error) {
	mem := inst.Memory()
	size := mem.Size()
	b, ok := mem.Read(0, size)
	if !ok {
		return nil, fmt.Errorf("%w: its memory cannot be read", snapshot.ErrNotImageable)
	}
	s := &snapshot.State{Pages: size / snapshot.PageSize, Memory: b, Clock: clock}
	for _, g := range layout.Globals {
		v, ok := inst.Global(g.ExportName())
		if !ok {
			return nil, fmt.Errorf("%w: global %d cannot be read", snapshot.ErrNotImageable, g.Index)
		}
		s.Globals = append(s.Globals, snapshot.Global{Index: g.Index, Type: g.Type, Bits: v})
	}
	return s, nil
}

// loadImage returns the module's image from the cache directory or the
// store (stored says which), or nil when neither has a usable one.
func (m *Modules) loadImage(ctx context.Context, digest string, layout *snapshot.Layout) (img *snapshot.State, stored bool, err error) {
	if path := m.imagePath(digest); path != "" {
		if b, err := os.ReadFile(path); err == nil {
			if img, err := m.decodeImage(b, layout); err == nil {
				return img, false, nil
			}
			m.e.log.Warn("init image in the cache directory is unusable; loading it again", "digest", digest, "path", path)
		}
	}
	rec, err := m.e.store.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: digest, Format: ImageFormat})
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load init image of module %s: %w", digest, err)
	}
	if img, err = m.decodeImage(rec.Image, layout); err != nil {
		m.e.log.Warn("stored init image is unusable; making it again", "digest", digest, "error", err)
		return nil, false, nil
	}
	m.writeCache(digest, rec.Image)
	return img, true, nil
}

func (m *Modules) decodeImage(b []byte, layout *snapshot.Layout) (*snapshot.State, error) {
	d, err := snapshot.Decode(b, m.e.limits.MemoryPages)
	if err != nil {
		return nil, err
	}
	img, err := d.State(nil)
	if err != nil {
		return nil, err
	}
	if len(img.Globals) != len(layout.Globals) {
		return nil, fmt.Errorf("%w: it has %d globals, the module %d", snapshot.ErrCorrupt, len(img.Globals), len(layout.Globals))
	}
	return img, nil
}

// saveImage keeps a new image in the store, for every process, and in the
// cache directory. Failing to is only logged: the image is a shortcut.
func (m *Modules) saveImage(ctx context.Context, digest string, img *snapshot.State) {
	b := snapshot.Encode(img, nil)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := m.e.store.ModuleImagePut(sctx, &store.ModuleImagePutParams{Digest: digest, Format: ImageFormat, Image: b, Now: now()}); err != nil {
		m.e.log.Warn("could not store the module's init image", "digest", digest, "error", err)
	}
	m.writeCache(digest, b)
}

func (m *Modules) imagePath(digest string) string {
	if m.e.cacheDir == "" {
		return ""
	}
	return filepath.Join(m.e.cacheDir, "image-"+ImageFormat+"-"+strings.TrimPrefix(digest, "sha256:")+".bin")
}

func (m *Modules) writeCache(digest string, b []byte) {
	path := m.imagePath(digest)
	if path == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".image-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr != nil || cerr != nil || os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}

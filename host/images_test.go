package host_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/internal/engine"
	"github.com/wasmflow/wasmflow/internal/engine/wazero"
	"github.com/wasmflow/wasmflow/internal/executor"
	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/snapshot"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store"
)

// startKind returns activation_started's data.start for each activation
// of a run.
func startKinds(t *testing.T, b *bundle, id string) []string {
	t.Helper()
	var kinds []string
	for _, ev := range b.events(t, id) {
		if ev.Type == store.EventActivationStarted {
			s, _ := data(t, ev)["start"].(string)
			kinds = append(kinds, s)
		}
	}
	return kinds
}

// Every test guest, in every language, on every engine, starts its
// activations from its module's init image.
func TestActivationsStartFromTheInitImage(t *testing.T) {
	forEachCombo(t, func(t *testing.T, c *combo) {
		b := c.setup(t, setupOpts{}, "faults")
		id := b.start(t, "faults", "ok", nil)
		b.completed(t, id, `{"ok":true}`)
		if got := startKinds(t, b, id); len(got) != 1 || got[0] != executor.StartImage {
			t.Errorf("activations started as %q, want one %q", got, executor.StartImage)
		}
	})
}

// imageStore lets a test throw a module's stored init image away (get
// answers not found) or damage it (get answers other bytes).
type imageStore struct {
	store.Store
	get func(img *store.ModuleImage, err error) (*store.ModuleImage, error)
}

func (s *imageStore) ModuleImageGet(ctx context.Context, p *store.ModuleImageGetParams) (*store.ModuleImage, error) {
	return s.get(s.Store.ModuleImageGet(ctx, p))
}

// An init image is a shortcut: a process that finds none, or one it cannot
// use, makes it again from the module's bytes, stores it, and its runs
// complete as before.
func TestAnUnusableInitImageIsMadeAgain(t *testing.T) {
	t.Parallel()
	damages := map[string]func(img *store.ModuleImage, err error) (*store.ModuleImage, error){
		"deleted": func(*store.ModuleImage, error) (*store.ModuleImage, error) { return nil, store.ErrNotFound },
		"truncated": func(img *store.ModuleImage, err error) (*store.ModuleImage, error) {
			if err == nil {
				img.Image = img.Image[:len(img.Image)/2]
			}
			return img, err
		},
		"flipped": func(img *store.ModuleImage, err error) (*store.ModuleImage, error) {
			if err == nil {
				img.Image[len(img.Image)*2/3] ^= 0x10
			}
			return img, err
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, "sqlite")
			// Pushes the module, which makes and stores its image; no workers, so
			// that the host below runs the run.
			setup(t, st, setupOpts{workers: -1}, "faults")
			stored := storedImage(t, st, "faults")

			var made []*store.ModuleImagePutParams
			wrapped := &imageStore{Store: st, get: damage}
			// A fresh cache directory: the image is not on disk either.
			b := setup(t, st, setupOpts{cacheDir: t.TempDir(), wrap: func(s store.Store) store.Store {
				return &imagePuts{Store: wrapped, puts: &made}
			}})
			id := b.start(t, "faults", "ok", nil)
			b.completed(t, id, `{"ok":true}`)
			if got := startKinds(t, b, id); len(got) != 1 || got[0] != executor.StartImage {
				t.Errorf("activations started as %q, want one %q", got, executor.StartImage)
			}
			if len(made) != 1 {
				t.Fatalf("%d images stored, want the one made again", len(made))
			}
			if !bytes.Equal(made[0].Image, stored) {
				t.Errorf("the image made again differs from the one made at upload: images are not deterministic")
			}
		})
	}
}

// imagePuts records ModuleImagePut calls.
type imagePuts struct {
	store.Store
	puts *[]*store.ModuleImagePutParams
}

func (s *imagePuts) ModuleImagePut(ctx context.Context, p *store.ModuleImagePutParams) error {
	*s.puts = append(*s.puts, p)
	return s.Store.ModuleImagePut(ctx, p)
}

func storedImage(t *testing.T, st store.Store, module string) []byte {
	t.Helper()
	m, err := st.ModuleGetByName(context.Background(), &store.ModuleGetByNameParams{Name: module})
	if err != nil {
		t.Fatal(err)
	}
	img, err := st.ModuleImageGet(context.Background(), &store.ModuleImageGetParams{Digest: m.Digest, Format: executor.ImageFormat})
	if err != nil {
		t.Fatalf("module %s has no stored init image: %v", module, err)
	}
	if _, err := snapshot.Decode(img.Image, 1<<16); err != nil {
		t.Fatalf("stored image: %v", err)
	}
	return img.Image
}

// A module whose _initialize calls the host cannot be imaged: it runs as
// uploaded, its _initialize called once in every activation, and the
// timeline and the log say why.
func TestAModuleThatCannotBeImagedRunsAsUploaded(t *testing.T) {
	t.Parallel()
	if !hasLang("wat") {
		t.Fatal("this test needs the WAT guests, which need cgo")
	}
	var logs proctest.LockedBuffer
	st := openStore(t, "sqlite")
	b := setup(t, st, setupOpts{logger: slog.New(slog.NewTextHandler(&logs, nil))}, "wat/initlog")
	id := b.start(t, "initlog", "ok", nil)
	b.completed(t, id, `{"ok":true}`)
	var started map[string]any
	for _, ev := range b.events(t, id) {
		if ev.Type == store.EventActivationStarted {
			started = data(t, ev)
		}
	}
	if started["start"] != executor.StartReplay {
		t.Errorf("activation_started %v, want start %q", started, executor.StartReplay)
	}
	if why, _ := started["no_image"].(string); !strings.Contains(why, "_initialize calls log") {
		t.Errorf("activation_started says no_image %q, want the reason (_initialize calls log)", why)
	}
	if !strings.Contains(logs.String(), "module has no init image") {
		t.Errorf("no log line says the module has no image; log:\n%s", logs.String())
	}
	if _, err := st.ModuleImageGet(context.Background(), &store.ModuleImageGetParams{Digest: testDigest(t, "wat/initlog"), Format: executor.ImageFormat}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an image was stored for a module that cannot be imaged: %v", err)
	}
}

func testDigest(t *testing.T, guest string) string {
	return executor.Digest(testmodules.Bytes(t, guest))
}

func hasLang(lang string) bool {
	for _, l := range guestLangs {
		if l == lang {
			return true
		}
	}
	return false
}

// An init image is plain WebAssembly state, derived deterministically: the
// engines make the same image of the same module, byte for byte (wazero's
// interpreter, which hosts make images on, wazero's compiler and wasmtime),
// so that a process on either engine can start from an image any made.
func TestEnginesMakeTheSameInitImage(t *testing.T) {
	t.Parallel()
	if len(testEngines) < 2 {
		t.Fatal("this test needs both engines, which needs cgo")
	}
	ctx := context.Background()
	for _, lang := range guestLangs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			wasm := testmodules.Bytes(t, (&combo{lang: lang}).guest("faults"))
			var images [][]byte
			for _, eng := range append([]string{"interpreter"}, testEngines...) {
				e, err := imageEngine(ctx, eng)
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close(ctx)
				st := openStore(t, "sqlite")
				exec, err := executor.New(&executor.Config{Store: st, Engine: e, ImageEngine: e, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				insp, err := exec.Modules().Inspect(ctx, wasm)
				if err != nil {
					t.Fatal(err)
				}
				img, err := st.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: insp.Digest, Format: executor.ImageFormat})
				if err != nil {
					t.Fatalf("%s stored no image: %v", eng, err)
				}
				images = append(images, img.Image)
			}
			for i := 1; i < len(images); i++ {
				if !bytes.Equal(images[0], images[i]) {
					t.Errorf("the interpreter made an image of %d bytes, %s one of %d bytes, and they differ", len(images[0]), testEngines[i-1], len(images[i]))
				}
			}
		})
	}
}

func imageEngine(ctx context.Context, name string) (engine.Engine, error) {
	if name == "interpreter" {
		return wazero.NewInterpreter(ctx, &wazero.Config{HostModule: abi.ImportModule, HostFuncs: executor.HostFuncs()})
	}
	return benchEngine(ctx, name)
}

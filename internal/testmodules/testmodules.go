// Package testmodules gives tests the project's guest modules, built from
// their sources by the project's own build (make modules; make rust-modules
// for Rust guests). Each build runs once per test process, under a file lock
// so that test binaries running at the same time do not build over each
// other; make rebuilds only what changed. Guests written in WebAssembly text
// (modules/wat) have no build: they are compiled when asked for, with
// wasmtime's wat2wasm, which needs cgo.
package testmodules

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// builds are the make targets that build guests, by language: a guest
// named "LANG/NAME" is built by builds[LANG] to modules/build/LANG/NAME.wasm.
// Go guests have plain names.
var builds = map[string]*build{
	"go":   {target: "modules"},
	"rust": {target: "rust-modules"},
}

type build struct {
	target string
	once   sync.Once
	err    error
}

// Root returns the repository's root directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "abi", "ABI.md")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testmodules: no repository root above the working directory")
		}
		dir = parent
	}
}

// run runs the build's make target once per test process.
func (b *build) run() error {
	b.once.Do(func() { b.err = runMake(b.target) })
	return b.err
}

func runMake(target string) error {
	root, err := Root()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "modules", "build")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("testmodules: lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	cmd := exec.Command("make", "--no-print-directory", target)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testmodules: make %s failed: %w\n%s", target, err, out)
	}
	return nil
}

// Path returns the path of a built guest. A plain name is a Go guest: an
// example, modules/build/go/NAME.wasm, or a test guest,
// modules/build/test/NAME.wasm. "rust/NAME" is a Rust guest,
// modules/build/rust/NAME.wasm. It builds the guests of that language first
// if needed and fails the test if the build fails. "wat/NAME" is
// modules/wat/NAME.wat compiled (see Bytes) to a file in the test's
// temporary directory.
func Path(t testing.TB, name string) string {
	t.Helper()
	lang, base, ok := strings.Cut(name, "/")
	if !ok {
		lang, base = "go", name
	}
	if lang == "wat" {
		p := filepath.Join(t.TempDir(), base+".wasm")
		if err := os.WriteFile(p, watBytes(t, base), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b, known := builds[lang]
	if !known {
		t.Fatalf("testmodules: no build for guests in %q (guest %q)", lang, name)
	}
	if err := b.run(); err != nil {
		t.Fatal(err)
	}
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "modules", "build", lang, base+".wasm")
	if _, err := os.Stat(p); err != nil && lang == "go" {
		p = filepath.Join(root, "modules", "build", "test", base+".wasm")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testmodules: %s was not built by make %s: %v", p, b.target, err)
	}
	return p
}

// Bytes returns the bytes of a guest (see Path). For "wat/NAME" they are
// modules/wat/NAME.wat compiled with wasmtime's wat2wasm; without cgo, that
// fails the test.
func Bytes(t testing.TB, name string) []byte {
	t.Helper()
	if base, ok := strings.CutPrefix(name, "wat/"); ok {
		return watBytes(t, base)
	}
	b, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// watBytes compiles modules/wat/NAME.wat to WebAssembly.
func watBytes(t testing.TB, name string) []byte {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "modules", "wat", name+".wat")
	src, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("testmodules: wat guest %q: %v", name, err)
	}
	wasm, err := wat2wasm(string(src))
	if err != nil {
		t.Fatalf("testmodules: %s: %v", p, err)
	}
	return wasm
}

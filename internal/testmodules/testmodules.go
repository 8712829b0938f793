// Package testmodules gives tests the project's guest modules, built from
// their sources by the project's own build (make modules). The build runs
// once per test process, under a file lock so that test binaries running at
// the same time do not build over each other; make rebuilds only what
// changed.
package testmodules

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

var (
	buildOnce sync.Once
	buildErr  error
	root      string
)

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

func build() error {
	var err error
	if root, err = Root(); err != nil {
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
	cmd := exec.Command("make", "--no-print-directory", "modules")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("testmodules: make modules failed: %w\n%s", err, out)
	}
	return nil
}

// Path returns the path of a built Go guest: an example,
// modules/build/go/NAME.wasm, or a test guest, modules/build/test/NAME.wasm.
// It builds the modules first if needed and fails the test if the build
// fails.
func Path(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	p := filepath.Join(root, "modules", "build", "go", name+".wasm")
	if _, err := os.Stat(p); err != nil {
		p = filepath.Join(root, "modules", "build", "test", name+".wasm")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testmodules: %s was not built by make modules: %v", p, err)
	}
	return p
}

// Bytes returns the bytes of a built Go guest (see Path).
func Bytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

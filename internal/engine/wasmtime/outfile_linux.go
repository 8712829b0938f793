//go:build cgo && linux

package wasmtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// newOutFile returns an anonymous in-memory file and a path by which
// wasmtime's WASI can open the same file for writing.
func newOutFile(name string) (*os.File, string, error) {
	fd, err := unix.MemfdCreate("wasmflow-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, "", err
	}
	f := os.NewFile(uintptr(fd), name)
	return f, fmt.Sprintf("/proc/self/fd/%d", fd), nil
}

// doneOpening is called once wasmtime has opened the path.
func doneOpening(string) {}

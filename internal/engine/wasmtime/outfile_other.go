//go:build cgo && !linux

package wasmtime

import "os"

// newOutFile returns a temporary file and its path; doneOpening removes the
// name once wasmtime's WASI has opened it.
func newOutFile(name string) (*os.File, string, error) {
	f, err := os.CreateTemp("", "wasmflow-"+name+"-*")
	if err != nil {
		return nil, "", err
	}
	return f, f.Name(), nil
}

func doneOpening(path string) { os.Remove(path) }

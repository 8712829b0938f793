//go:build cgo

package enginetest_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	wt "github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wasmflow/wasmflow/internal/engine/enginetest"
)

var update = flag.Bool("update", false, "write testdata/guest.wasm from testdata/guest.wat")

// The guest's binary is its text compiled (go test -args -update writes it
// again): the suite runs without cgo, where nothing compiles WAT.
func TestGuestIsItsText(t *testing.T) {
	src, err := os.ReadFile("testdata/guest.wat")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := wt.Wat2Wasm(string(src))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/guest.wasm", wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(wasm, enginetest.GuestWasm) {
		t.Fatal("testdata/guest.wasm is not testdata/guest.wat compiled: run go test -run TestGuestIsItsText ./internal/engine/enginetest -args -update")
	}
}

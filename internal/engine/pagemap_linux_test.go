package engine

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel tells which pages of a private mapping were written, and
// ResetMemory puts back exactly those (and only compares them): pages
// only read, and pages never touched, are left alone.
func TestResetMemoryFindsTheWrittenPages(t *testing.T) {
	const pages = 6 // 4 of the image, 2 of zeros after it
	image := bytes.Repeat([]byte{0x5a}, 4*ResetPage)
	fd, err := unix.MemfdCreate("test-image", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, image); err != nil {
		t.Fatal(err)
	}
	base, err := unix.MmapPtr(-1, 0, nil, pages*ResetPage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.MunmapPtr(base, pages*ResetPage)
	if _, err := unix.MmapPtr(fd, 0, base, uintptr(len(image)), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
		t.Fatal(err)
	}
	mem := unsafe.Slice((*byte)(base), pages*ResetPage)

	_ = mem[0]              // page 0: read only
	mem[ResetPage+7] = 1    // page 1: written
	mem[3*ResetPage] = 0x5a // page 3: written, with what it held
	mem[5*ResetPage+9] = 2  // page 5 (zeros): written
	same, ok := untouched(mem)
	if !ok {
		t.Fatal("the kernel's pagemap could not be read")
	}
	want := []bool{true, false, true, false, true, false}
	for i := range want {
		if same[i] != want[i] {
			t.Fatalf("page %d untouched = %v, want %v (all: %v)", i, same[i], want[i], same)
		}
	}
	ResetMemory(mem, image)
	if !bytes.Equal(mem[:len(image)], image) || !bytes.Equal(mem[len(image):], make([]byte, 2*ResetPage)) {
		t.Fatal("the memory was not put back as the image, then zeros")
	}
}

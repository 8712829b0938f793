package engine

import (
	"encoding/binary"
	"os"
	"sync"
	"unsafe"
)

// pagemap is this process's /proc/self/pagemap, opened once; nil when it
// cannot be read, and then every page is compared.
var pagemap = sync.OnceValue(func() *os.File {
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return nil
	}
	var b [8]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		f.Close()
		return nil
	}
	return f
})

// Flags of a pagemap entry (the kernel's Documentation/admin-guide/mm/pagemap.rst).
const (
	pmPresent = 1 << 63
	pmSwapped = 1 << 62
	pmFile    = 1 << 61 // a file page or shared anonymous memory
)

// untouched reports, for each ResetPage of mem (which must start on a
// page boundary), whether the page is certainly as the mapping started:
// not in memory nor swapped out (never touched, or only read from a file
// mapping not yet faulted), or a page of the file or shared memory it
// maps rather than a private copy. A private mapping's page becomes
// private and anonymous on its first write. ok is false when the kernel
// cannot say (no pagemap, or pages larger than ResetPage).
func untouched(mem []byte) (pages []bool, ok bool) {
	f := pagemap()
	if f == nil || os.Getpagesize() != ResetPage || len(mem) == 0 {
		return nil, false
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	if addr%ResetPage != 0 {
		return nil, false
	}
	n := (len(mem) + ResetPage - 1) / ResetPage
	buf := make([]byte, 8*n)
	if _, err := f.ReadAt(buf, int64(addr/ResetPage)*8); err != nil {
		return nil, false
	}
	pages = make([]bool, n)
	for i := range pages {
		e := binary.LittleEndian.Uint64(buf[8*i:])
		pages[i] = e&pmFile != 0 || e&(pmPresent|pmSwapped) == 0
	}
	return pages, true
}

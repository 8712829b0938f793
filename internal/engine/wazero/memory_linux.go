package wazero

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// mappedImage is a memory image in an anonymous file, mapped privately
// (copy-on-write) into each instance's memory: the kernel shares the pages
// an instance only reads, and copies a page on its first write.
//
// A released memory is kept for the module's next instance when the
// engine's budget allows (engine.Budget): put back as the image was, page by
// page, the pages the instance wrote stay in place, and the next instance
// that writes them (a restored snapshot writes hundreds) faults on none.
// A page fault costs about as much as copying 4 KiB ten times over on the
// virtual machines we measured (see RATIONALE.md).
type mappedImage struct {
	fd    int
	image []byte
	kept  *engine.Spares[*mappedMemory] // released and reset
}

// keptPerImage bounds how many released memories a module keeps.
const keptPerImage = 8

func mapImage(image []byte, kept *engine.Budget) *mappedImage {
	if len(image) == 0 || len(image)%unix.Getpagesize() != 0 {
		return nil
	}
	fd, err := unix.MemfdCreate("wasmflow-image", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil
	}
	for b := image; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			unix.Close(fd)
			return nil
		}
		b = b[n:]
	}
	// No one may change the image under the instances that map it.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		unix.Close(fd)
		return nil
	}
	return &mappedImage{fd: fd, image: image, kept: engine.NewSpares(kept, keptPerImage, (*mappedMemory).unmap)}
}

// allocate returns a kept memory that can grow to max, or reserves address
// space for the largest the memory may become, inaccessible, and maps the
// image over its start. nil if the system refuses.
func (im *mappedImage) allocate(maxBytes uint64) *mappedMemory {
	reserve := max(maxBytes, uint64(len(im.image)))
	if m := im.takeKept(reserve); m != nil {
		return m
	}
	size := uint64(len(im.image))
	base, err := unix.MmapPtr(-1, 0, nil, uintptr(reserve), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	if _, err := unix.MmapPtr(im.fd, 0, base, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
		unix.MunmapPtr(base, uintptr(reserve))
		return nil
	}
	return &mappedMemory{im: im, base: base, reserved: reserve, usable: size}
}

// takeKept returns the most recently kept memory if it reserves at least
// reserve bytes.
func (im *mappedImage) takeKept(reserve uint64) *mappedMemory {
	m, _ := im.kept.Take(func(m *mappedMemory) bool { return m.reserved >= reserve })
	return m
}

// keep resets m to the image and keeps it, or reports that it may not be
// kept: the module is closed, or the budget is spent.
func (im *mappedImage) keep(m *mappedMemory) bool {
	return im.kept.Keep(m, int64(m.usable), func() bool { m.reset(); return true })
}

// close unmaps the kept memories; memories released after it are unmapped.
func (im *mappedImage) close() {
	im.kept.Close()
	unix.Close(im.fd)
}

// mappedMemory is one instance's memory: the image, then zero pages made
// accessible as the memory grows, in one reservation that never moves.
type mappedMemory struct {
	im       *mappedImage
	base     unsafe.Pointer
	reserved uint64
	usable   uint64 // bytes from base that may be read and written
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > m.reserved {
		return nil
	}
	if size > m.usable {
		grow := unsafe.Slice((*byte)(unsafe.Add(m.base, m.usable)), size-m.usable)
		if err := unix.Mprotect(grow, unix.PROT_READ|unix.PROT_WRITE); err != nil {
			return nil
		}
		m.usable = size
	}
	return unsafe.Slice((*byte)(m.base), size)
}

// Free implements experimental.LinearMemory: the memory is kept for the
// module's next instance, or unmapped.
func (m *mappedMemory) Free() {
	if m.base != nil && !m.im.keep(m) {
		m.unmap()
	}
}

func (m *mappedMemory) unmap() {
	unix.MunmapPtr(m.base, uintptr(m.reserved))
	m.base = nil
}

// reset makes the memory what a new instance starts from (the image,
// then zeros up to every byte that may be read and written, so that
// growing into them finds zeros), writing only the pages that differ.
func (m *mappedMemory) reset() {
	engine.ResetMemory(unsafe.Slice((*byte)(m.base), m.usable), m.im.image)
}

package wazero

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mappedImage is a memory image in an anonymous file, mapped privately
// (copy-on-write) into each instance's memory: the kernel shares the pages
// an instance only reads, and copies a page on its first write.
type mappedImage struct {
	fd   int
	size uint64
}

func mapImage(image []byte) *mappedImage {
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
	return &mappedImage{fd: fd, size: uint64(len(image))}
}

// allocate reserves address space for the largest the memory may become,
// inaccessible, and maps the image over its start. nil if the system
// refuses.
func (im *mappedImage) allocate(max uint64) *mappedMemory {
	reserve := max
	if reserve < im.size {
		reserve = im.size
	}
	base, err := unix.MmapPtr(-1, 0, nil, uintptr(reserve), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	if _, err := unix.MmapPtr(im.fd, 0, base, uintptr(im.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
		unix.MunmapPtr(base, uintptr(reserve))
		return nil
	}
	return &mappedMemory{base: base, reserved: reserve, usable: im.size}
}

func (im *mappedImage) close() { unix.Close(im.fd) }

// mappedMemory is one instance's memory: the image, then zero pages made
// accessible as the memory grows, in one reservation that never moves.
type mappedMemory struct {
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

func (m *mappedMemory) Free() {
	if m.base != nil {
		unix.MunmapPtr(m.base, uintptr(m.reserved))
		m.base = nil
	}
}

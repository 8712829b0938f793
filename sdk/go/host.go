package wasmflow

import (
	"runtime"
	"unsafe"
)

// Thin wrappers over the raw host functions: they turn Go byte slices and
// strings into (ptr, len) pairs of the guest's 32-bit memory and keep them
// alive until the host has copied them. The host never keeps a pointer past
// the call (ABI.md, section 3), and Go's garbage collector does not move
// objects, so KeepAlive after the call is all the pinning needed.

func bytesPtr(b []byte) (ptr, n uint32) {
	if len(b) == 0 {
		return 0, 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))), uint32(len(b))
}

func stringPtr(s string) (ptr, n uint32) {
	if len(s) == 0 {
		return 0, 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))), uint32(len(s))
}

// readResult copies n bytes out of the host's result register.
func readResult(n uint32) []byte {
	b := make([]byte, n)
	if n > 0 {
		p, l := bytesPtr(b)
		sysResultRead(p, l)
		runtime.KeepAlive(b)
	}
	return b
}

// result copies the whole result register.
func result() []byte { return readResult(sysResultLen()) }

func hostDeclareWorkflow(name string) {
	p, n := stringPtr(name)
	sysDeclareWorkflow(p, n)
	runtime.KeepAlive(name)
}

func hostDeclareWorkflowOptions(name string, opts []byte) {
	np, nl := stringPtr(name)
	op, ol := bytesPtr(opts)
	sysDeclareWorkflowOptions(np, nl, op, ol)
	runtime.KeepAlive(name)
	runtime.KeepAlive(opts)
}

// hostStepBegin, hostSleep and hostAwaitSignal park when the host answers
// Park, and make the call again once resumed.
func hostStepBegin(name string, opts []byte) uint32 {
	for {
		np, nl := stringPtr(name)
		op, ol := bytesPtr(opts)
		r := sysStepBegin(np, nl, op, ol)
		runtime.KeepAlive(name)
		runtime.KeepAlive(opts)
		if !park(r) {
			return r
		}
	}
}

// hostStepEnd reports whether the run parked: a retry of the step is
// scheduled, and the caller begins the step again.
func hostStepEnd(status uint32, b []byte) (parked bool) {
	p, n := bytesPtr(b)
	r := sysStepEnd(status, p, n)
	runtime.KeepAlive(b)
	return park(r)
}

func hostCursorSet(b []byte) {
	for {
		p, n := bytesPtr(b)
		r := sysCursorSet(p, n)
		runtime.KeepAlive(b)
		if !park(r) {
			return
		}
	}
}

func hostCheckpoint() {
	for park(sysCheckpoint()) {
	}
}

func hostEffectBegin(name string) uint32 {
	p, n := stringPtr(name)
	r := sysEffectBegin(p, n)
	runtime.KeepAlive(name)
	return r
}

func hostEffectEnd(status uint32, b []byte) {
	p, n := bytesPtr(b)
	sysEffectEnd(status, p, n)
	runtime.KeepAlive(b)
}

func hostSleep(name string, ms int64) {
	for {
		p, n := stringPtr(name)
		r := sysSleep(p, n, ms)
		runtime.KeepAlive(name)
		if !park(r) {
			return
		}
	}
}

func hostAwaitSignal(name string, timeoutMS int64) uint32 {
	for {
		p, n := stringPtr(name)
		r := sysAwaitSignal(p, n, timeoutMS)
		runtime.KeepAlive(name)
		if !park(r) {
			return r
		}
	}
}

func hostChildStart(req []byte) uint32 {
	p, n := bytesPtr(req)
	r := sysChildStart(p, n)
	runtime.KeepAlive(req)
	return r
}

// hostChildAwait parks as hostAwaitSignal does.
func hostChildAwait(ids []byte, mode uint32, timeoutMS int64) uint32 {
	for {
		p, n := bytesPtr(ids)
		r := sysChildAwait(p, n, mode, timeoutMS)
		runtime.KeepAlive(ids)
		if !park(r) {
			return r
		}
	}
}

func hostComplete(b []byte) {
	p, n := bytesPtr(b)
	sysComplete(p, n)
	runtime.KeepAlive(b)
}

func hostFail(msg string) {
	p, n := stringPtr(msg)
	sysFail(p, n)
	runtime.KeepAlive(msg)
}

func hostLog(level uint32, b []byte) {
	p, n := bytesPtr(b)
	sysLog(level, p, n)
	runtime.KeepAlive(b)
}

func hostProgress(b []byte) {
	p, n := bytesPtr(b)
	sysProgress(p, n)
	runtime.KeepAlive(b)
}

// hostRandom fills b from the host's random source, in chunks well under
// the host's payload limit.
func hostRandom(b []byte) {
	const chunk = 64 << 10
	for len(b) > 0 {
		c := b[:min(len(b), chunk)]
		p, n := bytesPtr(c)
		sysRandom(p, n)
		runtime.KeepAlive(c)
		b = b[len(c):]
	}
}

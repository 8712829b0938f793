package executor

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"time"

	"github.com/wasmflow/wasmflow/internal/engine"
)

// The WASI functions the host serves itself, on every engine alike,
// replacing the engine's own: the clocks, randomness and poll_oneoff, and
// fd_write. The first are what a language runtime reads its time and seeds
// from, so they must answer the same on wazero and wasmtime for a state
// captured on one to continue on the other, and the monotonic clock must
// continue from a captured state's value instead of restarting with each
// instance. fd_write is the guest's stdout and stderr: served here, they go
// straight to the activation's bounded log, and pile up nowhere (wasmtime's
// own would write them to a file in memory, without bound, until the call
// returns).
func wasiFuncs() []engine.HostFunc {
	i32, i64 := engine.I32, engine.I64
	return []engine.HostFunc{
		wasiFunc("clock_time_get", []engine.ValueType{i32, i64, i32}, wasiClockTimeGet),
		wasiFunc("random_get", []engine.ValueType{i32, i32}, wasiRandomGet),
		wasiFunc("poll_oneoff", []engine.ValueType{i32, i32, i32, i32}, wasiPollOneoff),
		wasiFunc("fd_write", []engine.ValueType{i32, i32, i32, i32}, wasiFdWrite),
	}
}

// WASI errno values.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
)

// WASI clock ids.
const (
	clockRealtime  = 0
	clockMonotonic = 1
)

func wasiFunc(name string, params []engine.ValueType, fn func(ctx context.Context, a *Activation, mem engine.Memory, stack []uint64) uint32) engine.HostFunc {
	return engine.HostFunc{
		Func: engine.Func{Module: engine.WASIModule, Name: name, Params: params, Results: []engine.ValueType{engine.I32}},
		Call: func(ctx context.Context, mem engine.Memory, stack []uint64) error {
			// Outside an activation (an engine used on its own) a nil
			// activation answers with the real clocks and randomness.
			stack[0] = uint64(fn(ctx, fromContext(ctx), mem, stack))
			// A poll_oneoff that slept until the activation's deadline
			// (or a stop) ends the guest call there.
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return nil
		},
	}
}

func wasiClockTimeGet(ctx context.Context, a *Activation, mem engine.Memory, stack []uint64) uint32 {
	var t int64
	switch uint32(stack[0]) {
	case clockRealtime:
		t = a.now().UnixNano()
	case clockMonotonic:
		t = a.monotonic()
	default:
		return errnoInval
	}
	if !mem.Write(uint32(stack[2]), binary.LittleEndian.AppendUint64(nil, uint64(t))) {
		return errnoFault
	}
	return errnoSuccess
}

func wasiRandomGet(ctx context.Context, a *Activation, mem engine.Memory, stack []uint64) uint32 {
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if uint64(ptr)+uint64(n) > uint64(mem.Size()) {
		return errnoFault
	}
	b := make([]byte, n)
	a.random(b)
	mem.Write(ptr, b)
	return errnoSuccess
}

// Sizes of poll_oneoff's records.
const (
	subscriptionSize = 48
	eventSize        = 32
)

// wasiPollOneoff serves clock subscriptions by sleeping, within the call's
// context, until the earliest is due; a guest has no descriptors to wait
// on, so every descriptor subscription is answered at once with EBADF.
func wasiPollOneoff(ctx context.Context, a *Activation, mem engine.Memory, stack []uint64) uint32 {
	in, out, n, neventsPtr := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	if n == 0 {
		return errnoInval
	}
	if uint64(n)*subscriptionSize > uint64(mem.Size()) {
		return errnoFault
	}
	subs, ok := mem.Read(in, n*subscriptionSize)
	if !ok {
		return errnoFault
	}
	type sub struct {
		userdata uint64
		tag      byte
		due      time.Duration // clock: from now
	}
	list := make([]sub, n)
	earliest, fdReady := time.Duration(-1), false
	for i := range list {
		r := subs[i*subscriptionSize:]
		s := sub{userdata: binary.LittleEndian.Uint64(r), tag: r[8]}
		if s.tag == 0 {
			id := binary.LittleEndian.Uint32(r[16:])
			timeout := int64(binary.LittleEndian.Uint64(r[24:]))
			if binary.LittleEndian.Uint16(r[40:])&1 != 0 { // absolute
				switch id {
				case clockRealtime:
					timeout -= a.now().UnixNano()
				case clockMonotonic:
					timeout -= a.monotonic()
				}
			}
			s.due = time.Duration(max(timeout, 0))
			if earliest < 0 || s.due < earliest {
				earliest = s.due
			}
		} else {
			fdReady = true
		}
		list[i] = s
	}
	if !fdReady && earliest > 0 {
		sleepCtx(ctx, earliest)
	}
	events := make([]byte, 0, int(n)*eventSize)
	count := uint32(0)
	for _, s := range list {
		var ev [eventSize]byte
		binary.LittleEndian.PutUint64(ev[0:], s.userdata)
		ev[10] = s.tag
		switch {
		case s.tag != 0:
			binary.LittleEndian.PutUint16(ev[8:], errnoBadf)
		case fdReady || s.due > earliest:
			continue
		}
		events = append(events, ev[:]...)
		count++
	}
	if !mem.Write(out, events) || !mem.Write(neventsPtr, binary.LittleEndian.AppendUint32(nil, count)) {
		return errnoFault
	}
	return errnoSuccess
}

// maxWriteRead bounds the bytes of one fd_write the host reads: the rest
// are answered as written and dropped, as they would be past the log's
// limits anyway.
const maxWriteRead = 1 << 20

// wasiFdWrite serves stdout (1) and stderr (2); every other descriptor is
// EBADF. A buffer outside the memory is EFAULT, and nothing is written.
func wasiFdWrite(ctx context.Context, a *Activation, mem engine.Memory, stack []uint64) uint32 {
	fd, iovs, n, nwritten := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	if fd != 1 && fd != 2 {
		return errnoBadf
	}
	size := uint64(mem.Size())
	if uint64(n)*8 > size || uint64(nwritten)+4 > size {
		return errnoFault
	}
	vec, ok := mem.Read(iovs, n*8)
	if !ok {
		return errnoFault
	}
	total := uint64(0)
	for i := uint32(0); i < n; i++ {
		ptr, l := binary.LittleEndian.Uint32(vec[i*8:]), binary.LittleEndian.Uint32(vec[i*8+4:])
		if uint64(ptr)+uint64(l) > size {
			return errnoFault
		}
		total += uint64(l)
	}
	if total > math.MaxUint32 {
		return errnoInval
	}
	w, left := a.output(fd), uint32(maxWriteRead)
	if w != nil && a.glog != nil && a.glog.spent() {
		// The log takes no more lines: only stderr's tail, for failure
		// messages, still wants the last bytes.
		if fd == 1 || n == 0 {
			w = nil
		} else {
			ptr, l := binary.LittleEndian.Uint32(vec[(n-1)*8:]), binary.LittleEndian.Uint32(vec[(n-1)*8+4:])
			k := min(l, tailSize)
			if b, ok := mem.Read(ptr+l-k, k); ok {
				w.Write(b)
			}
			w = nil
		}
	}
	for i := uint32(0); i < n && w != nil && left > 0; i++ {
		ptr, l := binary.LittleEndian.Uint32(vec[i*8:]), binary.LittleEndian.Uint32(vec[i*8+4:])
		l = min(l, left)
		if b, ok := mem.Read(ptr, l); ok && l > 0 {
			w.Write(b)
		}
		left -= l
	}
	mem.Write(nwritten, binary.LittleEndian.AppendUint32(nil, uint32(total)))
	return errnoSuccess
}

// output is where the guest's descriptor fd (stdout or stderr) goes: the
// activation's outlets, or an instance's stderr tail outside a run; nil
// discards.
func (a *Activation) output(fd uint32) io.Writer {
	switch {
	case a == nil:
		return nil
	case a.out != nil:
		return outlet{o: a.out, stderr: fd == 2}
	case fd == 2 && a.stderr != nil:
		return a.stderr
	}
	return nil
}

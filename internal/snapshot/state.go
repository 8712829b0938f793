// Package snapshot captures and restores the state of a WebAssembly
// instance as plain WebAssembly values: linear memory, mutable globals and
// the guest's monotonic clock. It knows nothing of runs or stores.
//
// Two kinds of state use it. A module's init image is its state after
// _initialize, baked into a rewritten module (Bake) so that every
// activation starts there instead of running the language runtime's start
// again. A run's suspension snapshot is its state when it parked, encoded
// as the chunks that differ from the image. Both are shortcuts: the journal
// is the truth, and a state that cannot be used is thrown away.
package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// PageSize is the WebAssembly page size.
const PageSize = 65536

// chunkSize is the granularity at which Encode compares memory with its
// base.
const chunkSize = 4096

// State is an instance's state.
type State struct {
	// Pages is the memory's size in pages; len(Memory) == Pages*PageSize.
	Pages  uint32
	Memory []byte
	// Globals holds every mutable global, by index.
	Globals []Global
	// Clock is the guest's monotonic clock when the state was captured, in
	// nanoseconds: a restored guest's clock continues from it.
	Clock int64
	// Host is the host's own state of the instance (opaque here), restored
	// with it.
	Host []byte
}

// Global is the value of one mutable global, as its bits (i32 zero-extended,
// floats as IEEE bits).
type Global struct {
	Index uint32
	Type  GlobalType
	Bits  uint64
}

// magic starts every encoded state; its last byte is the format version.
var magic = []byte("wfstate\x02")

// ErrCorrupt wraps every reason Decode refuses bytes.
var ErrCorrupt = errors.New("snapshot is corrupt")

// The zstd encoder is safe for concurrent use and cheap to share. zstd
// decodes several times faster than gzip at a better ratio, and restores
// are on the activation's path; its frames carry a checksum that Decode
// checks. Decoders stream, one per Decode at a time, so that Decode stops
// inflating at what maxPages allows (a frame of 115 KB inflates to 1 GiB).
var (
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithEncoderConcurrency(1))
	// capped decodes a frame that states its size into a buffer of that
	// size, and never past it: a second frame, or a frame that inflates to
	// more than it said, fails.
	capped, _ = zstd.NewReader(nil, zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(maxDecoded))
	decoders  = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecoded))
		if err != nil {
			panic(err) // only for bad options
		}
		return d
	}}
)

// maxDecoded bounds what any Decode inflates: 4 GiB of memory and its
// headers.
const maxDecoded = 1<<32 + 1<<27

// decodedLimit is the most bytes an encoding of at most maxPages of memory
// holds once inflated: the fixed header, the most globals and host state
// Decode accepts, and every chunk of memory with its index.
func decodedLimit(maxPages uint32) int64 {
	mem := int64(maxPages) * PageSize
	return min(20+(1<<16)*13+(1<<26)+mem+(mem/chunkSize+1)*4, maxDecoded)
}

// inflate decompresses b, refusing more than limit bytes of output. A
// frame that states its size (Encode's do) is decoded at once into a buffer
// of that size; any other streams, stopping at limit.
func inflate(b []byte, limit int64) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(b); err == nil && h.HasFCS {
		if h.FrameContentSize > uint64(limit) {
			return nil, fmt.Errorf("it inflates to more than the %d bytes its page limit allows (it says %d)", limit, h.FrameContentSize)
		}
		return capped.DecodeAll(b, make([]byte, 0, h.FrameContentSize))
	}
	d := decoders.Get().(*zstd.Decoder)
	defer decoders.Put(d)
	if err := d.Reset(bytes.NewReader(b)); err != nil {
		return nil, err
	}
	defer d.Reset(nil)
	raw, err := io.ReadAll(io.LimitReader(d, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("it inflates to more than the %d bytes its page limit allows", limit)
	}
	return raw, nil
}

// Encode serializes s, compressed, as the chunks of memory that differ from
// base (or from zero memory when base is nil). Decoding needs the same base.
func Encode(s, base *State) []byte {
	b := make([]byte, 0, 1<<16)
	b = binary.LittleEndian.AppendUint32(b, s.Pages)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.Clock))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Globals)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Host)))
	for _, g := range s.Globals {
		b = binary.LittleEndian.AppendUint32(b, g.Index)
		b = append(b, byte(g.Type))
		b = binary.LittleEndian.AppendUint64(b, g.Bits)
	}
	b = append(b, s.Host...)
	var zero [chunkSize]byte
	for off := 0; off < len(s.Memory); off += chunkSize {
		chunk := s.Memory[off:min(off+chunkSize, len(s.Memory))]
		var was []byte
		if base != nil && off < len(base.Memory) {
			was = base.Memory[off:min(off+chunkSize, len(base.Memory))]
		} else {
			was = zero[:len(chunk)]
		}
		if bytes.Equal(chunk, was) {
			continue
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(off/chunkSize))
		b = append(b, chunk...)
	}
	return encoder.EncodeAll(b, append([]byte(nil), magic...))
}

// Delta is an encoded state as read back: the chunks of memory that differ
// from the base it was encoded against, in offset order.
type Delta struct {
	Pages   uint32
	Globals []Global
	Clock   int64
	Host    []byte
	Chunks  []Chunk
}

// Chunk is a run of memory at Offset.
type Chunk struct {
	Offset uint32
	Data   []byte
}

// State is the whole state the delta makes of base (nil: zero memory).
func (d *Delta) State(base *State) *State {
	s := &State{Pages: d.Pages, Globals: d.Globals, Clock: d.Clock, Host: d.Host, Memory: make([]byte, int(d.Pages)*PageSize)}
	if base != nil {
		copy(s.Memory, base.Memory)
	}
	for _, c := range d.Chunks {
		copy(s.Memory[c.Offset:], c.Data)
	}
	return s
}

// Decode reads what Encode wrote. It refuses bytes that are truncated,
// altered or larger than maxPages of memory, wrapping ErrCorrupt. Which
// base the state was encoded against is the caller's to know.
func Decode(b []byte, maxPages uint32) (*Delta, error) {
	if !bytes.HasPrefix(b, magic) {
		return nil, fmt.Errorf("%w: it does not start with the snapshot format's magic bytes", ErrCorrupt)
	}
	raw, err := inflate(b[len(magic):], decodedLimit(maxPages))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	r := &reader{b: raw}
	d := &Delta{}
	fixed := r.take(20)
	if r.err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorrupt, r.err)
	}
	d.Pages = binary.LittleEndian.Uint32(fixed[0:])
	d.Clock = int64(binary.LittleEndian.Uint64(fixed[4:]))
	n := binary.LittleEndian.Uint32(fixed[12:])
	hostLen := binary.LittleEndian.Uint32(fixed[16:])
	if d.Pages > maxPages {
		return nil, fmt.Errorf("%w: %d pages, over the limit of %d", ErrCorrupt, d.Pages, maxPages)
	}
	if n > 1<<16 || hostLen > 1<<26 {
		return nil, fmt.Errorf("%w: %d globals, %d bytes of host state", ErrCorrupt, n, hostLen)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		g := r.take(13)
		if r.err == nil {
			d.Globals = append(d.Globals, Global{Index: binary.LittleEndian.Uint32(g[0:]), Type: GlobalType(g[4]), Bits: binary.LittleEndian.Uint64(g[5:])})
		}
	}
	d.Host = r.take(int(hostLen))
	if r.err != nil {
		return nil, fmt.Errorf("%w: globals and host state: %v", ErrCorrupt, r.err)
	}
	size := uint64(d.Pages) * PageSize
	for r.off < len(r.b) {
		idx := r.take(4)
		if r.err != nil {
			return nil, fmt.Errorf("%w: memory: %v", ErrCorrupt, r.err)
		}
		off := uint64(binary.LittleEndian.Uint32(idx)) * chunkSize
		if off >= size || (len(d.Chunks) > 0 && uint64(d.Chunks[len(d.Chunks)-1].Offset) >= off) {
			return nil, fmt.Errorf("%w: chunk at %d out of order or beyond the memory's %d bytes", ErrCorrupt, off, size)
		}
		data := r.take(int(min(chunkSize, size-off)))
		if r.err != nil {
			return nil, fmt.Errorf("%w: memory: %v", ErrCorrupt, r.err)
		}
		d.Chunks = append(d.Chunks, Chunk{Offset: uint32(off), Data: data})
	}
	return d, nil
}

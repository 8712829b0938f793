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
	"hash/crc32"
	"runtime"
	"sync"

	"github.com/klauspost/compress/s2"
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
var magic = []byte("wfstate\x04")

// ErrCorrupt wraps every reason Decode and Apply refuse bytes.
var ErrCorrupt = errors.New("snapshot is corrupt")

// An encoded state is magic, the length of its header frame (uint32), the
// header frame, and its memory's parts, each a frame of its own:
//
//	header: pages u32 | clock u64 | globals u32 | host u32 |
//	        globals (index u32, type u8, bits u64)... | host bytes |
//	        chunks u32 | chunk index u32... (ascending) |
//	        parts u32 | part length u32...
//	part i: the data of chunks [i*partChunks, (i+1)*partChunks), each
//	        chunkSize bytes, in index order
//
// A frame is the CRC-32C (Castagnoli, little-endian u32) of an S2 block
// (github.com/klauspost/compress/s2), then the block, which states the
// size it inflates to. The parts are independent so that they are
// compressed and inflated on several cores at once, straight into the
// memory they restore.
const partChunks = 128

// S2 inflates about 2.4 times as fast as zstd does on these states, for
// about twice the bytes (RATIONALE.md, "What a restore costs"), and
// restores are on the activation's path. A frame's checksum covers its
// block, so that bytes altered in the store are refused before they are
// inflated. Every frame states its size, and inflate never inflates one
// past it (nor past the buffer it is given), so that a small frame that
// claims or holds far more than its page limit allows costs nothing to
// refuse.
var (
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
	partBuffers = sync.Pool{New: func() any { b := make([]byte, partChunks*chunkSize); return &b }}
)

// deflate compresses raw into one frame.
func deflate(raw []byte) []byte {
	scratch := make([]byte, 4+s2.MaxEncodedLen(len(raw)))
	block := s2.Encode(scratch[4:], raw)
	out := make([]byte, 4+len(block))
	binary.LittleEndian.PutUint32(out, crc32.Checksum(block, castagnoli))
	copy(out[4:], block)
	return out
}

// inflate decompresses one frame of at most limit bytes. Into dst, when
// given, the frame must inflate to exactly cap(dst) bytes; otherwise into
// a buffer of the size the frame states. It refuses a frame that fails
// its checksum, states a wrong size, or holds anything else.
func inflate(b, dst []byte, limit int) ([]byte, error) {
	if len(b) < 4 {
		return nil, errors.New("a frame is cut off")
	}
	block := b[4:]
	if crc32.Checksum(block, castagnoli) != binary.LittleEndian.Uint32(b) {
		return nil, errors.New("a frame fails its checksum")
	}
	n, err := s2.DecodedLen(block)
	switch {
	case err != nil:
		return nil, err
	case n > limit:
		return nil, fmt.Errorf("it inflates to more than the %d bytes its page limit allows (it says %d)", limit, n)
	case dst == nil:
		dst = make([]byte, n)
	case n != cap(dst):
		return nil, fmt.Errorf("a frame holds %d bytes where %d belong", n, cap(dst))
	}
	out, err := s2.Decode(dst[:n], block)
	if err != nil {
		return nil, err
	}
	if len(out) != n || (n > 0 && &out[0] != &dst[:1][0]) {
		return nil, errors.New("a frame inflates to other than its stated size")
	}
	return out, nil
}

// headerLimit is the largest header an encoding of at most maxPages of
// memory has once inflated: the fixed fields, the most globals and host
// state Decode accepts, and an index and a part length for every chunk.
func headerLimit(maxPages uint32) int {
	chunks := int(uint64(maxPages) * PageSize / chunkSize)
	return 28 + (1<<16)*13 + (1 << 26) + chunks*4 + (chunks/partChunks+1)*4
}

// Encode serializes s, compressed, as the chunks of memory that differ from
// base (or from zero memory when base is nil). Decoding needs the same base.
func Encode(s, base *State) []byte {
	var zero [chunkSize]byte
	var chunks []uint32
	for off := 0; off < len(s.Memory); off += chunkSize {
		chunk := s.Memory[off:min(off+chunkSize, len(s.Memory))]
		var was []byte
		if base != nil && off < len(base.Memory) {
			was = base.Memory[off:min(off+chunkSize, len(base.Memory))]
		} else {
			was = zero[:len(chunk)]
		}
		if !bytes.Equal(chunk, was) {
			chunks = append(chunks, uint32(off/chunkSize))
		}
	}
	parts := make([][]byte, (len(chunks)+partChunks-1)/partChunks)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() {
			own := chunks[i*partChunks : min((i+1)*partChunks, len(chunks))]
			raw := make([]byte, 0, len(own)*chunkSize)
			for _, c := range own {
				raw = append(raw, s.Memory[int(c)*chunkSize:][:chunkSize]...)
			}
			parts[i] = deflate(raw)
		})
	}
	h := make([]byte, 0, 28+len(s.Globals)*13+len(s.Host)+len(chunks)*4+len(parts)*4)
	h = binary.LittleEndian.AppendUint32(h, s.Pages)
	h = binary.LittleEndian.AppendUint64(h, uint64(s.Clock))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(s.Globals)))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(s.Host)))
	for _, g := range s.Globals {
		h = binary.LittleEndian.AppendUint32(h, g.Index)
		h = append(h, byte(g.Type))
		h = binary.LittleEndian.AppendUint64(h, g.Bits)
	}
	h = append(h, s.Host...)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(chunks)))
	for _, c := range chunks {
		h = binary.LittleEndian.AppendUint32(h, c)
	}
	wg.Wait()
	h = binary.LittleEndian.AppendUint32(h, uint32(len(parts)))
	size := 0
	for _, p := range parts {
		h = binary.LittleEndian.AppendUint32(h, uint32(len(p)))
		size += len(p)
	}
	hz := deflate(h)
	out := make([]byte, 0, len(magic)+4+len(hz)+size)
	out = append(out, magic...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(hz)))
	out = append(out, hz...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Delta is an encoded state as read back: its header decoded, its memory
// still compressed, to be written into memory holding the base it was
// encoded against (Apply).
type Delta struct {
	Pages   uint32
	Globals []Global
	Clock   int64
	Host    []byte
	chunks  []uint32 // indexes of the chunks that differ from the base
	parts   [][]byte // their data, compressed, partChunks chunks a part
}

// Chunks is the number of chunks of memory the delta writes.
func (d *Delta) Chunks() int { return len(d.chunks) }

// Apply writes the delta's memory into mem, which holds the base it was
// encoded against and is at least Pages*PageSize long. It inflates the
// parts on as many cores as there are, each straight into mem where its
// chunks are contiguous. An error wraps ErrCorrupt; mem may then hold part
// of the delta.
func (d *Delta) Apply(mem []byte) error {
	if len(mem) < int(d.Pages)*PageSize {
		return fmt.Errorf("memory of %d bytes is smaller than the state's %d pages", len(mem), d.Pages)
	}
	errs := make([]error, len(d.parts))
	next := make(chan int, len(d.parts))
	for i := range d.parts {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(len(d.parts), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = d.applyPart(mem, i)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: memory: %v", ErrCorrupt, err)
	}
	return nil
}

func (d *Delta) applyPart(mem []byte, i int) error {
	own := d.chunks[i*partChunks : min((i+1)*partChunks, len(d.chunks))]
	first, size := int(own[0])*chunkSize, len(own)*chunkSize
	if int(own[len(own)-1]-own[0]) == len(own)-1 {
		_, err := inflate(d.parts[i], mem[first:first:first+size], size)
		return err
	}
	buf := partBuffers.Get().(*[]byte)
	defer partBuffers.Put(buf)
	raw, err := inflate(d.parts[i], (*buf)[:0:size], size)
	if err != nil {
		return err
	}
	for k := 0; k < len(own); {
		// Copy each run of contiguous chunks at once.
		n := 1
		for k+n < len(own) && own[k+n] == own[k]+uint32(n) {
			n++
		}
		copy(mem[int(own[k])*chunkSize:], raw[k*chunkSize:(k+n)*chunkSize])
		k += n
	}
	return nil
}

// State is the whole state the delta makes of base (nil: zero memory).
func (d *Delta) State(base *State) (*State, error) {
	s := &State{Pages: d.Pages, Globals: d.Globals, Clock: d.Clock, Host: d.Host, Memory: make([]byte, int(d.Pages)*PageSize)}
	if base != nil {
		copy(s.Memory, base.Memory)
	}
	if err := d.Apply(s.Memory); err != nil {
		return nil, err
	}
	return s, nil
}

// Decode reads what Encode wrote: its header at once, its memory when
// applied. It refuses bytes that are truncated, altered in the header or
// larger than maxPages of memory, wrapping ErrCorrupt; altered memory is
// found by Apply. Which base the state was encoded against is the caller's
// to know.
func Decode(b []byte, maxPages uint32) (*Delta, error) {
	if !bytes.HasPrefix(b, magic) || len(b) < len(magic)+4 {
		return nil, fmt.Errorf("%w: it does not start with the snapshot format's magic bytes", ErrCorrupt)
	}
	b = b[len(magic):]
	hlen := binary.LittleEndian.Uint32(b)
	if uint64(hlen) > uint64(len(b)-4) {
		return nil, fmt.Errorf("%w: its header is cut off", ErrCorrupt)
	}
	raw, err := inflate(b[4:4+hlen], nil, headerLimit(maxPages))
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	rest := b[4+hlen:]
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
	if err := d.readChunks(r, rest); err != nil {
		return nil, fmt.Errorf("%w: memory: %v", ErrCorrupt, err)
	}
	return d, nil
}

// readChunks reads the header's chunk indexes and part lengths and cuts
// rest into the parts.
func (d *Delta) readChunks(r *reader, rest []byte) error {
	total := uint32(uint64(d.Pages) * PageSize / chunkSize)
	n := r.u32le()
	if r.err != nil || n > total {
		return fmt.Errorf("%d chunks in %d pages (%v)", n, d.Pages, r.err)
	}
	d.chunks = make([]uint32, n)
	for i := range d.chunks {
		d.chunks[i] = r.u32le()
		if r.err != nil {
			return r.err
		}
		if d.chunks[i] >= total || (i > 0 && d.chunks[i] <= d.chunks[i-1]) {
			return fmt.Errorf("chunk %d out of order or beyond the memory's %d pages", d.chunks[i], d.Pages)
		}
	}
	parts := r.u32le()
	if r.err != nil || parts != (n+partChunks-1)/partChunks {
		return fmt.Errorf("%d parts for %d chunks (%v)", parts, n, r.err)
	}
	d.parts = make([][]byte, parts)
	for i := range d.parts {
		size := r.u32le()
		if r.err != nil || uint64(size) > uint64(len(rest)) {
			return fmt.Errorf("part %d is cut off (%v)", i, r.err)
		}
		d.parts[i], rest = rest[:size], rest[size:]
	}
	if r.off != len(r.b) || len(rest) != 0 {
		return fmt.Errorf("%d bytes of header and %d of memory follow the last part", len(r.b)-r.off, len(rest))
	}
	return nil
}

// u32le reads a little-endian uint32.
func (r *reader) u32le() uint32 {
	b := r.take(4)
	if r.err != nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

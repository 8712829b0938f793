package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// GlobalExportPrefix names the exports Instrument adds: the mutable global at
// index N of the module's global index space is exported as
// GlobalExportPrefix + N. Guests must not use the prefix for their own
// exports.
const GlobalExportPrefix = "__wasmflow_global_"

// ErrNotImageable wraps every reason a module's state cannot be captured or
// baked: the module then runs as it was uploaded.
var ErrNotImageable = errors.New("module state cannot be imaged")

func notImageable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotImageable, fmt.Sprintf(format, args...))
}

// Section ids of WebAssembly 2.0.
const (
	secCustom    = 0
	secImport    = 2
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secData      = 11
	secDataCount = 12
)

// Value types that globals may have and that Instrument can carry.
const (
	typeI32 = 0x7f
	typeI64 = 0x7e
	typeF32 = 0x7d
	typeF64 = 0x7c
)

// GlobalType is the value type of a mutable global: one of "i32", "i64",
// "f32", "f64".
type GlobalType byte

func (t GlobalType) String() string {
	switch t {
	case typeI32:
		return "i32"
	case typeI64:
		return "i64"
	case typeF32:
		return "f32"
	case typeF64:
		return "f64"
	}
	return "0x" + strconv.FormatUint(uint64(t), 16)
}

// Layout is what Parse learned of a module: enough to capture its state and
// to bake a state back into it.
type Layout struct {
	// Globals are the module's mutable globals, in index order.
	Globals []GlobalDef
	// MemoryMin and MemoryMax are the declared limits of memory 0, in pages
	// (HasMax false: no maximum).
	MemoryMin, MemoryMax uint32
	HasMax               bool

	importedGlobals uint32
	sections        []section
}

// GlobalDef is one mutable global.
type GlobalDef struct {
	Index uint32 // in the global index space (imported globals first)
	Type  GlobalType
}

// ExportName is the name Instrument exports the global under.
func (g GlobalDef) ExportName() string {
	return GlobalExportPrefix + strconv.FormatUint(uint64(g.Index), 10)
}

type section struct {
	id   byte
	body []byte // the section's content, without id and size
}

// Parse reads the section structure of a module and checks that its state
// can be imaged: one memory of its own (32-bit, not shared), mutable globals
// of number types only, no passive data segments, and no data count section
// (whose instructions name data segments by index, which baking renumbers).
// It reads only what those checks need: the code is not decoded.
func Parse(wasm []byte) (*Layout, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], []byte("\x00asm")) || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return nil, notImageable("not a WebAssembly 1.0 binary")
	}
	l := &Layout{}
	r := &reader{b: wasm, off: 8}
	memories := 0
	for r.off < len(r.b) {
		id := r.byte()
		size := r.u32()
		body := r.take(int(size))
		if r.err != nil {
			return nil, notImageable("truncated section: %v", r.err)
		}
		l.sections = append(l.sections, section{id: id, body: body})
		var err error
		switch id {
		case secImport:
			l.importedGlobals, err = checkImports(body)
		case secMemory:
			memories, err = l.readMemory(body)
		case secGlobal:
			err = l.readGlobals(body, l.importedGlobals)
		case secData:
			err = checkData(body)
		case secDataCount:
			err = notImageable("it has a data count section (memory.init or data.drop)")
		case 13:
			err = notImageable("it uses exception handling (a tag section)")
		}
		if err != nil {
			return nil, err
		}
		if id > 13 {
			return nil, notImageable("unknown section id %d", id)
		}
	}
	if memories != 1 {
		return nil, notImageable("it defines %d memories; exactly one is supported", memories)
	}
	return l, nil
}

func checkImports(body []byte) (globals uint32, err error) {
	r := &reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.name()
		r.name()
		switch kind := r.byte(); kind {
		case 0: // function
			r.u32()
		case 1: // table
			r.byte()
			r.limits()
		case 2:
			return 0, notImageable("it imports a memory")
		case 3:
			r.byte()
			if r.byte() == 1 {
				return 0, notImageable("it imports a mutable global")
			}
			globals++
		default:
			return 0, notImageable("unknown import kind %d", kind)
		}
	}
	return globals, r.err
}

func (l *Layout) readMemory(body []byte) (int, error) {
	r := &reader{b: body}
	n := r.u32()
	if n != 1 {
		return int(n), r.err
	}
	flags := r.byte()
	if flags&^1 != 0 {
		return 0, notImageable("its memory is shared or 64-bit (limits flags %#x)", flags)
	}
	l.MemoryMin = r.u32()
	if flags&1 != 0 {
		l.HasMax, l.MemoryMax = true, r.u32()
	}
	return 1, r.err
}

func (l *Layout) readGlobals(body []byte, imported uint32) error {
	r := &reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		t := r.byte()
		mut := r.byte()
		r.constExpr()
		if mut != 1 {
			continue
		}
		switch t {
		case typeI32, typeI64, typeF32, typeF64:
		default:
			return notImageable("mutable global %d has type %#x", imported+i, t)
		}
		l.Globals = append(l.Globals, GlobalDef{Index: imported + i, Type: GlobalType(t)})
	}
	return r.err
}

func checkData(body []byte) error {
	r := &reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch flags := r.u32(); flags {
		case 0:
		case 2:
			if r.u32() != 0 {
				return notImageable("data segment %d names another memory", i)
			}
		default:
			return notImageable("data segment %d is passive", i)
		}
		r.constExpr()
		r.take(int(r.u32()))
	}
	return r.err
}

// Instrument returns the module with every mutable global exported under
// GlobalDef.ExportName, so that an engine can read and set it. Nothing else
// changes.
func Instrument(wasm []byte, l *Layout) []byte {
	return l.encode(wasm, nil)
}

// Bake returns the module rewritten to start in state s: memory 0 declared
// with s's size and initialized with s's non-zero bytes (or, with segments
// false, with no data segments at all, for an engine given s.Memory to
// start instances with), mutable globals
// initialized with s's values, no start function and no _initialize export
// (both already ran when s was captured). Globals stay exported as
// Instrument does, so that later states can be captured and restored too.
// The function bodies are untouched.
func Bake(wasm []byte, l *Layout, s *State, segments bool) ([]byte, error) {
	if l.HasMax && s.Pages > l.MemoryMax {
		return nil, notImageable("state has %d pages, over the memory's maximum of %d", s.Pages, l.MemoryMax)
	}
	values := make(map[uint32]uint64, len(s.Globals))
	for _, g := range s.Globals {
		values[g.Index] = g.Bits
	}
	for _, g := range l.Globals {
		if _, ok := values[g.Index]; !ok {
			return nil, notImageable("state lacks mutable global %d", g.Index)
		}
	}
	return l.encode(wasm, &bakeArgs{state: s, values: values, segments: segments}), nil
}

type bakeArgs struct {
	state    *State
	values   map[uint32]uint64
	segments bool
}

func (b *bakeArgs) data() []byte {
	if !b.segments {
		return appendU32(nil, 0)
	}
	return dataSegments(b.state.Memory)
}

// dataSegmentGap is the run of zero bytes that ends a baked data segment:
// shorter runs are copied as part of the segment. Engines pay per segment
// (wazero notably), and a Go guest's memory is full of short zero runs.
const dataSegmentGap = 4096

func (l *Layout) encode(wasm []byte, bake *bakeArgs) []byte {
	out := bytes.NewBuffer(make([]byte, 0, len(wasm)+1024))
	out.Write(wasm[:8])
	wroteExports, wroteData := false, false
	for _, s := range l.sections {
		body := s.body
		switch s.id {
		case secExport:
			body = l.exports(body, bake != nil)
			wroteExports = true
		case secMemory:
			if bake != nil {
				body = l.memory(bake.state.Pages)
			}
		case secGlobal:
			if bake != nil {
				body = l.globals(body, bake.values)
			}
		case secStart:
			if bake != nil {
				continue
			}
		case secData:
			if bake != nil {
				body = bake.data()
				wroteData = true
			}
		}
		if !wroteExports && s.id > secExport {
			writeSection(out, secExport, l.exports(nil, bake != nil))
			wroteExports = true
		}
		writeSection(out, s.id, body)
	}
	if !wroteExports {
		writeSection(out, secExport, l.exports(nil, bake != nil))
	}
	if bake != nil && !wroteData && bake.segments {
		writeSection(out, secData, bake.data())
	}
	return out.Bytes()
}

func writeSection(out *bytes.Buffer, id byte, body []byte) {
	out.WriteByte(id)
	out.Write(appendU32(nil, uint32(len(body))))
	out.Write(body)
}

// exports rewrites the export section: the module's own exports (less
// _initialize when baking) and one per mutable global.
func (l *Layout) exports(body []byte, baking bool) []byte {
	type export struct {
		name  []byte
		kind  byte
		index uint32
	}
	var list []export
	if body != nil {
		r := &reader{b: body}
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			e := export{name: r.name(), kind: r.byte(), index: r.u32()}
			if baking && e.kind == 0 && string(e.name) == "_initialize" {
				continue
			}
			if bytes.HasPrefix(e.name, []byte(GlobalExportPrefix)) {
				continue // exported again below
			}
			list = append(list, e)
		}
	}
	for _, g := range l.Globals {
		list = append(list, export{name: []byte(g.ExportName()), kind: 3, index: g.Index})
	}
	b := appendU32(nil, uint32(len(list)))
	for _, e := range list {
		b = appendU32(b, uint32(len(e.name)))
		b = append(b, e.name...)
		b = append(b, e.kind)
		b = appendU32(b, e.index)
	}
	return b
}

func (l *Layout) memory(pages uint32) []byte {
	b := appendU32(nil, 1)
	if l.HasMax {
		b = append(b, 1)
		b = appendU32(b, pages)
		return appendU32(b, l.MemoryMax)
	}
	b = append(b, 0)
	return appendU32(b, pages)
}

func (l *Layout) globals(body []byte, values map[uint32]uint64) []byte {
	r := &reader{b: body}
	n := r.u32()
	b := appendU32(nil, n)
	for i := uint32(0); i < n; i++ {
		start := r.off
		t := r.byte()
		mut := r.byte()
		r.constExpr()
		v, ok := values[l.importedGlobals+i]
		if mut != 1 || !ok {
			b = append(b, body[start:r.off]...)
			continue
		}
		b = append(b, t, mut)
		switch t {
		case typeI32:
			b = append(b, 0x41)
			b = appendS64(b, int64(int32(uint32(v))))
		case typeI64:
			b = append(b, 0x42)
			b = appendS64(b, int64(v))
		case typeF32:
			b = append(b, 0x43)
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		case typeF64:
			b = append(b, 0x44)
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		b = append(b, 0x0b)
	}
	return b
}

// dataSegments encodes mem's non-zero bytes as active segments of memory 0.
func dataSegments(mem []byte) []byte {
	type seg struct{ start, end int }
	var segs []seg
	for i := 0; i < len(mem); {
		for i < len(mem) && mem[i] == 0 {
			i++
		}
		if i == len(mem) {
			break
		}
		start, zeros := i, 0
		for i < len(mem) && zeros < dataSegmentGap {
			if mem[i] == 0 {
				zeros++
			} else {
				zeros = 0
			}
			i++
		}
		segs = append(segs, seg{start, i - zeros})
	}
	b := appendU32(nil, uint32(len(segs)))
	for _, s := range segs {
		b = append(b, 0, 0x41)
		b = appendS64(b, int64(int32(uint32(s.start))))
		b = append(b, 0x0b)
		b = appendU32(b, uint32(s.end-s.start))
		b = append(b, mem[s.start:s.end]...)
	}
	return b
}

// reader decodes the binary format; the first error sticks and every read
// after it returns zero values.
type reader struct {
	b   []byte
	off int
	err error
}

var errTruncated = errors.New("unexpected end of section")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) take(n int) []byte {
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errTruncated)
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) u32() uint32 {
	v, n := binary.Uvarint(r.b[min(r.off, len(r.b)):])
	if n <= 0 || n > 5 || v > math.MaxUint32 {
		r.fail(errors.New("bad u32"))
		return 0
	}
	r.off += n
	return uint32(v)
}

func (r *reader) s64() {
	for i := 0; i < 10; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail(errors.New("bad signed integer"))
}

func (r *reader) name() []byte { return r.take(int(r.u32())) }

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// constExpr skips a constant expression up to and including its end.
func (r *reader) constExpr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0b:
			return
		case 0x41, 0x42: // i32.const, i64.const
			r.s64()
		case 0x43:
			r.take(4)
		case 0x44:
			r.take(8)
		case 0x23, 0xd2: // global.get, ref.func
			r.u32()
		case 0xd0: // ref.null
			r.byte()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		case 0xfd: // v128.const
			if r.u32() != 12 {
				r.fail(errors.New("unsupported instruction in constant expression"))
			}
			r.take(16)
		default:
			r.fail(fmt.Errorf("unsupported instruction %#x in constant expression", op))
		}
	}
}

func appendU32(b []byte, v uint32) []byte { return binary.AppendUvarint(b, uint64(v)) }

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

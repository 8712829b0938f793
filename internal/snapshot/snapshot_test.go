package snapshot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmflow/wasmflow/internal/snapshot"
)

// A module built by hand, byte by byte, so that the tests control every
// section: memory 1..10 pages with "hello" at 0; globals 0 (immutable i32
// 7), 1 (mutable i32 1), 2 (mutable i64 -5), 3 (mutable f64 0.5);
// _initialize sets global 1 to 42, global 2 to 1<<40 and global 3 to 2.5,
// stores 0xdeadbeef at 70000 after growing memory by a page; bump adds 1 to
// global 1.
func testModule(extra ...section) []byte {
	return testModuleWithData(cat([]byte{0, 0x41, 0, 0x0b}, name("hello")), extra...)
}

// testModuleWithData is testModule with seg as its one data segment.
func testModuleWithData(seg []byte, extra ...section) []byte {
	var b []byte
	b = append(b, "\x00asm\x01\x00\x00\x00"...)
	b = sec(b, 1, vec(1, []byte{0x60, 0, 0})) // type 0: () -> ()
	b = sec(b, 3, vec(2, []byte{0, 0}))       // two functions of type 0
	b = sec(b, 5, vec(1, []byte{1, 1, 10}))   // memory min 1 max 10
	b = sec(b, 6, vec(4, cat(
		[]byte{0x7f, 0, 0x41, 7, 0x0b},
		[]byte{0x7f, 1, 0x41, 1, 0x0b},
		[]byte{0x7e, 1, 0x42, 0x7b, 0x0b}, // -5
		append([]byte{0x7c, 1, 0x44}, append(f64(0.5), 0x0b)...),
	)))
	b = sec(b, 7, vec(3, cat(name("memory"), []byte{2, 0}, name("_initialize"), []byte{0, 0}, name("bump"), []byte{0, 1})))
	for _, s := range extra {
		b = sec(b, s.id, s.body)
	}
	initBody := cat(
		[]byte{0x41, 42, 0x24, 1}, // global.set 1 (i32 42)
		append([]byte{0x42}, sleb(1<<40)...), []byte{0x24, 2},
		append([]byte{0x44}, f64(2.5)...), []byte{0x24, 3},
		[]byte{0x41, 1, 0x40, 0, 0x1a}, // memory.grow 1; drop
		append([]byte{0x41}, sleb(70000)...),
		append([]byte{0x41}, sleb(int64(int32(-559038737)))...), // 0xdeadbeef
		[]byte{0x36, 2, 0},                                      // i32.store align=2 offset=0
		[]byte{0x0b},
	)
	bumpBody := []byte{0x23, 1, 0x41, 1, 0x6a, 0x24, 1, 0x0b}
	b = sec(b, 10, vec(2, cat(fn(initBody), fn(bumpBody))))
	b = sec(b, 11, vec(1, seg))
	return b
}

type section struct {
	id   byte
	body []byte
}

func fn(body []byte) []byte { return cat(uleb(uint64(len(body)+1)), []byte{0}, body) }
func sec(b []byte, id byte, body []byte) []byte {
	return cat(b, []byte{id}, uleb(uint64(len(body))), body)
}
func vec(n int, items []byte) []byte { return cat(uleb(uint64(n)), items) }
func name(s string) []byte           { return cat(uleb(uint64(len(s))), []byte(s)) }
func f64(v float64) []byte {
	bits := math.Float64bits(v)
	out := make([]byte, 8)
	for i := range out {
		out[i] = byte(bits >> (8 * i))
	}
	return out
}
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func instantiate(t *testing.T, rt wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	t.Cleanup(func() { mod.Close(ctx) })
	return mod
}

func TestParseFindsMutableGlobalsAndMemory(t *testing.T) {
	t.Parallel()
	l, err := snapshot.Parse(testModule())
	if err != nil {
		t.Fatal(err)
	}
	want := []snapshot.GlobalDef{{Index: 1, Type: 0x7f}, {Index: 2, Type: 0x7e}, {Index: 3, Type: 0x7c}}
	if len(l.Globals) != len(want) {
		t.Fatalf("globals %v, want %v", l.Globals, want)
	}
	for i := range want {
		if l.Globals[i] != want[i] {
			t.Errorf("global %d: %v, want %v", i, l.Globals[i], want[i])
		}
	}
	if l.MemoryMin != 1 || !l.HasMax || l.MemoryMax != 10 {
		t.Errorf("memory limits %d..%d (max %v), want 1..10", l.MemoryMin, l.MemoryMax, l.HasMax)
	}
}

// capture runs _initialize in the instrumented module and reads its state
// through the exports Instrument added.
func capture(t *testing.T, rt wazero.Runtime, wasm []byte, l *snapshot.Layout) *snapshot.State {
	t.Helper()
	mod := instantiate(t, rt, snapshot.Instrument(wasm, l))
	if _, err := mod.ExportedFunction("_initialize").Call(context.Background()); err != nil {
		t.Fatal(err)
	}
	mem, _ := mod.Memory().Read(0, mod.Memory().Size())
	s := &snapshot.State{Pages: mod.Memory().Size() / snapshot.PageSize, Memory: bytes.Clone(mem), Clock: 12345}
	for _, g := range l.Globals {
		eg := mod.ExportedGlobal(g.ExportName())
		if eg == nil {
			t.Fatalf("global %d is not exported as %s", g.Index, g.ExportName())
		}
		s.Globals = append(s.Globals, snapshot.Global{Index: g.Index, Type: g.Type, Bits: eg.Get()})
	}
	return s
}

func TestBakedModuleStartsInTheCapturedState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	defer rt.Close(ctx)
	wasm := testModule()
	l, err := snapshot.Parse(wasm)
	if err != nil {
		t.Fatal(err)
	}
	s := capture(t, rt, wasm, l)
	if s.Pages != 2 {
		t.Fatalf("captured %d pages, want 2 (grown by _initialize)", s.Pages)
	}
	for _, segments := range []bool{true, false} {
		baked, err := snapshot.Bake(wasm, l, s, segments)
		if err != nil {
			t.Fatal(err)
		}
		mod := instantiate(t, rt, baked)
		if mod.ExportedFunction("_initialize") != nil {
			t.Errorf("segments=%v: the baked module still exports _initialize", segments)
		}
		if got := mod.Memory().Size(); got != 2*snapshot.PageSize {
			t.Errorf("segments=%v: memory is %d bytes, want 2 pages", segments, got)
		}
		mem, _ := mod.Memory().Read(0, mod.Memory().Size())
		if segments && !bytes.Equal(mem, s.Memory) {
			t.Errorf("segments=%v: memory differs from the captured state", segments)
		}
		if !segments && bytes.Count(mem, []byte{0}) != len(mem) {
			t.Errorf("segments=%v: memory is not all zero without data segments", segments)
		}
		for _, g := range s.Globals {
			if got := mod.ExportedGlobal(snapshot.GlobalExportPrefix + strconv.Itoa(int(g.Index))).Get(); got != g.Bits {
				t.Errorf("segments=%v: global %d is %#x, want %#x", segments, g.Index, got, g.Bits)
			}
		}
		// The code is the original's: bump still works on the baked globals.
		if _, err := mod.ExportedFunction("bump").Call(ctx); err != nil {
			t.Fatal(err)
		}
		if got := mod.ExportedGlobal(snapshot.GlobalExportPrefix + "1").Get(); got != 43 {
			t.Errorf("segments=%v: after bump, global 1 is %d, want 43", segments, got)
		}
	}
	if got := s.Globals[1].Bits; got != 1<<40 {
		t.Errorf("captured global 2 is %d, want 1<<40", got)
	}
	if got := math.Float64frombits(s.Globals[2].Bits); got != 2.5 {
		t.Errorf("captured global 3 is %v, want 2.5", got)
	}
}

func TestBakeRefusesAStateLargerThanTheMemoryMaximum(t *testing.T) {
	t.Parallel()
	wasm := testModule()
	l, _ := snapshot.Parse(wasm)
	s := &snapshot.State{Pages: 11, Memory: make([]byte, 11*snapshot.PageSize)}
	for _, g := range l.Globals {
		s.Globals = append(s.Globals, snapshot.Global{Index: g.Index, Type: g.Type})
	}
	if _, err := snapshot.Bake(wasm, l, s, true); !errors.Is(err, snapshot.ErrNotImageable) {
		t.Fatalf("bake of 11 pages into a memory of at most 10: %v, want ErrNotImageable", err)
	}
}

func TestParseRefusesWhatCannotBeImaged(t *testing.T) {
	t.Parallel()
	withDataCount := testModule(section{id: 12, body: uleb(1)})
	cases := []struct {
		name string
		wasm []byte
	}{
		{"bytes that are not WebAssembly", []byte("not wasm at all")},
		{"a truncated module", testModule()[:40]},
		{"a data count section", withDataCount},
		{"a passive data segment", testModuleWithData(cat([]byte{1}, name("hello")))},
		{"a data segment of another memory", testModuleWithData(cat([]byte{2, 1, 0x41, 0, 0x0b}, name("hello")))},
	}
	for _, c := range cases {
		if _, err := snapshot.Parse(c.wasm); !errors.Is(err, snapshot.ErrNotImageable) {
			t.Errorf("%s: %v, want ErrNotImageable", c.name, err)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	base := &snapshot.State{Pages: 2, Memory: make([]byte, 2*snapshot.PageSize), Clock: 7}
	copy(base.Memory[100:], "base bytes")
	s := &snapshot.State{Pages: 3, Memory: make([]byte, 3*snapshot.PageSize), Clock: 99, Host: []byte("host state"),
		Globals: []snapshot.Global{{Index: 1, Type: 0x7f, Bits: 42}, {Index: 5, Type: 0x7e, Bits: math.MaxUint64}}}
	copy(s.Memory, base.Memory)
	copy(s.Memory[70000:], "changed later")
	copy(s.Memory[3*snapshot.PageSize-4:], "end!")
	for _, b := range []*snapshot.State{nil, base} {
		enc := snapshot.Encode(s, b)
		d, err := snapshot.Decode(enc, 100)
		if err != nil {
			t.Fatalf("decode against base %v: %v", b != nil, err)
		}
		got, err := d.State(b)
		if err != nil {
			t.Fatalf("apply against base %v: %v", b != nil, err)
		}
		if got.Pages != s.Pages || got.Clock != s.Clock || !bytes.Equal(got.Memory, s.Memory) || string(got.Host) != "host state" {
			t.Errorf("base %v: decoded state differs", b != nil)
		}
		if len(got.Globals) != 2 || got.Globals[0] != s.Globals[0] || got.Globals[1] != s.Globals[1] {
			t.Errorf("base %v: globals %v, want %v", b != nil, got.Globals, s.Globals)
		}
	}
	if small, full := len(snapshot.Encode(s, base)), len(snapshot.Encode(s, nil)); small > full {
		t.Errorf("against its base the state encodes to %d bytes, more than the %d without", small, full)
	}
}

func TestDecodeRefusesDamagedBytes(t *testing.T) {
	t.Parallel()
	s := &snapshot.State{Pages: 5, Memory: make([]byte, 5*snapshot.PageSize), Host: []byte("host")}
	for i := range s.Memory {
		s.Memory[i] = byte(i * 7)
	}
	enc := snapshot.Encode(s, nil)
	flip := func(at int) []byte {
		b := bytes.Clone(enc)
		b[at] ^= 0x40
		return b
	}
	cases := map[string]struct {
		b        []byte
		maxPages uint32
	}{
		"truncated":                {enc[:len(enc)-9], 10},
		"a flipped byte in memory": {flip(len(enc) - len(enc)/4), 10},
		"a flipped byte in header": {flip(20), 10},
		"a longer header":          {flip(9), 10},
		"bytes after it":           {append(bytes.Clone(enc), 0), 10},
		"not a snapshot":           {[]byte("hello world, this is not it"), 10},
		"empty":                    {nil, 10},
		"more pages than allowed":  {enc, 4},
	}
	for name, c := range cases {
		if err := decodeAndApply(c.b, c.maxPages); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if err := decodeAndApply(enc, 10); err != nil {
		t.Fatalf("the undamaged encoding: %v", err)
	}
}

func decodeAndApply(b []byte, maxPages uint32) error {
	d, err := snapshot.Decode(b, maxPages)
	if err != nil {
		return err
	}
	_, err = d.State(nil)
	return err
}

// A state large enough for several parts (each inflated on a core of its
// own) comes back whole, with chunks contiguous and not.
func TestEncodeDecodeManyParts(t *testing.T) {
	t.Parallel()
	const pages = 40
	base := &snapshot.State{Pages: pages, Memory: make([]byte, pages*snapshot.PageSize)}
	for i := range base.Memory {
		base.Memory[i] = byte(i >> 12)
	}
	s := &snapshot.State{Pages: pages + 10, Memory: make([]byte, (pages+10)*snapshot.PageSize)}
	copy(s.Memory, base.Memory)
	for off := 0; off < len(s.Memory); off += 4096 {
		if (off/4096)%3 != 0 || off > len(s.Memory)/2 {
			s.Memory[off+17] ^= 0x5a // every third chunk left alone, up to half; all after
		}
	}
	d, err := snapshot.Decode(snapshot.Encode(s, base), 100)
	if err != nil {
		t.Fatal(err)
	}
	if d.Chunks() < 300 {
		t.Fatalf("%d chunks differ, want enough for several parts", d.Chunks())
	}
	got, err := d.State(base)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Memory, s.Memory) {
		t.Fatal("the state decoded in parts differs from the one encoded")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(testModule())
	f.Add(testModule(section{id: 12, body: uleb(1)}))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		l, err := snapshot.Parse(wasm)
		if err != nil {
			return
		}
		inst := snapshot.Instrument(wasm, l)
		if _, err := snapshot.Parse(inst); err != nil {
			t.Fatalf("the instrumented module does not parse: %v", err)
		}
		s := &snapshot.State{Pages: l.MemoryMin, Memory: make([]byte, int(min(l.MemoryMin, 4))*snapshot.PageSize)}
		s.Pages = uint32(len(s.Memory) / snapshot.PageSize)
		for _, g := range l.Globals {
			s.Globals = append(s.Globals, snapshot.Global{Index: g.Index, Type: g.Type, Bits: 1})
		}
		if baked, err := snapshot.Bake(wasm, l, s, true); err == nil {
			if _, err := snapshot.Parse(baked); err != nil {
				t.Fatalf("the baked module does not parse: %v", err)
			}
		}
	})
}

// frame is an encoded state's frame of raw: the CRC-32C of raw's S2
// block, then the block.
func frame(raw []byte) []byte {
	block := s2.Encode(nil, raw)
	return append(binary.LittleEndian.AppendUint32(nil, crc32.Checksum(block, crc32.MakeTable(crc32.Castagnoli))), block...)
}

// encoding is an encoded state made of header frame h alone.
func encoding(h []byte) []byte {
	return append(binary.LittleEndian.AppendUint32([]byte("wfstate\x04"), uint32(len(h))), h...)
}

// A small encoding whose header frame inflates far beyond what its page
// limit allows (an S2 block of zeros: 96 MiB from a few KB) is refused
// before anything is inflated, and so is a frame whose checksum fails.
func TestDecodeStopsInflatingAtThePageLimit(t *testing.T) {
	b := encoding(frame(make([]byte, 96<<20)))
	if len(b) > 8<<20 {
		t.Fatalf("the frame of 96 MiB of zeros takes %d bytes", len(b))
	}
	_, err := snapshot.Decode(b, 16)
	if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "inflates to more than") {
		t.Fatalf("Decode of %d bytes that inflate to 96 MiB, 16 pages allowed: %v, want it refused for inflating past the limit", len(b), err)
	}
	h := frame([]byte("a header"))
	h[len(h)-1] ^= 1
	if _, err = snapshot.Decode(encoding(h), 16); !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Decode of a frame with a flipped bit: %v, want it refused for its checksum", err)
	}
}

func FuzzDecode(f *testing.F) {
	s := &snapshot.State{Pages: 1, Memory: make([]byte, snapshot.PageSize), Globals: []snapshot.Global{{Index: 1, Type: 0x7f, Bits: 3}}}
	copy(s.Memory[10:], "seed")
	f.Add(snapshot.Encode(s, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := snapshot.Decode(b, 16)
		if err == nil {
			if got, err := d.State(nil); err == nil && len(got.Memory) != int(got.Pages)*snapshot.PageSize {
				t.Fatalf("decoded %d bytes of memory for %d pages", len(got.Memory), got.Pages)
			}
		}
	})
}

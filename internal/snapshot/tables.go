package snapshot

import (
	"bytes"
	"fmt"
)

const secTable = 4

// TablesError says why CapTables refuses a module.
type TablesError struct{ Reason string }

func (e *TablesError) Error() string { return e.Reason }

// CapTables returns the module with the maximum of every table it defines
// lowered so that all its tables together can never hold more than limit
// elements: the room left above their minimums is shared equally, and a
// smaller declared maximum is kept. Engines allocate a table's elements
// when it grows (wazero as one Go slice), so a table without a maximum
// would let one guest's table.grow take the host's memory. A module whose
// tables' minimums already exceed limit, or whose table section this
// cannot read (a table type beyond WebAssembly 2.0's), is refused. Bytes
// that are not a module are returned as they are, for the engine to
// refuse with its reason. Nothing else changes.
func CapTables(wasm []byte, limit uint32) ([]byte, error) {
	if len(wasm) < 8 {
		return wasm, nil
	}
	r := &reader{b: wasm, off: 8}
	for r.off < len(r.b) {
		start := r.off
		id := r.byte()
		size := r.u32()
		bodyAt := r.off
		body := r.take(int(size))
		if r.err != nil {
			return wasm, nil // not a module: the engine says why
		}
		if id != secTable {
			continue
		}
		capped, err := capTables(body, limit)
		if err != nil {
			return nil, err
		}
		out := bytes.NewBuffer(make([]byte, 0, len(wasm)+16))
		out.Write(wasm[:start])
		writeSection(out, secTable, capped)
		out.Write(wasm[bodyAt+len(body):])
		return out.Bytes(), nil
	}
	return wasm, nil
}

func capTables(body []byte, limit uint32) ([]byte, error) {
	type table struct {
		ref      byte
		min, max uint64
		hasMax   bool
	}
	r := &reader{b: body}
	tables := make([]table, r.u32())
	total := uint64(0)
	for i := range tables {
		t := &tables[i]
		t.ref = r.byte()
		if t.ref != 0x70 && t.ref != 0x6f { // funcref, externref
			return nil, &TablesError{fmt.Sprintf("table of type %#x: not supported", t.ref)}
		}
		switch flags := r.byte(); flags {
		case 0:
		case 1:
			t.hasMax = true
		default:
			return nil, &TablesError{fmt.Sprintf("table limits with flags %#x: not supported", flags)}
		}
		t.min = uint64(r.u32())
		if t.hasMax {
			t.max = uint64(r.u32())
		}
		total += t.min
	}
	if r.err != nil || r.off != len(r.b) {
		return nil, &TablesError{"malformed table section"}
	}
	if total > uint64(limit) {
		return nil, &TablesError{fmt.Sprintf("its tables start with %d elements, over the limit of %d", total, limit)}
	}
	room := (uint64(limit) - total) / uint64(max(len(tables), 1))
	out := appendU32(nil, uint32(len(tables)))
	for _, t := range tables {
		m := t.min + room
		if t.hasMax && t.max < m {
			m = t.max
		}
		out = append(out, t.ref, 1)
		out = appendU32(out, uint32(t.min))
		out = appendU32(out, uint32(m))
	}
	return out, nil
}

package snapshot_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasmflow/wasmflow/internal/snapshot"
)

// tableModule is a module with the given table section body and an export
// grow(n) that grows table 0 by n and returns table.grow's answer.
func tableModule(tables []byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = sec(b, 1, vec(1, []byte{0x60, 1, 0x7f, 1, 0x7f}))
	b = sec(b, 3, vec(1, []byte{0}))
	b = sec(b, 4, tables)
	b = sec(b, 7, vec(1, cat(name("grow"), []byte{0, 0})))
	body := []byte{0, 0xd0, 0x70, 0x20, 0, 0xfc, 0x0f, 0, 0x0b} // ref.null func, local.get 0, table.grow 0
	return sec(b, 10, vec(1, cat([]byte{byte(len(body))}, body)))
}

func TestCapTablesBoundsTableGrow(t *testing.T) {
	t.Parallel()
	const limit = 100
	cases := []struct {
		name   string
		tables []byte
		grows  []uint32 // successive table.grow deltas
		want   []int32  // their answers
	}{
		{"a table without maximum gets the limit as its maximum", vec(1, []byte{0x70, 0, 10}), []uint32{90, 1}, []int32{10, -1}},
		{"a smaller declared maximum is kept", vec(1, []byte{0x70, 1, 10, 20}), []uint32{11, 10}, []int32{-1, 10}},
		{"tables share the room above their minimums", vec(2, []byte{0x70, 0, 10, 0x70, 0, 10}), []uint32{41, 40, 1}, []int32{-1, 10, -1}},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			wasm, err := snapshot.CapTables(tableModule(c.tables), limit)
			if err != nil {
				t.Fatal(err)
			}
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
			defer r.Close(ctx)
			m, err := r.Instantiate(ctx, wasm)
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range c.grows {
				res, err := m.ExportedFunction("grow").Call(ctx, uint64(n))
				if err != nil {
					t.Fatal(err)
				}
				if got := int32(res[0]); got != c.want[i] {
					t.Errorf("table.grow(%d) answered %d, want %d", n, got, c.want[i])
				}
			}
		})
	}
}

func TestCapTablesRefusesTablesThatStartOverTheLimit(t *testing.T) {
	t.Parallel()
	_, err := snapshot.CapTables(tableModule(vec(2, []byte{0x70, 0, 60, 0x70, 0, 60})), 100)
	var te *snapshot.TablesError
	if !errors.As(err, &te) || te.Error() != "its tables start with 120 elements, over the limit of 100" {
		t.Fatalf("got %v", err)
	}
}

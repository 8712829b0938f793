package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/wasmflow/wasmflow/store/internal/migrate"
)

func TestSchemaVersionIsTheLastMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "wasmflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := ms[len(ms)-1].Version; v != want {
		t.Fatalf("schema version = %d, want %d", v, want)
	}
}

package migrate

import (
	"context"
	"testing"
	"testing/fstest"
)

type memTarget struct{ applied []int }

func (m *memTarget) Applied(context.Context) (map[int]bool, error) {
	done := map[int]bool{}
	for _, v := range m.applied {
		done[v] = true
	}
	return done, nil
}

func (m *memTarget) Apply(_ context.Context, mig Migration) error {
	m.applied = append(m.applied, mig.Version)
	return nil
}

func TestUpAppliesMissingMigrationsInOrder(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("b")},
		"m/0002_next.sql":  {Data: []byte("a")},
		"m/0001_init.sql":  {Data: []byte("x")},
	}
	ms, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].Name != "0001_init" || ms[1].Version != 2 || ms[2].SQL != "b" {
		t.Fatalf("loaded %+v", ms)
	}
	tgt := &memTarget{applied: []int{1}}
	if err := Up(context.Background(), tgt, ms); err != nil {
		t.Fatal(err)
	}
	if got := tgt.applied; len(got) != 3 || got[1] != 2 || got[2] != 10 {
		t.Fatalf("applied %v, want [1 2 10]", got)
	}
}

func TestLoadRejectsBadNames(t *testing.T) {
	for _, name := range []string{"init.sql", "0000_zero.sql", "x1_bad.sql"} {
		if _, err := Load(fstest.MapFS{"m/" + name: {}}, "m"); err == nil {
			t.Errorf("Load accepted %s", name)
		}
	}
	dup := fstest.MapFS{"m/0001_a.sql": {}, "m/1_b.sql": {}}
	if _, err := Load(dup, "m"); err == nil {
		t.Error("Load accepted two migrations with version 1")
	}
}

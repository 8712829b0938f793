package storetest

import (
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

func insertModule(t *testing.T, st store.Store, name, version, digest string, now time.Time) (*store.Module, bool) {
	t.Helper()
	m, created, err := st.ModuleInsert(ctx, &store.ModuleInsertParams{
		Name: name, Version: version, Digest: digest, Bytes: []byte("wasm:" + digest), Workflows: []string{"a", "b"}, Now: now,
	})
	ok(t, err)
	return m, created
}

func versions(ms []*store.Module) []string {
	vs := make([]string, len(ms))
	for i, m := range ms {
		vs[i] = m.Name + "@" + m.Version
	}
	return vs
}

var moduleScenarios = []scenario{
	{"module images are kept per digest and format and replaced by a new put", func(t *testing.T, st store.Store) {
		_, err := st.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: "sha256:01", Format: "v1"})
		wantErr(t, err, store.ErrNotFound)
		ok(t, st.ModuleImagePut(ctx, &store.ModuleImagePutParams{Digest: "sha256:01", Format: "v1", Image: []byte{0, 1, 2, 0xff}, Now: t0}))
		ok(t, st.ModuleImagePut(ctx, &store.ModuleImagePutParams{Digest: "sha256:01", Format: "v2", Image: []byte("other format"), Now: t0}))
		img, err := st.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: "sha256:01", Format: "v1"})
		ok(t, err)
		equal(t, "image", img.Image, []byte{0, 1, 2, 0xff})
		sameTime(t, "created_at", img.CreatedAt, t0)
		ok(t, st.ModuleImagePut(ctx, &store.ModuleImagePutParams{Digest: "sha256:01", Format: "v1", Image: []byte("again"), Now: at(time.Second)}))
		img, err = st.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: "sha256:01", Format: "v1"})
		ok(t, err)
		equal(t, "image after a second put", string(img.Image), "again")
		sameTime(t, "created_at after a second put", img.CreatedAt, at(time.Second))
		img, err = st.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: "sha256:01", Format: "v2"})
		ok(t, err)
		equal(t, "other format", string(img.Image), "other format")
		_, err = st.ModuleImageGet(ctx, &store.ModuleImageGetParams{Digest: "sha256:02", Format: "v1"})
		wantErr(t, err, store.ErrNotFound)
	}},
	{"module insert numbers versions and returns the existing module for the same bytes", func(t *testing.T, st store.Store) {
		m1, created := insertModule(t, st, "shop", "", "sha256:01", t0)
		equal(t, "created", created, true)
		equal(t, "version", m1.Version, "1")
		equal(t, "size", m1.Size, int64(len("wasm:sha256:01")))
		equal(t, "workflows", m1.Workflows, []string{"a", "b"})
		sameTime(t, "created_at", m1.CreatedAt, t0)
		m2, created := insertModule(t, st, "shop", "", "sha256:02", at(time.Second))
		equal(t, "created", created, true)
		equal(t, "version", m2.Version, "2")
		again, created := insertModule(t, st, "shop", "", "sha256:01", at(2*time.Second))
		equal(t, "created", created, false)
		equal(t, "version", again.Version, "1")
		sameTime(t, "created_at", again.CreatedAt, t0)
		// Another name numbers its own versions.
		other, _ := insertModule(t, st, "mail", "", "sha256:01", at(3*time.Second))
		equal(t, "version", other.Version, "1")
		// An explicit version moves the next integer on.
		insertModule(t, st, "shop", "7", "sha256:07", at(4*time.Second))
		m8, _ := insertModule(t, st, "shop", "", "sha256:08", at(5*time.Second))
		equal(t, "version", m8.Version, "8")
		b, err := st.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: "sha256:02"})
		ok(t, err)
		equal(t, "bytes", string(b), "wasm:sha256:02")
	}},
	{"module insert of a taken version with other bytes is a conflict", func(t *testing.T, st store.Store) {
		insertModule(t, st, "shop", "v1", "sha256:01", t0)
		_, _, err := st.ModuleInsert(ctx, &store.ModuleInsertParams{Name: "shop", Version: "v1", Digest: "sha256:02", Bytes: []byte("x"), Now: t0})
		wantErr(t, err, store.ErrConflict)
		vs, err := st.ModuleListVersions(ctx, &store.ModuleListVersionsParams{Name: "shop"})
		ok(t, err)
		equal(t, "versions", versions(vs), []string{"shop@v1"})
		_, err = st.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: "sha256:02"})
		wantErr(t, err, store.ErrNotFound)
	}},
	{"module get by name returns the latest version or the one asked for", func(t *testing.T, st store.Store) {
		insertModule(t, st, "shop", "", "sha256:01", t0)
		insertModule(t, st, "shop", "", "sha256:02", at(time.Minute))
		m, err := st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "shop"})
		ok(t, err)
		equal(t, "latest", m.Digest, "sha256:02")
		m, err = st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "shop", Version: "1"})
		ok(t, err)
		equal(t, "version 1", m.Digest, "sha256:01")
		_, err = st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "shop", Version: "3"})
		wantErr(t, err, store.ErrNotFound)
		_, err = st.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: "nope"})
		wantErr(t, err, store.ErrNotFound)
		_, err = st.ModuleGetBytes(ctx, &store.ModuleGetBytesParams{Digest: "sha256:ff"})
		wantErr(t, err, store.ErrNotFound)
	}},
	{"module list shows the latest version of each name by name, versions newest first", func(t *testing.T, st store.Store) {
		insertModule(t, st, "shop", "", "sha256:01", t0)
		insertModule(t, st, "mail", "", "sha256:02", at(time.Second))
		insertModule(t, st, "shop", "", "sha256:03", at(2*time.Second))
		insertModule(t, st, "shop", "", "sha256:04", at(3*time.Second))
		ms, err := st.ModuleList(ctx, &store.ModuleListParams{})
		ok(t, err)
		equal(t, "modules", versions(ms), []string{"mail@1", "shop@3"})
		vs, err := st.ModuleListVersions(ctx, &store.ModuleListVersionsParams{Name: "shop"})
		ok(t, err)
		equal(t, "versions", versions(vs), []string{"shop@3", "shop@2", "shop@1"})
	}},
}

package main

import (
	"context"
	"flag"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/wasmflow/wasmflow/store"
)

func TestParseDatabaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, kind, dsn string
		err            bool
	}{
		{url: "postgres://u:p@db/wasmflow?sslmode=disable", kind: "postgres", dsn: "postgres://u:p@db/wasmflow?sslmode=disable"},
		{url: "postgresql://db/wasmflow", kind: "postgres", dsn: "postgresql://db/wasmflow"},
		{url: "sqlite:.wasmflow/wasmflow.db", kind: "sqlite", dsn: ".wasmflow/wasmflow.db"},
		{url: "/var/lib/wasmflow.db", kind: "sqlite", dsn: "/var/lib/wasmflow.db"},
		{url: "", err: true},
		{url: "sqlite:", err: true},
		{url: "mysql://db/wasmflow", err: true},
	} {
		kind, dsn, err := parseDatabaseURL(tc.url)
		if (err != nil) != tc.err || kind != tc.kind || dsn != tc.dsn {
			t.Errorf("parseDatabaseURL(%q) = %q, %q, %v; want %q, %q, error %v", tc.url, kind, dsn, err, tc.kind, tc.dsn, tc.err)
		}
	}
	if got := redactURL("postgres://u:secret@db/wasmflow"); got != "postgres://u:xxxxx@db/wasmflow" {
		t.Errorf("redactURL = %q", got)
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	db := fs.String("database-url", "", "")
	rest, err := parseInterspersed(fs, []string{"tok_1", "--database-url", "x.db", "tok_2", "--", "--tok_3"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"tok_1", "tok_2", "--tok_3"}; !reflect.DeepEqual(rest, want) || *db != "x.db" {
		t.Fatalf("rest = %q, db = %q; want %q, x.db", rest, *db, want)
	}
}

// TestTokenCommands creates, lists and revokes a token through the CLI on
// an embedded store, after migrating it.
func TestTokenCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := "sqlite:" + filepath.Join(t.TempDir(), "wasmflow.db")
	for _, args := range [][]string{
		{"migrate", "--database-url", db},
		{"token", "create", "--scope", "write", "--name", "ci", "--database-url", db},
		{"token", "list", "--database-url", db},
	} {
		if err := run(ctx, args); err != nil {
			t.Fatalf("wasmflow %q: %v", args, err)
		}
	}
	if err := run(ctx, []string{"token", "create", "--scope", "root", "--name", "ci", "--database-url", db}); err == nil {
		t.Fatal("token create --scope root succeeded")
	}
	// The embedded store is one opener's at a time: each look closes it
	// before the next command opens it.
	list := func() []*store.Token {
		t.Helper()
		st, err := openStore(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		toks, err := st.TokenList(ctx, &store.TokenListParams{})
		if err != nil {
			t.Fatal(err)
		}
		return toks
	}
	toks := list()
	if len(toks) != 1 || toks[0].Name != "ci" || toks[0].Scope != store.ScopeWrite {
		t.Fatalf("tokens = %+v, want one write token named ci", toks)
	}
	if err := run(ctx, []string{"token", "revoke", toks[0].ID, "--database-url", db}); err != nil {
		t.Fatal(err)
	}
	toks = list()
	if toks[0].RevokedAt == nil {
		t.Fatalf("after revoke: %+v", toks[0])
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/wasmflow/wasmflow/store"
	"github.com/wasmflow/wasmflow/store/postgres"
	"github.com/wasmflow/wasmflow/store/sqlite"
)

// databaseURLHelp documents --database-url for every command that takes it.
const databaseURLHelp = "the store: postgres://USER:PASSWORD@HOST/DB for Postgres, or sqlite:PATH (or a bare PATH) for the embedded store (env WASMFLOW_DATABASE_URL)"

// openStore opens the store named by a --database-url and applies the
// migrations it lacks: postgres:// and postgresql:// URLs open Postgres;
// sqlite:PATH, or any other string without a scheme, opens the embedded
// SQLite store at PATH.
func openStore(ctx context.Context, dbURL string) (store.Store, error) {
	kind, dsn, err := parseDatabaseURL(dbURL)
	if err != nil {
		return nil, err
	}
	if kind == "postgres" {
		return postgres.Open(ctx, dsn)
	}
	return sqlite.Open(ctx, dsn)
}

// parseDatabaseURL returns the kind of store ("postgres" or "sqlite") a
// --database-url names and what to open it with.
func parseDatabaseURL(dbURL string) (kind, dsn string, err error) {
	switch scheme, rest, _ := strings.Cut(dbURL, ":"); {
	case dbURL == "":
		return "", "", errors.New("--database-url (or WASMFLOW_DATABASE_URL) is required")
	case scheme == "postgres" || scheme == "postgresql":
		return "postgres", dbURL, nil
	case scheme == "sqlite":
		if rest == "" {
			return "", "", errors.New("--database-url sqlite:PATH needs a PATH")
		}
		return "sqlite", rest, nil
	case strings.Contains(dbURL, "://"):
		return "", "", fmt.Errorf("--database-url: unsupported scheme %q; use postgres://... or sqlite:PATH", scheme)
	}
	return "sqlite", dbURL, nil
}

// redactURL returns a --database-url fit to print: without its password.
func redactURL(dbURL string) string {
	if u, err := url.Parse(dbURL); err == nil && u.User != nil {
		return u.Redacted()
	}
	return dbURL
}

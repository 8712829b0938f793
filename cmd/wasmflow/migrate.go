package main

import (
	"context"
	"flag"
	"fmt"
)

func migrateCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: wasmflow migrate --database-url URL

Applies the schema migrations the store lacks and prints its schema version.
It is safe to run at any time and from many processes at once: each
migration is applied once. (server and worker apply them too when they
start; run migrate first to keep schema changes out of a deploy's start.)

Flags:
`)
		fs.PrintDefaults()
	}
	dbURL := fs.String("database-url", envOr("WASMFLOW_DATABASE_URL", ""), databaseURLHelp)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("migrate takes no arguments, got %q", fs.Args())
	}
	st, err := openStore(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	sv, ok := st.(interface {
		SchemaVersion(ctx context.Context) (int, error)
	})
	if !ok {
		return fmt.Errorf("the store at %s cannot report its schema version", redactURL(*dbURL))
	}
	v, err := sv.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%s: schema version %d\n", redactURL(*dbURL), v)
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
)

// serverCommand runs the API and workers in one process on a shared store;
// workerCommand runs workers only. Any number of either may share one
// Postgres database.
func serverCommand(ctx context.Context, args []string) error {
	return hostCommand(ctx, "server", args)
}

func workerCommand(ctx context.Context, args []string) error {
	return hostCommand(ctx, "worker", args)
}

func hostCommand(ctx context.Context, mode string, args []string) error {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	what := "the REST API and workers"
	if mode == "worker" {
		what = "workers only (no API)"
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: wasmflow %s --database-url URL [flags]

Runs %s on the store at --database-url. Any number
of server and worker processes may share one Postgres database: they claim
runs with leases, resume each other's runs, and on SIGTERM hand their runs
back at their next checkpoint.

Flags:
`, mode, what)
		fs.PrintDefaults()
	}
	var listen *string
	if mode == "server" {
		listen = fs.String("listen", envOr("WASMFLOW_LISTEN", ":8080"), "address to serve the API on (env WASMFLOW_LISTEN)")
	}
	dbURL := fs.String("database-url", envOr("WASMFLOW_DATABASE_URL", ""), "postgres://... for Postgres, or sqlite:PATH for the embedded store (env WASMFLOW_DATABASE_URL)")
	cacheDir := fs.String("cache-dir", envOr("WASMFLOW_CACHE_DIR", ""), "directory for compiled modules, kept between restarts; empty: compile in memory (env WASMFLOW_CACHE_DIR)")
	pf := defineProcessFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dbURL == "" {
		return fmt.Errorf("--database-url (or WASMFLOW_DATABASE_URL) is required")
	}
	log, cfg, err := pf.setup()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.Store, cfg.Engine, cfg.CacheDir, cfg.Logger = st, *pf.engine, *cacheDir, log
	h, err := host.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close(context.WithoutCancel(ctx))

	p := &process{host: h, grace: *pf.grace, log: log}
	if listen != nil {
		if p.ln, err = net.Listen("tcp", *listen); err != nil {
			return err
		}
		p.app = api.New(h, serverAPIConfig(ctx))
		log.Info("serving the API", "addr", p.ln.Addr().String(), "owner", h.Owner())
	} else {
		log.Info("running workers", "owner", h.Owner())
	}
	return p.serveUntilDone(ctx)
}

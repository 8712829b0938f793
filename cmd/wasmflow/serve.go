package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
)

// processFlags are the flags of every command that runs a host process.
type processFlags struct {
	logLevel  *string
	logFormat *string
	grace     *time.Duration
	engine    *string
	host      func() (*host.Config, error)
}

func defineProcessFlags(fs *flag.FlagSet) *processFlags {
	return &processFlags{
		logLevel:  fs.String("log-level", envOr("WASMFLOW_LOG_LEVEL", "info"), "debug, info, warn or error (env WASMFLOW_LOG_LEVEL)"),
		logFormat: fs.String("log-format", envOr("WASMFLOW_LOG_FORMAT", "text"), "text or json (env WASMFLOW_LOG_FORMAT)"),
		grace:     fs.Duration("grace-period", envDuration("WASMFLOW_GRACE_PERIOD", 30*time.Second), "on SIGTERM, how long running guests have to reach a checkpoint before they are stopped where they are (env WASMFLOW_GRACE_PERIOD)"),
		engine:    fs.String("engine", envOr("WASMFLOW_ENGINE", "wazero"), "WebAssembly engine: wazero (pure Go) or wasmtime (needs a cgo build; faster activations) (env WASMFLOW_ENGINE)"),
		host:      hostFlags(fs),
	}
}

// logger builds the process's logger and makes it the default.
func (f *processFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch *f.logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, opts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	default:
		return nil, fmt.Errorf("--log-format must be text or json, not %q", *f.logFormat)
	}
	log := slog.New(h)
	slog.SetDefault(log)
	return log, nil
}

// setup builds the logger (made the default) and the host config the flags
// ask for.
func (f *processFlags) setup() (*slog.Logger, *host.Config, error) {
	log, err := f.logger()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := f.host()
	if err != nil {
		return nil, nil, err
	}
	return log, cfg, nil
}

// process is a running host with, optionally, the API on a listener.
type process struct {
	host  *host.Host
	app   *fiber.App
	ln    net.Listener
	grace time.Duration
	log   *slog.Logger
}

// serveUntilDone serves the API (when p has a listener) and runs the
// workers until ctx ends, then hands off gracefully: the workers stop
// claiming, running guests stop at their next checkpoint and their runs are
// handed back at once (another process resumes them without waiting for a
// lease to expire), and guests that reach no checkpoint within the grace
// period are stopped where they are and resume from their last checkpoint.
func (p *process) serveUntilDone(ctx context.Context) error {
	p.host.Start()
	serveErr := make(chan error, 1)
	if p.app != nil {
		go func() { serveErr <- p.app.Listener(p.ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if err != nil {
			p.host.Shutdown(context.Background())
			return fmt.Errorf("serve: %w", err)
		}
	}
	p.log.Info("shutting down: handing running runs back", "grace_period", p.grace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.grace)
	defer cancel()
	err := p.host.Shutdown(sctx)
	if p.app != nil {
		// After the workers: a request waiting on a foreground run gets the
		// run as it was handed back.
		if e := p.app.ShutdownWithTimeout(5 * time.Second); e != nil && !errors.Is(e, context.DeadlineExceeded) {
			err = errors.Join(err, e)
		}
	}
	p.log.Info("stopped")
	return err
}

// devAPIConfig is the API of `wasmflow dev`: on loopback, without tokens.
func devAPIConfig(ctx context.Context) *api.Config {
	return &api.Config{Context: ctx, Auth: api.NoAuth}
}

// serverAPIConfig is the API of `wasmflow server`: every route but /healthz
// needs a token.
func serverAPIConfig(ctx context.Context) *api.Config {
	return &api.Config{Context: ctx}
}

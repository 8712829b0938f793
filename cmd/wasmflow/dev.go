package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
	"github.com/wasmflow/wasmflow/store/sqlite"
)

func devCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: wasmflow dev [flags]

Runs the API and workers in one process on the embedded store, uploads every
module found in --modules, and prints a command that starts a run. It listens
on loopback only and needs no token.

Flags:
`)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", envOr("WASMFLOW_LISTEN", "127.0.0.1:8080"), "address to serve the API on; must be a loopback address (env WASMFLOW_LISTEN)")
	data := fs.String("data", envOr("WASMFLOW_DATA", ".wasmflow"), "directory of the embedded store and the compiled-module cache (env WASMFLOW_DATA)")
	modules := fs.String("modules", envOr("WASMFLOW_MODULES", "modules/build/go"), "directory of .wasm modules to upload at start, each named after its file (env WASMFLOW_MODULES)")
	pf := defineProcessFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := requireLoopback(*listen); err != nil {
		return err
	}
	log, cfg, err := pf.setup()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, filepath.Join(*data, "wasmflow.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.Store, cfg.Engine, cfg.CacheDir, cfg.Logger = st, *pf.engine, filepath.Join(*data, "cache"), log
	h, err := host.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close(context.WithoutCancel(ctx))

	names, err := pushDir(ctx, h, *modules)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	p := &process{host: h, app: api.New(h, devAPIConfig(ctx)), ln: ln, grace: *pf.grace, log: log}

	url := "http://" + ln.Addr().String()
	fmt.Printf("wasmflow dev: serving %s (embedded store in %s, engine %s, no token needed on loopback)\n", url, *data, cfg.Engine)
	fmt.Printf("web UI: %s/\n", url)
	if len(names) > 0 {
		fmt.Printf("modules: %s\n", strings.Join(names, ", "))
	}
	fmt.Printf("\nstart a run:\n  curl -s -X POST '%s/v1/runs?wait=10s' -H 'Content-Type: application/json' \\\n    -d '{\"module\":\"receipt\",\"workflow\":\"receipt\",\"input\":{\"order_id\":\"A-1001\",\"amount_cents\":4200,\"email\":\"ada@example.com\"}}'\n\n", url)
	return p.serveUntilDone(ctx)
}

// pushDir uploads every .wasm file of dir, named after the file.
func pushDir(ctx context.Context, h *host.Host, dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.wasm"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no modules in %s: build them with `make modules` (or point --modules elsewhere)", dir)
	}
	sort.Strings(files)
	var names []string
	for _, f := range files {
		wasm, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(f), ".wasm")
		m, _, err := h.PushModule(ctx, &host.PushModuleParams{Name: name, Wasm: wasm})
		if err != nil {
			return nil, fmt.Errorf("upload %s: %w", f, err)
		}
		names = append(names, fmt.Sprintf("%s (v%s: %s)", m.Name, m.Version, strings.Join(m.Workflows, ", ")))
	}
	return names, nil
}

func requireLoopback(addr string) error {
	hostPart, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	if hostPart == "localhost" {
		return nil
	}
	if ip := net.ParseIP(hostPart); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("--listen: dev mode serves without authentication, so it only listens on a loopback address such as 127.0.0.1:8080")
}

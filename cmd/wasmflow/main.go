// Command wasmflow runs durable workflows compiled to WebAssembly.
//
//	wasmflow dev [--listen 127.0.0.1:8080]   the host on the embedded store, with the example workflows
//	wasmflow server --database-url URL       the REST API and workers on a shared store
//	wasmflow worker --database-url URL       workers only
//	wasmflow migrate --database-url URL      apply the store's schema migrations
//	wasmflow token create|list|revoke        manage the API's bearer tokens
//	wasmflow module push|list|delete         upload, list and delete modules on a server (--server)
//	wasmflow run start|get|events|signal|cancel|retry, runs list|cancel|retry|purge
//	                                         start, inspect and steer runs on a server
//	wasmflow bench [--runs N --steps M]      measure runs end to end through a real host
//	wasmflow version
//
// Run "wasmflow COMMAND --help" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

const usage = `wasmflow runs durable workflows written in any language that compiles to WebAssembly.

Usage:
  wasmflow dev [flags]     run the host on the embedded store with the example workflows loaded
  wasmflow server [flags]  run the REST API and workers on a shared store (--database-url)
  wasmflow worker [flags]  run workers only on a shared store (--database-url)
  wasmflow migrate [flags] apply the store's schema migrations and print its version (--database-url)
  wasmflow token create --scope admin|write|read --name N
                           create an API bearer token (also: token list, token revoke ID)
  wasmflow module push FILE --name N
                           upload a module to a server (also: module list, module delete)
  wasmflow run start MODULE WORKFLOW [--input JSON] [--wait 30s]
                           start a run (also: run get|events|signal|cancel|retry,
                           runs list|cancel|retry|purge)
  wasmflow bench [flags]   measure runs/s, steps/s and run latency through a real host on a store
  wasmflow version         print the version

Run "wasmflow COMMAND --help" for the flags of a command.
`

// version, when set at build time with -ldflags "-X main.version=...",
// names the build; otherwise the module version and VCS revision that the
// Go toolchain recorded in the binary do (see versionLine).
var version = ""

// buildVersion is the version of this build: version, or else the main
// module's version as the toolchain recorded it.
func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}

// versionLine describes this build: its version, and the VCS revision and
// time it was built from when the toolchain recorded them.
func versionLine() string {
	v := buildVersion()
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "wasmflow " + v
	}
	vcs := map[string]string{}
	for _, s := range info.Settings {
		vcs[s.Key] = s.Value
	}
	line := "wasmflow " + v
	if rev := vcs["vcs.revision"]; rev != "" {
		line += ", revision " + rev
		if vcs["vcs.modified"] == "true" {
			line += " (modified)"
		}
		if t := vcs["vcs.time"]; t != "" {
			line += ", committed " + t
		}
	}
	return line + ", " + info.GoVersion
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, errHelped) {
			return
		}
		if !errors.Is(err, flag.ErrHelp) {
			// One line, whatever the message holds.
			fmt.Fprintln(os.Stderr, "wasmflow:", strings.Join(strings.Fields(err.Error()), " "))
		}
		// Usage errors exit with 2; errors that say otherwise (the API
		// refused, a run failed) with their own code.
		code := 2
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			code = coded.ExitCode()
		}
		os.Exit(code)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "dev":
		return devCommand(ctx, args[1:])
	case "server":
		return serverCommand(ctx, args[1:])
	case "worker":
		return workerCommand(ctx, args[1:])
	case "migrate":
		return migrateCommand(ctx, args[1:])
	case "token":
		return tokenCommand(ctx, args[1:])
	case "module":
		return moduleCommand(ctx, args[1:])
	case "run":
		return runCommand(ctx, args[1:])
	case "runs":
		return runsCommand(ctx, args[1:])
	case "bench":
		return benchCommand(ctx, args[1:])
	case "version", "--version":
		fmt.Println(versionLine())
		return nil
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

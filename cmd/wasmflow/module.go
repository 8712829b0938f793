package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/host/api"
)

const moduleUsage = `Usage:
  wasmflow module push FILE --name NAME [--version V]
  wasmflow module list
  wasmflow module delete NAME --version V
  wasmflow module upgrade NAME --from V1 --to V2 [--dry-run]

Uploads, lists and deletes workflow modules on a wasmflow server (--server).

Run "wasmflow module COMMAND --help" for a command's flags.
`

func moduleCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, moduleUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "push":
		return modulePush(ctx, args[1:])
	case "list":
		return moduleList(ctx, args[1:])
	case "delete":
		return moduleDelete(ctx, args[1:])
	case "upgrade":
		return moduleUpgrade(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Print(moduleUsage)
		return nil
	}
	fmt.Fprint(os.Stderr, moduleUsage)
	return fmt.Errorf("unknown module command %q", args[0])
}

func modulePush(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("module push", `Usage: wasmflow module push FILE --name NAME [--version V]

Uploads the WebAssembly module in FILE. Pushing the same bytes again is
harmless: the server answers with the version it has. Prints the module's
name, version, digest and the workflows it exports.
`)
	name := fs.String("name", "", "the module's name, as runs will name it; required")
	ver := fs.String("version", "", "the version to record; default: the server numbers versions 1, 2, ...")
	rest, c, err := parseClient(fs, cf, args, "FILE")
	if err != nil {
		return err
	}
	if *name == "" {
		return fmt.Errorf("--name is required: the name runs will use for the module")
	}
	if err := checkNames(nameArg{"--name", *name, abi.CheckModuleName}, nameArg{"--version", *ver, abi.CheckModuleName}); err != nil {
		return err
	}
	wasm, err := os.ReadFile(rest[0])
	if err != nil {
		return err
	}
	q := url.Values{"name": {*name}}
	if *ver != "" {
		q.Set("version", *ver)
	}
	var raw json.RawMessage
	status, err := c.do(ctx, "POST", "/v1/modules?"+q.Encode(), wasm, &raw)
	if err != nil {
		return err
	}
	if *cf.json {
		return printJSON(raw)
	}
	var m api.Module
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	what := "pushed"
	if status == http.StatusOK {
		what = "already there, unchanged"
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "module\t%s (%s)\n", m.Name, what)
	fmt.Fprintf(w, "version\t%s\n", m.Version)
	fmt.Fprintf(w, "digest\t%s\n", m.Digest)
	fmt.Fprintf(w, "size\t%d bytes\n", m.Size)
	fmt.Fprintf(w, "workflows\t%s\n", workflowNames(m.Workflows))
	return w.Flush()
}

func moduleList(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("module list", `Usage: wasmflow module list

Lists the latest version of every module.
`)
	_, c, err := parseClient(fs, cf, args)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, "GET", "/v1/modules", nil, &raw); err != nil {
		return err
	}
	if *cf.json {
		return printJSON(raw)
	}
	var list struct{ Modules []api.Module }
	if err := json.Unmarshal(raw, &list); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tVERSION\tDIGEST\tSIZE\tCREATED\tWORKFLOWS")
	for _, m := range list.Modules {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", m.Name, m.Version, shorten(m.Digest, 19), m.Size, m.CreatedAt.Format(time.RFC3339), workflowNames(m.Workflows))
	}
	return w.Flush()
}

func moduleDelete(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("module delete", `Usage: wasmflow module delete NAME --version V

Deletes a version of a module that no run needs any more. The server
refuses while runs still need it (runs that have not finished, and failed
runs, which may be retried) and says how many: let them finish, cancel
them, purge the failed ones, or upgrade them to another version first.
Runs that finished on the version keep their record and timeline.
`)
	ver := fs.String("version", "", "the version to delete; required")
	rest, c, err := parseClient(fs, cf, args, "NAME")
	if err != nil {
		return err
	}
	if *ver == "" {
		return fmt.Errorf("--version is required: the version of module %s to delete", rest[0])
	}
	if err := checkNames(nameArg{"NAME", rest[0], abi.CheckModuleName}, nameArg{"--version", *ver, abi.CheckModuleName}); err != nil {
		return err
	}
	path := "/v1/modules/" + url.PathEscape(rest[0]) + "/versions/" + url.PathEscape(*ver)
	if _, err := c.do(ctx, "DELETE", path, nil, nil); err != nil {
		return err
	}
	if *cf.json {
		return printJSON(json.RawMessage(fmt.Sprintf(`{"name":%q,"version":%q,"deleted":true}`, rest[0], *ver)))
	}
	fmt.Printf("deleted module %s version %s\n", rest[0], *ver)
	return nil
}

func workflowNames(wfs []api.Workflow) string {
	names := make([]string, len(wfs))
	for i, w := range wfs {
		names[i] = w.Name
	}
	return strings.Join(names, ", ")
}

// shorten cuts s to n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

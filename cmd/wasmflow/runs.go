package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
)

const runUsage = `Usage:
  wasmflow run start MODULE WORKFLOW [--input JSON] [--wait 30s]
  wasmflow run get ID
  wasmflow run events ID [--follow]
  wasmflow run signal ID NAME [--data JSON]
  wasmflow run cancel ID
  wasmflow run retry ID
  wasmflow run upgrade ID --version V [--dry-run]
  wasmflow runs list [--status S] [--module M] [--workflow W] [--all]
  wasmflow runs cancel|retry [--status S] [--module M] [--version V] [--workflow W] [--all] [--dry-run]
  wasmflow runs purge --before DATE [--status S] [--dry-run]

Starts, inspects and steers runs on a wasmflow server (--server).

Run "wasmflow run COMMAND --help" for a command's flags.
`

func runCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, runUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "start":
		return runStart(ctx, args[1:])
	case "get":
		return runGet(ctx, args[1:])
	case "events":
		return runEvents(ctx, args[1:])
	case "signal":
		return runSignal(ctx, args[1:])
	case "cancel", "retry":
		return runTransition(ctx, args[0], args[1:])
	case "upgrade":
		return runUpgrade(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Print(runUsage)
		return nil
	}
	fmt.Fprint(os.Stderr, runUsage)
	return fmt.Errorf("unknown run command %q", args[0])
}

// runsCommand is "wasmflow runs list"; "runs" alone lists too. "runs
// cancel", "runs retry" and "runs purge" act on the runs that match
// filters.
func runsCommand(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			args = args[1:]
		case "cancel", "retry":
			return runsBulk(ctx, args[0], args[1:])
		case "purge":
			return runsPurge(ctx, args[1:])
		}
	}
	return runsList(ctx, args)
}

// headStart is how long run start --wait lets the server run the run in the
// foreground before it follows the run's events: a short run answers at
// once, in one request, and a long one shows its progress.
const headStart = time.Second

func runStart(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("run start", `Usage: wasmflow run start MODULE WORKFLOW [--input JSON] [--wait 30s]

Starts a run of WORKFLOW, exported by the latest version of MODULE (or
--version), and prints it. With --wait, it waits until the run has finished,
waits for a signal, or the wait is over. While it waits it shows the run's
progress on standard error: one updating line on a terminal (the step being
run, its cursor, the run's status), the run's events one a line otherwise.
With --wait, exits with status 1 if the run failed or was cancelled.
`)
	input := fs.String("input", "", "the run's input, as JSON; default null")
	key := fs.String("idempotency-key", "", "starting twice with the same key gives the run of the first start, not a second run")
	ver := fs.String("version", "", "the module version to run; default the latest")
	wait := fs.Duration("wait", 0, "wait this long for the run to finish or to wait for a signal, such as 30s; 0 returns at once")
	rest, c, err := parseClient(fs, cf, args, "MODULE", "WORKFLOW")
	if err != nil {
		return err
	}
	in, err := jsonFlag("input", *input)
	if err != nil {
		return err
	}
	if *wait < 0 {
		return fmt.Errorf("--wait must not be negative, got %s", *wait)
	}
	if err := checkNames(nameArg{"MODULE", rest[0], abi.CheckModuleName}, nameArg{"--version", *ver, abi.CheckModuleName},
		nameArg{"WORKFLOW", rest[1], abi.CheckName}, nameArg{"--idempotency-key", *key, abi.CheckName}); err != nil {
		return err
	}
	req := api.StartRunRequest{Module: rest[0], Workflow: rest[1], Input: in, Version: *ver, IdempotencyKey: *key}
	path := "/v1/runs"
	if *wait > 0 {
		path += "?wait=" + min(*wait, headStart).String()
	}
	prog, deadline := newProgress(os.Stderr), time.Now().Add(*wait)
	var run api.Run
	status, err := c.do(ctx, "POST", path, req, &run)
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		fmt.Fprintf(os.Stderr, "run %s already existed for this idempotency key: showing it, not starting another\n", run.ID)
	}
	if *wait > 0 && !settled(run.Status) && time.Now().Before(deadline) {
		if err := waitRun(ctx, c, run.ID, deadline, prog); err != nil {
			return err
		}
	}
	raw, err := printRun(ctx, c, run.ID, *cf.json)
	if err != nil {
		return err
	}
	if *wait == 0 {
		// Started, not awaited: a run that failed at once before it was
		// printed is the run's outcome, not the command's.
		return nil
	}
	if !settled(raw.Status) {
		fmt.Fprintf(os.Stderr, "run %s is still %s after %s; follow it with: wasmflow run events %s --follow\n", raw.ID, raw.Status, *wait, raw.ID)
	}
	return runOutcome(raw)
}

// settled says whether a waiting caller has its answer, as POST /v1/runs
// ?wait= does: the run finished, or waits for a signal, which may take any
// time.
func settled(status string) bool { return terminal(status) || status == "waiting" }

// runOutcome is the exit status of a run: an error when it failed or was
// cancelled.
func runOutcome(run *api.Run) error {
	switch run.Status {
	case "failed":
		msg := "(no error recorded)"
		if run.Error != nil {
			msg = *run.Error
		}
		return failure{fmt.Errorf("run %s failed: %s", run.ID, msg)}
	case "cancelled":
		return failure{fmt.Errorf("run %s was cancelled", run.ID)}
	}
	return nil
}

func runGet(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("run get", `Usage: wasmflow run get ID

Prints a run: its status, input, output or error, and its steps with their
cursors.
`)
	rest, c, err := parseClient(fs, cf, args, "ID")
	if err != nil {
		return err
	}
	_, err = printRun(ctx, c, rest[0], *cf.json)
	return err
}

// printRun gets run id and prints it, as JSON or as a summary.
func printRun(ctx context.Context, c *apiClient, id string, asJSON bool) (*api.Run, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, "GET", "/v1/runs/"+url.PathEscape(id), nil, &raw); err != nil {
		return nil, err
	}
	return showRun(raw, asJSON)
}

func showRun(raw json.RawMessage, asJSON bool) (*api.Run, error) {
	var run api.Run
	if err := json.Unmarshal(raw, &run); err != nil {
		return nil, err
	}
	if asJSON {
		return &run, printJSON(raw)
	}
	return &run, writeRun(os.Stdout, &run)
}

// writeRun writes a run for people: one field a line, then its steps.
func writeRun(out io.Writer, r *api.Run) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "run\t%s\n", r.ID)
	fmt.Fprintf(w, "workflow\t%s/%s (module version %s)\n", r.Module, r.Workflow, r.ModuleVersion)
	fmt.Fprintf(w, "status\t%s\n", r.Status)
	fmt.Fprintf(w, "attempt\t%d\n", r.Attempt)
	if r.Parent != nil {
		fmt.Fprintf(w, "parent\t%s\n", *r.Parent)
	}
	if r.IdempotencyKey != nil {
		fmt.Fprintf(w, "idempotency key\t%s\n", *r.IdempotencyKey)
	}
	fmt.Fprintf(w, "created\t%s\n", r.CreatedAt.Format(time.RFC3339))
	if r.CompletedAt != nil {
		fmt.Fprintf(w, "completed\t%s (after %s)\n", r.CompletedAt.Format(time.RFC3339), r.CompletedAt.Sub(r.CreatedAt).Round(time.Millisecond))
	}
	fmt.Fprintf(w, "input\t%s\n", r.Input)
	if p := compact(r.Progress); p != "" {
		fmt.Fprintf(w, "progress\t%s\n", p)
	}
	if o := compact(r.Output); o != "" {
		fmt.Fprintf(w, "output\t%s\n", o)
	}
	if r.Error != nil {
		fmt.Fprintf(w, "error\t%s\n", *r.Error)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(r.Children) > 0 {
		fmt.Fprintln(out, "\nchildren:")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  ID\tWORKFLOW\tSTATUS")
		for _, k := range r.Children {
			fmt.Fprintf(w, "  %s\t%s\t%s\n", k.ID, k.Workflow, k.Status)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if len(r.Steps) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nsteps:")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  NAME\tSTATUS\tATTEMPTS\tCURSOR\tERROR")
	for _, s := range r.Steps {
		e := ""
		if s.Error != nil {
			e = shorten(*s.Error, 80)
		}
		fmt.Fprintf(w, "  %s\t%s\t%d\t%s\t%s\n", s.Name, s.Status, s.Attempts, shorten(compact(s.Cursor), 60), e)
	}
	return w.Flush()
}

func runEvents(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("run events", `Usage: wasmflow run events ID [--follow]

Prints a run's timeline, one event a line: seq, time (UTC), type, step and
data. With --json, the API's JSON; with --json and --follow, one event a line.
`)
	follow := fs.Bool("follow", false, "keep printing events as they happen, until the run has finished (Ctrl-C to stop)")
	rest, c, err := parseClient(fs, cf, args, "ID")
	if err != nil {
		return err
	}
	id := url.PathEscape(rest[0])
	if !*follow {
		var raw json.RawMessage
		if _, err := c.do(ctx, "GET", "/v1/runs/"+id+"/events", nil, &raw); err != nil {
			return err
		}
		if *cf.json {
			return printJSON(raw)
		}
		var list struct{ Events []api.Event }
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		for _, e := range list.Events {
			writeEvent(os.Stdout, e)
		}
		return nil
	}
	return c.follow(ctx, id, 0, func(e api.Event) error {
		if *cf.json {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			_, err = fmt.Printf("%s\n", b)
			return err
		}
		writeEvent(os.Stdout, e)
		return nil
	})
}

// writeEvent writes an event on one line.
func writeEvent(w io.Writer, e api.Event) {
	step := e.Step
	if step == "" {
		step = "-"
	}
	fmt.Fprintf(w, "%5d  %s  %-18s  %-14s  %s\n", e.Seq, e.At.UTC().Format("2006-01-02T15:04:05.000Z"), e.Type, step, compact(e.Data))
}

func runSignal(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("run signal", `Usage: wasmflow run signal ID NAME [--data JSON]

Sends signal NAME to a run. A run waiting for it resumes; a run not yet
waiting for it gets it when it does.
`)
	data := fs.String("data", "", "the signal's payload, as JSON; default none")
	rest, c, err := parseClient(fs, cf, args, "ID", "NAME")
	if err != nil {
		return err
	}
	payload, err := jsonFlag("data", *data)
	if err != nil {
		return err
	}
	if err := checkNames(nameArg{"NAME", rest[1], abi.CheckName}); err != nil {
		return err
	}
	var body any
	if payload != nil {
		body = payload
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, "POST", "/v1/runs/"+url.PathEscape(rest[0])+"/signals/"+url.PathEscape(rest[1]), body, &raw); err != nil {
		return err
	}
	if *cf.json {
		return printJSON(raw)
	}
	var sig struct {
		ID    json.RawMessage `json:"id"`
		RunID string          `json:"run_id"`
		Name  string          `json:"name"`
	}
	if err := json.Unmarshal(raw, &sig); err != nil {
		return err
	}
	fmt.Printf("sent signal %s to run %s (signal id %s)\n", sig.Name, sig.RunID, compact(sig.ID))
	return nil
}

func runTransition(ctx context.Context, verb string, args []string) error {
	usage := `Usage: wasmflow run cancel ID

Cancels a run that has not finished: a pending, sleeping or waiting run at
once, a running one at its next host call, which the server waits for (up
to 5s). Prints the run. A cancelled run stays cancelled: run retry refuses
it; start a new run instead.
`
	if verb == "retry" {
		usage = `Usage: wasmflow run retry ID

Retries a failed run from the step that failed; the steps it completed are
kept. Only failed runs can be retried: not completed ones, and not cancelled
ones (start a new run instead). Prints the run.
`
	}
	fs, cf := clientFlagSet("run "+verb, usage)
	rest, c, err := parseClient(fs, cf, args, "ID")
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, "POST", "/v1/runs/"+url.PathEscape(rest[0])+"/"+verb, nil, &raw); err != nil {
		return err
	}
	run, err := showRun(raw, *cf.json)
	if err == nil && run.CancelRequested {
		fmt.Fprintf(os.Stderr, "run %s is still running: it is cancelled at its next host call\n", run.ID)
	}
	return err
}

func runsList(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("runs list", `Usage: wasmflow runs list [--status S] [--module M] [--workflow W] [--parent ID] [--limit N] [--all]

Lists runs, newest first.
`)
	status := fs.String("status", "", "only runs with this status: pending, running, sleeping, waiting, completed, failed or cancelled")
	module := fs.String("module", "", "only runs of this module")
	workflow := fs.String("workflow", "", "only runs of this workflow")
	parent := fs.String("parent", "", "only the children of this run")
	limit := fs.Int("limit", host.DefaultListLimit, fmt.Sprintf("runs a page, 1 to %d", host.MaxListLimit))
	all := fs.Bool("all", false, "list every page, not only the first")
	_, c, err := parseClient(fs, cf, args)
	if err != nil {
		return err
	}
	// The host's own rules, checked before the round trip; its messages
	// name the parameters, which are the flags' names.
	p := &host.ListRunsParams{Status: host.RunStatus(*status), Module: *module, Workflow: *workflow, Parent: *parent, Limit: *limit}
	if err := p.Check(); err != nil {
		return fmt.Errorf("--%v", err)
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	for k, v := range map[string]string{"status": *status, "module": *module, "workflow": *workflow, "parent": *parent} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var runs []json.RawMessage
	var next *string
	for {
		var page struct {
			Runs []json.RawMessage `json:"runs"`
			Next *string           `json:"next"`
		}
		if _, err := c.do(ctx, "GET", "/v1/runs?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		runs, next = append(runs, page.Runs...), page.Next
		if !*all || next == nil {
			break
		}
		q.Set("after", *next)
	}
	if *cf.json {
		b, err := json.Marshal(map[string]any{"runs": runs, "next": next})
		if err != nil {
			return err
		}
		return printJSON(b)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tMODULE\tWORKFLOW\tSTATUS\tATTEMPT\tCREATED\tERROR")
	for _, raw := range runs {
		var r api.Run
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		e := ""
		if r.Error != nil {
			e = shorten(*r.Error, 60)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.Module, r.Workflow, r.Status, r.Attempt, r.CreatedAt.Format(time.RFC3339), e)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if next != nil {
		fmt.Fprintf(os.Stderr, "(more runs: --all lists every page)\n")
	}
	return nil
}

// nameArg is a name given on the command line, with the check of its
// grammar (ABI.md section 3.1).
type nameArg struct {
	what, value string
	check       func(string) error
}

// checkNames checks names before they are sent, so that a typo is a usage
// error rather than a round trip. Empty values (flags not given) pass.
func checkNames(names ...nameArg) error {
	for _, n := range names {
		if n.value == "" {
			continue
		}
		if err := n.check(n.value); err != nil {
			return fmt.Errorf("%s %q %v", n.what, n.value, err)
		}
	}
	return nil
}

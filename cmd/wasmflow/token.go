package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/store"
)

const tokenUsage = `Usage:
  wasmflow token create --scope admin|write|read --name NAME --database-url URL
  wasmflow token list --database-url URL
  wasmflow token revoke ID --database-url URL

Manages the bearer tokens of the REST API. Every route but /healthz needs one
(except in wasmflow dev): send it as "Authorization: Bearer TOKEN". Scopes
nest: read reads modules, runs and events; write also starts runs and sends
signals, cancels and retries; admin also uploads modules.

The store keeps only a hash of each token, so create prints the token once
and it cannot be shown again. A revoked token stops working at once on new
processes and within 30 seconds on running ones (they cache checked tokens).

Run "wasmflow token COMMAND --help" for a command's flags.
`

func tokenCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, tokenUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "create":
		return tokenCreate(ctx, args[1:])
	case "list":
		return tokenList(ctx, args[1:])
	case "revoke":
		return tokenRevoke(ctx, args[1:])
	case "help", "-h", "--help":
		fmt.Print(tokenUsage)
		return nil
	}
	fmt.Fprint(os.Stderr, tokenUsage)
	return fmt.Errorf("unknown token command %q", args[0])
}

// tokenFlagSet is the flag set of a token command, with --database-url.
func tokenFlagSet(name, usage string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("token "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, fs.String("database-url", envOr("WASMFLOW_DATABASE_URL", ""), databaseURLHelp)
}

// tokenHost opens the store and an API-only host over it, for the token
// commands.
func tokenHost(ctx context.Context, dbURL string) (*host.Host, func(), error) {
	st, err := openStore(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	h, err := host.New(ctx, &host.Config{Store: st, Workers: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return h, func() {
		h.Close(context.WithoutCancel(ctx))
		st.Close()
	}, nil
}

func tokenCreate(ctx context.Context, args []string) error {
	fs, dbURL := tokenFlagSet("create", `Usage: wasmflow token create --scope admin|write|read --name NAME --database-url URL

Creates a token and prints it on standard output, alone on its line. It is
shown only this once: the store keeps a hash of it.
`)
	scope := fs.String("scope", "", "what the token may do: read (read modules, runs, events), write (also start, signal, cancel and retry runs) or admin (also upload modules); required")
	name := fs.String("name", "", "a name that says who or what uses the token, shown by token list; required")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return fmt.Errorf("token create takes no arguments, got %q", rest)
	case *name == "":
		return fmt.Errorf("--name is required: say who or what will use the token")
	case !store.TokenScope(*scope).Valid():
		return fmt.Errorf("--scope must be admin, write or read, got %q", *scope)
	}
	h, done, err := tokenHost(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer done()
	secret, tok, err := h.CreateToken(ctx, *name, store.TokenScope(*scope))
	if err != nil {
		return err
	}
	fmt.Println(secret)
	fmt.Fprintf(os.Stderr, "\ncreated token %s (%q, scope %s), printed above. Save it now: it cannot be shown again.\n"+
		"Send it as the header  Authorization: Bearer TOKEN\n", tok.ID, tok.Name, tok.Scope)
	return nil
}

func tokenList(ctx context.Context, args []string) error {
	fs, dbURL := tokenFlagSet("list", `Usage: wasmflow token list --database-url URL

Lists every token, revoked ones included, oldest first. Secrets are not
stored, so they are not shown. LAST USED may lag by up to 30 seconds.
`)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("token list takes no arguments, got %q", rest)
	}
	h, done, err := tokenHost(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer done()
	toks, err := h.ListTokens(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSCOPE\tCREATED\tLAST USED\tREVOKED")
	for _, t := range toks {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.CreatedAt.Format(time.RFC3339), timeOrDash(t.LastUsedAt), timeOrDash(t.RevokedAt))
	}
	return w.Flush()
}

func tokenRevoke(ctx context.Context, args []string) error {
	fs, dbURL := tokenFlagSet("revoke", `Usage: wasmflow token revoke ID --database-url URL

Revokes the token with ID (as token list shows it) for good. Running
processes stop accepting it within 30 seconds.
`)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("token revoke takes one token ID, got %d arguments", len(rest))
	}
	h, done, err := tokenHost(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer done()
	tok, err := h.RevokeToken(ctx, rest[0])
	if err != nil {
		return err
	}
	fmt.Printf("revoked token %s (%q, scope %s) at %s\n", tok.ID, tok.Name, tok.Scope, tok.RevokedAt.Format(time.RFC3339))
	return nil
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wasmflow/wasmflow/host/api"
)

// requestTimeout bounds each ordinary API request. Live event streams are
// bounded by their command instead.
const requestTimeout = time.Minute

// apiClient calls a wasmflow server's REST API v1. It is the one place that
// sets the bearer token, applies timeouts and turns error answers into
// errors.
type apiClient struct {
	base  string // "http://127.0.0.1:8080", no trailing slash
	token string
	http  *http.Client
}

// apiFailure is an error answer of the API, with its stable code.
type apiFailure struct{ api.ErrorBody }

func (e *apiFailure) Error() string { return e.Code + ": " + withLimitFlag(e.Message) }

// limitFlags are the server's flags that set the limits the host's errors
// name: the host, a library, knows its limits but not this program's flags.
var limitFlags = []struct{ limit, flag string }{
	{"-byte payload limit", "--max-payload"},
	{"-byte module size limit", "--max-module-size"},
}

// withLimitFlag adds to a message that names a limit the server flag that
// sets it.
func withLimitFlag(msg string) string {
	for _, l := range limitFlags {
		if strings.Contains(msg, l.limit) && !strings.Contains(msg, l.flag) {
			return msg + " (the server's " + l.flag + ")"
		}
	}
	return msg
}

// ExitCode is 1: the command was well formed, the server refused it.
func (e *apiFailure) ExitCode() int { return 1 }

// failure is an error that is not the user's to fix on the command line
// (the network, the server or the run failed): it exits with status 1, where
// usage errors exit with 2.
type failure struct{ err error }

func (f failure) Error() string { return f.err.Error() }
func (f failure) Unwrap() error { return f.err }
func (f failure) ExitCode() int { return 1 }

// do sends a request and decodes a 2xx answer into out (a *json.RawMessage
// keeps it as it came), returning the status. body is nil, []byte (sent as
// wasm), or a value sent as JSON (a json.RawMessage as it is).
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, c.transportError(err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return resp.StatusCode, err
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, failure{fmt.Errorf("%s %s: read answer: %w", method, path, err)}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, failure{fmt.Errorf("%s %s: answer is not what the API promises: %w", method, path, err)}
	}
	return resp.StatusCode, nil
}

func (c *apiClient) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		r, ctype = bytes.NewReader(b), "application/wasm"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		r, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", "wasmflow-cli/"+buildVersion())
	return req, nil
}

// transportError says which server could not be reached, and how to name
// another.
func (c *apiClient) transportError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return failure{fmt.Errorf("no wasmflow server answers at %s (set --server or WASMFLOW_SERVER): %w", c.base, op.Err)}
	}
	return failure{err}
}

// checkStatus turns an answer that is not 2xx into an *apiFailure, from the
// API's JSON error body when it has one.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e api.Error
	if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
		return &apiFailure{e.Error}
	}
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &apiFailure{api.ErrorBody{Code: "http_" + strconv.Itoa(resp.StatusCode), Message: msg}}
}

// stream reads the server-sent events of path and calls each for every
// event, until the server ends the stream (nil), each returns an error, or
// ctx ends.
func (c *apiClient) stream(ctx context.Context, path string, each func(api.Event) error) error {
	req, err := c.request(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // an event carries payloads up to --max-payload
	var name string
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				if err := dispatch(name, data, each); err != nil {
					return err
				}
			}
			name, data = "", nil
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")...)
		}
		// Comments (": heartbeat") and id: lines need nothing: the event's
		// data carries its seq.
	}
	if err := sc.Err(); err != nil {
		return failure{fmt.Errorf("event stream: %w", err)}
	}
	return nil
}

func dispatch(name string, data []byte, each func(api.Event) error) error {
	if name == "error" {
		var e api.Error
		if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
			return &apiFailure{e.Error}
		}
		return failure{fmt.Errorf("event stream: %s", data)}
	}
	var ev api.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return failure{fmt.Errorf("event stream: event is not JSON: %w", err)}
	}
	return each(ev)
}

// errStopFollowing ends follow early without an error.
var errStopFollowing = errors.New("stop following")

// follow calls each for every event of run id after seq, live, until the
// run has finished and its last event was seen, each returns
// errStopFollowing (follow returns nil) or another error, or ctx ends. A
// stream the server ends early (it is shutting down) or a dropped connection
// is resumed from the last event seen, so no event is missed or repeated.
// An event the stream sends again, rewritten (activation_started once the
// activation knows how it started), is not passed on twice: a follower
// prints a log, and the first version is in it.
func (c *apiClient) follow(ctx context.Context, id string, after int64, each func(api.Event) error) error {
	seen := func(e api.Event) error {
		if e.Seq <= after {
			return nil
		}
		after = e.Seq
		return each(e)
	}
	for failures := 0; ; {
		err := c.stream(ctx, fmt.Sprintf("/v1/runs/%s/events?after=%d", id, after), seen)
		var af *apiFailure
		switch {
		case errors.Is(err, errStopFollowing):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &af):
			return err
		case err != nil:
			// The connection dropped: try again a few times, as a server
			// restarting behind a load balancer takes a moment.
			if failures++; failures >= 5 {
				return err
			}
		default:
			failures = 0
			var run api.Run
			if _, err := c.do(ctx, "GET", "/v1/runs/"+id, nil, &run); err != nil {
				return err
			}
			if terminal(run.Status) {
				// The stream ended with the run, or it ended early and the
				// run finished since: either way its last events are listed.
				var evs struct{ Events []api.Event }
				if _, err := c.do(ctx, "GET", fmt.Sprintf("/v1/runs/%s/events?after=%d", id, after), nil, &evs); err != nil {
					return err
				}
				for _, e := range evs.Events {
					if err := seen(e); err != nil {
						if errors.Is(err, errStopFollowing) {
							return nil
						}
						return err
					}
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func terminal(status string) bool {
	return status == "completed" || status == "failed" || status == "cancelled"
}

// clientFlags are the flags every client command has.
type clientFlags struct {
	server *string
	token  *string
	json   *bool
}

// clientFlagSet is the flag set of a client command, with --server, --token
// and --json, and a usage that prints usage and then the flags.
func clientFlagSet(name, usage string) (*flag.FlagSet, *clientFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, &clientFlags{
		server: fs.String("server", envOr("WASMFLOW_SERVER", "http://127.0.0.1:8080"), "URL of the wasmflow server's API (env WASMFLOW_SERVER)"),
		token:  fs.String("token", envOr("WASMFLOW_TOKEN", ""), "bearer token for the API, as 'wasmflow token create' prints it; not needed for wasmflow dev (env WASMFLOW_TOKEN)"),
		json:   fs.Bool("json", false, "print the API's JSON instead of tables and lines, for scripts"),
	}
}

// parseClient parses args with fs, checks that the positional arguments are
// the ones named, and returns them with the client.
func parseClient(fs *flag.FlagSet, cf *clientFlags, args []string, names ...string) ([]string, *apiClient, error) {
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != len(names) {
		if len(names) == 0 {
			return nil, nil, fmt.Errorf("%s takes no arguments, got %q (see wasmflow %s --help)", fs.Name(), rest, fs.Name())
		}
		return nil, nil, fmt.Errorf("%s takes %s, got %d arguments %q (see wasmflow %s --help)", fs.Name(), strings.Join(names, " "), len(rest), rest, fs.Name())
	}
	base := strings.TrimRight(*cf.server, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, nil, fmt.Errorf("--server must be an http:// or https:// URL, got %q", *cf.server)
	}
	return rest, &apiClient{base: base, token: *cf.token, http: &http.Client{}}, nil
}

// jsonFlag reads a flag that holds JSON, checked here so that a typo is a
// usage error rather than a round trip.
func jsonFlag(name, v string) (json.RawMessage, error) {
	if v == "" {
		return nil, nil
	}
	if !json.Valid([]byte(v)) {
		return nil, fmt.Errorf("--%s is not valid JSON: %s (quote strings: '\"text\"')", name, v)
	}
	return json.RawMessage(v), nil
}

// printJSON prints raw indented, for --json.
func printJSON(raw []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := os.Stdout.Write(b.Bytes())
	return err
}

// compact shows a JSON value on one line; null shows as "".
func compact(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

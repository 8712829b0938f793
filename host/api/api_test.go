package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testmodules.RemoveCompileCache()
	os.Exit(code)
}

type testBundle struct {
	host *host.Host
	app  *fiber.App
}

// setup starts a host with workers on a fresh SQLite store, pushes the
// named modules (each under its own name) and returns the API over it.
func setup(t *testing.T, cfg *api.Config, modules ...string) *testBundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wasmflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(ctx, &host.Config{
		Store:         st,
		CacheDir:      testmodules.CompileCache(t),
		LeaseDuration: 2 * time.Second,
		PollInterval:  50 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		h.Shutdown(sctx)
		h.Close(ctx)
		st.Close()
	})
	for _, name := range modules {
		if _, _, err := h.PushModule(ctx, &host.PushModuleParams{Name: name, Wasm: testmodules.Bytes(t, name)}); err != nil {
			t.Fatalf("push %s: %v", name, err)
		}
	}
	if cfg == nil {
		cfg = &api.Config{}
	}
	// Tokens have their own tests (auth_test.go); these are about the rest.
	cfg.Auth = api.NoAuth
	cfg.EventPoll = 20 * time.Millisecond
	return &testBundle{host: h, app: api.New(h, cfg)}
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to the API; body is sent as is if it is []byte or a
// string, as JSON otherwise. headers are name, value pairs.
func (b *testBundle) do(t *testing.T, method, path string, body any, headers ...string) *response {
	t.Helper()
	var r io.Reader = http.NoBody
	switch v := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(v)
	case string:
		r = strings.NewReader(v)
	default:
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.app.Test(req, 30_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// expect fails the test unless the answer has the status, and decodes its
// body into out when out is not nil.
func (r *response) expect(t *testing.T, status int, out any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body: %s", r.status, status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
	}
}

// expectError fails the test unless the answer is an error body with the
// status and code.
func (r *response) expectError(t *testing.T, status int, code string) {
	t.Helper()
	var e api.Error
	r.expect(t, status, &e)
	if e.Error.Code != code {
		t.Fatalf("error code %q, want %q; body: %s", e.Error.Code, code, r.body)
	}
	if e.Error.Message == "" {
		t.Fatalf("error without a message: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q, want JSON", ct)
	}
}

// waitStatus polls GET /v1/runs/{id} until the run has one of statuses.
func (b *testBundle) waitStatus(t *testing.T, id string, statuses ...string) api.Run {
	t.Helper()
	var run api.Run
	poll.Until(t, 20*time.Second, func() error {
		b.do(t, "GET", "/v1/runs/"+id, nil).expect(t, 200, &run)
		if slices.Contains(statuses, run.Status) {
			return nil
		}
		return fmt.Errorf("run %s is %s, want one of %v", id, run.Status, statuses)
	})
	return run
}

func receiptInput(order string) map[string]any {
	return map[string]any{"order_id": order, "amount_cents": 4200, "email": "ada@example.com"}
}

func TestHealthMetricsAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)

	var health map[string]string
	b.do(t, "GET", "/healthz", nil).expect(t, 200, &health)
	if health["status"] != "ok" {
		t.Fatalf("healthz: %v", health)
	}

	b.do(t, "GET", "/v1/nothing-here", nil).expectError(t, 404, "not_found")
	b.do(t, "DELETE", "/v1/runs", nil).expectError(t, 404, "not_found")

	m := b.do(t, "GET", "/metrics", nil)
	m.expect(t, 200, nil)
	if ct := m.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("metrics Content-Type %q", ct)
	}
	for _, want := range []string{
		`wasmflow_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 1`,
		`wasmflow_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1`,
		`wasmflow_http_request_duration_seconds_count{method="DELETE",route="unmatched",status="404"} 1`,
		"\ngo_goroutines ",
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s:\n%s", want, m.body)
		}
	}
}

// Activations are counted by engine and outcome.
func TestMetricsCountActivations(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "receipt")
	var run map[string]any
	b.do(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("M-1")}).expect(t, 201, &run)
	if run["status"] != "completed" {
		t.Fatalf("run: %v", run)
	}
	m := b.do(t, "GET", "/metrics", nil)
	m.expect(t, 200, nil)
	want := `wasmflow_activation_duration_seconds_count{engine="wazero",status="completed"} 1`
	if !strings.Contains(string(m.body), want) {
		t.Fatalf("metrics lack %s:\n%s", want, m.body)
	}
}

func TestModules(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	wasm := testmodules.Bytes(t, "receipt")

	var first api.Module
	b.do(t, "POST", "/v1/modules?name=receipt", wasm, "Content-Type", "application/wasm").expect(t, 201, &first)
	if first.Name != "receipt" || first.Version != "1" || !strings.HasPrefix(first.Digest, "sha256:") ||
		first.Size != int64(len(wasm)) || first.CreatedAt.IsZero() {
		t.Fatalf("pushed module: %+v", first)
	}
	if len(first.Workflows) != 1 || first.Workflows[0].Name != "receipt" {
		t.Fatalf("workflows %+v, want [{receipt}]", first.Workflows)
	}

	t.Run("same bytes again answer 200 with the same record", func(t *testing.T) {
		var again api.Module
		b.do(t, "POST", "/v1/modules?name=receipt", wasm, "Content-Type", "application/wasm").expect(t, 200, &again)
		if again.Version != first.Version || again.Digest != first.Digest || !again.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("again: %+v, first: %+v", again, first)
		}
	})
	t.Run("other bytes make a new version", func(t *testing.T) {
		var v2 api.Module
		b.do(t, "POST", "/v1/modules?name=receipt", testmodules.Bytes(t, "signup"), "Content-Type", "application/wasm").expect(t, 201, &v2)
		if v2.Version != "2" || v2.Digest == first.Digest {
			t.Fatalf("second version: %+v", v2)
		}
	})
	t.Run("a taken version with other bytes is a conflict", func(t *testing.T) {
		b.do(t, "POST", "/v1/modules?name=receipt&version=1", testmodules.Bytes(t, "export"), "Content-Type", "application/wasm").
			expectError(t, 409, "conflict")
	})
	t.Run("bytes that are not wasm are invalid_module", func(t *testing.T) {
		b.do(t, "POST", "/v1/modules?name=junk", "this is not wasm", "Content-Type", "application/wasm").expectError(t, 400, "invalid_module")
	})
	t.Run("a module of another ABI is invalid_module", func(t *testing.T) {
		b.do(t, "POST", "/v1/modules?name=abi99", testmodules.Bytes(t, "abi99"), "Content-Type", "application/wasm").expectError(t, 400, "invalid_module")
	})
	t.Run("a missing name is invalid_request", func(t *testing.T) {
		b.do(t, "POST", "/v1/modules", wasm, "Content-Type", "application/wasm").expectError(t, 400, "invalid_request")
	})
	t.Run("list shows the latest version of each module", func(t *testing.T) {
		var list struct {
			Modules []api.Module `json:"modules"`
		}
		b.do(t, "GET", "/v1/modules", nil).expect(t, 200, &list)
		if len(list.Modules) != 1 || list.Modules[0].Name != "receipt" || list.Modules[0].Version != "2" {
			t.Fatalf("modules: %+v", list.Modules)
		}
	})
	t.Run("get shows every version, newest first", func(t *testing.T) {
		var got struct {
			Name     string       `json:"name"`
			Versions []api.Module `json:"versions"`
		}
		b.do(t, "GET", "/v1/modules/receipt", nil).expect(t, 200, &got)
		if got.Name != "receipt" || len(got.Versions) != 2 || got.Versions[0].Version != "2" || got.Versions[1].Version != "1" {
			t.Fatalf("module: %+v", got)
		}
		for _, v := range got.Versions {
			if v.Runs == nil || v.Runs.Total != 0 || len(v.Runs.Statuses) != 7 {
				t.Fatalf("runs of version %s: %+v, want none, in each of the 7 statuses", v.Version, v.Runs)
			}
		}
	})
	t.Run("get counts the runs of each version", func(t *testing.T) {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "receipt", "version": "1", "workflow": "receipt", "input": receiptInput("V-1")}).expect(t, 201, &run)
		if run.Status != "completed" {
			t.Fatalf("run of version 1: %s", run.Status)
		}
		var got struct {
			Versions []api.Module `json:"versions"`
		}
		b.do(t, "GET", "/v1/modules/receipt", nil).expect(t, 200, &got)
		runs := map[string]*api.RunCounts{}
		for _, v := range got.Versions {
			runs[v.Version] = v.Runs
		}
		if runs["1"] == nil || runs["1"].Total != 1 || runs["1"].Statuses["completed"] != 1 || runs["2"] == nil || runs["2"].Total != 0 {
			t.Fatalf("runs per version: 1: %+v, 2: %+v; want one completed run of version 1", runs["1"], runs["2"])
		}
		var list struct {
			Modules []api.Module `json:"modules"`
		}
		b.do(t, "GET", "/v1/modules", nil).expect(t, 200, &list)
		if len(list.Modules) != 1 || list.Modules[0].Runs != nil {
			t.Fatalf("the module list counts no runs: %+v", list.Modules)
		}
	})
	t.Run("get of an unknown module is not_found", func(t *testing.T) {
		b.do(t, "GET", "/v1/modules/nope", nil).expectError(t, 404, "not_found")
	})
}

func TestStartRunRejectsBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "receipt")
	small := api.New(b.host, &api.Config{BodyLimit: 256, Auth: api.NoAuth})
	cases := []struct {
		name   string
		query  string
		body   string
		status int
		code   string
	}{
		{"a body that is not JSON is invalid_json", "", `{"module": "receipt",`, 400, "invalid_json"},
		{"an empty body is invalid_json", "", ``, 400, "invalid_json"},
		{"a field of the wrong type is invalid_request", "", `{"module": 7, "workflow": "receipt"}`, 400, "invalid_request"},
		{"a missing workflow is invalid_request", "", `{"module": "receipt"}`, 400, "invalid_request"},
		{"a bad wait is invalid_request", "?wait=soon", `{"module": "receipt", "workflow": "receipt"}`, 400, "invalid_request"},
		{"an unknown module is module_not_found", "", `{"module": "nope", "workflow": "receipt"}`, 404, "module_not_found"},
		{"an unknown module version is module_not_found", "", `{"module": "receipt", "version": "9", "workflow": "receipt"}`, 404, "module_not_found"},
		{"an unknown workflow of a known module is workflow_not_found", "", `{"module": "receipt", "workflow": "nope"}`, 422, "workflow_not_found"},
		{"an idempotency key over 256 bytes is invalid_request", "", `{"module": "receipt", "workflow": "receipt", "idempotency_key": "` + strings.Repeat("k", 257) + `"}`, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.do(t, "POST", "/v1/runs"+tc.query, tc.body).expectError(t, tc.status, tc.code)
		})
	}
	t.Run("a body over the limit is too_large", func(t *testing.T) {
		// Over a real connection: app.Test reports fasthttp's error
		// instead of the answer the client gets.
		base := (&testBundle{host: b.host, app: small}).listen(t)
		body, _ := json.Marshal(map[string]any{"module": "receipt", "workflow": "receipt", "input": strings.Repeat("x", 1000)})
		resp, err := http.Post(base+"/v1/runs", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		(&response{status: resp.StatusCode, header: resp.Header, body: data}).expectError(t, 413, "too_large")
	})
	t.Run("no run was created by any of them", func(t *testing.T) {
		var list struct {
			Runs []api.Run `json:"runs"`
		}
		b.do(t, "GET", "/v1/runs", nil).expect(t, 200, &list)
		if len(list.Runs) != 0 {
			t.Fatalf("runs: %+v", list.Runs)
		}
	})
}

func TestStartRunIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "receipt")
	for _, tc := range []struct {
		name    string
		body    map[string]any
		headers []string
	}{
		{"by the body's idempotency_key", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("A-1"), "idempotency_key": "order-A-1"}, nil},
		{"by the Idempotency-Key header", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("A-2")}, []string{"Idempotency-Key", "order-A-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first, again api.Run
			b.do(t, "POST", "/v1/runs", tc.body, tc.headers...).expect(t, 201, &first)
			b.do(t, "POST", "/v1/runs", tc.body, tc.headers...).expect(t, 200, &again)
			if first.ID == "" || again.ID != first.ID {
				t.Fatalf("first run %q, again %q", first.ID, again.ID)
			}
			if first.IdempotencyKey == nil || *first.IdempotencyKey == "" {
				t.Fatalf("run without its idempotency key: %s", first.ID)
			}
		})
	}
	t.Run("a new key starts a new run", func(t *testing.T) {
		var a, c api.Run
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("A-3"), "idempotency_key": "k-3"}).expect(t, 201, &a)
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("A-3"), "idempotency_key": "k-4"}).expect(t, 201, &c)
		if a.ID == c.ID {
			t.Fatalf("two keys, one run %s", a.ID)
		}
	})
}

func TestForegroundRunsAndSignals(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "receipt", "signup")

	t.Run("wait returns a short run completed, with its steps", func(t *testing.T) {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("W-1")}).expect(t, 201, &run)
		if run.Status != "completed" || run.CompletedAt == nil || run.Error != nil {
			t.Fatalf("run after wait: status %s, completed_at %v, error %v", run.Status, run.CompletedAt, run.Error)
		}
		var out map[string]any
		if err := json.Unmarshal(run.Output, &out); err != nil || out["order_id"] != "W-1" {
			t.Fatalf("output %s: %v", run.Output, err)
		}
		if run.Module != "receipt" || run.ModuleVersion != "1" || !strings.HasPrefix(run.ModuleDigest, "sha256:") || run.Attempt != 1 {
			t.Fatalf("run: %+v", run)
		}
		if len(run.Steps) == 0 {
			t.Fatal("completed run without steps")
		}
		for _, s := range run.Steps {
			if s.Name == "" || s.Status != "completed" || s.Attempts < 1 {
				t.Fatalf("step %+v", s)
			}
		}
	})

	var signup api.Run
	t.Run("wait returns a run waiting for a signal", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "signup", "workflow": "signup", "input": map[string]any{"email": "a@example.com"}}).expect(t, 201, &signup)
		if signup.Status != "waiting" {
			t.Fatalf("signup after wait: %s, want waiting", signup.Status)
		}
		if len(signup.Waits) != 1 || signup.Waits[0].Kind != "signal" || signup.Waits[0].Name != "email-confirmed" ||
			signup.Waits[0].Status != "waiting" || signup.Waits[0].WakeAt == nil {
			t.Fatalf("waits %+v, want the wait for signal email-confirmed with its timeout", signup.Waits)
		}
	})
	if signup.ID == "" {
		t.FailNow()
	}
	t.Run("a payload that is not JSON is invalid_json", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs/"+signup.ID+"/signals/email-confirmed", "{nope").expectError(t, 400, "invalid_json")
	})
	t.Run("a signal to an unknown run is not_found", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs/no-such-run/signals/email-confirmed", `{}`).expectError(t, 404, "not_found")
	})
	t.Run("the signal completes the waiting run", func(t *testing.T) {
		var sig struct {
			ID    int64  `json:"id"`
			RunID string `json:"run_id"`
			Name  string `json:"name"`
		}
		b.do(t, "POST", "/v1/runs/"+signup.ID+"/signals/email-confirmed", `{"token": "t-1"}`).expect(t, 202, &sig)
		if sig.RunID != signup.ID || sig.Name != "email-confirmed" || sig.ID == 0 {
			t.Fatalf("signal answer: %+v", sig)
		}
		run := b.waitStatus(t, signup.ID, "completed", "failed")
		var out map[string]any
		if err := json.Unmarshal(run.Output, &out); err != nil || run.Status != "completed" || out["confirmed"] != true {
			t.Fatalf("signup after the signal: %s, output %s (%v)", run.Status, run.Output, err)
		}
		if len(run.Waits) != 1 || run.Waits[0].Status != "received" {
			t.Fatalf("waits after the signal: %+v, want the wait received", run.Waits)
		}
	})
	t.Run("a signal to a finished run is run_finished", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs/"+signup.ID+"/signals/email-confirmed", `{}`).expectError(t, 409, "run_finished")
	})
	t.Run("cancel of a finished run is invalid_transition", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs/"+signup.ID+"/cancel", nil).expectError(t, 409, "invalid_transition")
	})
	t.Run("retry of a completed run is invalid_transition", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs/"+signup.ID+"/retry", nil).expectError(t, 409, "invalid_transition")
	})
}

func TestCancelAndRetry(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "signup", "faults")

	t.Run("cancel of a waiting run cancels it at once", func(t *testing.T) {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "signup", "workflow": "signup", "input": map[string]any{"email": "c@example.com"}}).expect(t, 201, &run)
		if run.Status != "waiting" {
			t.Fatalf("status %s, want waiting", run.Status)
		}
		var cancelled api.Run
		b.do(t, "POST", "/v1/runs/"+run.ID+"/cancel", nil).expect(t, 202, &cancelled)
		if cancelled.ID != run.ID || cancelled.Status != "cancelled" || cancelled.Steps == nil {
			t.Fatalf("cancel answer: %+v", cancelled)
		}
		b.do(t, "POST", "/v1/runs/"+run.ID+"/retry", nil).expectError(t, 409, "invalid_transition")
	})
	t.Run("retry of a failed run makes it pending with the next attempt", func(t *testing.T) {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "faults", "workflow": "panic"}).expect(t, 201, &run)
		if run.Status != "failed" || run.Error == nil || !strings.Contains(*run.Error, "boom") {
			t.Fatalf("panic run: status %s, error %v", run.Status, run.Error)
		}
		var retried api.Run
		b.do(t, "POST", "/v1/runs/"+run.ID+"/retry", nil).expect(t, 202, &retried)
		if retried.ID != run.ID || retried.Attempt != 2 || retried.Status != "pending" {
			t.Fatalf("retry answer: %+v", retried)
		}
		if again := b.waitStatus(t, run.ID, "failed"); again.Attempt != 2 {
			t.Fatalf("attempt %d after the retry failed again, want 2", again.Attempt)
		}
	})
	t.Run("cancel and retry of an unknown run are not_found", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs/nope/cancel", nil).expectError(t, 404, "not_found")
		b.do(t, "POST", "/v1/runs/nope/retry", nil).expectError(t, 404, "not_found")
	})
}

func TestListRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "faults")
	var ids []string
	for range 5 {
		var run api.Run
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "faults", "workflow": "ok"}).expect(t, 201, &run)
		ids = append(ids, run.ID)
	}
	var other api.Run
	b.do(t, "POST", "/v1/runs", map[string]any{"module": "faults", "workflow": "await"}).expect(t, 201, &other)
	b.waitStatus(t, other.ID, "waiting")
	slices.Reverse(ids) // newest first

	type page struct {
		Runs []api.Run `json:"runs"`
		Next *string   `json:"next"`
	}
	t.Run("pages of two follow next until it is null", func(t *testing.T) {
		var got []string
		url := "/v1/runs?workflow=ok&limit=2"
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatalf("more than 3 pages of 5 runs: %v", got)
			}
			var p page
			b.do(t, "GET", url, nil).expect(t, 200, &p)
			if len(p.Runs) > 2 {
				t.Fatalf("page of %d runs with limit 2", len(p.Runs))
			}
			for _, r := range p.Runs {
				if r.Steps != nil {
					t.Fatalf("listed run %s has steps", r.ID)
				}
				got = append(got, r.ID)
			}
			if p.Next == nil {
				break
			}
			if *p.Next != p.Runs[len(p.Runs)-1].ID {
				t.Fatalf("next %q is not the page's last run %q", *p.Next, p.Runs[len(p.Runs)-1].ID)
			}
			url = "/v1/runs?workflow=ok&limit=2&after=" + *p.Next
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("runs %v, want newest first %v", got, ids)
		}
	})
	t.Run("filters by status and module", func(t *testing.T) {
		var p page
		b.do(t, "GET", "/v1/runs?status=waiting&module=faults", nil).expect(t, 200, &p)
		if len(p.Runs) != 1 || p.Runs[0].ID != other.ID || p.Next != nil {
			t.Fatalf("waiting runs: %+v", p)
		}
		b.do(t, "GET", "/v1/runs?module=nope", nil).expect(t, 200, &p)
		if len(p.Runs) != 0 {
			t.Fatalf("runs of an unknown module: %+v", p.Runs)
		}
	})
	t.Run("filters by module version and idempotency key", func(t *testing.T) {
		var keyed api.Run
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "faults", "workflow": "ok", "idempotency_key": "list-key"}).expect(t, 201, &keyed)
		var p page
		b.do(t, "GET", "/v1/runs?idempotency_key=list-key", nil).expect(t, 200, &p)
		if len(p.Runs) != 1 || p.Runs[0].ID != keyed.ID || p.Runs[0].IdempotencyKey == nil || *p.Runs[0].IdempotencyKey != "list-key" {
			t.Fatalf("runs with key list-key: %+v", p.Runs)
		}
		b.do(t, "GET", "/v1/runs?idempotency_key=list", nil).expect(t, 200, &p)
		if len(p.Runs) != 0 {
			t.Fatalf("runs with key list (a key's prefix): %+v", p.Runs)
		}
		b.do(t, "GET", "/v1/runs?module=faults&version=1&workflow=await", nil).expect(t, 200, &p)
		if len(p.Runs) != 1 || p.Runs[0].ID != other.ID {
			t.Fatalf("await runs of faults version 1: %+v", p.Runs)
		}
		b.do(t, "GET", "/v1/runs?module=faults&version=2", nil).expect(t, 200, &p)
		if len(p.Runs) != 0 {
			t.Fatalf("runs of faults version 2, which does not exist: %+v", p.Runs)
		}
	})
	for _, q := range []string{"status=asleep", "limit=0", "limit=501", "limit=ten", "version=1"} {
		t.Run("rejects "+q, func(t *testing.T) {
			b.do(t, "GET", "/v1/runs?"+q, nil).expectError(t, 400, "invalid_request")
		})
	}
	t.Run("get of an unknown run is not_found", func(t *testing.T) {
		b.do(t, "GET", "/v1/runs/nope", nil).expectError(t, 404, "not_found")
	})
}

func TestCountRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "faults", "receipt")
	count := func(t *testing.T, query string) api.RunCounts {
		t.Helper()
		var c api.RunCounts
		b.do(t, "GET", "/v1/runs/counts"+query, nil).expect(t, 200, &c)
		if len(c.Statuses) != 7 {
			t.Fatalf("counts %+v: want every one of the 7 statuses", c)
		}
		return c
	}
	if c := count(t, ""); c.Total != 0 {
		t.Fatalf("counts of no runs: %+v", c)
	}
	var waiting api.Run
	b.do(t, "POST", "/v1/runs", map[string]any{"module": "faults", "workflow": "await"}).expect(t, 201, &waiting)
	b.waitStatus(t, waiting.ID, "waiting")
	for i := range 2 {
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput(fmt.Sprintf("C-%d", i))}).expect(t, 201, nil)
	}
	var cancelled api.Run
	b.do(t, "POST", "/v1/runs", map[string]any{"module": "faults", "workflow": "await"}).expect(t, 201, &cancelled)
	b.waitStatus(t, cancelled.ID, "waiting")
	b.do(t, "POST", "/v1/runs/"+cancelled.ID+"/cancel", nil).expect(t, 202, nil)

	for _, tc := range []struct {
		name, query string
		total       int64
		statuses    map[string]int64
	}{
		{"all runs", "", 4, map[string]int64{"waiting": 1, "completed": 2, "cancelled": 1}},
		{"runs of a module", "?module=faults", 2, map[string]int64{"waiting": 1, "cancelled": 1}},
		{"runs of a module version and workflow", "?module=receipt&version=1&workflow=receipt", 2, map[string]int64{"completed": 2}},
		{"runs of a workflow no run has", "?workflow=nope", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := count(t, tc.query)
			if c.Total != tc.total {
				t.Fatalf("total %d, want %d (%+v)", c.Total, tc.total, c)
			}
			for status, n := range c.Statuses {
				if n != tc.statuses[status] {
					t.Fatalf("%s: %d, want %d (%+v)", status, n, tc.statuses[status], c)
				}
			}
		})
	}
	t.Run("a version without its module is invalid_request", func(t *testing.T) {
		b.do(t, "GET", "/v1/runs/counts?version=1", nil).expectError(t, 400, "invalid_request")
	})
}

// The web UI's files are served from the binary, with headers that keep
// them from loading anything from elsewhere, and revalidated by ETag.
func TestWebUI(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	page := b.do(t, "GET", "/", nil)
	page.expect(t, 200, nil)
	if ct := page.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("/ Content-Type %q", ct)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("/ Content-Security-Policy %q", csp)
	}
	if !strings.Contains(string(page.body), `src="/ui/app.js"`) {
		t.Fatalf("the page does not load /ui/app.js:\n%s", page.body)
	}
	for _, f := range []struct{ file, ctype string }{
		{"app.js", "text/javascript"}, {"run.js", "text/javascript"}, {"style.css", "text/css"}, {"favicon.svg", "image/svg+xml"},
	} {
		r := b.do(t, "GET", "/ui/"+f.file, nil)
		r.expect(t, 200, nil)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, f.ctype) || len(r.body) == 0 {
			t.Fatalf("/ui/%s: Content-Type %q, %d bytes", f.file, ct, len(r.body))
		}
		etag := r.header.Get("ETag")
		if etag == "" {
			t.Fatalf("/ui/%s has no ETag", f.file)
		}
		if again := b.do(t, "GET", "/ui/"+f.file, nil, "If-None-Match", etag); again.status != 304 || len(again.body) != 0 {
			t.Fatalf("/ui/%s with its ETag: %d with %d bytes, want 304 without a body", f.file, again.status, len(again.body))
		}
	}
	b.do(t, "GET", "/ui/nope.js", nil).expectError(t, 404, "not_found")
	m := string(b.do(t, "GET", "/metrics", nil).body)
	for _, want := range []string{
		`wasmflow_http_request_duration_seconds_count{method="GET",route="/",status="200"} 1`,
		`wasmflow_http_request_duration_seconds_count{method="GET",route="/ui/:file",status="304"} 4`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Every module the page imports is served.
	for _, js := range []string{"app.js", "run.js", "runs.js", "modules.js", "start.js"} {
		body := string(b.do(t, "GET", "/ui/"+js, nil).body)
		for _, m := range regexp.MustCompile(`from '\./([a-z]+\.js)'`).FindAllStringSubmatch(body, -1) {
			b.do(t, "GET", "/ui/"+m[1], nil).expect(t, 200, nil)
		}
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "receipt")
	var run api.Run
	b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("E-1")}).expect(t, 201, &run)
	if run.Status != "completed" {
		t.Fatalf("status %s", run.Status)
	}
	var all struct {
		Events []api.Event `json:"events"`
	}
	b.do(t, "GET", "/v1/runs/"+run.ID+"/events", nil).expect(t, 200, &all)
	if len(all.Events) < 3 {
		t.Fatalf("only %d events", len(all.Events))
	}
	for i, e := range all.Events {
		if e.Seq != int64(i+1) || e.Type == "" || e.At.IsZero() || len(e.Data) == 0 {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if all.Events[0].Type != "run_created" || all.Events[len(all.Events)-1].Type != "run_completed" {
		t.Fatalf("timeline from %s to %s", all.Events[0].Type, all.Events[len(all.Events)-1].Type)
	}
	if !slices.ContainsFunc(all.Events, func(e api.Event) bool { return e.Type == "step_completed" && e.Step != "" }) {
		t.Fatal("no step_completed event naming its step")
	}

	t.Run("after skips the events up to its seq", func(t *testing.T) {
		var later struct {
			Events []api.Event `json:"events"`
		}
		b.do(t, "GET", "/v1/runs/"+run.ID+"/events?after=2", nil).expect(t, 200, &later)
		if len(later.Events) != len(all.Events)-2 || later.Events[0].Seq != 3 {
			t.Fatalf("after=2: %d events from %+v", len(later.Events), later.Events[0])
		}
	})
	t.Run("a bad after is invalid_request", func(t *testing.T) {
		b.do(t, "GET", "/v1/runs/"+run.ID+"/events?after=two", nil).expectError(t, 400, "invalid_request")
	})
	t.Run("events of an unknown run are not_found", func(t *testing.T) {
		b.do(t, "GET", "/v1/runs/nope/events", nil).expectError(t, 404, "not_found")
		b.do(t, "GET", "/v1/runs/nope/events", nil, "Accept", "text/event-stream").expectError(t, 404, "not_found")
	})
}

// sse is one server-sent event.
type sse struct {
	id, event, data string
}

// readSSE reads a stream until it ends and returns its events.
func readSSE(r io.Reader) ([]sse, error) {
	var events []sse
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sse
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (sse{}) {
				events = append(events, cur)
			}
			cur = sse{}
		case strings.HasPrefix(line, ":"): // heartbeat
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		default:
			return events, fmt.Errorf("unexpected line in the stream: %q", line)
		}
	}
	return events, sc.Err()
}

// listen serves the app on a loopback port until the test ends.
func (b *testBundle) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.app.Listener(ln) }()
	base := "http://" + ln.Addr().String()
	// Wait until the app serves: a shutdown before that would not stop it.
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() {
		if err := b.app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return base
}

func TestLiveEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "faults")
	base := b.listen(t)

	stream := func(t *testing.T, path string, headers ...string) []sse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "text/event-stream")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		evs, err := readSSE(resp.Body)
		if ctx.Err() != nil {
			t.Fatal("the stream did not end within 20s after the run finished")
		}
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	check := func(t *testing.T, evs []sse, firstSeq int64) {
		t.Helper()
		if len(evs) == 0 {
			t.Fatal("no events")
		}
		// Seqs follow each other; an event the host rewrote in place (a
		// coalesced checkpoint, an activation_started completed by its
		// activation) comes again with its seq, right after itself.
		want := firstSeq
		for i, ev := range evs {
			var e api.Event
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				t.Fatalf("event %d data %q: %v", i, ev.data, err)
			}
			if i > 0 && e.Seq == want-1 && ev.event == evs[i-1].event {
				continue
			}
			if ev.id != strconv.FormatInt(want, 10) || e.Seq != want || ev.event != e.Type {
				t.Fatalf("event %d: id %s, event %s, data %s; want seq %d", i, ev.id, ev.event, ev.data, want)
			}
			want++
		}
		if last := evs[len(evs)-1]; last.event != "run_completed" {
			t.Fatalf("stream ended with %s, want run_completed", last.event)
		}
	}

	t.Run("a live run streams until run_completed and the stream ends", func(t *testing.T) {
		var run api.Run
		// sleepy sleeps 200ms: the stream opens while the run is not done.
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "faults", "workflow": "sleepy"}).expect(t, 201, &run)
		evs := stream(t, "/v1/runs/"+run.ID+"/events")
		check(t, evs, 1)
		if !slices.ContainsFunc(evs, func(e sse) bool { return e.event == "timer_fired" }) {
			t.Fatalf("no timer_fired in %v", evs)
		}
	})
	t.Run("a waiting run's stream goes on until a signal completes it", func(t *testing.T) {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "faults", "workflow": "await"}).expect(t, 201, &run)
		if run.Status != "waiting" {
			t.Fatalf("status %s", run.Status)
		}
		time.AfterFunc(300*time.Millisecond, func() {
			b.host.Signal(context.Background(), run.ID, "go", json.RawMessage(`{"hello":1}`))
		})
		evs := stream(t, "/v1/runs/"+run.ID+"/events")
		check(t, evs, 1)
		if !slices.ContainsFunc(evs, func(e sse) bool { return e.event == "signal_received" }) {
			t.Fatalf("no signal_received in %v", evs)
		}
	})
	t.Run("Last-Event-ID and after resume after the given seq", func(t *testing.T) {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "faults", "workflow": "effects"}).expect(t, 201, &run)
		if run.Status != "completed" {
			t.Fatalf("status %s", run.Status)
		}
		check(t, stream(t, "/v1/runs/"+run.ID+"/events?after=2"), 3)
		check(t, stream(t, "/v1/runs/"+run.ID+"/events?after=1", "Last-Event-ID", "3"), 4)
	})
	t.Run("a bad Last-Event-ID is invalid_request", func(t *testing.T) {
		var run api.Run
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "faults", "workflow": "ok"}).expect(t, 201, &run)
		b.do(t, "GET", "/v1/runs/"+run.ID+"/events", nil, "Accept", "text/event-stream", "Last-Event-ID", "x").expectError(t, 400, "invalid_request")
	})
}

func TestLiveEventsEndWithTheConfigContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	b := setup(t, &api.Config{Context: ctx}, "faults")
	base := b.listen(t)
	var run api.Run
	b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "faults", "workflow": "await"}).expect(t, 201, &run)

	req, _ := http.NewRequest("GET", base+"/v1/runs/"+run.ID+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.AfterFunc(200*time.Millisecond, cancel)
	done := make(chan []sse)
	go func() {
		evs, _ := readSSE(resp.Body)
		done <- evs
	}()
	select {
	case evs := <-done:
		if len(evs) == 0 || evs[len(evs)-1].event == "run_completed" {
			t.Fatalf("events %v", evs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a waiting run did not end when Config.Context was cancelled")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

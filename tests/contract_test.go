package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// expectError checks an error answer: its status and its stable code.
func expectError(t *testing.T, what string, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || status != wantStatus || e.Error.Code != wantCode || e.Error.Message == "" {
		t.Errorf("%s: %d %s, want %d with code %s and a message", what, status, body, wantStatus, wantCode)
	}
}

// Must show 5: the contract of every route, bad input included, against a
// real server process on Postgres with tokens on.
func TestContractOfARealServer(t *testing.T) {
	t.Parallel()
	// A small module limit makes the body limit small enough to exceed.
	c := newCluster(t, "5s", "--max-module-size", "8388608")
	c.Start()
	admin := c.Client(0)
	write := &proctest.Client{URL: admin.URL, Token: c.NewToken("write")}
	read := &proctest.Client{URL: admin.URL, Token: c.NewToken("read")}
	anon := &proctest.Client{URL: admin.URL}
	wrong := &proctest.Client{URL: admin.URL, Token: "wf_not-a-real-token"}

	// Tokens and scopes.
	if status, _ := anon.Do(t, "GET", "/healthz", nil); status != http.StatusOK {
		t.Errorf("healthz without a token: %d, want 200", status)
	}
	status, body := anon.Do(t, "GET", "/v1/runs", nil)
	expectError(t, "no token", status, body, 401, "unauthorized")
	status, body = wrong.Do(t, "GET", "/v1/runs", nil)
	expectError(t, "unknown token", status, body, 401, "unauthorized")
	status, body = read.Do(t, "POST", "/v1/runs", map[string]any{"module": "receipt", "workflow": "receipt"})
	expectError(t, "read token starting a run", status, body, 403, "forbidden")
	status, body = write.Do(t, "POST", "/v1/modules?name=receipt", testmodules.Bytes(t, "receipt"))
	expectError(t, "write token uploading a module", status, body, 403, "forbidden")

	// Modules.
	var mod struct {
		Name, Version, Digest string
		Workflows             []struct{ Name string }
	}
	admin.JSON(t, "POST", "/v1/modules?name=receipt", testmodules.Bytes(t, "receipt"), 201, &mod)
	if mod.Version != "1" || !strings.HasPrefix(mod.Digest, "sha256:") || len(mod.Workflows) != 1 || mod.Workflows[0].Name != "receipt" {
		t.Errorf("uploaded module: %+v", mod)
	}
	admin.JSON(t, "POST", "/v1/modules?name=receipt", testmodules.Bytes(t, "receipt"), 200, nil)
	status, body = admin.Do(t, "POST", "/v1/modules?name=junk", []byte("\x00asm\x01\x00\x00\x00"))
	expectError(t, "module without the ABI exports", status, body, 400, "invalid_module")
	status, body = announceBody(t, admin, "/v1/modules?name=big", 10<<20)
	expectError(t, "body over the limit", status, body, 413, "too_large")
	var mods struct{ Modules []struct{ Name string } }
	read.JSON(t, "GET", "/v1/modules", nil, 200, &mods)
	if len(mods.Modules) != 1 || mods.Modules[0].Name != "receipt" {
		t.Errorf("module list: %+v", mods)
	}
	var versions struct {
		Name     string
		Versions []struct{ Version string }
	}
	read.JSON(t, "GET", "/v1/modules/receipt", nil, 200, &versions)
	if versions.Name != "receipt" || len(versions.Versions) != 1 {
		t.Errorf("module versions: %+v", versions)
	}
	status, body = read.Do(t, "GET", "/v1/modules/nope", nil)
	expectError(t, "unknown module", status, body, 404, "not_found")

	// Runs.
	input := map[string]any{"order_id": "C-1", "amount_cents": 100, "email": "d@example.com"}
	status, body = write.Do(t, "POST", "/v1/runs", json.RawMessage(`{"module": "receipt",`))
	expectError(t, "broken JSON", status, body, 400, "invalid_json")
	status, body = write.Do(t, "POST", "/v1/runs", map[string]any{"module": "nope", "workflow": "receipt"})
	expectError(t, "unknown module", status, body, 404, "module_not_found")
	status, body = write.Do(t, "POST", "/v1/runs", map[string]any{"module": "receipt", "workflow": "nope"})
	expectError(t, "unknown workflow", status, body, 422, "workflow_not_found")

	var first, again run
	start := map[string]any{"module": "receipt", "workflow": "receipt", "input": input, "idempotency_key": "order-C-1"}
	write.JSON(t, "POST", "/v1/runs?wait=20s", start, 201, &first)
	write.JSON(t, "POST", "/v1/runs", start, 200, &again)
	if first.ID == "" || again.ID != first.ID || first.Status != "completed" {
		t.Errorf("reused idempotency key: first %+v, again %+v", first, again)
	}
	var got run
	read.JSON(t, "GET", "/v1/runs/"+first.ID, nil, 200, &got)
	if got.ID != first.ID || got.Status != "completed" {
		t.Errorf("get run: %+v", got)
	}
	status, body = read.Do(t, "GET", "/v1/runs/0198c0de-0000-7000-8000-000000000000", nil)
	expectError(t, "unknown run", status, body, 404, "not_found")

	var list struct {
		Runs []run
		Next string
	}
	read.JSON(t, "GET", "/v1/runs?status=completed&limit=10", nil, 200, &list)
	if len(list.Runs) != 1 || list.Runs[0].ID != first.ID {
		t.Errorf("run list: %+v", list)
	}
	var evs struct{ Events []event }
	read.JSON(t, "GET", "/v1/runs/"+first.ID+"/events", nil, 200, &evs)
	if len(evs.Events) == 0 || evs.Events[0].Type != "run_created" || evs.Events[len(evs.Events)-1].Type != "run_completed" {
		t.Errorf("events: %+v", evs.Events)
	}

	// Signals, cancel and retry on a finished run are conflicts.
	status, body = write.Do(t, "POST", "/v1/runs/"+first.ID+"/signals/go", map[string]any{})
	expectError(t, "signal to a finished run", status, body, 409, "run_finished")
	status, body = write.Do(t, "POST", "/v1/runs/"+first.ID+"/cancel", nil)
	expectError(t, "cancel of a finished run", status, body, 409, "invalid_transition")
	status, body = write.Do(t, "POST", "/v1/runs/"+first.ID+"/retry", nil)
	expectError(t, "retry of a completed run", status, body, 409, "invalid_transition")

	// The spec and the metrics need a token too.
	var spec struct{ OpenAPI string }
	read.JSON(t, "GET", "/v1/openapi.json", nil, 200, &spec)
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Errorf("openapi.json: %+v", spec)
	}
	status, body = read.Do(t, "GET", "/metrics", nil)
	if status != 200 || !bytes.Contains(body, []byte("wasmflow_activation_duration_seconds_count")) {
		t.Errorf("metrics: %d %.300s", status, body)
	}
	status, _ = anon.Do(t, "GET", "/metrics", nil)
	if status != 401 {
		t.Errorf("metrics without a token: %d, want 401", status)
	}
}

// announceBody sends a POST whose headers announce a body of n bytes and
// reads the answer without sending the body: a server that enforces its body
// limit answers at once (a client writing the whole body would find the
// connection closed under it).
func announceBody(t *testing.T, c *proctest.Client, path string, n int) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: wasmflow\r\nAuthorization: Bearer %s\r\nContent-Type: application/wasm\r\nContent-Length: %d\r\n\r\n", path, c.Token, n)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s announcing %d bytes: %v", path, n, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// Bytes that Postgres cannot keep (not UTF-8, NUL) and names outside the
// grammar of ABI.md section 3.1 are a 400 from a real server on Postgres,
// never a 500; a reused idempotency key with another body is a 409.
func TestBadInputIsA400OnPostgres(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "5s")
	c.Start()
	c.Push(0, "receipt")
	cl := c.Client(0)
	wasm := testmodules.Bytes(t, "receipt")
	run := json.RawMessage(`{"module":"receipt","workflow":"receipt"}`)
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/v1/modules?name=%FF%FE", wasm, 400, "invalid_request"},
		{"POST", "/v1/modules?name=a%00b", wasm, 400, "invalid_request"},
		{"POST", "/v1/modules?name=%C0%AF", wasm, 400, "invalid_request"},
		{"POST", "/v1/modules?name=receipt&version=%FF", wasm, 400, "invalid_request"},
		{"POST", "/v1/modules?name=..%2F..%2Fetc%2Fpasswd", wasm, 400, "invalid_request"},
		{"GET", "/v1/runs?after=%FF", nil, 400, "invalid_request"},
		{"GET", "/v1/runs?after=garbage", nil, 400, "invalid_request"},
		{"GET", "/v1/runs?module=%FF", nil, 400, "invalid_request"},
		{"GET", "/v1/runs?workflow=%FF", nil, 400, "invalid_request"},
		{"GET", "/v1/runs?idempotency_key=%FF", nil, 400, "invalid_request"},
		{"GET", "/v1/runs/counts?module=%FF", nil, 400, "invalid_request"},
		{"GET", "/v1/modules/%FF", nil, 400, "invalid_request"},
		{"GET", "/v1/runs/%FF", nil, 404, "not_found"},
		{"POST", "/v1/runs", json.RawMessage(`{"module":"receipt","workflow":"receipt","idempotency_key":"\u0000"}`), 400, "invalid_request"},
		{"POST", "/v1/runs", json.RawMessage("{\"module\":\"receipt\",\"workflow\":\"receipt\",\"input\":\"\xff\"}"), 400, "invalid_json"},
		{"POST", "/v1/runs", json.RawMessage(`{"module":"receipt","workflow":"receipt","inptu":{}}`), 400, "invalid_request"},
		{"POST", "/v1/runs?wait=1000000h", run, 400, "invalid_request"},
	} {
		status, body := cl.Do(t, tc.method, tc.path, tc.body)
		expectError(t, tc.method+" "+tc.path, status, body, tc.status, tc.code)
	}

	first := json.RawMessage(`{"module":"receipt","workflow":"receipt","idempotency_key":"pg-1","input":{"order_id":"A-1","amount_cents":4200,"email":"ada@example.com"}}`)
	cl.JSON(t, "POST", "/v1/runs", first, http.StatusCreated, nil)
	// Postgres keeps the input as it came; another spelling is the same body.
	cl.JSON(t, "POST", "/v1/runs", json.RawMessage(`{"input":{"email":"ada@example.com","amount_cents":4200,"order_id":"A-1"},"module":"receipt","workflow":"receipt","idempotency_key":"pg-1"}`), http.StatusOK, nil)
	status, body := cl.Do(t, "POST", "/v1/runs", json.RawMessage(`{"module":"receipt","workflow":"receipt","idempotency_key":"pg-1","input":{"order_id":"A-2"}}`))
	expectError(t, "another body with the key", status, body, 409, "idempotency_key_reused")
}

package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host/api"
	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// Every input outside the contract's grammar is a 400 with a JSON error,
// never a 500 and never silently misread: names outside ABI.md section
// 3.1, bytes that are not UTF-8 or are NUL, a wait over its bound, a cursor
// that is not a run id, and JSON members that are not fields.
func TestInputsOutsideTheGrammarAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "receipt")
	wasm := testmodules.Bytes(t, "faults")
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code, mention      string
	}{
		{"a module name that is not UTF-8", "POST", "/v1/modules?name=%FF%FE", wasm, 400, "invalid_request", "module name"},
		{"a module name with NUL", "POST", "/v1/modules?name=a%00b", wasm, 400, "invalid_request", "module name"},
		{"a module name in an overlong encoding", "POST", "/v1/modules?name=%C0%AF", wasm, 400, "invalid_request", "module name"},
		{"a module version that is not UTF-8", "POST", "/v1/modules?name=faults&version=%FF", wasm, 400, "invalid_request", "module version"},
		{"the module name ..", "POST", "/v1/modules?name=..", wasm, 400, "invalid_request", "module name"},
		{"an absolute path as module name", "POST", "/v1/modules?name=%2Fabs", wasm, 400, "invalid_request", "module name"},
		{"a path up and down as module name", "POST", "/v1/modules?name=a%2F..%2F..%2Fb", wasm, 400, "invalid_request", "module name"},
		{"a path out as module name", "POST", "/v1/modules?name=..%2F..%2Fetc%2Fpasswd", wasm, 400, "invalid_request", "module name"},
		{"a module name beyond ASCII", "POST", "/v1/modules?name=caf%C3%A9", wasm, 400, "invalid_request", "module name"},
		{"a module version with a slash", "POST", "/v1/modules?name=faults&version=1%2F2", wasm, 400, "invalid_request", "module version"},
		{"a page cursor that is not UTF-8", "GET", "/v1/runs?after=%FF", nil, 400, "invalid_request", "after"},
		{"a page cursor that is no run id", "GET", "/v1/runs?after=garbage", nil, 400, "invalid_request", "after"},
		{"a module filter that is not UTF-8", "GET", "/v1/runs?module=%FF", nil, 400, "invalid_request", "module"},
		{"a workflow filter with NUL", "GET", "/v1/runs?workflow=a%00b", nil, 400, "invalid_request", "workflow"},
		{"an idempotency key filter that is not UTF-8", "GET", "/v1/runs?idempotency_key=%C0%AF", nil, 400, "invalid_request", "idempotency key"},
		{"a counts module filter that is not UTF-8", "GET", "/v1/runs/counts?module=%FF", nil, 400, "invalid_request", "module"},
		{"a module that is not a module name", "GET", "/v1/modules/..%2Fetc", nil, 400, "invalid_request", "module name"},
		{"an idempotency key with NUL", "POST", "/v1/runs", `{"module":"receipt","workflow":"receipt","idempotency_key":"a\u0000b"}`, 400, "invalid_request", "idempotency key"},
		{"an Idempotency-Key header that is not UTF-8", "POST", "/v1/runs", `{"module":"receipt","workflow":"receipt"}`, 400, "invalid_request", "idempotency key"},
		{"a run of a module name with a path", "POST", "/v1/runs", `{"module":"../receipt","workflow":"receipt"}`, 400, "invalid_request", "module"},
		{"a workflow with a control character", "POST", "/v1/runs", `{"module":"receipt","workflow":"re\u0007ceipt"}`, 400, "invalid_request", "workflow"},
		{"a wait of a million hours", "POST", "/v1/runs?wait=1000000h", `{"module":"receipt","workflow":"receipt"}`, 400, "invalid_request", "wait"},
		{"a wait just over five minutes", "POST", "/v1/runs?wait=5m1s", `{"module":"receipt","workflow":"receipt"}`, 400, "invalid_request", "wait"},
		{"an unknown field", "POST", "/v1/runs", `{"module":"receipt","workflow":"receipt","inptu":{}}`, 400, "invalid_request", `"inptu"`},
		{"a field in the wrong case", "POST", "/v1/runs", `{"Module":"receipt","workflow":"receipt"}`, 400, "invalid_request", `"Module"`},
		{"a field given twice", "POST", "/v1/runs", `{"module":"receipt","workflow":"receipt","module":"signup"}`, 400, "invalid_request", `"module"`},
		{"a body that is not an object", "POST", "/v1/runs", `["receipt"]`, 400, "invalid_request", "object"},
		{"a body with more after its object", "POST", "/v1/runs", `{"module":"receipt","workflow":"receipt"} {}`, 400, "invalid_json", "after"},
		{"a body that is not UTF-8", "POST", "/v1/runs", "{\"module\":\"receipt\",\"workflow\":\"receipt\",\"input\":\"\xff\"}", 400, "invalid_json", "UTF-8"},
		{"a signal name with NUL", "POST", "/v1/runs/0198c0de-0000-7000-8000-000000000000/signals/a%00b", `{}`, 400, "invalid_request", "signal name"},
		{"a signal payload that is not UTF-8", "POST", "/v1/runs/0198c0de-0000-7000-8000-000000000000/signals/go", "\"\xff\"", 400, "invalid_request", "UTF-8"},
		{"a run id that is not UTF-8 is no run", "GET", "/v1/runs/%FF%FE", nil, 404, "not_found", "no run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if strings.Contains(tc.name, "header") {
				headers = []string{"Idempotency-Key", "\xc0\xaf"}
			}
			r := b.do(t, tc.method, tc.path, tc.body, headers...)
			r.expectError(t, tc.status, tc.code)
			var e api.Error
			json.Unmarshal(r.body, &e)
			if !strings.Contains(e.Error.Message, tc.mention) {
				t.Errorf("message %q does not mention %s", e.Error.Message, tc.mention)
			}
		})
	}
	t.Run("nothing was stored by any of them", func(t *testing.T) {
		var mods struct{ Modules []api.Module }
		b.do(t, "GET", "/v1/modules", nil).expect(t, 200, &mods)
		var runs struct{ Runs []api.Run }
		b.do(t, "GET", "/v1/runs", nil).expect(t, 200, &runs)
		if len(mods.Modules) != 1 || len(runs.Runs) != 0 {
			t.Fatalf("modules %+v, runs %+v: want only receipt, and no run", mods.Modules, runs.Runs)
		}
	})
	t.Run("a wait of five minutes is in bounds", func(t *testing.T) {
		b.do(t, "POST", "/v1/runs?wait=5m", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("B-1")}).expect(t, 201, nil)
	})
	t.Run("module names of the examples and dotted versions are valid", func(t *testing.T) {
		b.do(t, "POST", "/v1/modules?name=steps-reordered.v2&version=1.0.0-rc.1", wasm).expect(t, 201, nil)
	})
}

// Path parameters are URL-decoded: a signal named "a b" is delivered as
// "a b", and a module or a run named with escapes is found.
func TestPathParametersAreDecoded(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "receipt", "faults")
	var run api.Run
	b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "faults", "workflow": "await"}).expect(t, 201, &run)
	if run.Status != "waiting" {
		t.Fatalf("await run: %s, want waiting", run.Status)
	}

	var sig struct{ Name string }
	b.do(t, "POST", "/v1/runs/"+run.ID+"/signals/a%20b%2Fc%C3%A9", `{}`).expect(t, 202, &sig)
	if sig.Name != "a b/cé" {
		t.Errorf("signal sent to .../signals/a%%20b%%2Fc%%C3%%A9 is named %q, want %q", sig.Name, "a b/cé")
	}
	b.do(t, "POST", "/v1/runs/"+run.ID+"/signals/go", `{"n":1}`).expect(t, 202, &sig)
	if sig.Name != "go" {
		t.Errorf("signal named %q, want go", sig.Name)
	}

	escaped := strings.ReplaceAll(run.ID, "-", "%2D")
	var got api.Run
	b.do(t, "GET", "/v1/runs/"+escaped, nil).expect(t, 200, &got)
	if got.ID != run.ID {
		t.Errorf("GET /v1/runs/%s: run %q, want %q", escaped, got.ID, run.ID)
	}
	var mod struct{ Name string }
	b.do(t, "GET", "/v1/modules/%72eceipt", nil).expect(t, 200, &mod)
	if mod.Name != "receipt" {
		t.Errorf("GET /v1/modules/%%72eceipt: %q, want receipt", mod.Name)
	}
}

// DESIGN.md: the same body again returns the existing run with 200; another
// body with the same key is a 409 idempotency_key_reused that names the run.
// Inputs are compared as JSON values: key order, whitespace and the
// spelling of numbers do not make a body different.
func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "receipt", "faults")
	var first api.Run
	b.do(t, "POST", "/v1/runs", `{"module":"receipt","workflow":"receipt","idempotency_key":"k-1","input":{"order_id":"A-1","amount_cents":4200,"email":"ada@example.com"}}`).
		expect(t, 201, &first)

	for _, tc := range []struct {
		name, body string
		headers    []string
		status     int
	}{
		{"the same body is the same run", `{"module":"receipt","workflow":"receipt","idempotency_key":"k-1","input":{"order_id":"A-1","amount_cents":4200,"email":"ada@example.com"}}`, nil, 200},
		{"another key order and spacing is the same body", `{ "input": {"email": "ada@example.com", "amount_cents": 4.2e3, "order_id": "A-1"}, "workflow": "receipt", "module": "receipt", "idempotency_key": "k-1" }`, nil, 200},
		{"the version the run has is the same body", `{"module":"receipt","version":"1","workflow":"receipt","idempotency_key":"k-1","input":{"order_id":"A-1","amount_cents":4200,"email":"ada@example.com"}}`, nil, 200},
		{"the key in the header is the same key", `{"module":"receipt","workflow":"receipt","input":{"order_id":"A-1","amount_cents":4200,"email":"ada@example.com"}}`, []string{"Idempotency-Key", "k-1"}, 200},
		{"another input is refused", `{"module":"receipt","workflow":"receipt","idempotency_key":"k-1","input":{"order_id":"A-2","amount_cents":4200,"email":"ada@example.com"}}`, nil, 409},
		{"a number that differs is refused", `{"module":"receipt","workflow":"receipt","idempotency_key":"k-1","input":{"order_id":"A-1","amount_cents":4201,"email":"ada@example.com"}}`, nil, 409},
		{"a number as a string is refused", `{"module":"receipt","workflow":"receipt","idempotency_key":"k-1","input":{"order_id":"A-1","amount_cents":"4200","email":"ada@example.com"}}`, nil, 409},
		{"no input is refused", `{"module":"receipt","workflow":"receipt","idempotency_key":"k-1"}`, nil, 409},
		{"another module is refused", `{"module":"faults","workflow":"ok","idempotency_key":"k-1"}`, nil, 409},
		{"another body with the key in the header is refused", `{"module":"receipt","workflow":"receipt"}`, []string{"Idempotency-Key", "k-1"}, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(t, "POST", "/v1/runs", tc.body, tc.headers...)
			if tc.status == 200 {
				var again api.Run
				r.expect(t, 200, &again)
				if again.ID != first.ID {
					t.Fatalf("run %s, want the first run %s", again.ID, first.ID)
				}
				return
			}
			r.expectError(t, 409, "idempotency_key_reused")
			if !strings.Contains(string(r.body), first.ID) {
				t.Errorf("the refusal does not name the run that has the key: %s", r.body)
			}
		})
	}
}

// A client that goes away ends its request's host call: a foreground wait
// stops waiting when nobody waits for its answer.
func TestRequestContextEndsWithTheClient(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "faults")
	base := b.listen(t)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/runs?wait=60s", strings.NewReader(`{"module":"faults","workflow":"loop"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("a foreground run of an endless loop answered %d at once", resp.StatusCode)
	}

	// The API records a request's duration once its handler has returned.
	done := regexp.MustCompile(`wasmflow_http_request_duration_seconds_count\{method="POST",route="/v1/runs",status="\d+"\} 1`)
	poll.Until(t, 5*time.Second, func() error {
		if done.Match(b.do(t, "GET", "/metrics", nil).body) {
			return nil
		}
		return errors.New("the handler of POST /v1/runs?wait=60s still runs after its client went away")
	})
}

// Cancelling a running run answers once it has stopped, with the step it
// was in shown cancelled; a cancelled run is final, and the refusal to
// retry it says so in a sentence without internal prefixes.
func TestCancelOfARunningRun(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "export")
	var run api.Run
	b.do(t, "POST", "/v1/runs", map[string]any{"module": "export", "workflow": "export", "input": map[string]any{"items": 100000, "delay_ms": 5}}).expect(t, 201, &run)
	poll.Until(t, 20*time.Second, func() error {
		var got api.Run
		b.do(t, "GET", "/v1/runs/"+run.ID, nil).expect(t, 200, &got)
		if got.Status == "running" && len(got.Steps) > 0 && got.Steps[len(got.Steps)-1].Status == "running" {
			return nil
		}
		return fmt.Errorf("export run is %s with steps %+v, want a step running", got.Status, got.Steps)
	})

	var cancelled api.Run
	b.do(t, "POST", "/v1/runs/"+run.ID+"/cancel", nil).expect(t, 202, &cancelled)
	if cancelled.Status != "cancelled" || cancelled.CancelRequested {
		t.Fatalf("cancel of a running run answered status %s (cancel_requested %v), want cancelled", cancelled.Status, cancelled.CancelRequested)
	}
	for _, s := range cancelled.Steps {
		if s.Status == "running" {
			t.Errorf("step %s of the cancelled run is still running: %+v", s.Name, cancelled.Steps)
		}
	}

	for verb, want := range map[string]string{
		"retry":  "a cancelled run stays cancelled: start a new run instead",
		"cancel": "has already finished (cancelled)",
	} {
		r := b.do(t, "POST", "/v1/runs/"+run.ID+"/"+verb, nil)
		r.expectError(t, 409, "invalid_transition")
		var e api.Error
		json.Unmarshal(r.body, &e)
		if !strings.Contains(e.Error.Message, want) || regexp.MustCompile(`^\w+: |store:|conflict:`).MatchString(e.Error.Message) {
			t.Errorf("%s of a cancelled run: message %q, want a sentence with %q and no internal prefix", verb, e.Error.Message, want)
		}
	}
}

// A server that shuts down ends the host calls of its requests: a
// foreground wait answers with the run as it is, at once.
func TestRequestContextEndsWithTheServer(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "faults")
	base := b.listen(t)

	type answer struct {
		status int
		run    api.Run
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Post(base+"/v1/runs?wait=60s", "application/json", strings.NewReader(`{"module":"faults","workflow":"loop"}`))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		var a answer
		a.status, a.err = resp.StatusCode, json.NewDecoder(resp.Body).Decode(&a.run)
		answered <- a
	}()
	time.Sleep(500 * time.Millisecond) // the run is in its endless loop
	start := time.Now()
	if err := b.app.ShutdownWithTimeout(10 * time.Second); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	select {
	case a := <-answered:
		if a.err != nil || a.status != 201 || a.run.Status != "running" {
			t.Errorf("answer after shutdown: %d %+v (%v), want 201 with the run running", a.status, a.run, a.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no answer 15s after the server began to shut down")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s with a request waiting, want it at once", d)
	}
}

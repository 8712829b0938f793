package api_test

import (
	"testing"
	"time"
)

type bulkAnswer struct {
	DryRun          bool             `json:"dry_run"`
	Matched         int64            `json:"matched"`
	Cancelled       int64            `json:"cancelled"`
	CancelRequested int64            `json:"cancel_requested"`
	Retried         int64            `json:"retried"`
	Purged          int64            `json:"purged"`
	Batches         int              `json:"batches"`
	Skipped         map[string]int64 `json:"skipped"`
}

func TestBulkCancelPurgeOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "signup", "receipt")
	var ids []string
	for range 5 {
		var run struct{ ID string }
		b.do(t, "POST", "/v1/runs", map[string]any{"module": "signup", "workflow": "signup", "input": map[string]any{"email": "a@example.com"}}).expect(t, 201, &run)
		ids = append(ids, run.ID)
	}
	for _, id := range ids {
		b.waitStatus(t, id, "waiting")
	}
	var receipt struct{ ID string }
	b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": "receipt", "workflow": "receipt", "input": receiptInput("o-1")}).expect(t, 201, &receipt)
	b.waitStatus(t, receipt.ID, "completed")

	for name, tc := range map[string]struct {
		path, body string
		code       string
	}{
		"cancel without a filter":           {"/v1/runs/cancel", `{}`, "invalid_request"},
		"cancel with an unknown field":      {"/v1/runs/cancel", `{"module":"signup","modul":"x"}`, "invalid_request"},
		"cancel of finished runs":           {"/v1/runs/cancel", `{"status":"completed"}`, "invalid_request"},
		"cancel with a bad module name":     {"/v1/runs/cancel", `{"module":"../x"}`, "invalid_request"},
		"cancel with a body not JSON":       {"/v1/runs/cancel", `{nope`, "invalid_json"},
		"retry of waiting runs":             {"/v1/runs/retry", `{"status":"waiting"}`, "invalid_request"},
		"purge without before":              {"/v1/runs/purge", `{"dry_run":true}`, "invalid_request"},
		"purge with a date not RFC 3339":    {"/v1/runs/purge", `{"before":"yesterday"}`, "invalid_request"},
		"purge of runs that have not ended": {"/v1/runs/purge", `{"before":"2026-01-01T00:00:00Z","status":"waiting"}`, "invalid_request"},
		"purge with an unknown field":       {"/v1/runs/purge", `{"before":"2026-01-01T00:00:00Z","force":true}`, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) { b.do(t, "POST", tc.path, tc.body).expectError(t, 400, tc.code) })
	}

	var dry bulkAnswer
	b.do(t, "POST", "/v1/runs/cancel", `{"module":"signup","workflow":"signup","dry_run":true}`).expect(t, 200, &dry)
	if !dry.DryRun || dry.Matched != 5 || dry.Cancelled != 0 {
		t.Fatalf("dry run: %+v, want 5 matched", dry)
	}
	var res bulkAnswer
	b.do(t, "POST", "/v1/runs/cancel", `{"module":"signup","status":"waiting"}`).expect(t, 200, &res)
	if res.DryRun || res.Matched != 5 || res.Cancelled != 5 || res.CancelRequested != 0 || len(res.Skipped) != 0 {
		t.Fatalf("cancel: %+v, want 5 cancelled", res)
	}
	for _, id := range ids {
		b.waitStatus(t, id, "cancelled")
	}
	b.waitStatus(t, receipt.ID, "completed")
	var retry bulkAnswer
	b.do(t, "POST", "/v1/runs/retry", `{"module":"signup"}`).expect(t, 200, &retry)
	if retry.Matched != 0 || retry.Retried != 0 {
		t.Fatalf("retry of cancelled runs: %+v, want none", retry)
	}

	before := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	var purge bulkAnswer
	b.do(t, "POST", "/v1/runs/purge", `{"before":"`+before+`","status":"cancelled","dry_run":true}`).expect(t, 200, &purge)
	if purge.Matched != 5 {
		t.Fatalf("purge dry run: %+v, want 5", purge)
	}
	b.do(t, "POST", "/v1/runs/purge", `{"before":"`+before+`","status":"cancelled"}`).expect(t, 200, &purge)
	if purge.Purged != 5 || purge.Batches != 1 {
		t.Fatalf("purge: %+v, want 5 in one batch", purge)
	}
	b.do(t, "GET", "/v1/runs/"+ids[0], nil).expectError(t, 404, "not_found")
	b.waitStatus(t, receipt.ID, "completed")
}

package store_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

func TestChildEndedEvent(t *testing.T) {
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		ended store.ChildEnded
		typ   store.EventType
		data  string
	}{
		{"a completed child has its output", store.ChildEnded{Child: "c", Workflow: "w", Status: store.StatusCompleted,
			Output: json.RawMessage(`{"n":1}`), Error: "ignored"},
			store.EventChildCompleted, `{"child":"c","workflow":"w","status":"completed","output":{"n":1}}`},
		{"a completed child without output has null", store.ChildEnded{Child: "c", Workflow: "w", Status: store.StatusCompleted},
			store.EventChildCompleted, `{"child":"c","workflow":"w","status":"completed","output":null}`},
		{"a failed child has its error", store.ChildEnded{Child: "c", Workflow: "w", Status: store.StatusFailed, Error: "boom",
			Output: json.RawMessage(`1`)},
			store.EventChildFailed, `{"child":"c","workflow":"w","status":"failed","error":"boom"}`},
		{"a cancelled child failed", store.ChildEnded{Child: "c", Workflow: "w", Status: store.StatusCancelled, Error: "cancelled"},
			store.EventChildFailed, `{"child":"c","workflow":"w","status":"cancelled","error":"cancelled"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ended.Event(at)
			if ev.Type != tc.typ || !ev.At.Equal(at) || ev.Step != "" || string(ev.Data) != tc.data {
				t.Fatalf("event = %s %v %q %s, want %s %v %s", ev.Type, ev.At, ev.Step, ev.Data, tc.typ, at, tc.data)
			}
		})
	}
}

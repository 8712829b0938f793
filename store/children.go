package store

import (
	"encoding/json"
	"time"
)

// ChildEnded is the data of the event a child run's end appends to its
// parent's timeline (RunApplyParams.ParentEvent): child_completed for a
// completed child, child_failed for a failed or cancelled one. Its JSON is
// {"child", "workflow", "status", "output"} for a completed child and
// {"child", "workflow", "status", "error"} otherwise.
type ChildEnded struct {
	Child    string          `json:"child"`
	Workflow string          `json:"workflow"`
	Status   RunStatus       `json:"status"`
	Output   json.RawMessage `json:"output,omitempty"` // with StatusCompleted
	Error    string          `json:"error,omitempty"`  // otherwise
}

// Event returns the parent's event for the child's end at at.
func (c ChildEnded) Event(at time.Time) *NewEvent {
	if c.Status == StatusCompleted {
		c.Error = ""
		if c.Output == nil {
			c.Output = json.RawMessage("null")
		}
	} else {
		c.Output = nil
	}
	data, _ := json.Marshal(c) // strings and a JSON document: always encodes
	return &NewEvent{Type: c.EventType(), At: at, Data: data}
}

package api_test

import (
	"slices"
	"testing"

	"github.com/wasmflow/wasmflow/host/api"
)

// A run's view lists its patch markers (ABI.md, section 5.10) under
// changes, apart from its steps and waits.
func TestRunShowsItsChanges(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, "versions-v2", "versions-v4")
	for _, tc := range []struct {
		module  string
		changes []string
		steps   []string
	}{
		{"versions-v2", []string{"fix-b"}, []string{"a", "b2"}},
		{"versions-v4", []string{}, []string{"a", "b2"}},
	} {
		var run api.Run
		b.do(t, "POST", "/v1/runs?wait=10s", map[string]any{"module": tc.module, "workflow": "order"}).expect(t, 201, &run)
		run = b.waitStatus(t, run.ID, "waiting")
		var steps []string
		for _, s := range run.Steps {
			steps = append(steps, s.Name)
		}
		if !slices.Equal(run.Changes, tc.changes) || !slices.Equal(steps, tc.steps) {
			t.Errorf("%s: changes %q and steps %q, want %q and %q", tc.module, run.Changes, steps, tc.changes, tc.steps)
		}
		if len(run.Waits) != 1 || run.Waits[0].Kind != "signal" || run.Waits[0].Name != "go" {
			t.Errorf("%s: waits %+v, want the wait for signal go alone", tc.module, run.Waits)
		}
	}
}

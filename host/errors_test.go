package host_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/store"
)

// A refining kind matches the kind it refines, and no other; KindOf reads
// the kind through wrapping, and a store that cannot be reached is
// ErrUnavailable.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind, broader host.ErrorKind
	}{
		{host.ErrModuleNotFound, host.ErrNotFound},
		{host.ErrWorkflowNotFound, host.ErrNotFound},
		{host.ErrInvalidJSON, host.ErrInvalid},
		{host.ErrInvalidModule, host.ErrInvalid},
		{host.ErrIdempotencyKeyReused, host.ErrConflict},
		{host.ErrRunFinished, host.ErrConflict},
		{host.ErrInvalidTransition, host.ErrConflict},
	} {
		err := fmt.Errorf("context: %w", tc.kind)
		if !errors.Is(err, tc.kind) || !errors.Is(err, tc.broader) {
			t.Errorf("%s does not match itself and %s", tc.kind, tc.broader)
		}
		if errors.Is(err, host.ErrTooLarge) || errors.Is(tc.broader, tc.kind) {
			t.Errorf("%s matches what it does not refine", tc.kind)
		}
		if got := host.KindOf(err); got != tc.kind {
			t.Errorf("KindOf(%v) = %s, want %s", err, got, tc.kind)
		}
	}
	if got := host.KindOf(fmt.Errorf("run get: %w", store.ErrUnavailable)); got != host.ErrUnavailable {
		t.Errorf("KindOf of an unreachable store = %s", got)
	}
	if got := host.KindOf(errors.New("boom")); got != host.ErrInternal {
		t.Errorf("KindOf of anything else = %s", got)
	}
}

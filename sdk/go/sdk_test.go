package wasmflow

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/abi"
)

func TestEncodeOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts []StepOption
		want string
	}{
		{"sends nothing without options", nil, ""},
		{"encodes every option in the ABI's names", []StepOption{
			MaxAttempts(5), Backoff(50*time.Millisecond, 2*time.Second), NonRetryable("bad:", "gone:"), Timeout(time.Minute), Isolated(),
		}, `{"max_attempts":5,"backoff_ms":50,"max_backoff_ms":2000,"non_retryable":["bad:","gone:"],"timeout_ms":60000,"isolated":true}`},
		{"rounds a sub-millisecond duration up, never to the default 0", []StepOption{Timeout(time.Microsecond)}, `{"timeout_ms":1}`},
		{"leaves defaults out", []StepOption{MaxAttempts(1)}, `{"max_attempts":1}`},
	}
	for _, c := range cases {
		if got := string(encodeOptions(c.opts)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	base := errors.New("card declined")
	err := fmt.Errorf("charge: %w", Permanent(base))
	if !isPermanent(err) || !errors.Is(err, base) || err.Error() != "charge: card declined" {
		t.Errorf("wrapped permanent error: permanent=%v is=%v msg=%q", isPermanent(err), errors.Is(err, base), err)
	}
	if isPermanent(base) || Permanent(nil) != nil {
		t.Error("a plain error is permanent, or Permanent(nil) is not nil")
	}
}

func TestStepErrorNamesTheStep(t *testing.T) {
	t.Parallel()
	err := error(&StepError{Step: "send", Message: "smtp down"})
	var se *StepError
	if !errors.As(err, &se) || err.Error() != `step "send" failed: smtp down` {
		t.Errorf("got %q", err)
	}
}

func TestLogLevels(t *testing.T) {
	t.Parallel()
	for l, want := range map[slog.Level]uint32{
		slog.LevelDebug - 4: abi.LogDebug, slog.LevelDebug: abi.LogDebug, slog.LevelInfo: abi.LogInfo,
		slog.LevelWarn: abi.LogWarn, slog.LevelError: abi.LogError, slog.LevelError + 4: abi.LogError,
	} {
		if got := logLevel(l); got != want {
			t.Errorf("level %v: got %d, want %d", l, got, want)
		}
	}
}

// Advance on a cursor that cannot advance ends the body with a named,
// permanent error, not a decoding panic, and saves nothing.
func TestAdvanceOnACursorThatCannotAdvance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, cursor, reason string
	}{
		{"a string cursor is not an integer", `"page-7"`, "not an integer"},
		{"an object cursor is not an integer", `{"next":3}`, "not an integer"},
		{"the largest int64 has no successor", `9223372036854775807`, "largest int64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &StepContext{name: "count", cursor: []byte(tc.cursor)}
			_, err := runBody(s, func(s *StepContext) (int64, error) { return s.Advance(), nil })
			var ce *CursorError
			if !errors.Is(err, ErrUnadvanceableCursor) || !errors.As(err, &ce) || !isPermanent(err) {
				t.Fatalf("got %v (permanent %v), want a permanent *CursorError", err, isPermanent(err))
			}
			if ce.Step != "count" || ce.Cursor != tc.cursor || !strings.Contains(err.Error(), tc.reason) || strings.HasPrefix(err.Error(), "panic: ") {
				t.Errorf("error %q (%+v) does not name the step, the cursor and %q", err, ce, tc.reason)
			}
			if string(s.cursor) != tc.cursor {
				t.Errorf("cursor became %s", s.cursor)
			}
		})
	}
}

func TestEncodeNewOptions(t *testing.T) {
	t.Parallel()
	if got, want := string(encodeOptions([]StepOption{ResumeErrorsAfterAdvancing()})), `{"resume_errors_after_advancing":true}`; got != want {
		t.Errorf("step options: got %s, want %s", got, want)
	}
	for _, tc := range []struct {
		opts []WorkflowOption
		want string
	}{
		{nil, ""},
		{[]WorkflowOption{ResumeDelay(5 * time.Second)}, `{"resume_delay_ms":5000}`},
		{[]WorkflowOption{ResumeDelay(0)}, `{"resume_delay_ms":0}`},
	} {
		if got := string(encodeWorkflowOptions(tc.opts)); got != tc.want {
			t.Errorf("workflow options: got %s, want %s", got, tc.want)
		}
	}
}

// loud fails the test that encodes it: warmJSON must build encoders
// without encoding a value.
type loud struct{ N int }

func (loud) MarshalJSON() ([]byte, error) { panic("MarshalJSON called at registration") }

type quiet struct {
	Inner loud  `json:"inner"`
	P     *loud `json:"p"`
}

func TestWorkflowRegistrationEncodesNothing(t *testing.T) {
	Workflow("warm-loud", func(*Context, loud) (quiet, error) { return quiet{}, nil })
	Workflow("warm-quiet", func(*Context, quiet) (*loud, error) { return nil, nil })
	Workflow("warm-scalars", func(*Context, []map[string]chan int) (func(), error) { return nil, nil })
	for _, name := range []string{"warm-loud", "warm-quiet", "warm-scalars"} {
		if registry.byName[name] == nil {
			t.Errorf("workflow %q was not registered", name)
		}
	}
}

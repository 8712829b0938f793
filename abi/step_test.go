package abi

import (
	"encoding/json"
	"testing"
)

// The retry policy's defaults fill the fields a guest left out, and only
// those.
func TestStepOptionsWithDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		in, want StepOptions
	}{
		{"all defaults", StepOptions{}, StepOptions{MaxAttempts: 3, BackoffMS: 1000, MaxBackoffMS: 60000}},
		{"negative values are defaults too", StepOptions{MaxAttempts: -1, BackoffMS: -5, MaxBackoffMS: -5}, StepOptions{MaxAttempts: 3, BackoffMS: 1000, MaxBackoffMS: 60000}},
		{"given values are kept", StepOptions{MaxAttempts: 1, BackoffMS: 50, MaxBackoffMS: 200, TimeoutMS: 9, Isolated: true},
			StepOptions{MaxAttempts: 1, BackoffMS: 50, MaxBackoffMS: 200, TimeoutMS: 9, Isolated: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.WithDefaults()
			if got.MaxAttempts != tc.want.MaxAttempts || got.BackoffMS != tc.want.BackoffMS || got.MaxBackoffMS != tc.want.MaxBackoffMS ||
				got.TimeoutMS != tc.want.TimeoutMS || got.Isolated != tc.want.Isolated {
				t.Errorf("%+v.WithDefaults() = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// A workflow's resume delay tells "absent" (the host's) from 0 (none), and
// the step option resume_errors_after_advancing decodes by its ABI.md name.
func TestOptionsDecodeByTheirABINames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want *int64
	}{
		{`{}`, nil},
		{`{"resume_delay_ms":0}`, new(int64)},
		{`{"resume_delay_ms":5000,"unknown":true}`, func() *int64 { n := int64(5000); return &n }()},
	} {
		var o WorkflowOptions
		if err := json.Unmarshal([]byte(tc.in), &o); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if (o.ResumeDelayMS == nil) != (tc.want == nil) || (o.ResumeDelayMS != nil && *o.ResumeDelayMS != *tc.want) {
			t.Errorf("%s: ResumeDelayMS %v, want %v", tc.in, o.ResumeDelayMS, tc.want)
		}
	}
	var s StepOptions
	if err := json.Unmarshal([]byte(`{"resume_errors_after_advancing":true}`), &s); err != nil || !s.ResumeErrorsAfterAdvancing || !s.WithDefaults().ResumeErrorsAfterAdvancing {
		t.Errorf("resume_errors_after_advancing decoded as %+v (%v)", s, err)
	}
}

package abi

import "testing"

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

package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// --resume-delay sets how long interrupted runs wait before they resume; it
// defaults to none and refuses a negative delay, naming the flag.
func TestResumeDelayFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		want    time.Duration
		refused string
	}{
		{"none by default", nil, 0, ""},
		{"a delay is passed to the host", []string{"--resume-delay", "5s"}, 5 * time.Second, ""},
		{"a negative delay is refused", []string{"--resume-delay=-1s"}, 0, "--resume-delay must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("server", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			config := hostFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c, err := config()
			switch {
			case tc.refused != "":
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("got %v, want an error saying %q", err, tc.refused)
				}
			case err != nil:
				t.Fatal(err)
			case c.ResumeDelay != tc.want:
				t.Errorf("ResumeDelay %s, want %s", c.ResumeDelay, tc.want)
			}
		})
	}
}

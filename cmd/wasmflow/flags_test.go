package main

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/host"
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

// The host names a limit and its value; the hosts this program runs add
// the flag that sets it, for every limit that has one.
func TestLimitFlags(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config := hostFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	c, err := config()
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.Hint == nil {
		t.Fatal("the host's limits have no Hint")
	}
	limits := reflect.TypeOf(host.Limits{})
	for field, name := range limitFlag {
		if _, ok := limits.FieldByName(field); !ok {
			t.Errorf("%s is the flag of %s, which host.Limits does not have", name, field)
		}
		if fs.Lookup(strings.TrimPrefix(name, "--")) == nil {
			t.Errorf("%s, the flag of %s, is not a flag of the server", name, field)
		}
	}
	for i := range limits.NumField() {
		if f := limits.Field(i); f.Type.Kind() != reflect.Func && f.Name != "LogLine" && limitFlag[f.Name] == "" {
			t.Errorf("host.Limits.%s has no flag", f.Name)
		}
	}
	for _, tc := range []struct {
		fields []string
		want   string
	}{
		{[]string{"Payload"}, "--max-payload"},
		{[]string{"LogLinesPerRun", "LogBytesPerRun"}, "--max-log-lines-per-run, --max-log-bytes-per-run"},
		{[]string{"NoSuchLimit"}, ""},
	} {
		if got := c.Limits.Hint(tc.fields...); got != tc.want {
			t.Errorf("Hint(%q) = %q, want %q", tc.fields, got, tc.want)
		}
	}
}

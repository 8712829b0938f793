package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// --before takes a time, a day or an age; --retention an age with days.
func TestBeforeAndRetention(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in      string
		want    time.Time
		refused bool
	}{
		{"2026-11-01T08:30:00Z", time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC), false},
		{"2026-11-01T08:30:00+02:00", time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC), false},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), false},
		{"30d", now.Add(-30 * 24 * time.Hour), false},
		{"1d12h", now.Add(-36 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"0s", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"30x", time.Time{}, true},
		{"d", time.Time{}, true},
	} {
		got, err := parseBefore(tc.in, now)
		if tc.refused {
			if err == nil {
				t.Errorf("%q: %v, want refused", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		args    []string
		want    time.Duration
		refused string
	}{
		{nil, 0, ""},
		{[]string{"--retention", "30d"}, 30 * 24 * time.Hour, ""},
		{[]string{"--retention", "12h"}, 12 * time.Hour, ""},
		{[]string{"--retention", "0"}, 0, ""},
		{[]string{"--retention", "-1d"}, 0, "retention"},
		{[]string{"--retention", "soon"}, 0, "retention"},
	} {
		fs := flag.NewFlagSet("server", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		config := hostFlags(fs)
		err := fs.Parse(tc.args)
		if tc.refused != "" {
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.refused)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		c, err := config()
		if err != nil || c.Retention != tc.want {
			t.Errorf("%v: retention %v, %v; want %v", tc.args, c.Retention, err, tc.want)
		}
	}
}

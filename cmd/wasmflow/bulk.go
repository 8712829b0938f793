package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runsPurge is "wasmflow runs purge".
func runsPurge(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("runs purge", `Usage: wasmflow runs purge --before DATE [--status S] [--dry-run]

Deletes the runs that finished before DATE, with their events, journals,
effects, signals and snapshots, in short batches that never hold up the
runs being carried meanwhile. A finished child run is kept as long as its
parent is. DATE is an RFC 3339 time (2026-11-01T00:00:00Z), a day
(2026-11-01, midnight UTC), or an age (30d, 12h: that long ago). Needs an
admin token. With --dry-run it only counts.
`)
	before := fs.String("before", "", "purge runs that finished before this: RFC 3339, a day such as 2026-11-01, or an age such as 30d")
	status := fs.String("status", "", "only runs in this status: completed, failed or cancelled")
	dryRun := fs.Bool("dry-run", false, "count the runs that would be purged, purge none")
	_, c, err := parseClient(fs, cf, args)
	if err != nil {
		return err
	}
	if *before == "" {
		return fmt.Errorf("--before is required (RFC 3339, a day such as 2026-11-01, or an age such as 30d)")
	}
	at, err := parseBefore(*before, time.Now())
	if err != nil {
		return fmt.Errorf("--before: %w", err)
	}
	body := map[string]any{"before": at.UTC().Format(time.RFC3339Nano), "dry_run": *dryRun}
	if *status != "" {
		body["status"] = *status
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, "POST", "/v1/runs/purge", body, &raw); err != nil {
		return err
	}
	if *cf.json {
		return printJSON(raw)
	}
	var res struct {
		Matched, Purged int64
		Batches         int
		DurationMS      int64 `json:"duration_ms"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	if *dryRun {
		fmt.Printf("%d runs finished before %s would be purged (dry run)\n", res.Matched, at.UTC().Format(time.RFC3339))
		return nil
	}
	fmt.Printf("purged %d runs finished before %s in %d batches (%s)\n", res.Purged, at.UTC().Format(time.RFC3339), res.Batches,
		(time.Duration(res.DurationMS) * time.Millisecond).String())
	return nil
}

// parseBefore reads a --before: an RFC 3339 time, a day (midnight UTC), or
// an age (a duration, with d for days) before now.
func parseBefore(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := parseAge(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("an age must be positive, got %q", s)
		}
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-01T00:00:00Z), a day (2026-11-01) or an age (30d, 12h)", s)
}

// parseAge parses a duration as time.ParseDuration does, with d for days
// of 24 hours too: 30d, 1d12h, 90m.
func parseAge(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.Index(s, "d"); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 30d or 12h", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30d or 12h", s)
	}
	return days + d, nil
}

// runsBulk is "wasmflow runs cancel" and "wasmflow runs retry".
func runsBulk(ctx context.Context, verb string, args []string) error {
	usage := `Usage: wasmflow runs cancel [--status S] [--module M] [--version V] [--workflow W] [--all] [--dry-run]

Cancels every run that matches the filters and has not finished, each as
"run cancel" does, without waiting for running ones: they are asked to stop
and stop at their next host call. Without any filter, --all is needed. With
--dry-run it only counts.
`
	statusHelp := "only runs in this status: pending, running, sleeping or waiting (default: all four)"
	if verb == "retry" {
		usage = `Usage: wasmflow runs retry [--module M] [--version V] [--workflow W] [--all] [--dry-run]

Retries every failed run that matches the filters, each as "run retry"
does. Without any filter, --all is needed. With --dry-run it only counts.
`
		statusHelp = "only runs in this status: failed (the only one that can be retried)"
	}
	fs, cf := clientFlagSet("runs "+verb, usage)
	status := fs.String("status", "", statusHelp)
	module := fs.String("module", "", "only runs of this module")
	version := fs.String("version", "", "only runs pinned to this version of --module")
	workflow := fs.String("workflow", "", "only runs of this workflow")
	all := fs.Bool("all", false, "every run, when no other filter is given")
	dryRun := fs.Bool("dry-run", false, "count the runs that match, change none")
	_, c, err := parseClient(fs, cf, args)
	if err != nil {
		return err
	}
	body := map[string]any{"status": *status, "module": *module, "version": *version, "workflow": *workflow, "all": *all, "dry_run": *dryRun}
	var raw json.RawMessage
	if _, err := c.do(ctx, "POST", "/v1/runs/"+verb, body, &raw); err != nil {
		return err
	}
	if *cf.json {
		return printJSON(raw)
	}
	var res struct {
		Matched, Cancelled, Retried int64
		CancelRequested             int64            `json:"cancel_requested"`
		Skipped                     map[string]int64 `json:"skipped"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	if *dryRun {
		fmt.Printf("%d runs would be %s (dry run)\n", res.Matched, map[string]string{"cancel": "cancelled", "retry": "retried"}[verb])
		return nil
	}
	if verb == "cancel" {
		fmt.Printf("matched %d runs: %d cancelled, %d running asked to stop\n", res.Matched, res.Cancelled, res.CancelRequested)
	} else {
		fmt.Printf("matched %d runs: %d retried\n", res.Matched, res.Retried)
	}
	reasons := make([]string, 0, len(res.Skipped))
	for r := range res.Skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Printf("skipped %d: %s\n", res.Skipped[r], r)
	}
	return nil
}

// ageFlag is a flag.Value of a duration that takes days too (30d).
type ageFlag struct{ d *time.Duration }

var _ flag.Value = ageFlag{}

func (f ageFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return "0"
	}
	if *f.d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(*f.d/(24*time.Hour)), 10) + "d"
	}
	return f.d.String()
}

func (f ageFlag) Set(s string) error {
	if s == "0" {
		*f.d = 0
		return nil
	}
	d, err := parseAge(s)
	if err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("%q is negative", s)
	}
	*f.d = d
	return nil
}

// retentionFlag defines --retention on fs, defaulting to WASMFLOW_RETENTION.
func retentionFlag(fs *flag.FlagSet) *time.Duration {
	d := new(time.Duration)
	if v, ok := os.LookupEnv("WASMFLOW_RETENTION"); ok {
		if err := (ageFlag{d}).Set(v); err != nil {
			envErrs = append(envErrs, fmt.Errorf("WASMFLOW_RETENTION=%q is not a duration such as 30d", v))
		}
	}
	fs.Var(ageFlag{d}, "retention", "delete runs that finished longer ago than this (30d, 12h), with their events, journals and snapshots, checked every minute; 0: keep them forever (env WASMFLOW_RETENTION)")
	return d
}

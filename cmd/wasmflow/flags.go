package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wasmflow/wasmflow/host"
)

// hostFlags defines the flags that tune a host, each defaulting to a
// WASMFLOW_* environment variable, and returns a function that builds the
// host config once fs is parsed. The limit flags are the ones named in the
// failure messages of runs that hit a limit (limitHint).
func hostFlags(fs *flag.FlagSet) func() (*host.Config, error) {
	workers := fs.Int("workers", envInt("WASMFLOW_WORKERS", 16), "activations this process runs at once (env WASMFLOW_WORKERS)")
	lease := fs.Duration("lease", envDuration("WASMFLOW_LEASE", 30*time.Second), "how long a claim lasts without a heartbeat; a process that dies holds its runs this long (env WASMFLOW_LEASE)")
	activation := fs.Duration("activation-timeout", envDuration("WASMFLOW_ACTIVATION_TIMEOUT", 5*time.Minute), "time limit of one activation; a guest still running then is stopped (env WASMFLOW_ACTIVATION_TIMEOUT)")
	payload := fs.Int("max-payload", envInt("WASMFLOW_MAX_PAYLOAD", 1<<20), "bytes of any payload that crosses the ABI: input, output, step result, cursor, signal (env WASMFLOW_MAX_PAYLOAD)")
	moduleSize := fs.Int("max-module-size", envInt("WASMFLOW_MAX_MODULE_SIZE", 32<<20), "bytes of an uploaded module (env WASMFLOW_MAX_MODULE_SIZE)")
	pages := fs.Int("max-memory-pages", envInt("WASMFLOW_MAX_MEMORY_PAGES", 4096), "64 KiB pages of memory one guest may use (env WASMFLOW_MAX_MEMORY_PAGES)")
	activations := fs.Int("max-activations", envInt("WASMFLOW_MAX_ACTIVATIONS", 10000), "activations one run may have before it fails, as Rails' max_resumptions (env WASMFLOW_MAX_ACTIVATIONS)")
	events := fs.Int("max-events-per-run", envInt("WASMFLOW_MAX_EVENTS_PER_RUN", 100000), "events in one run's timeline (env WASMFLOW_MAX_EVENTS_PER_RUN)")
	tables := fs.Int("max-table-elements", envInt("WASMFLOW_MAX_TABLE_ELEMENTS", 1000000), "elements of one module's tables together; a module whose tables start larger is refused, and table.grow fails beyond it (env WASMFLOW_MAX_TABLE_ELEMENTS)")
	logBytesAct := fs.Int("max-log-bytes-per-activation", envInt("WASMFLOW_MAX_LOG_BYTES_PER_ACTIVATION", 1<<20), "bytes one activation's guest may write to the host's log (log calls, stdout, stderr); the rest is dropped after one marker line (env WASMFLOW_MAX_LOG_BYTES_PER_ACTIVATION)")
	logLinesAct := fs.Int("max-log-lines-per-activation", envInt("WASMFLOW_MAX_LOG_LINES_PER_ACTIVATION", 1000), "lines one activation's guest may write to the host's log (env WASMFLOW_MAX_LOG_LINES_PER_ACTIVATION)")
	logBytesRun := fs.Int("max-log-bytes-per-run", envInt("WASMFLOW_MAX_LOG_BYTES_PER_RUN", 16<<20), "bytes one run's guest may write to this process's log over all its activations (env WASMFLOW_MAX_LOG_BYTES_PER_RUN)")
	logLinesRun := fs.Int("max-log-lines-per-run", envInt("WASMFLOW_MAX_LOG_LINES_PER_RUN", 10000), "lines one run's guest may write to this process's log over all its activations (env WASMFLOW_MAX_LOG_LINES_PER_RUN)")
	snapshots := fs.String("snapshots", envOr("WASMFLOW_SNAPSHOTS", "on"), "on: guests that can park are snapshotted where they suspend and resume from the snapshot; off: every activation replays (init images stay) (env WASMFLOW_SNAPSHOTS)")
	snapshotSize := fs.Int("max-snapshot-size", envInt("WASMFLOW_MAX_SNAPSHOT_SIZE", 16<<20), "bytes of a run's suspension snapshot, compressed; a larger one is not stored and the run replays (env WASMFLOW_MAX_SNAPSHOT_SIZE)")
	resumeDelay := fs.Duration("resume-delay", envDuration("WASMFLOW_RESUME_DELAY", 0), "how long a run interrupted at a checkpoint (shutdown, time budget, isolated step) waits before it resumes, as Rails' resume_options wait:; a workflow's resume_delay_ms overrides it (env WASMFLOW_RESUME_DELAY)")
	retention := retentionFlag(fs)
	warm := fs.Int("warm-instances", envInt("WASMFLOW_WARM_INSTANCES", 64), "parked instances this process keeps in memory for their runs' next activations; 0: none (env WASMFLOW_WARM_INSTANCES)")
	return func() (*host.Config, error) {
		if err := errors.Join(envErrs...); err != nil {
			return nil, err
		}
		for name, v := range map[string]int{"workers": *workers, "max-payload": *payload, "max-module-size": *moduleSize, "max-memory-pages": *pages, "max-events-per-run": *events, "max-activations": *activations, "max-snapshot-size": *snapshotSize,
			"max-log-bytes-per-activation": *logBytesAct, "max-log-lines-per-activation": *logLinesAct, "max-log-bytes-per-run": *logBytesRun, "max-log-lines-per-run": *logLinesRun, "max-table-elements": *tables} {
			if v <= 0 {
				return nil, fmt.Errorf("--%s must be positive, got %d", name, v)
			}
		}
		if *snapshots != "on" && *snapshots != "off" {
			return nil, fmt.Errorf("--snapshots is on or off, got %q", *snapshots)
		}
		if *warm < 0 {
			return nil, fmt.Errorf("--warm-instances must not be negative, got %d", *warm)
		}
		if *pages > 65536 {
			return nil, fmt.Errorf("--max-memory-pages is at most 65536 (4 GiB), got %d", *pages)
		}
		if *lease < time.Second || *activation < time.Second {
			return nil, fmt.Errorf("--lease and --activation-timeout must be at least 1s")
		}
		if *resumeDelay < 0 {
			return nil, fmt.Errorf("--resume-delay must not be negative, got %s", *resumeDelay)
		}
		c := &host.Config{Workers: *workers, LeaseDuration: *lease, NoSnapshots: *snapshots == "off", WarmInstances: *warm, ResumeDelay: *resumeDelay}
		c.Retention = *retention
		if *warm == 0 {
			c.WarmInstances = -1
		}
		c.Limits.SnapshotSize = *snapshotSize
		c.Limits.ActivationTimeout = *activation
		c.Limits.Payload = *payload
		c.Limits.ModuleSize = *moduleSize
		c.Limits.MemoryPages = uint32(*pages)
		c.Limits.EventsPerRun = int64(*events)
		c.Limits.Activations = *activations
		c.Limits.TableElements = uint32(*tables)
		c.Limits.LogBytesPerActivation = *logBytesAct
		c.Limits.LogLinesPerActivation = *logLinesAct
		c.Limits.LogBytesPerRun = int64(*logBytesRun)
		c.Limits.LogLinesPerRun = int64(*logLinesRun)
		c.Limits.Hint = limitHint
		return c, nil
	}
}

// limitFlag is the flag that sets each host.Limits field: the host, a
// library, names a limit and its value in its messages, and this program
// adds the flag that changes it (host.Limits.Hint).
var limitFlag = map[string]string{
	"ModuleSize":            "--max-module-size",
	"ActivationTimeout":     "--activation-timeout",
	"Payload":               "--max-payload",
	"EventsPerRun":          "--max-events-per-run",
	"LogBytesPerActivation": "--max-log-bytes-per-activation",
	"LogLinesPerActivation": "--max-log-lines-per-activation",
	"LogBytesPerRun":        "--max-log-bytes-per-run",
	"LogLinesPerRun":        "--max-log-lines-per-run",
	"Activations":           "--max-activations",
	"MemoryPages":           "--max-memory-pages",
	"TableElements":         "--max-table-elements",
	"SnapshotSize":          "--max-snapshot-size",
}

// limitHint is host.Limits.Hint for this program: the flags of fields.
func limitHint(fields ...string) string {
	var flags []string
	for _, f := range fields {
		if fl, ok := limitFlag[f]; ok {
			flags = append(flags, fl)
		}
	}
	return strings.Join(flags, ", ")
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// envErrs collects environment variables that do not parse; the config
// function returned by hostFlags reports them.
var envErrs []error

// envInt and envDuration read a flag's default from the environment.
func envInt(key string, def int) int {
	if v, ok := os.LookupEnv(key); ok {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
		envErrs = append(envErrs, fmt.Errorf("%s=%q is not an integer", key, v))
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(key); ok {
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
		envErrs = append(envErrs, fmt.Errorf("%s=%q is not a duration such as 30s", key, v))
	}
	return def
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/internal/pgstat"
	"github.com/wasmflow/wasmflow/store"
)

// benchRunWait bounds how long a bench client waits for one run.
const benchRunWait = time.Minute

func benchCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: wasmflow bench [flags]

Measures runs end to end through a real host on the store at --database-url
(default: a new SQLite file, removed afterwards): it starts a host in this
process, pushes --module, warms up with --concurrency runs, then has
--concurrency clients start --runs runs of the module's "steps" workflow, each
client waiting for its run to complete before it starts the next. It prints
runs/s, steps/s and start-to-completion latency, the CPU time this process
used (the host and the clients), and on Postgres the CPU time of the
database server (all its processes, read from /proc when it runs on this
machine) and, when the server loads pg_stat_statements, the statements and
round trips per run (all the database's, other clients' included). Any run
that does not complete fails the bench.

On Postgres the runs are left in the database, like any other runs.

Flags:
`)
		fs.PrintDefaults()
	}
	runs := fs.Int("runs", 1000, "runs to measure, after the warm-up")
	steps := fs.Int("steps", 3, "steps in each run; each step is one journal write")
	concurrency := fs.Int("concurrency", 16, "clients starting runs at once; also the host's --workers unless that is given")
	payload := fs.Int("payload-bytes", 0, "bytes of each step's result")
	background := fs.Bool("background", false, "start runs in the background, claimed by the workers as runs started elsewhere are, instead of in the foreground (StartRun with a wait)")
	dbURL := fs.String("database-url", envOr("WASMFLOW_DATABASE_URL", ""), "the store: postgres://... or sqlite:PATH; empty: a new SQLite file in a temporary directory, removed afterwards (env WASMFLOW_DATABASE_URL)")
	module := fs.String("module", "modules/build/go/bench.wasm", "the bench module `FILE`, built by make modules")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	purge := fs.Int("purge", 0, "instead of the measure above: seed this many finished runs, let --concurrency clients start and complete runs for --purge-before, then purge the seeded runs as retention does while the clients go on, and print the purge's time and the clients' latency before and during it (on Postgres, with the lock waits on the purge)")
	purgeBefore := fs.Duration("purge-before", 15*time.Second, "with --purge: how long the clients run before the purge starts")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured runs to `FILE` (go tool pprof reads it)")
	pf := defineProcessFlags(fs)
	workers := fs.Lookup("workers")
	workers.Usage, workers.DefValue = "activations the host runs at once (default: --concurrency)", "0"
	if _, ok := os.LookupEnv("WASMFLOW_LOG_LEVEL"); !ok {
		// Every finished run logs at info: a bench keeps quiet by default.
		f := fs.Lookup("log-level")
		f.DefValue = "warn"
		f.Value.Set(f.DefValue)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench takes no arguments, got %q", fs.Args())
	}
	for name, v := range map[string]int{"runs": *runs, "steps": *steps, "concurrency": *concurrency} {
		if v <= 0 {
			return fmt.Errorf("--%s must be positive, got %d", name, v)
		}
	}
	wasm, err := os.ReadFile(*module)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s does not exist: build it with `make modules` (or point --module elsewhere)", *module)
	}
	if err != nil {
		return err
	}
	log, cfg, err := pf.setup()
	if err != nil {
		return err
	}
	if !flagGiven(fs, workers.Name) {
		cfg.Workers = *concurrency
	}

	database := *dbURL
	if database == "" {
		dir, err := os.MkdirTemp("", "wasmflow-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		database = "sqlite:" + filepath.Join(dir, "wasmflow.db")
	}
	kind, _, err := parseDatabaseURL(database)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, database)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.Store, cfg.Engine, cfg.Logger = st, *pf.engine, log
	h, err := host.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close(context.WithoutCancel(ctx))
	h.Start()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *pf.grace)
		defer cancel()
		h.Shutdown(sctx)
	}()
	if _, _, err := h.PushModule(ctx, &host.PushModuleParams{Name: "bench", Wasm: wasm}); err != nil {
		return fmt.Errorf("push %s: %w", *module, err)
	}

	b := &bench{host: h, steps: *steps, background: *background}
	if b.input, err = json.Marshal(map[string]int{"steps": *steps, "payload_bytes": *payload}); err != nil {
		return err
	}
	if _, err := b.run(ctx, *concurrency, *concurrency); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if *purge > 0 {
		pb := &purgeBench{bench: b, store: st, log: log, seed: *purge, clients: *concurrency, before: *purgeBefore}
		if kind == "postgres" {
			pb.dbURL = database
		}
		r, err := pb.run(ctx)
		if err != nil {
			return err
		}
		return printBench(r, *asJSON)
	}
	var db *benchDB
	if kind == "postgres" {
		db = openBenchDB(ctx, database, log)
		defer db.close()
	}
	cpu0, _, _, cpuErr := pgstat.ProcessCPU(os.Getpid())
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	db.begin(ctx)
	start := time.Now()
	latencies, err := b.run(ctx, *runs, *concurrency)
	if err != nil {
		return err
	}
	wall := time.Since(start)
	cpu1, _, _, _ := pgstat.ProcessCPU(os.Getpid())
	r := newBenchResult(latencies, wall, *steps)
	if cpuErr == nil {
		r.HostCPU = &benchCPU{Seconds: (cpu1 - cpu0).Seconds(), Cores: (cpu1 - cpu0).Seconds() / wall.Seconds(),
			PerRunMS: float64((cpu1 - cpu0).Microseconds()) / 1000 / float64(r.Runs)}
	}
	db.end(ctx, r, wall)
	r.Concurrency, r.PayloadBytes, r.Store, r.Engine = *concurrency, *payload, kind, *pf.engine
	r.Mode = "foreground"
	if *background {
		r.Mode = "background"
	}
	return printBench(r, *asJSON)
}

// printBench prints a bench's result: as indented JSON, or for people.
func printBench(r interface{ print(io.Writer) }, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	r.print(os.Stdout)
	return nil
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// bench starts runs of the bench module's "steps" workflow and waits for
// them.
type bench struct {
	host       *host.Host
	input      json.RawMessage
	steps      int
	background bool
}

// run has clients goroutines run n runs between them, one at a time each,
// and returns each run's start-to-completion latency. The first run that
// does not complete stops them all.
func (b *bench) run(ctx context.Context, n, clients int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				d, err := b.one(ctx)
				if err != nil {
					cancel(err)
					return
				}
				latencies[i] = d
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return latencies, nil
}

// one starts a run, waits until it has completed, and checks its output.
func (b *bench) one(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	p := &host.StartRunParams{Module: "bench", Workflow: "steps", Input: b.input}
	if !b.background {
		p.Wait = benchRunWait
	}
	run, _, err := b.host.StartRun(ctx, p)
	if err == nil && b.background {
		run, err = b.host.WaitRun(ctx, run.ID, benchRunWait)
	}
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	switch {
	case run.Status == store.StatusFailed:
		return 0, fmt.Errorf("run %s failed: %s", run.ID, run.Error)
	case run.Status != store.StatusCompleted:
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		return 0, fmt.Errorf("run %s is %s after %s, want completed", run.ID, run.Status, benchRunWait)
	}
	var out struct {
		Steps int `json:"steps"`
	}
	if err := json.Unmarshal(run.Output, &out); err != nil || out.Steps != b.steps {
		return 0, fmt.Errorf("run %s completed with output %s, want {\"steps\": %d}", run.ID, run.Output, b.steps)
	}
	return d, nil
}

// benchResult is what `wasmflow bench --json` prints.
type benchResult struct {
	Runs         int     `json:"runs"`
	Steps        int     `json:"steps"`
	StepsPerRun  int     `json:"steps_per_run"`
	Concurrency  int     `json:"concurrency"`
	PayloadBytes int     `json:"payload_bytes"`
	Mode         string  `json:"mode"`
	Store        string  `json:"store"`
	Engine       string  `json:"engine"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	WallSeconds  float64 `json:"wall_seconds"`
	RunsPerSec   float64 `json:"runs_per_sec"`
	StepsPerSec  float64 `json:"steps_per_sec"`
	LatencyMS    struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_ms"`
	HostCPU *benchCPU `json:"host_cpu,omitempty"` // this process
	DBCPU   *benchCPU `json:"db_cpu,omitempty"`   // the database server, on Postgres
	// On Postgres with pg_stat_statements: what the database ran per run.
	StatementsPerRun float64 `json:"statements_per_run,omitempty"`
	RoundTripsPerRun float64 `json:"round_trips_per_run,omitempty"`
}

// benchCPU is CPU time over the measured runs.
type benchCPU struct {
	Seconds  float64 `json:"seconds"`
	Cores    float64 `json:"cores"` // seconds per second of wall time
	PerRunMS float64 `json:"per_run_ms"`
}

func newBenchResult(latencies []time.Duration, wall time.Duration, steps int) *benchResult {
	r := &benchResult{
		Runs:        len(latencies),
		Steps:       len(latencies) * steps,
		StepsPerRun: steps,
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		WallSeconds: wall.Seconds(),
	}
	r.RunsPerSec = float64(r.Runs) / wall.Seconds()
	r.StepsPerSec = float64(r.Steps) / wall.Seconds()
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	// Nearest rank: the smallest latency that p of the runs do not exceed.
	pct := func(p float64) float64 { return ms(latencies[int(math.Ceil(p*float64(len(latencies))))-1]) }
	r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99 = pct(0.50), pct(0.90), pct(0.99)
	r.LatencyMS.Max = ms(latencies[len(latencies)-1])
	return r
}

func (r *benchResult) print(w io.Writer) {
	fmt.Fprintf(w, "%d runs of %d steps, %d at a time, %s, on %s (engine %s, GOMAXPROCS %d)\n",
		r.Runs, r.StepsPerRun, r.Concurrency, r.Mode, r.Store, r.Engine, r.GOMAXPROCS)
	fmt.Fprintf(w, "  wall time  %.2fs\n", r.WallSeconds)
	fmt.Fprintf(w, "  runs/s     %.1f\n", r.RunsPerSec)
	fmt.Fprintf(w, "  steps/s    %.1f\n", r.StepsPerSec)
	fmt.Fprintf(w, "  latency    p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.1fms\n",
		r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	for _, c := range []struct {
		what string
		cpu  *benchCPU
	}{{"host CPU", r.HostCPU}, {"db CPU", r.DBCPU}} {
		if c.cpu != nil {
			fmt.Fprintf(w, "  %-9s  %.2fs, %.2f cores, %.2fms per run\n", c.what, c.cpu.Seconds, c.cpu.Cores, c.cpu.PerRunMS)
		}
	}
	if r.StatementsPerRun > 0 {
		fmt.Fprintf(w, "  per run    %.1f statements, %.1f round trips (pg_stat_statements)\n", r.StatementsPerRun, r.RoundTripsPerRun)
	}
}

// benchDB reads what the database server spent on the measured runs,
// through a connection of its own (left out of the counts). Whatever it
// cannot read is left out of the results, with a warning.
type benchDB struct {
	conn    *pgx.Conn
	log     *slog.Logger
	backend int
	cpu     time.Duration
	cpuErr  error
	calls   pgstat.Calls
	callErr error
}

func openBenchDB(ctx context.Context, url string, log *slog.Logger) *benchDB {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		log.Warn("bench: no connection to read the database's CPU and statements", "error", err)
		return nil
	}
	db := &benchDB{conn: conn, log: log}
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&db.backend); err != nil {
		db.backend = -1
	}
	return db
}

func (db *benchDB) close() {
	if db != nil {
		db.conn.Close(context.Background())
	}
}

func (db *benchDB) begin(ctx context.Context) {
	if db == nil {
		return
	}
	db.cpu, db.cpuErr = pgstat.ServerCPU(db.backend)
	db.calls, db.callErr = pgstat.ReadCalls(ctx, db.conn, "")
	if db.cpuErr != nil {
		db.log.Warn("bench: the database's CPU is not reported", "error", db.cpuErr)
	}
	if db.callErr != nil {
		db.log.Warn("bench: statements per run are not reported", "error", db.callErr)
	}
}

func (db *benchDB) end(ctx context.Context, r *benchResult, wall time.Duration) {
	if db == nil {
		return
	}
	if db.cpuErr == nil {
		if cpu, err := pgstat.ServerCPU(db.backend); err == nil {
			d := cpu - db.cpu
			r.DBCPU = &benchCPU{Seconds: d.Seconds(), Cores: d.Seconds() / wall.Seconds(),
				PerRunMS: float64(d.Microseconds()) / 1000 / float64(r.Runs)}
		}
	}
	if db.callErr == nil {
		if calls, err := pgstat.ReadCalls(ctx, db.conn, ""); err == nil {
			d := calls.Since(db.calls)
			r.StatementsPerRun = float64(d.Statements()) / float64(r.Runs)
			r.RoundTripsPerRun = float64(d.RoundTrips()) / float64(r.Runs)
		}
	}
}

// startCPUProfile profiles this process's CPU into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// Package pgtest gives tests a private PostgreSQL server. A test binary calls
// Main from TestMain; each test asks URL for a fresh, empty schema of its own.
// The server is started on first use, once per test binary, and stopped when
// the binary's tests are done. Set WASMFLOW_TEST_DATABASE_URL to use an
// existing database instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that points the tests at an
// existing database instead of a private server.
const EnvURL = "WASMFLOW_TEST_DATABASE_URL"

var (
	once   sync.Once
	srv    *server
	base   string // URL of the database tests get schemas in
	srvErr error
)

// Main runs the tests of m and exits with their status, stopping the private
// server if one was started. Call it from TestMain.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	os.Exit(code)
}

// URL returns the URL of a new, empty schema (through search_path) that is
// dropped when t ends. It starts the private server on first use and fails t,
// with the reason, if it cannot.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if base = os.Getenv(EnvURL); base != "" {
			return
		}
		srv, srvErr = start(false)
		if srvErr == nil {
			base = srv.url
		}
	})
	if srvErr != nil {
		t.Fatalf("pgtest: %v", srvErr)
	}
	return schemaURL(t, base)
}

// Server is a private PostgreSQL server of one test, for tests that do to
// the server what would disturb others sharing it (restarting it).
type Server struct {
	srv *server
}

// NewServer starts a server for t alone, stopped when t ends. It cannot be
// pointed at an existing database: with WASMFLOW_TEST_DATABASE_URL set, it
// skips t.
//
// Unlike the shared server, it keeps every commit it acknowledged through
// an immediate shutdown (synchronous_commit is on): with it off, a commit
// is acknowledged before its WAL is written, and a server killed at once
// forgets it on recovery, which no real database does.
func NewServer(t testing.TB) *Server {
	t.Helper()
	if os.Getenv(EnvURL) != "" {
		t.Skipf("pgtest: %s is set, and this test needs a server of its own", EnvURL)
	}
	s, err := start(true)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return &Server{srv: s}
}

// URL returns the URL of a new, empty schema on the server, as the
// package's URL does.
func (s *Server) URL(t testing.TB) string {
	t.Helper()
	return schemaURL(t, s.srv.url)
}

// Restart stops the server as an operator's restart does (a fast
// shutdown: every connection is terminated, SQLSTATE 57P01), keeps it
// stopped for pause (connections are refused meanwhile), and starts it again
// on the same port and data. It returns how long the server did not accept
// connections.
func (s *Server) Restart(t testing.TB, pause time.Duration) time.Duration {
	t.Helper()
	return s.RestartWith(t, Fast, pause)
}

// StopMode is how a restart shuts the server down, as pg_ctl stop -m
// names it.
type StopMode int

const (
	// Fast terminates every session and shuts down cleanly (SIGINT to the
	// postmaster: pg_ctl stop -m fast).
	Fast StopMode = iota
	// Immediate aborts every process at once, without a checkpoint, so the
	// next start recovers from the WAL, as after a crash (SIGQUIT to the
	// postmaster: pg_ctl stop -m immediate).
	Immediate
)

func (m StopMode) String() string {
	if m == Immediate {
		return "immediate"
	}
	return "fast"
}

// RestartWith restarts the server as Restart does, shutting it down in the
// given mode.
func (s *Server) RestartWith(t testing.TB, mode StopMode, pause time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	if err := s.srv.restart(mode, pause); err != nil {
		t.Fatalf("pgtest: restart: %v", err)
	}
	return time.Since(began)
}

// schemaURL creates a new, empty schema in the database at base, dropped
// when t ends, and returns the URL that puts tables in it.
func schemaURL(t testing.TB, base string) string {
	t.Helper()
	schema := newSchemaName()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec1(ctx, base, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec1(ctx, base, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: parse %s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func newSchemaName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("test_%d_%s", os.Getpid(), hex.EncodeToString(b))
}

// exec1 runs one statement on a new connection to url.
func exec1(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// server is a private PostgreSQL server in a temporary directory.
type server struct {
	dir   string
	bin   string
	port  int
	url   string
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	done  chan error // receives the server's exit
	// durable: synchronous_commit on, so that an immediate shutdown loses
	// no acknowledged commit (fsync stays off: the machine does not crash,
	// only the server's processes die)
	durable bool
}

// start initializes a cluster in a temporary directory and starts a server
// on a free loopback port.
func start(durable bool) (*server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "wasmflow-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create temporary directory: %w", err)
	}
	s := &server{dir: dir, bin: bin, durable: durable}
	if err := s.initdb(bin); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if s.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.run(bin); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// asPostgres wraps a command so that it runs as the postgres system user
// when this process is root (initdb and postgres refuse to run as root).
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() != 0 {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
}

func (s *server) initdb(bin string) error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, and there is no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(s.dir, uid, gid); err != nil {
			return fmt.Errorf("give %s to the postgres user: %w", s.dir, err)
		}
	}
	cmd := asPostgres(filepath.Join(bin, "initdb"), "-D", filepath.Join(s.dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

// run starts the server and waits until it accepts connections. The server
// runs under a shell that stops it (immediate shutdown) as soon as its stdin
// closes, which also happens when this process dies.
func (s *server) run(bin string) error {
	port := s.port
	s.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	logPath := filepath.Join(s.dir, "postgres.log")
	log, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create server log: %w", err)
	}
	defer log.Close()
	// Asynchronous lists get /dev/null as stdin: keep the real one as fd 3.
	const script = `exec 3<&0; "$0" "$@" & pid=$!; (read _ <&3; kill -QUIT $pid 2>/dev/null) & wait $pid`
	syncCommit := "off"
	if s.durable {
		syncCommit = "on"
	}
	s.cmd = asPostgres("sh", "-c", script, filepath.Join(bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=off", "-c", "synchronous_commit="+syncCommit, "-c", "full_page_writes=off", "-c", "max_connections=200",
		"-c", "shared_preload_libraries=pg_stat_statements")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.stdin = stdin
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", strings.Join(s.cmd.Args, " "), err)
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	if err := s.waitReady(30 * time.Second); err != nil {
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("postgres on port %d: %w\nserver log:\n%s", port, err, out)
	}
	return nil
}

// waitReady connects until the server answers, it exits, or timeout passes.
func (s *server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := exec1(ctx, s.url, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		select {
		case werr := <-s.done:
			s.done <- werr
			return fmt.Errorf("server exited: %v", werr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// restart shuts the server down in mode (SIGINT or SIGQUIT to the
// postmaster, as pg_ctl stop -m fast or immediate does) and runs it again.
func (s *server) restart(mode StopMode, pause time.Duration) error {
	pidFile, err := os.ReadFile(filepath.Join(s.dir, "data", "postmaster.pid"))
	if err != nil {
		return fmt.Errorf("read the server's pid: %w", err)
	}
	line, _, _ := strings.Cut(string(pidFile), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return fmt.Errorf("postmaster.pid: %w", err)
	}
	sig := syscall.SIGINT
	if mode == Immediate {
		sig = syscall.SIGQUIT
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("stop the server: %w", err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		return errors.New("the server did not stop within 30s")
	}
	s.stdin.Close()
	time.Sleep(pause)
	return s.run(s.bin)
}

// stop shuts the server down and removes its directory.
func (s *server) stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		s.stdin.Close()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
			err = errors.New("postgres did not stop within 15s; killed it")
		}
	}
	if rerr := os.RemoveAll(s.dir); rerr != nil && err == nil {
		err = fmt.Errorf("remove %s: %w", s.dir, rerr)
	}
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// binDir finds the PostgreSQL server binaries, installing Debian's
// postgresql package if there are none.
func binDir() (string, error) {
	if dir := findBinDir(); dir != "" {
		return dir, nil
	}
	cmd := exec.Command("sh", "-c", "apt-get update && apt-get install -y postgresql")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL server found, and installing it failed: apt-get install -y postgresql: %w\n%s", err, out)
	}
	if dir := findBinDir(); dir != "" {
		return dir, nil
	}
	return "", fmt.Errorf("installed postgresql, but found no initdb in /usr/lib/postgresql/*/bin or pg_config --bindir")
}

// findBinDir returns the highest version's directory of server binaries,
// or "" when there is none.
func findBinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

// version is the major version in /usr/lib/postgresql/<version>/bin.
func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

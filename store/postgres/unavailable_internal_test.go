package postgres

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// timeoutErr is a network error that is a timeout.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// Which errors mean that the database is unavailable, and which are
// refusals that would come again.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"the server shuts down (57P01)", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, true},
		{"the server crashed (57P02)", &pgconn.PgError{Code: "57P02"}, true},
		{"the server is starting up (57P03)", &pgconn.PgError{Code: "57P03"}, true},
		{"a connection exception (08006)", &pgconn.PgError{Code: "08006"}, true},
		{"a refused connection", refused, true},
		{"a refused connection, wrapped", fmt.Errorf("failed to connect: %w", refused), true},
		{"a reset connection", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"a connection closed under the driver", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), true},
		{"a closed connection", fmt.Errorf("x: %w", pgconn.ErrConnClosed), true},
		{"a unique violation (23505)", &pgconn.PgError{Code: "23505"}, false},
		{"a wrong password (28P01)", &pgconn.PgError{Code: "28P01"}, false},
		{"a fence refusal (WF001)", &pgconn.PgError{Code: codeFenced}, false},
		{"a statement timeout (57014)", &pgconn.PgError{Code: "57014"}, false},
		{"the caller's deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"the caller gave up", context.Canceled, false},
		{"a network timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, false},
	} {
		if got := unavailable(c.err); got != c.want {
			t.Errorf("%s: unavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

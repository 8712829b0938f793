package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// unavailable reports whether err means that the database could not be
// reached or dropped the connection, as opposed to refusing the statement:
// a connection exception (SQLSTATE class 08), the server shutting down,
// crashing or not yet accepting connections (57P01, 57P02, 57P03), an error
// the driver knows happened before anything was sent, and the network
// failing under the driver (refused, reset, closed). A timeout of the
// caller's context is not one: the caller chose to stop waiting.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &netErr):
		return !netErr.Timeout()
	}
	return false
}

// dropped reports whether err means the database is unavailable, and then
// closes the pool's idle connections: a connection that failed under a call
// is seldom the only one (a restarted server dropped them all), and the
// next calls should connect afresh instead of each finding a dead one.
func (s *Store) dropped(err error) bool {
	if err == nil || !unavailable(err) {
		return false
	}
	s.pool.Reset()
	return true
}

// read runs a read, and runs it once more, on a new connection, when the
// database dropped the connection under it: after a database restart every
// pooled connection is dead, and the first use of each would otherwise fail
// a request that a new connection serves. Reads change nothing, so running
// one twice is safe.
func (s *Store) read(ctx context.Context, fn func() error) error {
	err := fn()
	if s.dropped(err) && ctx.Err() == nil {
		err = fn()
	}
	return err
}

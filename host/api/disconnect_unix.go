//go:build unix

package api

import (
	"net"
	"syscall"
)

// disconnected returns a function that reports whether the client of conn
// has closed it, by peeking at the socket without reading from it (a
// request pipelined behind this one stays where it is). It reports false
// for connections it cannot peek at.
func disconnected(conn net.Conn) func() bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return func() bool { return false }
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() bool { return false }
	}
	return func() bool {
		var buf [1]byte
		var n int
		var perr error
		if err := raw.Read(func(fd uintptr) bool {
			n, _, perr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return true
		}); err != nil {
			return true // the connection is closed
		}
		switch {
		case perr == syscall.EAGAIN || perr == syscall.EWOULDBLOCK || perr == syscall.EINTR:
			return false // open, nothing sent
		case perr != nil:
			return true // reset
		}
		return n == 0 // 0 bytes without an error: the client closed it
	}
}

//go:build !unix

package api

import "net"

// disconnected cannot peek at sockets here: requests end with their handler
// or with the server.
func disconnected(net.Conn) func() bool { return func() bool { return false } }

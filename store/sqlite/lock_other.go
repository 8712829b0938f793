//go:build !unix

package sqlite

import "os"

// lock does nothing where flock is missing: the database is not kept to
// one process, and Open takes no leases back (see Open).
func lock(path string) (*os.File, error) { return nil, nil }

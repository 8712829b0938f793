package testmodules

import (
	"os"
	"sync"
	"testing"
)

var cache struct {
	once sync.Once
	dir  string
	err  error
}

// CompileCache returns a compile-cache directory (host.Config.CacheDir)
// shared by every host of the test process, so that each guest is compiled
// once per engine rather than once per test. Call RemoveCompileCache from
// TestMain once the tests have run.
func CompileCache(t testing.TB) string {
	t.Helper()
	cache.once.Do(func() { cache.dir, cache.err = os.MkdirTemp("", "wasmflow-test-cache-") })
	if cache.err != nil {
		t.Fatalf("testmodules: compile cache: %v", cache.err)
	}
	return cache.dir
}

// RemoveCompileCache removes the directory CompileCache made, if any.
func RemoveCompileCache() {
	if cache.dir != "" {
		os.RemoveAll(cache.dir)
	}
}

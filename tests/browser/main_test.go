// Package browser holds the web UI tests: headless Chromium, driven with
// chromedp, against real wasmflow server processes. It is a module of its
// own so that chromedp, which only these tests use, stays out of the
// wasmflow module's requirements (and of every embedder's module graph).
package browser

import (
	"testing"

	"github.com/wasmflow/wasmflow/internal/clustertest"
	"github.com/wasmflow/wasmflow/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type (
	cluster = clustertest.Cluster
	run     = clustertest.Run
	event   = clustertest.Event
)

var (
	newCluster  = clustertest.New
	activations = clustertest.Activations
	starts      = clustertest.Starts
)

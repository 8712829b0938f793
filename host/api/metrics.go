package api

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// httpMetrics counts requests by route and status, for GET /metrics.
type httpMetrics struct {
	mu    sync.Mutex
	count map[httpKey]*httpCount
}

type httpKey struct {
	method, route string
	status        int
}

type httpCount struct {
	n       int64
	seconds float64
}

func newHTTPMetrics() *httpMetrics {
	return &httpMetrics{count: map[httpKey]*httpCount{}}
}

// observe is a middleware that counts each request once its answer is known.
// It answers errors itself, as fiber's logger does, so that the status it
// counts is the one sent.
func (m *httpMetrics) observe(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if err := c.App().ErrorHandler(c, err); err != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	route := c.Route().Path
	if route == "/" { // only the catch-all answers there
		route = "unmatched"
	}
	// c.Method() is a view of the request's buffer, reused by the next one.
	k := httpKey{method: strings.Clone(c.Method()), route: route, status: c.Response().StatusCode()}
	d := time.Since(start).Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.count[k]
	if n == nil {
		n = &httpCount{}
		m.count[k] = n
	}
	n.n++
	n.seconds += d
	return nil
}

func (m *httpMetrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(m.count), func(a, b httpKey) int {
		return cmp.Or(cmp.Compare(a.route, b.route), cmp.Compare(a.method, b.method), cmp.Compare(a.status, b.status))
	})
	fmt.Fprintln(w, "# HELP wasmflow_http_requests_total HTTP requests answered by the API, by route and status.")
	fmt.Fprintln(w, "# TYPE wasmflow_http_requests_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "wasmflow_http_requests_total{method=%q,route=%q,status=\"%d\"} %d\n", k.method, k.route, k.status, m.count[k].n)
	}
	fmt.Fprintln(w, "# HELP wasmflow_http_request_seconds_total Time spent answering HTTP requests, by route and status (live event streams count until their headers).")
	fmt.Fprintln(w, "# TYPE wasmflow_http_request_seconds_total counter")
	for _, k := range keys {
		fmt.Fprintf(w, "wasmflow_http_request_seconds_total{method=%q,route=%q,status=\"%d\"} %s\n", k.method, k.route, k.status, strconv.FormatFloat(m.count[k].seconds, 'g', -1, 64))
	}
}

func (s *server) writeMetrics(c *fiber.Ctx) error {
	var buf bytes.Buffer
	s.metrics.write(&buf)
	if s.cfg.Metrics != nil {
		s.cfg.Metrics(&buf)
	}
	c.Set(fiber.HeaderContentType, "text/plain; version=0.0.4; charset=utf-8")
	return c.Send(buf.Bytes())
}

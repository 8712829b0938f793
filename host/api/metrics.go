package api

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// requestMetric is the API's histogram of requests, registered in the
// host's registry; a second app on the same host shares the first's.
func requestMetric(reg prometheus.Registerer) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wasmflow_http_request_duration_seconds",
		Help:    "HTTP requests answered by the API, by method, route and status (live event streams count until their headers).",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route", "status"})
	if err := reg.Register(h); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			return dup.ExistingCollector.(*prometheus.HistogramVec)
		}
		panic(err) // a metric of another shape under this name: a bug
	}
	return h
}

// observe is a middleware that records each request once its answer is
// known. It answers errors itself, as fiber's logger does, so that the
// status it records is the one sent. The route is the route's pattern, not
// the path, so that run ids do not make a label value each.
func (s *server) observe(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if err := c.App().ErrorHandler(c, err); err != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	route := c.Route().Path
	if route == "/" && c.Locals(webUIKey{}) == nil { // the catch-all, or auth before any route
		route = "unmatched"
	}
	// c.Method() is a view of the request's buffer, reused by the next one.
	s.requests.WithLabelValues(strings.Clone(c.Method()), route, strconv.Itoa(c.Response().StatusCode())).Observe(time.Since(start).Seconds())
	return nil
}

// metricsHandler serves the host's metrics in Prometheus' text format.
func (s *server) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.h.Metrics(), promhttp.HandlerOpts{}))
}

package api

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// observe is a middleware that records each request once its answer is
// known. It answers errors itself, as fiber's logger does, so that the
// status it records is the one sent.
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
	s.h.Metrics().Request(strings.Clone(c.Method()), route, c.Response().StatusCode(), time.Since(start))
	return nil
}

// metricsHandler serves the host's metrics in Prometheus' text format.
func (s *server) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.h.Metrics().Registry(), promhttp.HandlerOpts{}))
}

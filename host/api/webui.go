package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host/api/ui"
)

// webUIKey is the fiber.Ctx local that marks an answer of the web UI's
// page: its route, "/", is also where the catch-all of unmatched requests
// is, and metrics must tell them apart.
type webUIKey struct{}

func webUIPage(c *fiber.Ctx) error {
	c.Locals(webUIKey{}, true)
	return ui.Index(c)
}

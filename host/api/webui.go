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

// versionNeedsModule rejects a version filter without its module.
func versionNeedsModule(c *fiber.Ctx) error {
	if c.Query("version") != "" && c.Query("module") == "" {
		return apiError(fiber.StatusBadRequest, "invalid_request", "version filters the versions of one module: pass module too")
	}
	return nil
}

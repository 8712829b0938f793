package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDoc is the OpenAPI 3.1 description of every route of New.
// TestOpenAPIMatchesRouter keeps the two in step.
//
//go:embed openapi.json
var openAPIDoc []byte

func openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(openAPIDoc)
}

package api

import (
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
)

// Every kind of host error has its status in the one table, as the Error
// type's documentation and openapi.json give them.
func TestEveryHostErrorKindHasItsStatus(t *testing.T) {
	t.Parallel()
	for kind, want := range map[host.ErrorKind]int{
		host.ErrInvalid:              400,
		host.ErrInvalidJSON:          400,
		host.ErrInvalidModule:        400,
		host.ErrUnauthorized:         401,
		host.ErrNotFound:             404,
		host.ErrModuleNotFound:       404,
		host.ErrConflict:             409,
		host.ErrIdempotencyKeyReused: 409,
		host.ErrRunFinished:          409,
		host.ErrInvalidTransition:    409,
		host.ErrTooLarge:             413,
		host.ErrWorkflowNotFound:     422,
		host.ErrInternal:             500,
		host.ErrUnavailable:          503,
	} {
		err := apiError(kind, "m").(*httpError)
		if err.status != want || err.body.Code != string(kind) {
			t.Errorf("%s: answered %d %s, want %d %s", kind, err.status, err.body.Code, want, kind)
		}
	}
	if err := apiError(errForbidden, "m").(*httpError); err.status != fiber.StatusForbidden {
		t.Errorf("forbidden: answered %d", err.status)
	}
}

package api

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
)

// purgeRequest is the body of POST /v1/runs/purge.
type purgeRequest struct {
	Before string         `json:"before"`
	Status host.RunStatus `json:"status"`
	DryRun bool           `json:"dry_run"`
}

// bulkRequest is the body of POST /v1/runs/cancel and /v1/runs/retry.
type bulkRequest struct {
	Status   host.RunStatus `json:"status"`
	Module   string         `json:"module"`
	Version  string         `json:"version"`
	Workflow string         `json:"workflow"`
	All      bool           `json:"all"`
	DryRun   bool           `json:"dry_run"`
}

// purgeRuns is POST /v1/runs/purge: it answers once every matching run is
// purged, or with dry_run, counted.
func (s *server) purgeRuns(c *fiber.Ctx) error {
	var req purgeRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	if req.Before == "" {
		return apiError(host.ErrInvalid, `before is required: the RFC 3339 time before which finished runs are purged, such as "2026-11-01T00:00:00Z"`)
	}
	before, err := time.Parse(time.RFC3339Nano, req.Before)
	if err != nil {
		return apiError(host.ErrInvalid, "before must be an RFC 3339 time, such as \"2026-11-01T00:00:00Z\", not "+strconv.Quote(req.Before))
	}
	res, err := s.h.PurgeRuns(c.UserContext(), &host.PurgeRunsParams{Before: before, Status: req.Status, DryRun: req.DryRun})
	if err != nil {
		return err
	}
	if req.DryRun {
		return c.JSON(fiber.Map{"dry_run": true, "matched": res.Matched})
	}
	return c.JSON(fiber.Map{"dry_run": false, "purged": res.Purged, "batches": res.Batches,
		"duration_ms": res.Duration.Milliseconds()})
}

// cancelRuns is POST /v1/runs/cancel.
func (s *server) cancelRuns(c *fiber.Ctx) error {
	return s.bulk(c, s.h.CancelRuns, "cancelled")
}

// retryRuns is POST /v1/runs/retry.
func (s *server) retryRuns(c *fiber.Ctx) error {
	return s.bulk(c, s.h.RetryRuns, "retried")
}

func (s *server) bulk(c *fiber.Ctx, do func(context.Context, *host.RunFilter, bool) (*host.BulkResult, error), done string) error {
	var req bulkRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	f := &host.RunFilter{Status: req.Status, Module: req.Module, ModuleVersion: req.Version, Workflow: req.Workflow, All: req.All}
	res, err := do(c.UserContext(), f, req.DryRun)
	if err != nil {
		return err
	}
	if req.DryRun {
		return c.JSON(fiber.Map{"dry_run": true, "matched": res.Matched})
	}
	body := fiber.Map{"dry_run": false, "matched": res.Matched, done: res.Done, "skipped": res.Skipped}
	if done == "cancelled" {
		body["cancel_requested"] = res.Requested
	}
	return c.JSON(body)
}

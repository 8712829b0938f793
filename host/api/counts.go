package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
)

// RunCounts counts runs: in all, and in each status. Statuses has every run
// status as a key, with 0 for those no run is in.
type RunCounts struct {
	Total    int64            `json:"total"`
	Statuses map[string]int64 `json:"statuses"`
}

func toRunCounts(rc *host.RunCounts) *RunCounts {
	out := &RunCounts{Total: rc.Total, Statuses: make(map[string]int64, len(rc.Statuses))}
	for st, n := range rc.Statuses {
		out.Statuses[string(st)] = n
	}
	return out
}

// countRuns answers GET /v1/runs/counts: how many runs match the filters
// GET /v1/runs takes (but status), in all and per status.
func (s *server) countRuns(c *fiber.Ctx) error {
	counts, err := s.h.CountRuns(c.UserContext(), &host.CountRunsParams{
		Module: c.Query("module"), ModuleVersion: c.Query("version"), Workflow: c.Query("workflow"),
	})
	if err != nil {
		return err
	}
	return c.JSON(toRunCounts(counts))
}

package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/store"
)

// RunCounts counts runs: in all, and in each status. Statuses has every run
// status as a key, with 0 for those no run is in.
type RunCounts struct {
	Total    int64            `json:"total"`
	Statuses map[string]int64 `json:"statuses"`
}

// tally adds up the groups that match.
func tally(groups []*store.RunCount, match func(*store.RunCount) bool) *RunCounts {
	rc := &RunCounts{Statuses: make(map[string]int64, len(store.AllStatuses))}
	for _, st := range store.AllStatuses {
		rc.Statuses[string(st)] = 0
	}
	for _, g := range groups {
		if match(g) {
			rc.Total += g.Count
			rc.Statuses[string(g.Status)] += g.Count
		}
	}
	return rc
}

// countRuns answers GET /v1/runs/counts: how many runs match the filters
// GET /v1/runs takes (but status), in all and per status.
func (s *server) countRuns(c *fiber.Ctx) error {
	groups, err := s.h.CountRuns(c.UserContext(), &store.RunCountParams{
		Module: c.Query("module"), ModuleVersion: c.Query("version"), Workflow: c.Query("workflow"),
	})
	if err != nil {
		return hostError(err)
	}
	return c.JSON(tally(groups, func(*store.RunCount) bool { return true }))
}

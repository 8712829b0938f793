package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
)

// UpgradeRunRequest is the body of POST /v1/runs/{id}/upgrade.
type UpgradeRunRequest struct {
	Version string `json:"version"`
	DryRun  bool   `json:"dry_run"`
}

// Divergence is where a version's code and a run's journal first disagree,
// in a 409 upgrade_diverged.
type Divergence struct {
	Position int         `json:"position"`
	Journal  JournalCall `json:"journal"`
	Code     JournalCall `json:"code"`
}

// JournalCall is a call at a position of a journal.
type JournalCall struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// ModuleRef names a module version and its digest.
type ModuleRef struct {
	Version string `json:"version"`
	Digest  string `json:"digest"`
}

// UpgradeCheck is the answer to a dry run of POST /v1/runs/{id}/upgrade.
type UpgradeCheck struct {
	Compatible bool      `json:"compatible"`
	Position   int       `json:"position"`
	From       ModuleRef `json:"from"`
	To         ModuleRef `json:"to"`
}

func toDivergence(d *host.Divergence) *Divergence {
	return &Divergence{Position: d.Position, Journal: JournalCall(d.Journal), Code: JournalCall(d.Code)}
}

func (s *server) upgradeRun(c *fiber.Ctx) error {
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	var req UpgradeRunRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	up, err := s.h.UpgradeRun(c.UserContext(), &host.UpgradeRunParams{ID: id, Version: req.Version, DryRun: req.DryRun})
	if err != nil {
		return err
	}
	if req.DryRun {
		return c.JSON(UpgradeCheck{Compatible: true, Position: up.Position, From: ModuleRef(up.From), To: ModuleRef(up.To)})
	}
	return s.writeRun(c, fiber.StatusOK, up.Run)
}

// UpgradeModuleRequest is the body of POST /v1/modules/{name}/upgrade.
type UpgradeModuleRequest struct {
	From   string `json:"from"`
	To     string `json:"to"`
	DryRun bool   `json:"dry_run"`
	After  string `json:"after"`
	Limit  int    `json:"limit"`
}

// ModuleUpgrade is the answer of POST /v1/modules/{name}/upgrade.
type ModuleUpgrade struct {
	Checked     int               `json:"checked"`
	Upgraded    int               `json:"upgraded"`
	Diverged    int               `json:"diverged"`
	Skipped     int               `json:"skipped"`
	Divergences []DivergenceGroup `json:"divergences"`
	Next        *string           `json:"next"`
}

// DivergenceGroup is the runs that diverge at one position in one way.
type DivergenceGroup struct {
	Divergence
	Message  string   `json:"message"`
	Runs     int      `json:"runs"`
	Examples []string `json:"examples"`
}

func (s *server) upgradeModule(c *fiber.Ctx) error {
	name, err := param(c, "name")
	if err != nil {
		return err
	}
	var req UpgradeModuleRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	res, err := s.h.UpgradeModule(c.UserContext(), &host.UpgradeModuleParams{
		Name: name, From: req.From, To: req.To, DryRun: req.DryRun, After: req.After, Limit: req.Limit,
	})
	if err != nil {
		return err
	}
	out := ModuleUpgrade{Checked: res.Checked, Upgraded: res.Upgraded, Diverged: res.Diverged, Skipped: res.Skipped,
		Divergences: make([]DivergenceGroup, len(res.Divergences)), Next: optional(res.Next)}
	for i, g := range res.Divergences {
		out.Divergences[i] = DivergenceGroup{
			Divergence: Divergence{Position: g.Position, Journal: JournalCall(g.Journal), Code: JournalCall(g.Code)},
			Message:    g.Message, Runs: g.Runs, Examples: g.Examples,
		}
	}
	return c.JSON(out)
}

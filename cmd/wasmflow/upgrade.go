package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/host/api"
)

func runUpgrade(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("run upgrade", `Usage: wasmflow run upgrade ID --version V [--dry-run]

Moves a run that has not finished to version V of its module. The server
first replays the run's journal against V's code, with no side effects; only
if V makes the same journaled calls in the same order is the run moved, and
it goes on under V. Otherwise nothing changes, and the first divergence is
printed (exit status 1). A running run is refused: upgrade it once it
suspends. With --dry-run, only the check is made.
`)
	ver := fs.String("version", "", "the version of the run's module to move it to; required")
	dry := fs.Bool("dry-run", false, "check V against the run's journal, move nothing")
	rest, c, err := parseClient(fs, cf, args, "ID")
	if err != nil {
		return err
	}
	if *ver == "" {
		return fmt.Errorf("--version is required: the version to move the run to")
	}
	if err := checkNames(nameArg{"--version", *ver, abi.CheckModuleName}); err != nil {
		return err
	}
	var raw json.RawMessage
	path := "/v1/runs/" + url.PathEscape(rest[0]) + "/upgrade"
	if _, err := c.do(ctx, "POST", path, api.UpgradeRunRequest{Version: *ver, DryRun: *dry}, &raw); err != nil {
		return err
	}
	if !*dry {
		_, err := showRun(raw, *cf.json)
		return err
	}
	if *cf.json {
		return printJSON(raw)
	}
	var chk api.UpgradeCheck
	if err := json.Unmarshal(raw, &chk); err != nil {
		return err
	}
	fmt.Printf("version %s agrees with run %s's journal up to position %d: it can take the run over from version %s\n", chk.To.Version, rest[0], chk.Position, chk.From.Version)
	return nil
}

func moduleUpgrade(ctx context.Context, args []string) error {
	fs, cf := clientFlagSet("module upgrade", `Usage: wasmflow module upgrade NAME --from V1 --to V2 [--dry-run]

Moves every run of version V1 of module NAME that has not finished to V2,
each after the replay check of "wasmflow run upgrade", in its own write: runs
whose journals V2's code diverges from stay on V1, and are counted, grouped
by where they diverge. Running runs are skipped; run the command again once
they have suspended. With --dry-run, every run is checked and none moved.
`)
	from := fs.String("from", "", "the version whose runs move; required")
	to := fs.String("to", "", "the version they move to; required")
	dry := fs.Bool("dry-run", false, "check every run, move none")
	rest, c, err := parseClient(fs, cf, args, "NAME")
	if err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return fmt.Errorf("--from and --to are required: the versions to move runs from and to")
	}
	if err := checkNames(nameArg{"NAME", rest[0], abi.CheckModuleName}, nameArg{"--from", *from, abi.CheckModuleName}, nameArg{"--to", *to, abi.CheckModuleName}); err != nil {
		return err
	}
	total := api.ModuleUpgrade{Divergences: []api.DivergenceGroup{}}
	req := api.UpgradeModuleRequest{From: *from, To: *to, DryRun: *dry}
	for {
		var page api.ModuleUpgrade
		if _, err := c.do(ctx, "POST", "/v1/modules/"+url.PathEscape(rest[0])+"/upgrade", req, &page); err != nil {
			return err
		}
		total.Checked += page.Checked
		total.Upgraded += page.Upgraded
		total.Diverged += page.Diverged
		total.Skipped += page.Skipped
		total.Divergences = mergeDivergences(total.Divergences, page.Divergences)
		if page.Next == nil {
			break
		}
		req.After = *page.Next
	}
	if *cf.json {
		out, err := json.Marshal(total)
		if err != nil {
			return err
		}
		return printJSON(out)
	}
	moved := "upgraded"
	if *dry {
		moved = "would be upgraded (dry run)"
	}
	fmt.Printf("module %s, version %s to %s: %d checked, %d %s, %d diverged, %d skipped (running)\n",
		rest[0], *from, *to, total.Checked, total.Upgraded, moved, total.Diverged, total.Skipped)
	if len(total.Divergences) == 0 {
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "RUNS\tPOSITION\tJOURNAL\tCODE\tEXAMPLE")
	for _, g := range total.Divergences {
		fmt.Fprintf(w, "%d\t%d\t%s %s\t%s %s\t%s\n", g.Runs, g.Position, g.Journal.Kind, g.Journal.Name, g.Code.Kind, g.Code.Name, g.Examples[0])
	}
	return w.Flush()
}

// mergeDivergences adds the groups of one page to those of the pages
// before, a group being one position and pair of calls.
func mergeDivergences(all, page []api.DivergenceGroup) []api.DivergenceGroup {
	for _, g := range page {
		i := 0
		for ; i < len(all); i++ {
			if all[i].Divergence == g.Divergence {
				break
			}
		}
		if i == len(all) {
			all = append(all, g)
			continue
		}
		all[i].Runs += g.Runs
		for _, id := range g.Examples {
			if len(all[i].Examples) < 5 {
				all[i].Examples = append(all[i].Examples, id)
			}
		}
	}
	return all
}

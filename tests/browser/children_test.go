package browser

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The run page of a fan-out lists its children with their status and links
// to them, and its timeline links each child event to its child; a child's
// page links back to its parent. A parent whose child failed shows the
// failure in its timeline.
func TestWebUIShowsTheChildrenOfAFanOut(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "5s")
	c.Start()
	c.Push(0, "fanout")
	c.Push(0, "children")
	const minute = time.Minute

	parent := c.StartRun(0, "fanout", "fanout", map[string]any{"n": 3})
	r, _ := c.WaitFor(0, parent, minute, "completed", func(r run, _ []event) bool { return r.Status == "completed" })
	if len(r.Children) != 3 {
		t.Fatalf("the fan-out has %d children, want 3: %+v", len(r.Children), r.Children)
	}
	var kids []string
	for _, k := range r.Children {
		kids = append(kids, k.ID)
	}

	b := newBrowser(t)
	b.do("open the fan-out's page", chromedp.Navigate(c.Servers[0].URL+"/#/runs/"+parent))
	b.waitFor("the token form", `!!document.querySelector('#token-form')`, minute)
	b.do("enter the token", chromedp.SendKeys(chromedp.CSS("#token"), c.NewToken("read")), chromedp.Click(chromedp.CSS("#token-form button[type=submit]")))

	kidsJSON, _ := json.Marshal(kids)
	b.waitFor("the children, completed, each linked to its page, and the child events in the timeline", fmt.Sprintf(`(() => {
		const kids = %s;
		const rows = [...document.querySelectorAll('table.children tbody tr')];
		if (rows.map((tr) => tr.dataset.child).join() !== kids.join()) return false;
		if (!rows.every((tr) => tr.dataset.status === 'completed' && tr.querySelector('[data-status="completed"]'))) return false;
		if (!rows.every((tr) => tr.querySelector('a.run-link').getAttribute('href') === '#/runs/' + tr.dataset.child)) return false;
		if (!(document.querySelector('#children-summary')?.textContent ?? '').includes('3 child runs')) return false;
		for (const type of ['child_started', 'child_completed']) {
			const linked = [...document.querySelectorAll('#timeline li[data-type="' + type + '"] a.run-link')].map((a) => a.dataset.run);
			if (linked.slice().sort().join() !== kids.slice().sort().join()) return false;
		}
		return !document.querySelector('#parent-link');
	})()`, kidsJSON), minute)
	b.screenshot("ui-fanout-children.png")

	b.do("follow the link to the second child", chromedp.Click(chromedp.CSS(fmt.Sprintf(`table.children tr[data-child=%q] a.run-link`, kids[1]))))
	b.waitFor("the child's page, with a link back to its parent", fmt.Sprintf(`location.hash === '#/runs/%[1]s' &&
		(document.querySelector('h1 code.id')?.textContent ?? '') === %[1]q && `+shownStatus+` === 'completed' &&
		document.querySelector('#parent-link')?.getAttribute('href') === '#/runs/%[2]s' &&
		!!document.querySelector('table.steps tr[data-step="square"][data-status="completed"]') &&
		(document.querySelector('#run-output')?.textContent ?? '').includes('"square": 4') &&
		!document.querySelector('table.children')`, kids[1], parent), minute)
	b.screenshot("ui-fanout-child.png")

	b.do("go back to the parent", chromedp.Click(chromedp.CSS("#parent-link")))
	b.waitFor("the fan-out's page again, with its children", fmt.Sprintf(`location.hash === '#/runs/%s' &&
		document.querySelectorAll('table.children tbody tr').length === 3 &&
		(document.querySelector('#run-output')?.textContent ?? '').includes('"sum": 14')`, parent), minute)
	b.onPhone("ui-fanout-phone.png")

	b.do("list the children among the runs", chromedp.Click(chromedp.CSS("#children-list")))
	b.waitFor("the runs page filtered by parent: the three children, and a chip to remove the filter", fmt.Sprintf(`(() => {
		const kids = %s;
		const ids = [...document.querySelectorAll('table.runs tbody tr')].map((tr) => tr.dataset.runId);
		return location.hash === '#/runs?parent=%s' && ids.slice().sort().join() === kids.slice().sort().join() &&
			[...document.querySelectorAll('.chips .chip')].some((c) => c.textContent.includes('children of %s'));
	})()`, kidsJSON, parent, parent), minute)

	// A child that fails reaches its parent as a value: the parent's
	// timeline shows the failure, linked to the child, and the parent's
	// compensation step.
	comp := c.StartRun(0, "children", "compensate", nil)
	cr, _ := c.WaitFor(0, comp, minute, "completed", func(r run, _ []event) bool { return r.Status == "completed" })
	if len(cr.Children) != 1 || cr.Children[0].Status != "failed" {
		t.Fatalf("the compensating run's children are %+v, want one failed", cr.Children)
	}
	failed := cr.Children[0].ID
	b.open("#/runs/" + comp)
	b.waitFor("the failed child, in the children and in the timeline", fmt.Sprintf(`(() => {
		const row = document.querySelector('table.children tr[data-child=%[1]q]');
		const li = [...document.querySelectorAll('#timeline li[data-type="child_failed"]')];
		return row?.dataset.status === 'failed' && li.length === 1 && li[0].querySelector('a.run-link')?.dataset.run === %[1]q &&
			li[0].textContent.includes('child failed on purpose') &&
			!!document.querySelector('table.steps tr[data-step="undo"][data-status="completed"]');
	})()`, failed), minute)
	shown := eval[[]string](b, `[...document.querySelectorAll('table.children tbody tr')].map((tr) => tr.dataset.child)`)
	if !slices.Equal(shown, []string{failed}) {
		t.Errorf("children shown %v, want %v", shown, []string{failed})
	}
	b.screenshot("ui-compensate.png")
}

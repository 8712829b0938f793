package browser

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// The modules page shows, per version, the runs still pinned to it, linked
// to the list of those runs; its Delete button deletes a version no run
// needs and shows the server's refusal for one that runs still need. The
// run page of a waiting run offers the module's other versions to upgrade
// to, and shows a refused upgrade while the run stays on its version.
func TestWebUIShowsPinnedRunsAndDeletesAVersion(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "5s")
	c.Start()
	admin := c.Client(0)
	admin.JSON(t, "POST", "/v1/modules?name=shop", testmodules.Bytes(t, "signup"), http.StatusCreated, nil)  // version 1
	admin.JSON(t, "POST", "/v1/modules?name=shop", testmodules.Bytes(t, "receipt"), http.StatusCreated, nil) // version 2
	var waiting run
	admin.JSON(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "shop", "version": "1", "workflow": "signup",
		"input": map[string]any{"email": "pin@example.com"}}, http.StatusCreated, &waiting)
	const minute = time.Minute
	c.WaitFor(0, waiting.ID, minute, "waiting", func(r run, _ []event) bool { return r.Status == "waiting" })

	b := newBrowser(t)
	b.do("open the run's page", chromedp.Navigate(c.Servers[0].URL+"/#/runs/"+waiting.ID))
	b.waitFor("the token form", `!!document.querySelector('#token-form')`, minute)
	b.do("enter the token", chromedp.SendKeys(chromedp.CSS("#token"), c.Token), chromedp.Click(chromedp.CSS("#token-form button[type=submit]")))

	b.waitFor("the upgrade control, offering version 2 only", shownStatus+` === 'waiting' &&
		!document.querySelector('#upgrade-form').hidden &&
		[...document.querySelectorAll('#upgrade-version option')].map((o) => o.value).join() === '2'`, minute)
	b.do("upgrade to version 2", chromedp.Click(chromedp.CSS("#upgrade-run")))
	// Version 2 is other code (the receipt workflow): the upgrade is
	// refused, whichever reason the server gives, and the run stays.
	b.waitFor("the refusal", `(document.querySelector('#upgrade-result')?.textContent ?? '').startsWith('Not upgraded') &&
		document.querySelector('#upgrade-result').classList.contains('error')`, minute)
	if r := c.Get(0, waiting.ID); r.Status != "waiting" {
		t.Fatalf("after a refused upgrade the run is %s, want waiting", r.Status)
	}
	b.screenshot("ui-upgrade-refused.png")

	b.open("#/modules")
	pinned := func(version, want string) string {
		return fmt.Sprintf(`document.querySelector('section.module[data-module="shop"] tr[data-version="%s"] .pinned')?.dataset.pinned === %q`, version, want)
	}
	b.waitFor("the pinned runs per version, linked to their list", pinned("1", "1")+` && `+pinned("2", "0")+` &&
		document.querySelector('section.module[data-module="shop"] tr[data-version="1"] a.pinned').getAttribute('href') === '#/runs?module=shop&version=1' &&
		document.querySelector('section.module[data-module="shop"] tr[data-version="1"] a.pinned').textContent === '1 run pinned'`, minute)
	b.screenshot("ui-modules-pinned.png")

	deleteVersion := func(version string) {
		b.t.Helper()
		b.do("ask to delete version "+version, chromedp.Click(chromedp.CSS(fmt.Sprintf(`section.module[data-module="shop"] button[data-delete-version="%s"]`, version))))
		b.waitFor("the confirmation", fmt.Sprintf(`!!document.querySelector('button[data-confirm-delete="%s"]')`, version), minute)
		b.do("confirm", chromedp.Click(chromedp.CSS(fmt.Sprintf(`button[data-confirm-delete="%s"]`, version))))
	}
	deleteVersion("1")
	b.waitFor("the refusal, with the number of runs, and version 1 still listed", `(() => {
		const msg = document.querySelector('#module-action');
		return msg.classList.contains('error') && msg.textContent.includes('Version 1 of shop was not deleted') &&
			msg.textContent.includes('still needed by 1 run') &&
			!!document.querySelector('section.module[data-module="shop"] tr[data-version="1"]');
	})()`, minute)
	b.screenshot("ui-delete-refused.png")

	deleteVersion("2")
	b.waitFor("version 2 gone, version 1 kept", `(() => {
		const msg = document.querySelector('#module-action');
		const rows = [...document.querySelectorAll('section.module[data-module="shop"] tr[data-version]')].map((tr) => tr.dataset.version);
		return !msg.classList.contains('error') && msg.textContent === 'Deleted version 2 of shop.' && rows.join() === '1';
	})()`, minute)
	var got struct {
		Versions []struct{ Version string } `json:"versions"`
	}
	admin.JSON(t, "GET", "/v1/modules/shop", nil, http.StatusOK, &got)
	if len(got.Versions) != 1 || got.Versions[0].Version != "1" {
		t.Fatalf("the API lists versions %+v after the delete, want only 1", got.Versions)
	}

	b.do("follow the pinned runs", chromedp.Click(chromedp.CSS(`section.module[data-module="shop"] tr[data-version="1"] a.pinned`)))
	b.waitFor("the runs list of version 1: the waiting run", fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll('table.runs tbody tr')];
		return location.hash === '#/runs?module=shop&version=1' && rows.length === 1 && rows[0].dataset.runId === %q;
	})()`, waiting.ID), minute)
}

// The run page's upgrade control shows where an incompatible version's
// code diverges from the run's journal (position, what the journal holds,
// what the code asked for), leaving the run on its version, and moves the
// run to a compatible version, which the page then shows.
func TestWebUIUpgradesARun(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "5s")
	c.Start()
	admin := c.Client(0)
	for v := 1; v <= 3; v++ {
		admin.JSON(t, "POST", fmt.Sprintf("/v1/modules?name=versions&version=%d", v), testmodules.Bytes(t, fmt.Sprintf("versions-v%d", v)), http.StatusCreated, nil)
	}
	var old run
	admin.JSON(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "versions", "version": "1", "workflow": "order"}, http.StatusCreated, &old)
	const minute = time.Minute
	c.WaitFor(0, old.ID, minute, "waiting", func(r run, _ []event) bool { return r.Status == "waiting" })

	b := newBrowser(t)
	b.do("open the run's page", chromedp.Navigate(c.Servers[0].URL+"/#/runs/"+old.ID))
	b.waitFor("the token form", `!!document.querySelector('#token-form')`, minute)
	b.do("enter the token", chromedp.SendKeys(chromedp.CSS("#token"), c.Token), chromedp.Click(chromedp.CSS("#token-form button[type=submit]")))
	b.waitFor("the other versions offered", shownStatus+` === 'waiting' &&
		[...document.querySelectorAll('#upgrade-version option')].map((o) => o.value).join() === '3,2'`, minute)

	b.do("upgrade to version 3", chromedp.SetValue(chromedp.CSS("#upgrade-version"), "3"), chromedp.Click(chromedp.CSS("#upgrade-run")))
	b.waitFor("the divergence: position, journal and code", `(() => {
		const res = document.querySelector('#upgrade-result');
		const dd = [...document.querySelectorAll('#upgrade-divergence dd')].map((d) => d.textContent);
		return res.classList.contains('error') && res.textContent.includes('diverges from the run\'s journal at position 1') &&
			dd.join('|') === 'step b|step x';
	})()`, minute)
	if r := c.Get(0, old.ID); r.Status != "waiting" {
		t.Fatalf("after a refused upgrade the run is %s, want waiting", r.Status)
	}
	b.screenshot("ui-upgrade-diverged.png")

	b.do("upgrade to version 2", chromedp.SetValue(chromedp.CSS("#upgrade-version"), "2"), chromedp.Click(chromedp.CSS("#upgrade-run")))
	b.waitFor("the run on version 2, with run_upgraded in its timeline, offering versions 3 and 1", `(() => {
		const res = document.querySelector('#upgrade-result');
		const summary = document.querySelector('#summary-title')?.parentElement?.textContent ?? '';
		return !res.classList.contains('error') && res.textContent.startsWith('Upgraded: the run is now on version 2') &&
			summary.includes('version 2') &&
			(document.querySelector('#timeline li[data-type="run_upgraded"]')?.textContent ?? '').includes('from version 1 to version 2') &&
			[...document.querySelectorAll('#upgrade-version option')].map((o) => o.value).join() === '3,1';
	})()`, minute)
	b.screenshot("ui-upgraded.png")
	var got struct {
		ModuleVersion string `json:"module_version"`
	}
	admin.JSON(t, "GET", "/v1/runs/"+old.ID, nil, http.StatusOK, &got)
	if got.ModuleVersion != "2" {
		t.Fatalf("the API says the run is on version %s after the upgrade, want 2", got.ModuleVersion)
	}
}

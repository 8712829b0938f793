package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api"
	"github.com/wasmflow/wasmflow/host/flowtest"
	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
	"github.com/wasmflow/wasmflow/store/sqlite"
)

// shownStatus is the run status the run page shows.
const shownStatus = `document.querySelector('#run-status [data-status]')?.dataset.status`

// Must show 1 (web UI): in headless Chromium, against a real server process
// with tokens on, the UI asks for a token, starts a signup run, shows its
// timeline reaching waiting, sends the email-confirmed signal, and shows the
// run completed, without loading the page again. Then the runs and modules
// pages show the runs, counted per status and per module version, on a
// desktop and on a phone.
func TestWebUIStartsASignupAndSignalsIt(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "5s")
	c.Start()
	c.Push(0, "signup")
	c.Push(0, "receipt")
	token := c.NewToken("write")
	b := newBrowser(t)
	const minute = time.Minute

	b.do("open the UI", chromedp.Navigate(c.Servers[0].URL+"/#/start?module=signup&workflow=signup"))
	b.waitFor("the token form", `!!document.querySelector('#token-form')`, minute)
	b.do("enter the token", chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#token-form button[type=submit]")))
	b.waitFor("the start form, with the signup workflow chosen",
		`document.querySelector('#start-module')?.value === 'signup' && document.querySelector('#start-workflow')?.value === 'signup'`, minute)
	// A reload would lose this mark.
	b.do("mark the document", chromedp.Evaluate[chromedp.Void](`window.wasmflowTestMark = 'loaded once'`))

	b.do("start the run", chromedp.SetValue(chromedp.CSS("#start-input"), `{"email": "ada@example.com"}`), chromedp.Click(chromedp.CSS("#start-submit")))
	b.waitFor("the run page", `/^#\/runs\/[0-9a-f-]{36}$/.test(location.hash)`, minute)
	id := eval[string](b, `location.hash.slice('#/runs/'.length)`)

	b.waitFor("the timeline to reach waiting, with the awaited signal offered",
		shownStatus+` === 'waiting' && !!document.querySelector('#timeline li[data-type="run_suspended"]') &&
		document.querySelector('#signal-name').value === 'email-confirmed'`, minute)
	if r := c.Get(0, id); r.Status != "waiting" {
		t.Fatalf("the UI shows run %s waiting; the API says %s", id, r.Status)
	}
	b.screenshot("ui-signup-waiting.png")

	// The signal is sent with the keyboard alone.
	b.do("send the signal", chromedp.Focus(chromedp.CSS("#signal-payload")), chromedp.KeyEvent(`{"token": "t-1"}`),
		chromedp.Focus(chromedp.CSS("#send-signal")), chromedp.KeyEvent(kb.Enter))
	b.waitFor("the run to complete",
		shownStatus+` === 'completed' && !!document.querySelector('#timeline li[data-type="signal_received"]') &&
		!!document.querySelector('#timeline li[data-type="run_completed"]') &&
		!!document.querySelector('table.steps tr[data-step="activate"][data-status="completed"]') &&
		(document.querySelector('#run-output')?.textContent ?? '').includes('"confirmed": true')`, minute)
	if mark := eval[string](b, `window.wasmflowTestMark ?? 'gone'`); mark != "loaded once" {
		t.Fatalf("the page was loaded again: its mark is %q", mark)
	}
	r, evs := c.WaitFor(0, id, minute, "completed", func(r run, _ []event) bool { return r.Status == "completed" })
	if !strings.Contains(string(r.Output), `"confirmed":true`) {
		t.Fatalf("output %s", r.Output)
	}
	// The activations table names the process of each activation.
	owners := activations(t, evs)
	shown := eval[[]string](b, `[...document.querySelectorAll('table.activations code.owner')].map((e) => e.textContent)`)
	if len(owners) < 2 || !slices.Equal(shown, owners) {
		t.Fatalf("activations shown %v, want the owners of the activation_started events %v (at least 2: before and after the signal)", shown, owners)
	}
	// And how each began: from the image, then where the guest parked.
	var kinds []string
	for _, s := range starts(t, evs) {
		kinds = append(kinds, s.Start)
	}
	shownKinds := eval[[]string](b, `[...document.querySelectorAll('table.activations tbody tr')].map((tr) => tr.cells[3].textContent)`)
	if !slices.Equal(shownKinds, kinds) || kinds[0] != "image" {
		t.Errorf("activations shown starting %v, want %v as the events say (the first from the image)", shownKinds, kinds)
	}
	b.screenshot("ui-signup-completed.png")
	b.docScreenshot("ui-run.png")
	b.onPhone("ui-run-phone.png")

	// A second version of signup (the same workflow, written in Rust), and
	// more runs for the list: one completed, one failed, one waiting.
	c.Client(0).JSON(t, "POST", "/v1/modules?name=signup&version=2", testmodules.Bytes(t, "rust/signup"), http.StatusCreated, nil)
	write := &proctest.Client{URL: c.Servers[0].URL, Token: token}
	write.JSON(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "receipt", "workflow": "receipt",
		"input": map[string]any{"order_id": "A-1001", "amount_cents": 4200, "email": "ada@example.com"}}, 201, nil)
	failing := c.StartRun(0, "signup", "signup", map[string]any{"email": "bob@example.com", "fail_email": true})
	var waiting run
	write.JSON(t, "POST", "/v1/runs?wait=20s", map[string]any{"module": "signup", "workflow": "signup",
		"input": map[string]any{"email": "eve@example.com"}, "idempotency_key": "signup-eve"}, 201, &waiting)
	c.WaitFor(0, failing, minute, "failed", func(r run, _ []event) bool { return r.Status == "failed" })

	b.open("#/runs")
	count := func(s string) string {
		return fmt.Sprintf(`document.querySelector('.statuses [data-status="%s"] .count')?.textContent`, s)
	}
	b.waitFor("the runs, counted per status",
		`document.querySelectorAll('table.runs tbody tr').length === 4 && `+count("")+` === '4' && `+count("completed")+` === '2' && `+
			count("failed")+` === '1' && `+count("waiting")+` === '1' && `+count("running")+` === '0'`, minute)
	b.docScreenshot("ui-runs.png")
	b.screenshot("ui-runs.png")

	b.do("filter the waiting runs", chromedp.Click(chromedp.CSS(`.statuses [data-status="waiting"]`)))
	b.waitFor("only the waiting run", fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll('table.runs tbody tr')];
		return rows.length === 1 && rows[0].dataset.runId === %q && location.hash === '#/runs?status=waiting';
	})()`, waiting.ID), minute)

	// "/" jumps to the search; the idempotency key finds its run.
	b.do("search by idempotency key", chromedp.KeyEvent("/"))
	if focused := eval[string](b, `document.activeElement.id`); focused != "q" {
		t.Fatalf("after /, the focus is on %q, want the search field", focused)
	}
	b.do("type the key", chromedp.KeyEvent("signup-eve"+kb.Enter))
	b.waitFor("the run with that idempotency key", fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll('table.runs tbody tr')];
		return location.hash === '#/runs?q=signup-eve' && document.querySelector('.summary').textContent.includes('“signup-eve”') &&
			rows.length === 1 && rows[0].dataset.runId === %q;
	})()`, waiting.ID), minute)
	b.onPhone("ui-runs-phone.png")

	b.open("#/modules")
	runs := func(module, version, want string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('section.module[data-module="%s"] tr[data-version="%s"] .run-counts a')].map((a) => a.textContent.trim()).join(', ') === %q`,
			module, version, want)
	}
	b.waitFor("the runs per module version", runs("signup", "1", "1 run, completed 1")+" && "+
		runs("signup", "2", "2 runs, waiting 1, failed 1")+" && "+runs("receipt", "1", "1 run, completed 1"), minute)
	b.docScreenshot("ui-modules.png")
	b.screenshot("ui-modules.png")
	b.onPhone("ui-modules-phone.png")
}

// onPhone checks that the page fits a phone's width, without scrolling
// sideways, and saves a screenshot of it.
func (b *browser) onPhone(name string) {
	b.t.Helper()
	b.do("a phone's screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.waitFor("the page to fit a phone's width", `document.documentElement.scrollWidth <= window.innerWidth`, 10*time.Second)
	b.screenshot(name)
	b.do("back to the desktop", chromedp.EmulateViewport(desktopWidth, desktopHeight))
}

// Must show 2 (web UI): an effect made uncertain by a crash between its
// start and its outcome is counted by wasmflow_effects_uncertain_total and
// stands out on the run page, with its idempotency key.
func TestWebUIHighlightsAnUncertainEffect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "wasmflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(ctx, &host.Config{
		Store: st, LeaseDuration: time.Second, PollInterval: 50 * time.Millisecond,
		Hooks:  flowtest.CrashBeforeEffectEnd("effects", "first"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := api.New(h, &api.Config{Auth: api.NoAuth})
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		app.ShutdownWithTimeout(5 * time.Second)
		<-served
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		h.Shutdown(sctx)
		h.Close(ctx)
		st.Close()
	})
	if _, _, err := h.PushModule(ctx, &host.PushModuleParams{Name: "faults", Wasm: testmodules.Bytes(t, "faults")}); err != nil {
		t.Fatal(err)
	}
	client := &proctest.Client{URL: "http://" + ln.Addr().String()}

	var r run
	client.JSON(t, "POST", "/v1/runs", map[string]any{"module": "faults", "workflow": "effects"}, http.StatusCreated, &r)
	poll.Until(t, time.Minute, func() error {
		if r.Status == "failed" {
			t.Fatalf("run %s: %s %v, want completed", r.ID, r.Status, r.Error)
		}
		if r.Status != "completed" {
			client.JSON(t, "GET", "/v1/runs/"+r.ID, nil, http.StatusOK, &r)
			return fmt.Errorf("run %s is %s, want completed", r.ID, r.Status)
		}
		return nil
	})
	var body struct{ Events []event }
	client.JSON(t, "GET", "/v1/runs/"+r.ID+"/events", nil, http.StatusOK, &body)
	var keys []string
	for _, e := range body.Events {
		if e.Type == "effect_uncertain" {
			var d struct{ Key string }
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, d.Key)
		}
	}
	if len(keys) != 1 || keys[0] == "" {
		t.Fatalf("effect_uncertain keys %v, want one", keys)
	}
	key := keys[0]

	status, metrics := client.Do(t, "GET", "/metrics", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	if n := metricSum(t, string(metrics), "wasmflow_effects_uncertain_total"); n != 1 {
		t.Fatalf("wasmflow_effects_uncertain_total adds up to %v, want 1:\n%s", n, metrics)
	}

	b := newBrowser(t)
	b.do("open the run page", chromedp.Navigate(client.URL+"/#/runs/"+r.ID))
	b.waitFor("the uncertain effect, highlighted, with its idempotency key", fmt.Sprintf(`(() => {
		const rows = [...document.querySelectorAll('table.effects tbody tr')];
		const bad = rows.filter((tr) => tr.classList.contains('uncertain'));
		const ok = rows.filter((tr) => !tr.classList.contains('uncertain'));
		if (rows.length !== 2 || bad.length !== 1 || ok.length !== 1) return false;
		const row = bad[0];
		return row.dataset.key === %[1]q && row.textContent.includes(%[1]q) && row.textContent.includes('uncertain') &&
			getComputedStyle(row).backgroundColor !== getComputedStyle(ok[0]).backgroundColor &&
			!!document.querySelector('.warning') &&
			[...document.querySelectorAll('#timeline li.uncertain[data-type="effect_uncertain"]')].some((li) => li.textContent.includes(%[1]q));
	})()`, key), time.Minute)
	b.screenshot("ui-uncertain-effect.png")
}

// metricSum adds up the samples of a metric in Prometheus' text format.
func metricSum(t *testing.T, text, name string) float64 {
	t.Helper()
	sum, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum, found = sum+v, true
	}
	if !found {
		t.Fatalf("no %s in the metrics:\n%s", name, text)
	}
	return sum
}

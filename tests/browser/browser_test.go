package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// browser is a headless Chromium tab that a test drives with chromedp.
// Exceptions and console.error calls of the page fail the test.
type browser struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

// chromiumPath finds Debian's chromium. The web UI tests need it and do not
// skip without it: scripts/test.sh installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the web UI tests need headless Chromium, and there is no chromium on PATH: " +
		"install Debian's package (apt-get install chromium), as scripts/test.sh does")
	return ""
}

// The size of the page on a desktop: the width the UI must be readable at.
const desktopWidth, desktopHeight = 1280, 1000

// newBrowser starts headless Chromium with a page of desktopWidth ×
// desktopHeight. It stops when the test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute)
	b := &browser{t: t, ctx: ctx}
	messages := chromedp.Console(ctx) // starts the browser
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			// Failed requests (a 401 before the token, a 404 of a search)
			// are logged by the browser itself, with a Source; the page's
			// own errors are not.
			if m.Type == chromedp.ConsoleException || (m.Type == chromedp.ConsoleError && m.Source == "") {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		for _, p := range b.problems {
			t.Errorf("the page logged %s", p)
		}
		b.mu.Unlock()
		cancelTime()
		cancelTab()
		cancelAlloc()
		<-done
	})
	b.do("size the page", chromedp.EmulateViewport(desktopWidth, desktopHeight))
	return b
}

// do runs actions, failing the test with a screenshot when one fails.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}

// waitFor waits until the JavaScript expression is true in the page.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if errors.Is(err, chromedp.ErrPollingTimeout) {
		err = fmt.Errorf("not within %s", timeout)
	}
	if err != nil {
		b.fail(what, err)
	}
}

// open shows a page of the UI by its fragment, as a link does: without
// loading the document again.
func (b *browser) open(fragment string) {
	b.t.Helper()
	b.do("open "+fragment, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", fragment)))
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 10*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		b.save(strings.ReplaceAll(b.t.Name(), "/", "_")+"-failure.png", png)
	}
	b.t.Fatalf("%s: %v\npage:\n%s", what, err, text)
}

// screenshot saves a screenshot of the whole page as a test artifact.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	b.save(name, png)
}

// docScreenshot saves a screenshot of the window to docs/NAME for the README
// when WASMFLOW_UPDATE_SCREENSHOTS=1.
func (b *browser) docScreenshot(name string) {
	b.t.Helper()
	if os.Getenv("WASMFLOW_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	b.do("hide messages", chromedp.Evaluate[chromedp.Void](`document.getElementById('toast').className = 'toast'`), chromedp.Sleep(300*time.Millisecond))
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	root, err := testmodules.Root()
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(root, "docs", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("README screenshot: %s", path)
}

// save writes a test artifact to $WASMFLOW_TEST_ARTIFACTS, or to
// tests/artifacts (ignored by git).
func (b *browser) save(name string, data []byte) {
	b.t.Helper()
	dir := os.Getenv("WASMFLOW_TEST_ARTIFACTS")
	if dir == "" {
		root, err := testmodules.Root()
		if err != nil {
			b.t.Error(err)
			return
		}
		dir = filepath.Join(root, "tests", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Error(err)
		return
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Error(err)
		return
	}
	b.t.Logf("artifact: %s", path)
}

// Package ui is wasmflow's web UI: a few static files, embedded in the
// binary, that show and act on modules and runs through the public REST API
// and its event stream alone. They are plain HTML, CSS and JavaScript
// modules: no build step, nothing loaded from elsewhere.
//
// The pages are served without a token, as they hold no data; the data
// comes from the API, which asks the browser for a token when auth is on.
package ui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

//go:embed assets
var assets embed.FS

// file is an embedded file, ready to send.
type file struct {
	body  []byte
	ctype string
	etag  string
}

// files are the embedded files by name.
var files = load()

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

func load() map[string]*file {
	out := map[string]*file{}
	entries, err := fs.ReadDir(assets, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := assets.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(body)
		out[e.Name()] = &file{body: body, ctype: contentTypes[path.Ext(e.Name())], etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return out
}

// csp lets the pages load their own files and talk to their own origin only.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// Index serves the UI's single page (GET /); the pages are routed in the
// browser, by the URL's fragment (#/runs, #/runs/ID, #/modules, #/start).
func Index(c *fiber.Ctx) error {
	return send(c, files["index.html"])
}

// Asset serves one of the UI's files (GET /ui/{file}).
func Asset(c *fiber.Ctx) error {
	f, ok := files[c.Params("file")]
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "the web UI has no file "+c.Params("file"))
	}
	return send(c, f)
}

func send(c *fiber.Ctx, f *file) error {
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	// Revalidate on every load, so that a new binary's UI shows at once;
	// the ETag makes that a 304 without a body.
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, f.etag)
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && strings.Contains(inm, f.etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, f.ctype)
	return c.Send(f.body)
}

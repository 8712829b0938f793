package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
)

// disconnectPoll is how often a request that is still being handled checks
// whether its client has gone away.
const disconnectPoll = 250 * time.Millisecond

// requestContext is the middleware that gives each request a context, as
// its UserContext, that ends when the handler returns, when the client
// closes its connection, or when the server shuts down; handlers pass it to
// the host, so that a long call (POST /v1/runs?wait=) stops when nobody
// waits for its answer any more.
func requestContext(c *fiber.Ctx) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Read now: c and its fasthttp context belong to another request once
	// the handler has returned.
	shutdown, gone := c.Context().Done(), disconnected(c.Context().Conn())
	go func() {
		tick := time.NewTicker(disconnectPoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-shutdown:
				cancel()
				return
			case <-tick.C:
				if gone() {
					cancel()
					return
				}
			}
		}
	}()
	c.SetUserContext(ctx)
	return c.Next()
}

// param returns the path parameter name URL-decoded (fiber gives it as it
// is in the URL).
func param(c *fiber.Ctx, name string) (string, error) {
	raw := c.Params(name)
	s, err := url.PathUnescape(raw)
	if err != nil {
		return "", apiError(host.ErrInvalid, "the path parameter "+name+" is not validly URL-encoded: "+strconv.Quote(raw))
	}
	return strings.Clone(s), nil // raw is a view of fasthttp's buffer
}

// decodeBody decodes a request body that must be a JSON object into v, a
// pointer to a struct, and refuses what encoding/json lets through: bytes
// that are not UTF-8 (it would turn them into U+FFFD), a member that is not
// a field of v (encoding/json ignores it, or matches it without regard to
// case), a member given twice, and anything after the object.
func decodeBody(body []byte, v any) error {
	if !utf8.Valid(body) {
		return apiError(host.ErrInvalidJSON, "request body is not valid UTF-8")
	}
	if !json.Valid(body) {
		err := json.Unmarshal(body, new(any))
		msg := "request body is not valid JSON"
		if err != nil {
			msg += ": " + err.Error()
		}
		return apiError(host.ErrInvalidJSON, msg)
	}
	fields := jsonFields(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		return apiError(host.ErrInvalid, "request body must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return apiError(host.ErrInvalidJSON, "request body is not valid JSON: "+err.Error())
		}
		key := tok.(string)
		switch {
		case !fields[key]:
			return apiError(host.ErrInvalid, "request body has an unknown field "+strconv.Quote(key)+" (known fields: "+strings.Join(sortedKeys(fields), ", ")+")")
		case seen[key]:
			return apiError(host.ErrInvalid, "request body has the field "+strconv.Quote(key)+" twice")
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return apiError(host.ErrInvalidJSON, "request body is not valid JSON: "+err.Error())
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return apiError(host.ErrInvalidJSON, "request body is not valid JSON: "+err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiError(host.ErrInvalidJSON, "request body has more after its JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return apiError(host.ErrInvalid, "request body is not a valid request: "+err.Error())
	}
	return nil
}

// jsonFields returns the JSON member names of struct type t.
func jsonFields(t reflect.Type) map[string]bool {
	fields := map[string]bool{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = true
	}
	return fields
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package api_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmflow/wasmflow/abi"
)

// TestOpenAPIMatchesRouter keeps openapi.json in step with the routes New
// registers: every route is described, and every described operation is
// served.
func TestOpenAPIMatchesRouter(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	spec := openAPISpec(t, b)

	var paths map[string]map[string]json.RawMessage
	if err := json.Unmarshal(spec["paths"], &paths); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for path, item := range paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				described[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	served := map[string]bool{}
	for _, r := range b.app.GetRoutes(true) {
		if r.Method == "HEAD" { // fiber adds HEAD to every GET
			continue
		}
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	if len(served) < 10 {
		t.Fatalf("only %d routes served: %v", len(served), served)
	}
	for op := range served {
		if !described[op] {
			t.Errorf("%s is served but not in openapi.json", op)
		}
	}
	for op := range described {
		if !served[op] {
			t.Errorf("%s is in openapi.json but not served", op)
		}
	}
}

// openPaths are the paths served without a token: liveness, and the web
// UI's static files (which hold no data).
var openPaths = map[string]bool{"/healthz": true, "/": true, "/ui/{file}": true}

// TestOpenAPIIsComplete checks the document's shape: every $ref resolves,
// every operation has an id, its path parameters, and error answers in the
// Error schema, and only openPaths are open without a token.
func TestOpenAPIIsComplete(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	spec := openAPISpec(t, b)
	var doc any
	raw, _ := json.Marshal(spec)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if v := string(spec["openapi"]); !strings.HasPrefix(v, `"3.1`) {
		t.Fatalf("openapi %s, want 3.1.x", v)
	}

	refs := 0
	walk(doc, func(ref string) {
		refs++
		if _, err := resolve(doc, ref); err != nil {
			t.Errorf("$ref %s: %v", ref, err)
		}
	})
	if refs < 20 {
		t.Fatalf("only %d $refs: is the document complete?", refs)
	}

	var global []map[string][]string
	if err := json.Unmarshal(spec["security"], &global); err != nil || len(global) != 1 || global[0]["bearer"] == nil {
		t.Fatalf("global security %s: want [{bearer: []}] (%v)", spec["security"], err)
	}
	if _, err := resolve(doc, "#/components/securitySchemes/bearer"); err != nil {
		t.Fatal(err)
	}

	paths := doc.(map[string]any)["paths"].(map[string]any)
	ids := map[string]bool{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range paths {
		for method, o := range item.(map[string]any) {
			op := o.(map[string]any)
			name := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s: operationId %q is missing or not unique", name, id)
			}
			ids[id] = true
			sec, open := op["security"]
			if isOpen := open && len(sec.([]any)) == 0; isOpen != openPaths[path] {
				t.Errorf("%s: open without a token: %v", name, isOpen)
			}
			var params []string
			for _, p := range asSlice(op["parameters"]) {
				p := deref(t, doc, p)
				if p["in"] == "path" {
					params = append(params, p["name"].(string))
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !slices.Contains(params, m[1]) {
					t.Errorf("%s: path parameter %s is not described", name, m[1])
				}
			}
			responses := op["responses"].(map[string]any)
			for code, r := range responses {
				n, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("%s: response %q is not a status", name, code)
					continue
				}
				if n < 400 {
					continue
				}
				schema := fmt.Sprint(deref(t, doc, r)["content"])
				if !strings.Contains(schema, "#/components/schemas/Error") {
					t.Errorf("%s: response %s is not an Error body", name, code)
				}
			}
			if !openPaths[path] && (responses["401"] == nil || responses["403"] == nil) {
				t.Errorf("%s: no 401 and 403 answers", name)
			}
		}
	}
}

// openAPISpec fetches GET /v1/openapi.json and checks it is the embedded
// document.
func openAPISpec(t *testing.T, b *testBundle) map[string]json.RawMessage {
	t.Helper()
	var spec map[string]json.RawMessage
	r := b.do(t, "GET", "/v1/openapi.json", nil)
	r.expect(t, 200, &spec)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	return spec
}

func walk(v any, ref func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				ref(s)
				continue
			}
			walk(x, ref)
		}
	case []any:
		for _, x := range v {
			walk(x, ref)
		}
	}
}

// resolve follows a local JSON pointer reference ("#/a/b").
func resolve(doc any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("not a local reference")
	}
	cur := doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q is not in an object", tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("no %q", tok)
		}
	}
	return cur, nil
}

// deref returns the object v, following its $ref if it has one.
func deref(t *testing.T, doc, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%v is not an object", v)
	}
	if ref, ok := m["$ref"].(string); ok {
		target, err := resolve(doc, ref)
		if err != nil {
			t.Fatal(err)
		}
		return deref(t, doc, target)
	}
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// TestOpenAPINamesAreTheABIGrammar keeps the name patterns of openapi.json
// in step with abi.CheckModuleName and abi.CheckName (ABI.md section 3.1).
func TestOpenAPINamesAreTheABIGrammar(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var schemas map[string]struct {
		Pattern   string `json:"pattern"`
		MaxLength int    `json:"maxLength"`
	}
	var components struct {
		Schemas json.RawMessage `json:"schemas"`
	}
	if err := json.Unmarshal(openAPISpec(t, b)["components"], &components); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(components.Schemas, &schemas); err != nil {
		t.Fatal(err)
	}
	for schema, check := range map[string]func(string) error{"ModuleName": abi.CheckModuleName, "Name": abi.CheckName} {
		s := schemas[schema]
		// JSON Schema's \uXXXX escapes are Go's \x{XXXX}.
		re, err := regexp.Compile(regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`).ReplaceAllString(s.Pattern, `\x{$1}`))
		if err != nil {
			t.Fatalf("%s: pattern %q: %v", schema, s.Pattern, err)
		}
		for _, name := range []string{"receipt", "signup", "1.0.0-rc.1", "a..b", "a.", "..", "/abs", "a/b", "café", "a b", "a\x00b", "a\nb", "a\u0085b", "_x", "email confirmed"} {
			if valid := re.MatchString(name) && len(name) <= s.MaxLength; valid != (check(name) == nil) {
				t.Errorf("%s: %q matches the pattern %v, but the ABI's check says %v", schema, name, valid, check(name))
			}
		}
	}
}

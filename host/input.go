package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/wasmflow/wasmflow/abi"
)

// The rules about inputs live here, at the boundary of the host's Go API,
// so that the HTTP layer and the CLI share them: a name, an id, a filter or
// a payload the stores could not keep faithfully is ErrInvalid before it
// reaches a store.

// checkName checks a workflow, step, effect, timer or signal name (ABI.md
// section 3.1).
func checkName(what, s string) error {
	if err := abi.CheckName(s); err != nil {
		return errorf(ErrInvalid, "%s %s %v", what, quote(s), err)
	}
	return nil
}

// checkModuleName checks a module name or a module version (ABI.md
// section 3.1).
func checkModuleName(what, s string) error {
	if err := abi.CheckModuleName(s); err != nil {
		return errorf(ErrInvalid, "%s %s %v", what, quote(s), err)
	}
	return nil
}

// checkOptional checks s with check unless it is empty.
func checkOptional(check func(what, s string) error, what, s string) error {
	if s == "" {
		return nil
	}
	return check(what, s)
}

// quote shows a name in a message: Go-quoted, so that bytes that are not
// UTF-8 and control characters are visible, and cut when it is long.
func quote(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q… (%d bytes)", s[:64], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// validRunID reports whether id can be the id of a run: the host names runs
// with UUIDs, in their 36-character form.
func validRunID(id string) bool {
	if len(id) != 36 {
		return false
	}
	_, err := uuid.Parse(id)
	return err == nil
}

// checkJSON checks a JSON payload: valid JSON, and valid UTF-8 (which
// encoding/json does not insist on, and Postgres does).
func checkJSON(what string, b []byte) error {
	if !utf8.Valid(b) {
		return errorf(ErrInvalid, "%s is not valid UTF-8", what)
	}
	if !json.Valid(b) {
		return errorf(ErrInvalidJSON, "%s is not valid JSON", what)
	}
	return nil
}

// sameJSON reports whether two JSON documents hold the same value: objects
// with the same members in any order, arrays with the same elements in
// order, numbers of equal value (1, 1.0 and 1e0 are equal), equal strings,
// booleans and nulls. Whitespace and key order do not matter, as a store
// may keep neither.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	va, err := decodeJSON(a)
	if err != nil {
		return false
	}
	vb, err := decodeJSON(b)
	if err != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// decodeJSON decodes a JSON value with its numbers as exact rationals, so
// that reflect.DeepEqual compares them by value.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return exactNumbers(v), nil
}

// exactNumber is a JSON number in big.Rat's exact form: a type of its own,
// so that it never equals a string.
type exactNumber string

func exactNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(v))
		if !ok {
			return exactNumber(v)
		}
		return exactNumber(r.RatString())
	case map[string]any:
		for k, x := range v {
			v[k] = exactNumbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = exactNumbers(x)
		}
	}
	return v
}

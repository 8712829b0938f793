package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

var typeOfStartRunRequest = reflect.TypeFor[StartRunRequest]()

// FuzzDecodeBody: decoding a run request never panics, refuses with a 400
// whatever it refuses, and accepts only bodies whose every member is a
// field of StartRunRequest.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"module":"receipt","workflow":"receipt","input":{"a":1}}`,
		`{"module":"receipt","workflow":"receipt","inptu":{}}`,
		`{"Module":"receipt"}`,
		`{"module":"a","module":"b"}`,
		`{"idempotency_key":"\u0000"}`,
		`[1]`, `"x"`, `null`, ``, `{} {}`, "{\"input\":\"\xff\"}", `{"input":{"module":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req StartRunRequest
		err := decodeBody(body, &req)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != 400 {
				t.Fatalf("decodeBody(%q) = %v, want a 400", body, err)
			}
			return
		}
		var members map[string]json.RawMessage
		if json.Unmarshal(body, &members) != nil {
			t.Fatalf("decodeBody accepted %q, which is not a JSON object", body)
		}
		fields := jsonFields(typeOfStartRunRequest)
		for k := range members {
			if !fields[k] {
				t.Fatalf("decodeBody accepted %q with the unknown member %q", body, k)
			}
		}
	})
}

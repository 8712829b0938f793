package abi_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/wasmflow/wasmflow/abi"
)

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		s     string
		valid bool
	}{
		{"a plain name is valid", "charge_payment", true},
		{"spaces and punctuation are valid", "email confirmed / ok?", true},
		{"UTF-8 beyond ASCII is valid", "café-☕", true},
		{"a real U+FFFD is valid", "\uFFFD", true},
		{"256 bytes are valid", strings.Repeat("n", 256), true},
		{"the empty name is refused", "", false},
		{"257 bytes are refused", strings.Repeat("n", 257), false},
		{"NUL is refused", "a\x00b", false},
		{"a newline is refused", "a\nb", false},
		{"DEL is refused", "a\x7fb", false},
		{"a C1 control character is refused", "a\u0085b", false},
		{"bytes that are not UTF-8 are refused", "\xff\xfe", false},
		{"an overlong encoding is refused", "\xc0\xaf", false},
		{"a cut UTF-8 sequence is refused", "caf\xc3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := abi.CheckName(tc.s)
			if (err == nil) != tc.valid {
				t.Fatalf("CheckName(%q) = %v, want valid %v", tc.s, err, tc.valid)
			}
		})
	}
}

// moduleNameRE is the regular expression CheckModuleName documents, and
// openapi.json and ABI.md repeat.
var moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)

func TestCheckModuleName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s     string
		valid bool
	}{
		{"receipt", true}, {"signup", true}, {"export", true}, {"bench", true}, {"fanout", true},
		{"faults", true}, {"steps-reordered", true}, {"My_Module.v2", true}, {"1", true}, {"1.0.0-rc.1", true},
		{"2024-01-01", true}, {"a.-b", true}, {"x-", true}, {strings.Repeat("m", 128), true},
		{"", false}, {strings.Repeat("m", 129), false}, {"..", false}, {".hidden", false}, {"/abs", false},
		{"a/b", false}, {"a/../../b", false}, {"../../etc/passwd", false}, {"a..b", false}, {"a.", false},
		{"-a", false}, {"_a", false}, {"a b", false}, {"café", false}, {"a\x00b", false}, {"\xff\xfe", false},
		{"\xc0\xaf", false}, {"a\\b", false}, {"a:b", false}, {"a%20b", false},
	} {
		err := abi.CheckModuleName(tc.s)
		if (err == nil) != tc.valid {
			t.Errorf("CheckModuleName(%q) = %v, want valid %v", tc.s, err, tc.valid)
		}
		if re := moduleNameRE.MatchString(tc.s) && len(tc.s) <= abi.MaxModuleNameLen; re != (err == nil) {
			t.Errorf("CheckModuleName(%q) = %v, but the documented expression says valid %v", tc.s, err, re)
		}
	}
}

func FuzzCheckModuleName(f *testing.F) {
	for _, s := range []string{"receipt", "a..b", "1.0.0-rc.1", "/abs", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := abi.CheckModuleName(s)
		if want := moduleNameRE.MatchString(s) && len(s) <= abi.MaxModuleNameLen; want != (err == nil) {
			t.Fatalf("CheckModuleName(%q) = %v, the documented expression says valid %v", s, err, want)
		}
		if err == nil && abi.CheckName(s) != nil {
			t.Fatalf("module name %q is not a valid name", s)
		}
	})
}

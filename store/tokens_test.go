package store

import "testing"

func TestTokenScopeAllows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scope, required TokenScope
		want            bool
	}{
		{ScopeAdmin, ScopeAdmin, true},
		{ScopeAdmin, ScopeWrite, true},
		{ScopeAdmin, ScopeRead, true},
		{ScopeWrite, ScopeAdmin, false},
		{ScopeWrite, ScopeWrite, true},
		{ScopeWrite, ScopeRead, true},
		{ScopeRead, ScopeAdmin, false},
		{ScopeRead, ScopeWrite, false},
		{ScopeRead, ScopeRead, true},
		{"root", ScopeRead, false},
		{ScopeAdmin, "", false},
	} {
		if got := tc.scope.Allows(tc.required); got != tc.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tc.scope, tc.required, got, tc.want)
		}
	}
}

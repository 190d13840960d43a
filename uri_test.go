package accessgrants

import "testing"

func TestScopeCovers(t *testing.T) {
	for _, tc := range []struct {
		scope, target string
		want          bool
	}{
		{"s3://b/p/*", "s3://b/p/x.txt", true},
		{"s3://b/p/*", "s3://b/p/", true},
		{"s3://b/p/*", "s3://b/p/sub/*", true},
		{"s3://b/p/*", "s3://b/p*", false},
		{"s3://b/p*", "s3://b/pq.txt", true},
		{"s3://b/k", "s3://b/k", true},
		{"s3://b/k", "s3://b/k2", false},
		{"s3://b/*", "s3://bc/x", false},
	} {
		if got := ScopeCovers(tc.scope, tc.target); got != tc.want {
			t.Errorf("ScopeCovers(%q, %q) = %v", tc.scope, tc.target, got)
		}
	}
}

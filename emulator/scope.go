package emulator

import (
	"fmt"
	"strings"
)

// parseLocationScope validates a location scope ("s3://", "s3://bucket" or
// "s3://bucket/prefix") and returns its bucket, "" for the default
// location.
func parseLocationScope(scope string) (bucket string, err error) {
	rest, ok := strings.CutPrefix(scope, "s3://")
	if !ok {
		return "", fmt.Errorf("location scope %q does not start with s3://", scope)
	}
	if strings.Contains(rest, "*") {
		return "", fmt.Errorf("location scope %q may not contain *", scope)
	}
	if rest == "" {
		return "", nil
	}
	bucket, prefix, hasPrefix := strings.Cut(rest, "/")
	if !bucketPattern.MatchString(bucket) || strings.Contains(bucket, "..") {
		return "", fmt.Errorf("location scope %q does not name a valid bucket", scope)
	}
	if hasPrefix && prefix == "" {
		return "", fmt.Errorf("location scope %q ends with an empty prefix", scope)
	}
	return bucket, nil
}

// grantScope joins a location scope and a grant's sub-prefix as the service
// does: directly after "s3://" for the default location, which then must
// name at least a bucket; with one "/" after a bucket or prefix location.
// An empty sub-prefix grants the whole location ("s3://bucket/*").
func grantScope(locationScope, subPrefix string) (string, error) {
	if _, err := parseLocationScope(locationScope); err != nil {
		return "", err
	}
	if strings.HasPrefix(subPrefix, "/") {
		return "", fmt.Errorf("sub-prefix %q may not start with /", subPrefix)
	}
	if i := strings.IndexByte(subPrefix, '*'); i >= 0 && i != len(subPrefix)-1 {
		return "", fmt.Errorf("sub-prefix %q may contain * only at its end", subPrefix)
	}
	if locationScope == "s3://" {
		bucket, _, _ := strings.Cut(strings.TrimSuffix(subPrefix, "*"), "/")
		if !bucketPattern.MatchString(bucket) || strings.Contains(bucket, "..") {
			return "", fmt.Errorf("a grant on the default location s3:// must name a bucket in its sub-prefix, not %q", subPrefix)
		}
		if !strings.Contains(subPrefix, "/") {
			// "s3://bucket" alone names the whole bucket.
			return "s3://" + strings.TrimSuffix(subPrefix, "*") + "/*", nil
		}
		return "s3://" + subPrefix, nil
	}
	if subPrefix == "" {
		return locationScope + "/*", nil
	}
	return locationScope + "/" + subPrefix, nil
}

// scopeCovers reports whether a grant or credential scope covers a target,
// as service.md defines: a scope ending in * covers every target whose text,
// its own trailing * removed, starts with the scope's text before the *; a
// scope without * covers only the identical target.
func scopeCovers(scope, target string) bool {
	if base, ok := strings.CutSuffix(scope, "*"); ok {
		return strings.HasPrefix(strings.TrimSuffix(target, "*"), base)
	}
	return scope == target
}

// splitS3URI splits s3://bucket/rest into bucket and rest.
func splitS3URI(uri string) (bucket, rest string, ok bool) {
	s, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, rest, _ = strings.Cut(s, "/")
	return bucket, rest, bucket != ""
}

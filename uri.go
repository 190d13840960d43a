package accessgrants

import (
	"fmt"
	"strings"
)

// requestForURI maps an S3 URI given to Plugin.Credentials to a Request:
// s3://bucket and s3://bucket/ ask for the whole bucket (s3://bucket/*),
// a URI ending in * for that prefix, any other for one object.
func requestForURI(uri string, perm Permission) (Request, error) {
	if !perm.valid() {
		return Request{}, fmt.Errorf("permission %q is not READ, WRITE or READWRITE", perm)
	}
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return Request{}, fmt.Errorf("target %q is not an S3 URI (s3://bucket/key or s3://bucket/prefix*)", uri)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	bucket, err := checkBucket("Credentials", bucket)
	if err != nil {
		return Request{}, err
	}
	req := Request{Operation: "Credentials", Bucket: bucket, Permission: perm}
	switch {
	case key == "" || key == "*":
		req.Target = prefixTarget(bucket, "")
	case strings.HasSuffix(key, "*"):
		req.Target = "s3://" + bucket + "/" + key
	default:
		req.Target = objectTarget(bucket, key)
		req.TargetType = targetTypeObject
	}
	return req, nil
}

// ScopeCovers reports whether a grant scope (a MatchedGrantTarget) covers
// a target, as S3 Access Grants matches them: a scope ending in * covers
// every target whose text, its own trailing * removed, starts with the
// scope's text before the *; a scope without * covers only the identical
// target. s3://b/p/* covers s3://b/p/x.txt and s3://b/p/sub/*; s3://b/p*
// also covers s3://b/pq.txt.
func ScopeCovers(scope, target string) bool {
	if base, ok := strings.CutSuffix(scope, "*"); ok {
		return strings.HasPrefix(strings.TrimSuffix(target, "*"), base)
	}
	return scope == target
}

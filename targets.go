package accessgrants

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ErrUnsupported is wrapped by the error RequestFor returns for operations and
// buckets that Access Grants does not serve. Such requests are signed with the
// client's own credentials, whatever the fallback setting.
//
// Every other error from RequestFor (no input, no bucket, no key, a CopySource
// that cannot be parsed, a copy between two buckets) means the request itself
// is faulty; those errors do not wrap ErrUnsupported.
var ErrUnsupported = errors.New("not supported by S3 Access Grants")

// targetTypeObject is the TargetType of a target that names one object.
const targetTypeObject = "Object"

// Request is what one S3 operation needs from Access Grants.
type Request struct {
	// Operation is the SDK's name for the operation, e.g. "GetObject".
	Operation string
	// Bucket is the bucket the operation addresses (for copies, the
	// destination bucket, which is also the source bucket).
	Bucket string
	// Target is the S3 URI sent to GetDataAccess: "s3://bucket/key" for one
	// object, "s3://bucket/prefix*" for every key under a prefix.
	Target string
	// Permission is the permission the operation needs.
	Permission Permission
	// TargetType is "Object" when Target names one object, else "". The
	// plugin sends it only with PrivilegeMinimal. It also tells an object
	// whose key ends in "*" from a prefix: Target alone cannot.
	TargetType string
}

// RequestFor maps an S3 operation, named as the SDK names it (e.g.
// "GetObject"), and its typed input (e.g. a *s3.GetObjectInput from
// github.com/aws/aws-sdk-go-v2/service/s3) to the Request that the plugin
// makes of Access Grants. It is pure and cheap: no I/O, no reflection, and no
// allocation beyond the target string on success.
//
// Targets:
//
//   - Object operations: s3://bucket/key, the key exactly as given (not
//     URL-encoded), TargetType "Object".
//   - ListObjects, ListObjectsV2, ListObjectVersions, ListMultipartUploads:
//     s3://bucket/prefix*, or s3://bucket/* without a prefix.
//   - HeadBucket: s3://bucket/*.
//   - DeleteObjects: the object when all keys are the same, else
//     s3://bucket/lcp* where lcp is the longest common prefix of all keys
//     (see below).
//   - CopyObject, UploadPartCopy: as DeleteObjects over the source and
//     destination keys. CopySource must name the destination bucket.
//
// CopySource is the URL-encoded "bucket/key", with an optional leading "/"
// and "?versionId=..." suffix. The suffix is split off at the first literal
// "?" before decoding, so a "?" in the key must be sent as "%3F"; decoding
// reads "+" as a space, as S3 does, so a "+" in the key must be sent as "%2B"
// (url.QueryEscape does both). A source given as an ARN, or in a bucket of a
// kind listed below, is unsupported.
//
// The common prefix is taken byte by byte over all keys, so it is a prefix of
// every key whatever their order, and then shortened so that it does not end
// inside a multi-byte UTF-8 character: for keys that are valid UTF-8, as all S3
// keys are, it is the longest common prefix in whole characters, and the
// target stays valid UTF-8.
//
// The error wraps ErrUnsupported for an operation Access Grants does not serve
// and for buckets it does not serve: ARNs (access points, Multi-Region Access
// Points, Outposts, Object Lambda), S3 Express directory buckets (suffixes
// "--x-s3", "--xa-s3"), S3 Tables buckets ("--table-s3"), and access point
// aliases ("-s3alias", "--ol-s3", "--op-s3", ".mrap"). Those suffixes are
// reserved: no general purpose bucket, the only kind Access Grants locations
// can name, ends with one. Credentials vended for a bucket scope do not
// authorize requests made through an access point or alias either.
//
// A nil input, a nil pointer, an input of another operation's type, a missing
// bucket or key, an empty DeleteObjects, a CopySource that cannot be parsed and
// a copy between two buckets are errors that do not wrap ErrUnsupported.
func RequestFor(operation string, input any) (Request, error) {
	perm, ok := operationPermission(operation)
	if !ok {
		return Request{}, fmt.Errorf("accessgrants: operation %s is %w", operation, ErrUnsupported)
	}
	inputOp, in := inputOf(input)
	switch {
	case input == nil:
		return Request{}, fmt.Errorf("accessgrants: %s: no input", operation)
	case inputOp != operation:
		return Request{}, fmt.Errorf("accessgrants: %s: input is %T, want *s3.%sInput", operation, input, operation)
	case in.shape == shapeNone:
		return Request{}, fmt.Errorf("accessgrants: %s: input is a nil %T", operation, input)
	}

	bucket, err := checkBucket(operation, deref(in.bucket))
	if err != nil {
		return Request{}, err
	}
	req := Request{Operation: operation, Bucket: bucket, Permission: perm}

	switch in.shape {
	case shapeObject:
		key := deref(in.key)
		if key == "" {
			return Request{}, fmt.Errorf("accessgrants: %s: no key", operation)
		}
		req.Target, req.TargetType = objectTarget(bucket, key), targetTypeObject
	case shapePrefix:
		req.Target = prefixTarget(bucket, deref(in.prefix))
	case shapeBucket:
		req.Target = prefixTarget(bucket, "")
	case shapeKeys:
		req.Target, req.TargetType, err = deleteObjectsTarget(operation, bucket, in.objects)
	case shapeCopy:
		req.Target, req.TargetType, err = copyTarget(operation, bucket, deref(in.key), in.copySource)
	}
	if err != nil {
		return Request{}, err
	}
	return req, nil
}

// checkBucket returns bucket if Access Grants can serve it, and an error
// otherwise: one wrapping ErrUnsupported for the kinds of bucket Access Grants
// does not serve, a plain one for a missing or malformed name.
func checkBucket(operation, bucket string) (string, error) {
	if bucket == "" {
		return "", fmt.Errorf("accessgrants: %s: no bucket", operation)
	}
	if reason := unsupportedBucket(bucket); reason != "" {
		return "", fmt.Errorf("accessgrants: %s: bucket %q is %s, which is %w", operation, bucket, reason, ErrUnsupported)
	}
	// A slash would move the boundary between bucket and key in the target,
	// so that it no longer names what the request addresses.
	if strings.IndexByte(bucket, '/') >= 0 {
		return "", fmt.Errorf("accessgrants: %s: invalid bucket name %q", operation, bucket)
	}
	return bucket, nil
}

// unsupportedBucket says what kind of bucket Access Grants cannot serve bucket
// is, or returns "" when it names a general purpose bucket.
func unsupportedBucket(bucket string) string {
	switch {
	case strings.HasPrefix(bucket, "arn:"):
		return "an ARN (access point, Multi-Region Access Point, Outposts or Object Lambda)"
	case strings.HasSuffix(bucket, "--x-s3"), strings.HasSuffix(bucket, "--xa-s3"):
		return "an S3 Express directory bucket"
	case strings.HasSuffix(bucket, "--table-s3"):
		return "an S3 Tables bucket"
	case strings.HasSuffix(bucket, "-s3alias"), strings.HasSuffix(bucket, "--ol-s3"),
		strings.HasSuffix(bucket, "--op-s3"), strings.HasSuffix(bucket, ".mrap"):
		return "an access point alias"
	}
	return ""
}

// objectTarget returns the target naming one object.
func objectTarget(bucket, key string) string {
	return "s3://" + bucket + "/" + key
}

// prefixTarget returns the target naming every key that starts with prefix.
func prefixTarget(bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + "*"
}

// deleteObjectsTarget returns the target and target type covering every key
// of a DeleteObjects request.
func deleteObjectsTarget(operation, bucket string, objects []types.ObjectIdentifier) (target, targetType string, err error) {
	if len(objects) == 0 {
		return "", "", fmt.Errorf("accessgrants: %s: no objects to delete", operation)
	}
	var prefix string
	same := true // every key so far equals the first
	for i := range objects {
		// Index rather than copy: ObjectIdentifier is several words wide and
		// a request may hold a thousand of them.
		key := deref(objects[i].Key)
		if key == "" {
			return "", "", fmt.Errorf("accessgrants: %s: object %d has no key", operation, i)
		}
		if i == 0 {
			prefix = key
			continue
		}
		n := commonPrefixLen(prefix, key)
		if n != len(prefix) || n != len(key) {
			same = false
		}
		prefix = prefix[:n]
	}
	target, targetType = keysTarget(bucket, prefix, same)
	return target, targetType, nil
}

// copyTarget returns the target and target type of a copy within bucket, from
// its destination key and its CopySource.
func copyTarget(operation, bucket, key string, copySource *string) (target, targetType string, err error) {
	if key == "" {
		return "", "", fmt.Errorf("accessgrants: %s: no key", operation)
	}
	if copySource == nil || *copySource == "" {
		return "", "", fmt.Errorf("accessgrants: %s: no CopySource", operation)
	}
	srcBucket, srcKey, err := parseCopySource(*copySource)
	if err != nil {
		return "", "", fmt.Errorf("accessgrants: %s: %w", operation, err)
	}
	if reason := unsupportedBucket(srcBucket); reason != "" {
		return "", "", fmt.Errorf("accessgrants: %s: source bucket %q is %s, which is %w", operation, srcBucket, reason, ErrUnsupported)
	}
	if srcBucket != bucket {
		return "", "", fmt.Errorf("accessgrants: %s: source and destination bucket must be the same (source %q, destination %q)", operation, srcBucket, bucket)
	}
	n := commonPrefixLen(srcKey, key)
	target, targetType = keysTarget(bucket, key[:n], srcKey == key)
	return target, targetType, nil
}

// keysTarget returns the target for a set of keys whose common byte prefix is
// prefix: the object itself when all keys are the same, else the prefix,
// ending on a character boundary, followed by "*".
func keysTarget(bucket, prefix string, same bool) (target, targetType string) {
	if same {
		return objectTarget(bucket, prefix), targetTypeObject
	}
	return prefixTarget(bucket, trimPartialRune(prefix)), ""
}

// commonPrefixLen returns the length in bytes of the longest common prefix of
// a and b.
func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	// Keys that share the whole prefix found so far are the common case; the
	// runtime compares equal strings many bytes at a time.
	if a == b {
		return n
	}
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// trimPartialRune removes from the end of s a UTF-8 sequence that its lead
// byte announces as longer than what follows it, so that a prefix cut inside
// a multi-byte character ends before that character instead. A complete
// character, and any byte that is not valid UTF-8, is kept.
func trimPartialRune(s string) string {
	// The last sequence starts at most UTFMax-1 bytes before the end.
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if utf8.FullRuneInString(s[i:]) {
				return s
			}
			return s[:i]
		}
	}
	return s
}

// parseCopySource splits the CopySource of a copy, "bucket/key" with an
// optional leading "/" and an optional "?versionId=..." suffix, into the
// bucket and the decoded key.
//
// The version suffix is split off before decoding, at the first "?" of the
// raw value: S3 requires the key to be URL-encoded, so a "?" in the key
// arrives as "%3F" and decodes back into the key, while a literal "?" can
// only begin the query. Any query other than versionId is an error rather
// than a guess, since a bare "?" most likely belongs to a key its caller
// forgot to encode.
//
// The rest is decoded as a whole and then split at the first "/", as S3 does:
// clients that encode the whole value ("bucket%2Fkey") work too. Decoding
// turns "+" into a space, as S3 does for this header; the SDKs and the AWS
// CLI encode a "+" in a key as "%2B" and a space as "%20", for which both
// readings agree.
func parseCopySource(s string) (bucket, key string, err error) {
	path := s
	if i := strings.IndexByte(s, '?'); i >= 0 {
		if !strings.HasPrefix(s[i+1:], "versionId=") {
			return "", "", fmt.Errorf("invalid CopySource %q: unexpected query (only versionId is allowed; encode a ? in the key as %%3F)", s)
		}
		path = s[:i]
	}
	decoded, err := url.QueryUnescape(path)
	if err != nil {
		return "", "", fmt.Errorf("invalid CopySource %q: %w", s, err)
	}
	decoded = strings.TrimPrefix(decoded, "/")
	if strings.HasPrefix(decoded, "arn:") {
		// An access point, Outposts or Object Lambda ARN with its "/object/key"
		// suffix: there is no bucket name to compare.
		return "", "", fmt.Errorf("CopySource %q names an ARN (access point, Outposts or Object Lambda), which is %w", s, ErrUnsupported)
	}
	bucket, key, ok := strings.Cut(decoded, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("invalid CopySource %q: want bucket/key", s)
	}
	return bucket, key, nil
}

// deref returns *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

package accessgrants

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// deleteInput returns a DeleteObjects input for keys in bucket.
func deleteInput(bucket string, keys ...string) *s3.DeleteObjectsInput {
	objects := make([]types.ObjectIdentifier, len(keys))
	for i, k := range keys {
		objects[i].Key = aws.String(k)
	}
	return &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: objects}}
}

// copyObjectInput returns a CopyObject input copying source to key in bucket.
func copyObjectInput(bucket, key, source string) *s3.CopyObjectInput {
	return &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), CopySource: aws.String(source)}
}

// mustRequest calls RequestFor and fails the test on error.
func mustRequest(t *testing.T, operation string, input any) Request {
	t.Helper()
	req, err := RequestFor(operation, input)
	if err != nil {
		t.Fatalf("RequestFor(%s) error: %v", operation, err)
	}
	return req
}

func TestRequestForOperations(t *testing.T) {
	b, k := aws.String("bkt"), aws.String("dir/file.txt")
	obj := func(op string, p Permission) Request {
		return Request{Operation: op, Bucket: "bkt", Target: "s3://bkt/dir/file.txt", Permission: p, TargetType: "Object"}
	}
	list := func(op string) Request {
		return Request{Operation: op, Bucket: "bkt", Target: "s3://bkt/dir/*", Permission: PermissionRead}
	}
	p := aws.String("dir/")
	tests := []struct {
		op    string
		input any
		want  Request
	}{
		// READ
		{"GetObject", &s3.GetObjectInput{Bucket: b, Key: k}, obj("GetObject", PermissionRead)},
		{"HeadObject", &s3.HeadObjectInput{Bucket: b, Key: k}, obj("HeadObject", PermissionRead)},
		{"GetObjectAcl", &s3.GetObjectAclInput{Bucket: b, Key: k}, obj("GetObjectAcl", PermissionRead)},
		{"GetObjectAttributes", &s3.GetObjectAttributesInput{Bucket: b, Key: k}, obj("GetObjectAttributes", PermissionRead)},
		{"ListObjects", &s3.ListObjectsInput{Bucket: b, Prefix: p}, list("ListObjects")},
		{"ListObjectsV2", &s3.ListObjectsV2Input{Bucket: b, Prefix: p}, list("ListObjectsV2")},
		{"ListObjectVersions", &s3.ListObjectVersionsInput{Bucket: b, Prefix: p}, list("ListObjectVersions")},
		{"ListMultipartUploads", &s3.ListMultipartUploadsInput{Bucket: b, Prefix: p}, list("ListMultipartUploads")},
		{"ListParts", &s3.ListPartsInput{Bucket: b, Key: k, UploadId: aws.String("u")}, obj("ListParts", PermissionRead)},
		{"HeadBucket", &s3.HeadBucketInput{Bucket: b},
			Request{Operation: "HeadBucket", Bucket: "bkt", Target: "s3://bkt/*", Permission: PermissionRead}},
		// WRITE
		{"PutObject", &s3.PutObjectInput{Bucket: b, Key: k}, obj("PutObject", PermissionWrite)},
		{"PutObjectAcl", &s3.PutObjectAclInput{Bucket: b, Key: k}, obj("PutObjectAcl", PermissionWrite)},
		{"DeleteObject", &s3.DeleteObjectInput{Bucket: b, Key: k}, obj("DeleteObject", PermissionWrite)},
		{"DeleteObjects", deleteInput("bkt", "dir/a", "dir/b"),
			Request{Operation: "DeleteObjects", Bucket: "bkt", Target: "s3://bkt/dir/*", Permission: PermissionWrite}},
		{"CreateMultipartUpload", &s3.CreateMultipartUploadInput{Bucket: b, Key: k}, obj("CreateMultipartUpload", PermissionWrite)},
		{"UploadPart", &s3.UploadPartInput{Bucket: b, Key: k, PartNumber: aws.Int32(1)}, obj("UploadPart", PermissionWrite)},
		{"CompleteMultipartUpload", &s3.CompleteMultipartUploadInput{Bucket: b, Key: k}, obj("CompleteMultipartUpload", PermissionWrite)},
		{"AbortMultipartUpload", &s3.AbortMultipartUploadInput{Bucket: b, Key: k}, obj("AbortMultipartUpload", PermissionWrite)},
		// READWRITE
		{"CopyObject", copyObjectInput("bkt", "dir/copy.txt", "bkt/dir/file.txt"),
			Request{Operation: "CopyObject", Bucket: "bkt", Target: "s3://bkt/dir/*", Permission: PermissionReadWrite}},
		{"UploadPartCopy", &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("dir/copy.txt"), CopySource: aws.String("bkt/dir/file.txt")},
			Request{Operation: "UploadPartCopy", Bucket: "bkt", Target: "s3://bkt/dir/*", Permission: PermissionReadWrite}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			if got := mustRequest(t, tt.op, tt.input); got != tt.want {
				t.Errorf("RequestFor(%s) = %+v, want %+v", tt.op, got, tt.want)
			}
		})
		seen[tt.op] = true
	}
	// Every operation of the table has a row, and nothing else is supported.
	for _, op := range []string{
		"GetObject", "HeadObject", "GetObjectAcl", "GetObjectAttributes", "ListObjects", "ListObjectsV2",
		"ListObjectVersions", "ListMultipartUploads", "ListParts", "HeadBucket",
		"PutObject", "PutObjectAcl", "DeleteObject", "DeleteObjects", "CreateMultipartUpload",
		"UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload",
		"CopyObject", "UploadPartCopy",
	} {
		if !seen[op] {
			t.Errorf("no test row for %s", op)
		}
		if _, ok := operationPermission(op); !ok {
			t.Errorf("operationPermission(%s) not supported", op)
		}
	}
	if len(seen) != 20 {
		t.Errorf("%d operations tested, want 20", len(seen))
	}
}

func TestRequestForObjectKeys(t *testing.T) {
	// Keys go into the target exactly as given: no URL encoding, no cleaning.
	for _, key := range []string{
		"a", "dir/", "/leading", "a//b", "sp ace", "plus+sign", "pct%20", "q?x=1", "hash#",
		"unicode/é/日本語/😀", "star*", "*", "../x", "\x00\xff", "a\nb", strings.Repeat("k", 1024),
	} {
		req := mustRequest(t, "GetObject", &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
		if want := "s3://bkt/" + key; req.Target != want || req.TargetType != "Object" {
			t.Errorf("key %q: target %q type %q, want %q type Object", key, req.Target, req.TargetType, want)
		}
	}
}

func TestRequestForListPrefix(t *testing.T) {
	ops := map[string]func(prefix *string) any{
		"ListObjects":          func(p *string) any { return &s3.ListObjectsInput{Bucket: aws.String("bkt"), Prefix: p} },
		"ListObjectsV2":        func(p *string) any { return &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), Prefix: p} },
		"ListObjectVersions":   func(p *string) any { return &s3.ListObjectVersionsInput{Bucket: aws.String("bkt"), Prefix: p} },
		"ListMultipartUploads": func(p *string) any { return &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt"), Prefix: p} },
	}
	tests := []struct {
		name   string
		prefix *string
		want   string
	}{
		{"no prefix", nil, "s3://bkt/*"},
		{"empty prefix", aws.String(""), "s3://bkt/*"},
		{"folder", aws.String("reports/"), "s3://bkt/reports/*"},
		{"partial name", aws.String("reports/2024-"), "s3://bkt/reports/2024-*"},
		{"slash", aws.String("/"), "s3://bkt//*"},
		{"unicode and space", aws.String("données é/x y"), "s3://bkt/données é/x y*"},
		{"not encoded", aws.String("a%2Fb+c"), "s3://bkt/a%2Fb+c*"},
	}
	for op, input := range ops {
		for _, tt := range tests {
			t.Run(op+"/"+tt.name, func(t *testing.T) {
				req := mustRequest(t, op, input(tt.prefix))
				if req.Target != tt.want || req.TargetType != "" || req.Permission != PermissionRead {
					t.Errorf("got %+v, want target %q, no target type, READ", req, tt.want)
				}
			})
		}
	}
}

func TestRequestForDeleteObjects(t *testing.T) {
	tests := []struct {
		name       string
		keys       []string
		want       string
		targetType string
	}{
		{"one key", []string{"dir/a.txt"}, "s3://bkt/dir/a.txt", "Object"},
		{"identical keys", []string{"dir/a.txt", "dir/a.txt", "dir/a.txt"}, "s3://bkt/dir/a.txt", "Object"},
		{"same folder", []string{"dir/a.txt", "dir/b.txt"}, "s3://bkt/dir/*", ""},
		{"common partial name", []string{"logs/2024-01", "logs/2024-02"}, "s3://bkt/logs/2024-0*", ""},
		{"nothing in common", []string{"a", "b"}, "s3://bkt/*", ""},
		// The anchors' routine answers /ABC/, which is not a prefix of ABCD/y.
		{"anchors case", []string{"ABC/x", "ABCD/y"}, "s3://bkt/ABC*", ""},
		{"anchors case reversed", []string{"ABCD/y", "ABC/x"}, "s3://bkt/ABC*", ""},
		// A per-segment routine stops at the last common "/" and gives a/.
		{"common text past the last slash", []string{"a/bcd", "a/bce"}, "s3://bkt/a/bc*", ""},
		{"one key a prefix of another", []string{"dir/a", "dir/a/b"}, "s3://bkt/dir/a*", ""},
		{"one key a prefix of another reversed", []string{"dir/a/b", "dir/a"}, "s3://bkt/dir/a*", ""},
		// A routine that compares only neighbours, or the first and last key,
		// misses the key in the middle.
		{"divergent key in the middle", []string{"x/1", "y/2", "x/3"}, "s3://bkt/*", ""},
		{"shortest key in the middle", []string{"abcdef", "ab", "abcxyz"}, "s3://bkt/ab*", ""},
		{"duplicates and one other", []string{"p/a", "p/a", "p/b", "p/a"}, "s3://bkt/p/*", ""},
		{"order 1", []string{"data/x/1", "data/y/2", "data/x/3"}, "s3://bkt/data/*", ""},
		{"order 2", []string{"data/y/2", "data/x/3", "data/x/1"}, "s3://bkt/data/*", ""},
		{"unicode common", []string{"données/é1", "données/é2"}, "s3://bkt/données/é*", ""},
		// é (C3 A9) and è (C3 A8) share their first byte: the prefix must not
		// end inside the character.
		{"unicode split inside a character", []string{"café", "cafè"}, "s3://bkt/caf*", ""},
		{"4-byte characters", []string{"x😀", "x😁"}, "s3://bkt/x*", ""},
		{"japanese", []string{"日本語/a", "日本人/b"}, "s3://bkt/日本*", ""},
		// Bytes that are not UTF-8 are kept as they are.
		{"invalid utf-8", []string{"a\xff\x01", "a\xff\x02"}, "s3://bkt/a\xff*", ""},
		{"star in keys", []string{"a*b", "a*c"}, "s3://bkt/a**", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRequest(t, "DeleteObjects", deleteInput("bkt", tt.keys...))
			want := Request{Operation: "DeleteObjects", Bucket: "bkt", Target: tt.want, Permission: PermissionWrite, TargetType: tt.targetType}
			if req != want {
				t.Errorf("keys %q: got %+v, want %+v", tt.keys, req, want)
			}
		})
	}
}

func TestRequestForDeleteObjectsLarge(t *testing.T) {
	// More keys than S3 takes in one request: the mapping must still be
	// right, and only the last key decides.
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = "tenant/42/é/" + strconv.Itoa(i*7919%len(keys))
	}
	req := mustRequest(t, "DeleteObjects", deleteInput("bkt", keys...))
	if want := "s3://bkt/tenant/42/é/*"; req.Target != want {
		t.Errorf("target %q, want %q", req.Target, want)
	}
	keys[len(keys)-1] = "tenant/42/è"
	req = mustRequest(t, "DeleteObjects", deleteInput("bkt", keys...))
	if want := "s3://bkt/tenant/42/*"; req.Target != want {
		t.Errorf("with a last key that differs: target %q, want %q", req.Target, want)
	}
}

func TestRequestForCopySource(t *testing.T) {
	tests := []struct {
		name       string
		source     string
		key        string // destination
		want       string
		targetType string
	}{
		{"bucket/key", "bkt/dir/a.txt", "dir/b.txt", "s3://bkt/dir/*", ""},
		{"leading slash", "/bkt/dir/a.txt", "dir/b.txt", "s3://bkt/dir/*", ""},
		{"version id", "bkt/dir/a.txt?versionId=abc", "dir/b.txt", "s3://bkt/dir/*", ""},
		{"leading slash and version id", "/bkt/dir/a.txt?versionId=3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "dir/b.txt", "s3://bkt/dir/*", ""},
		{"same key: object", "bkt/dir/a.txt", "dir/a.txt", "s3://bkt/dir/a.txt", "Object"},
		{"same key with version: object", "bkt/dir/a.txt?versionId=v1", "dir/a.txt", "s3://bkt/dir/a.txt", "Object"},
		{"encoded space", "bkt/my%20dir/a%20b.txt", "my dir/a c.txt", "s3://bkt/my dir/a *", ""},
		{"encoded space same key", "bkt/my%20dir/a%20b.txt", "my dir/a b.txt", "s3://bkt/my dir/a b.txt", "Object"},
		{"encoded slash", "bkt/dir%2Fsub%2Fa.txt", "dir/sub/b.txt", "s3://bkt/dir/sub/*", ""},
		{"whole value encoded", "bkt%2Fdir%2Fa.txt", "dir/a.txt", "s3://bkt/dir/a.txt", "Object"},
		{"whole value encoded with leading slash", "%2Fbkt%2Fdir%2Fa.txt", "dir/b", "s3://bkt/dir/*", ""},
		// An encoded ? belongs to the key; only a literal ? starts the query.
		{"encoded question mark", "bkt/what%3F.txt", "what?.txt", "s3://bkt/what?.txt", "Object"},
		{"encoded question mark and version", "bkt/q%3FversionId%3Dx?versionId=v1", "q?versionId=x", "s3://bkt/q?versionId=x", "Object"},
		{"encoded plus", "bkt/a%2Bb", "a+b", "s3://bkt/a+b", "Object"},
		// A literal + reads as a space, as S3 reads this header.
		{"literal plus", "bkt/a+b", "a b", "s3://bkt/a b", "Object"},
		{"literal plus differs from plus", "bkt/a+b", "a+b", "s3://bkt/a*", ""},
		{"encoded percent", "bkt/100%25.txt", "100%.txt", "s3://bkt/100%.txt", "Object"},
		{"encoded unicode", "bkt/%E5%B0%8F%E7%8B%97.jpg", "小狗.jpg", "s3://bkt/小狗.jpg", "Object"},
		{"unicode not encoded", "bkt/日本語/a", "日本語/b", "s3://bkt/日本語/*", ""},
		{"unicode split inside a character", "bkt/caf%C3%A9", "cafè", "s3://bkt/caf*", ""},
		{"anchors case", "bkt/ABC/x", "ABCD/y", "s3://bkt/ABC*", ""},
		{"source a prefix of destination", "bkt/dir/a", "dir/a/b", "s3://bkt/dir/a*", ""},
		{"nothing in common", "bkt/x", "y", "s3://bkt/*", ""},
	}
	for _, tt := range tests {
		for _, op := range []string{"CopyObject", "UploadPartCopy"} {
			t.Run(op+"/"+tt.name, func(t *testing.T) {
				var input any = copyObjectInput("bkt", tt.key, tt.source)
				if op == "UploadPartCopy" {
					input = &s3.UploadPartCopyInput{Bucket: aws.String("bkt"), Key: aws.String(tt.key), CopySource: aws.String(tt.source)}
				}
				req := mustRequest(t, op, input)
				want := Request{Operation: op, Bucket: "bkt", Target: tt.want, Permission: PermissionReadWrite, TargetType: tt.targetType}
				if req != want {
					t.Errorf("CopySource %q to %q: got %+v, want %+v", tt.source, tt.key, req, want)
				}
			})
		}
	}
}

func TestRequestForCopySourceErrors(t *testing.T) {
	tests := []struct {
		name        string
		source      string
		unsupported bool
		contains    string
	}{
		{"cross bucket", "other/dir/a.txt", false, "source and destination bucket must be the same"},
		{"cross bucket with leading slash", "/other/a", false, "source and destination bucket must be the same"},
		{"bucket differs only in case", "BKT/a", false, "source and destination bucket must be the same"},
		{"no key", "bkt", false, "want bucket/key"},
		{"empty key", "bkt/", false, "want bucket/key"},
		{"empty key with version", "bkt/?versionId=1", false, "want bucket/key"},
		{"no bucket", "/a.txt", false, "want bucket/key"},
		{"empty bucket", "//a.txt", false, "want bucket/key"},
		{"only a slash", "/", false, "want bucket/key"},
		{"bad escape", "bkt/a%zz", false, "invalid URL escape"},
		{"truncated escape", "bkt/a%2", false, "invalid URL escape"},
		{"unknown query", "bkt/a?foo=bar", false, "unexpected query"},
		{"unencoded question mark in key", "bkt/what?.txt", false, "unexpected query"},
		{"version id with wrong case", "bkt/a?versionid=1", false, "unexpected query"},
		{"access point ARN", "arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap/object/bkt/a", true, "ARN"},
		{"encoded access point ARN", "arn%3Aaws%3As3%3Aus-west-2%3A123456789012%3Aaccesspoint%2Fmy-ap%2Fobject%2Fa", true, "ARN"},
		{"outposts ARN", "arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01/object/a", true, "ARN"},
		{"directory bucket source", "src--usw2-az1--x-s3/a", true, "directory bucket"},
		{"access point alias source", "my-ap-hrzrlukc5m36ft7okagglf3gmwluquse1b-s3alias/a", true, "alias"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RequestFor("CopyObject", copyObjectInput("bkt", "a", tt.source))
			if err == nil {
				t.Fatalf("CopySource %q: no error", tt.source)
			}
			if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
				t.Errorf("CopySource %q: errors.Is(err, ErrUnsupported) = %v, want %v (%v)", tt.source, got, tt.unsupported, err)
			}
			if !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), "CopyObject") {
				t.Errorf("CopySource %q: error %q does not name CopyObject and contain %q", tt.source, err, tt.contains)
			}
		})
	}
}

func TestRequestForUnsupportedOperations(t *testing.T) {
	tests := []struct {
		op    string
		input any
	}{
		{"ListBuckets", &s3.ListBucketsInput{}},
		{"GetObjectTagging", &s3.GetObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k")}},
		{"PutObjectTagging", &s3.PutObjectTaggingInput{Bucket: aws.String("bkt"), Key: aws.String("k")}},
		{"PutBucketPolicy", &s3.PutBucketPolicyInput{Bucket: aws.String("bkt")}},
		{"CreateBucket", &s3.CreateBucketInput{Bucket: aws.String("bkt")}},
		{"DeleteBucket", &s3.DeleteBucketInput{Bucket: aws.String("bkt")}},
		{"GetBucketLocation", &s3.GetBucketLocationInput{Bucket: aws.String("bkt")}},
		{"RestoreObject", &s3.RestoreObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}},
		{"SelectObjectContent", &s3.SelectObjectContentInput{Bucket: aws.String("bkt"), Key: aws.String("k")}},
		{"CreateSession", &s3.CreateSessionInput{Bucket: aws.String("b--usw2-az1--x-s3")}},
		{"ListDirectoryBuckets", nil},
		{"", nil},
		{"getobject", &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}},
		{"GetObject ", &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			req, err := RequestFor(tt.op, tt.input)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("RequestFor(%q) error %v, want one wrapping ErrUnsupported", tt.op, err)
			}
			if !strings.Contains(err.Error(), "operation "+tt.op+" ") {
				t.Errorf("error %q does not name the operation %q", err, tt.op)
			}
			if req != (Request{}) {
				t.Errorf("request %+v returned with an error", req)
			}
		})
	}
}

func TestRequestForUnsupportedBuckets(t *testing.T) {
	buckets := []struct {
		bucket string
		kind   string
	}{
		{"arn:aws:s3:us-west-2:123456789012:accesspoint/my-ap", "ARN"},
		{"arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap", "ARN"},
		{"arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01/accesspoint/ap", "ARN"},
		{"arn:aws:s3-object-lambda:us-west-2:123456789012:accesspoint/olap", "ARN"},
		{"arn:aws-cn:s3:cn-north-1:123456789012:accesspoint/my-ap", "ARN"},
		{"mybucket--usw2-az1--x-s3", "directory bucket"},
		{"mybucket--usw2-lax1-az1--xa-s3", "directory bucket"},
		{"5d2c1e4a-aaaa-bbbb-cccc-0123456789ab--table-s3", "S3 Tables"},
		{"my-ap-hrzrlukc5m36ft7okagglf3gmwluquse1b-s3alias", "alias"},
		{"my-olap-hrzrlukc5m36ft7okagglf3gmwluquse1b--ol-s3", "alias"},
		{"my-ap-o01ac5d28a6a232904e8xz5w8ijx1qzlbp3i3kuse10--op-s3", "alias"},
		{"mfzwi23gnjvgw.mrap", "alias"},
	}
	inputs := map[string]func(bucket string) any{
		"GetObject":     func(b string) any { return &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("k")} },
		"PutObject":     func(b string) any { return &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("k")} },
		"ListObjectsV2": func(b string) any { return &s3.ListObjectsV2Input{Bucket: aws.String(b)} },
		"HeadBucket":    func(b string) any { return &s3.HeadBucketInput{Bucket: aws.String(b)} },
		"DeleteObjects": func(b string) any { return deleteInput(b, "a", "b") },
		"CopyObject":    func(b string) any { return copyObjectInput(b, "a", b+"/b") },
	}
	for op, input := range inputs {
		for _, tt := range buckets {
			t.Run(op+"/"+tt.bucket, func(t *testing.T) {
				_, err := RequestFor(op, input(tt.bucket))
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("error %v, want one wrapping ErrUnsupported", err)
				}
				if !strings.Contains(err.Error(), tt.kind) || !strings.Contains(err.Error(), op) {
					t.Errorf("error %q does not name %s and %q", err, op, tt.kind)
				}
			})
		}
	}

	// Names that only resemble the reserved forms are ordinary buckets.
	for _, b := range []string{"arn-bucket", "my-x-s3", "x-s3-data", "bucket-s3alias-old", "table-s3", "mrap", "my.mrap.data", "op-s3"} {
		req := mustRequest(t, "GetObject", &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String("k")})
		if want := "s3://" + b + "/k"; req.Target != want {
			t.Errorf("bucket %q: target %q, want %q", b, req.Target, want)
		}
	}
}

func TestRequestForInvalidInput(t *testing.T) {
	tests := []struct {
		name     string
		op       string
		input    any
		contains string
	}{
		{"nil input", "GetObject", nil, "no input"},
		{"nil pointer", "GetObject", (*s3.GetObjectInput)(nil), "nil *s3.GetObjectInput"},
		{"nil pointer DeleteObjects", "DeleteObjects", (*s3.DeleteObjectsInput)(nil), "nil *s3.DeleteObjectsInput"},
		{"nil pointer CopyObject", "CopyObject", (*s3.CopyObjectInput)(nil), "nil *s3.CopyObjectInput"},
		{"nil pointer HeadBucket", "HeadBucket", (*s3.HeadBucketInput)(nil), "nil *s3.HeadBucketInput"},
		{"another operation's input", "GetObject", &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}, "want *s3.GetObjectInput"},
		{"nil pointer of another operation", "GetObject", (*s3.HeadObjectInput)(nil), "want *s3.GetObjectInput"},
		{"value instead of pointer", "GetObject", s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}, "want *s3.GetObjectInput"},
		{"unrelated type", "ListObjectsV2", "bkt", "want *s3.ListObjectsV2Input"},
		{"unsupported operation's input", "GetObject", &s3.GetObjectTaggingInput{}, "want *s3.GetObjectInput"},
		{"no bucket", "GetObject", &s3.GetObjectInput{Key: aws.String("k")}, "no bucket"},
		{"empty bucket", "HeadBucket", &s3.HeadBucketInput{Bucket: aws.String("")}, "no bucket"},
		{"no bucket list", "ListObjectsV2", &s3.ListObjectsV2Input{Prefix: aws.String("p")}, "no bucket"},
		{"bucket with slash", "GetObject", &s3.GetObjectInput{Bucket: aws.String("b/p"), Key: aws.String("k")}, "invalid bucket name"},
		{"no key", "GetObject", &s3.GetObjectInput{Bucket: aws.String("b")}, "no key"},
		{"empty key", "PutObject", &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("")}, "no key"},
		{"no key ListParts", "ListParts", &s3.ListPartsInput{Bucket: aws.String("b")}, "no key"},
		{"no Delete", "DeleteObjects", &s3.DeleteObjectsInput{Bucket: aws.String("b")}, "no objects"},
		{"no objects", "DeleteObjects", &s3.DeleteObjectsInput{Bucket: aws.String("b"), Delete: &types.Delete{}}, "no objects"},
		{"nil key in objects", "DeleteObjects", &s3.DeleteObjectsInput{Bucket: aws.String("b"), Delete: &types.Delete{
			Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {}}}}, "object 1 has no key"},
		{"empty key in objects", "DeleteObjects", deleteInput("b", "a", "b", ""), "object 2 has no key"},
		{"empty only key", "DeleteObjects", deleteInput("b", ""), "object 0 has no key"},
		{"no CopySource", "CopyObject", &s3.CopyObjectInput{Bucket: aws.String("b"), Key: aws.String("k")}, "no CopySource"},
		{"empty CopySource", "UploadPartCopy", &s3.UploadPartCopyInput{Bucket: aws.String("b"), Key: aws.String("k"), CopySource: aws.String("")}, "no CopySource"},
		{"copy without key", "CopyObject", &s3.CopyObjectInput{Bucket: aws.String("b"), CopySource: aws.String("b/k")}, "no key"},
		{"copy without bucket", "CopyObject", &s3.CopyObjectInput{Key: aws.String("k"), CopySource: aws.String("b/k")}, "no bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := RequestFor(tt.op, tt.input)
			if err == nil {
				t.Fatalf("no error, request %+v", req)
			}
			if errors.Is(err, ErrUnsupported) {
				t.Errorf("error %q wraps ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), tt.contains) || !strings.HasPrefix(err.Error(), "accessgrants: "+tt.op+": ") {
				t.Errorf("error %q, want it to start with %q and contain %q", err, "accessgrants: "+tt.op+": ", tt.contains)
			}
			if req != (Request{}) {
				t.Errorf("request %+v returned with an error", req)
			}
		})
	}
}

func TestTrimPartialRune(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"caf\xc3", "caf"}, // first byte of é
		{"café", "café"},   // complete
		{"x\xe6\x97", "x"}, // two of the three bytes of 日
		{"x日", "x日"},
		{"x\xf0\x9f\x98", "x"}, // three of the four bytes of 😀
		{"x\xf0", "x"},
		{"x😀", "x😀"},
		{"a\xff", "a\xff"},         // not UTF-8 at all: kept
		{"a\x80", "a\x80"},         // stray continuation byte: kept
		{"a\xed\xa0", "a\xed\xa0"}, // surrogate: invalid, not incomplete
		{"\xc3", ""},
		{"a\x80\x80\x80\x80", "a\x80\x80\x80\x80"},
	}
	for _, tt := range tests {
		if got := trimPartialRune(tt.in); got != tt.want {
			t.Errorf("trimPartialRune(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRequestForAllocations(t *testing.T) {
	get := &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/file.txt")}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "dir/" + strconv.Itoa(i)
	}
	del := deleteInput("bkt", keys...)
	for name, call := range map[string]func(){
		"GetObject":     func() { _, _ = RequestFor("GetObject", get) },
		"DeleteObjects": func() { _, _ = RequestFor("DeleteObjects", del) },
	} {
		// One allocation: the target string.
		if n := testing.AllocsPerRun(100, call); n > 1 {
			t.Errorf("%s: %v allocations per call, want at most 1", name, n)
		}
	}
}

func BenchmarkRequestFor(b *testing.B) {
	b.Run("GetObject", func(b *testing.B) {
		input := &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("tenant/42/reports/2024/06/report.parquet")}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := RequestFor("GetObject", input); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DeleteObjects1000", func(b *testing.B) {
		keys := make([]string, 1000)
		for i := range keys {
			keys[i] = "tenant/42/reports/2024/06/part-" + strconv.Itoa(i) + ".parquet"
		}
		input := deleteInput("bkt", keys...)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := RequestFor("DeleteObjects", input); err != nil {
				b.Fatal(err)
			}
		}
	})
}

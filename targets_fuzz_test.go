package accessgrants

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// packKeys encodes keys for the DeleteObjects fuzzer: each key is one length
// byte followed by that many bytes.
func packKeys(keys ...string) []byte {
	var b []byte
	for _, k := range keys {
		b = append(b, byte(len(k)))
		b = append(b, k...)
	}
	return b
}

// unpackKeys decodes what packKeys encodes; a length that runs past the end
// takes what is left.
func unpackKeys(b []byte) []string {
	var keys []string
	for len(b) > 0 {
		n := min(int(b[0]), len(b)-1)
		keys = append(keys, string(b[1:1+n]))
		b = b[1+n:]
	}
	return keys
}

// byteCommonPrefix is the textbook longest common prefix: grow it one byte at
// a time while every key has that byte there.
func byteCommonPrefix(keys []string) string {
	for i := 0; ; i++ {
		for _, k := range keys {
			if i >= len(k) || k[i] != keys[0][i] {
				return keys[0][:i]
			}
		}
	}
}

// runeCommonPrefix is the longest prefix of whole characters of keys[0] that
// every key starts with: it grows one character of keys[0] at a time while
// every key has that character there. Only meaningful for valid UTF-8.
func runeCommonPrefix(keys []string) string {
	first := keys[0]
	for i := 0; i < len(first); {
		_, size := utf8.DecodeRuneInString(first[i:])
		end := i + size
		for _, k := range keys {
			if len(k) < end || k[i:end] != first[i:end] {
				return first[:i]
			}
		}
		i = end
	}
	return first
}

// checkCovers fails the test unless the target of req covers every key, by
// service.md's rule: an object target names exactly its key, a "*" target
// covers every key starting with the text before the "*".
func checkCovers(t *testing.T, req Request, keys ...string) {
	t.Helper()
	for _, k := range keys {
		uri := "s3://" + req.Bucket + "/" + k
		switch req.TargetType {
		case "Object":
			if req.Target != uri {
				t.Fatalf("object target %q does not name %q", req.Target, uri)
			}
		case "":
			p, ok := strings.CutSuffix(req.Target, "*")
			if !ok || !strings.HasPrefix(uri, p) {
				t.Fatalf("target %q does not cover %q", req.Target, uri)
			}
		default:
			t.Fatalf("target type %q", req.TargetType)
		}
	}
}

func FuzzRequestForDeleteObjects(f *testing.F) {
	for _, keys := range [][]string{
		{"a"},
		{"a", "a"},
		{"ABC/x", "ABCD/y"},
		{"ABCD/y", "ABC/x"},
		{"a/bcd", "a/bce"},
		{"dir/a", "dir/a/b"},
		{"x/1", "y/2", "x/3"},
		{"café", "cafè"},
		{"x😀", "x😁"},
		{"日本語/a", "日本人/b"},
		{"a\xff\x01", "a\xff\x02"},
		{"\xc3A", "\xc3B"},
		{"a", "", "b"},
		{"p/a", "p/a", "p/b", "p/a"},
	} {
		f.Add(packKeys(keys...))
	}
	f.Fuzz(func(t *testing.T, packed []byte) {
		// Long inputs find nothing that short ones do not, and minimizing them
		// stalls the fuzzer; TestRequestForDeleteObjectsLarge covers big lists.
		if len(packed) > 1024 {
			t.Skip("input longer than 1 KiB")
		}
		keys := unpackKeys(packed)
		req, err := RequestFor("DeleteObjects", deleteInput("bkt", keys...))
		if len(keys) == 0 || slices.Contains(keys, "") {
			if err == nil || errors.Is(err, ErrUnsupported) {
				t.Fatalf("keys %q: error %v, want a plain error", keys, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("keys %q: %v", keys, err)
		}
		if req.Permission != PermissionWrite || req.Bucket != "bkt" || req.Operation != "DeleteObjects" {
			t.Fatalf("keys %q: request %+v", keys, req)
		}
		checkCovers(t, req, keys...)

		// All keys the same: that object. Else the common prefix.
		if slices.Equal(slices.Compact(slices.Clone(keys)), keys[:1]) {
			if want := "s3://bkt/" + keys[0]; req.Target != want || req.TargetType != "Object" {
				t.Fatalf("keys %q: got %+v, want object %q", keys, req, want)
			}
		} else {
			prefix, ok := strings.CutSuffix(strings.TrimPrefix(req.Target, "s3://bkt/"), "*")
			if !ok || req.TargetType != "" {
				t.Fatalf("keys %q: got %+v, want a prefix target", keys, req)
			}
			bytewise := byteCommonPrefix(keys)
			valid := true
			for _, k := range keys {
				valid = valid && utf8.ValidString(k)
			}
			if valid {
				// Maximal, and in whole characters.
				if want := runeCommonPrefix(keys); prefix != want {
					t.Fatalf("keys %q: prefix %q, want %q", keys, prefix, want)
				}
			}
			// At most an incomplete character less than the byte-wise prefix.
			dropped, ok := strings.CutPrefix(bytewise, prefix)
			if !ok {
				t.Fatalf("keys %q: prefix %q is not a prefix of %q", keys, prefix, bytewise)
			}
			if dropped != "" && (len(dropped) >= utf8.UTFMax || !utf8.RuneStart(dropped[0]) || utf8.FullRuneInString(dropped)) {
				t.Fatalf("keys %q: prefix %q drops %q, which is not an incomplete character", keys, prefix, dropped)
			}
		}

		// The order of the keys does not matter.
		for _, perm := range [][]string{reversed(keys), rotated(keys)} {
			other, err := RequestFor("DeleteObjects", deleteInput("bkt", perm...))
			if err != nil || other != req {
				t.Fatalf("keys %q give %+v, reordered %q give %+v, %v", keys, req, perm, other, err)
			}
		}
	})
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func rotated(s []string) []string {
	return append(slices.Clone(s[1:]), s[0])
}

// strictEscape percent-encodes every byte but the unreserved characters of
// RFC 3986 and "/", as the AWS SDKs and the AWS CLI encode a CopySource key.
func strictEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// parseCopySourceReference parses a CopySource the obvious way, for
// comparison: the query starts at the first "?", the rest is decoded, one
// leading "/" dropped, and the bucket ends at the first "/".
func parseCopySourceReference(s string) (bucket, key string, ok bool) {
	path, _, _ := strings.Cut(s, "?")
	decoded, err := url.QueryUnescape(path)
	if err != nil {
		return "", "", false
	}
	decoded = strings.TrimPrefix(decoded, "/")
	return strings.Cut(decoded, "/")
}

func FuzzRequestForCopySource(f *testing.F) {
	for _, seed := range []struct {
		raw, src, dst string
		mode          uint8
	}{
		{"bkt/dir/a.txt", "dir/a.txt", "dir/b.txt", 0},
		{"/bkt/dir/a.txt?versionId=abc", "a b", "a+b", 1},
		{"bkt/a%20b%3F%2F+c", "a?b", "a?c", 2},
		{"bkt%2Fx%2Fy", "ABC/x", "ABCD/y", 3},
		{"other/a", "café", "cafè", 4},
		{"bkt/a%zz", "100%", "100%/x", 5},
		{"arn:aws:s3:us-west-2:123456789012:accesspoint/ap/object/a", "", "x", 0},
		{"bkt/a?foo", "same", "same", 1},
		{"bkt/", "\xff\xfe", "\xff", 4},
	} {
		f.Add(seed.raw, seed.src, seed.dst, seed.mode)
	}
	f.Fuzz(func(t *testing.T, raw, src, dst string, mode uint8) {
		if len(raw)+len(src)+len(dst) > 1024 {
			t.Skip("input longer than 1 KiB") // as in FuzzRequestForDeleteObjects
		}
		// Any CopySource: never a panic, and a success covers both keys.
		req, err := RequestFor("CopyObject", copyObjectInput("bkt", dst, raw))
		if err == nil {
			bucket, key, ok := parseCopySourceReference(raw)
			if !ok || bucket != "bkt" || key == "" {
				t.Fatalf("CopySource %q accepted, but reads as bucket %q key %q", raw, bucket, key)
			}
			if req.Permission != PermissionReadWrite || req.Bucket != "bkt" {
				t.Fatalf("CopySource %q: request %+v", raw, req)
			}
			checkCovers(t, req, key, dst)
		} else if errors.Is(err, ErrUnsupported) && !strings.Contains(err.Error(), "source bucket") && !strings.Contains(err.Error(), "ARN") {
			t.Fatalf("CopySource %q: unexpected ErrUnsupported: %v", raw, err)
		}

		// A CopySource encoded as clients encode it names src exactly.
		var source string
		switch mode % 6 {
		case 0:
			source = "bkt/" + url.QueryEscape(src)
		case 1:
			source = "/bkt/" + url.QueryEscape(src)
		case 2:
			source = url.QueryEscape("bkt/" + src)
		case 3:
			source = "bkt/" + url.QueryEscape(src) + "?versionId=" + url.QueryEscape(dst)
		case 4:
			source = "bkt/" + strictEscape(src)
		case 5:
			source = "/bkt/" + strictEscape(src) + "?versionId=3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
		}
		req, err = RequestFor("UploadPartCopy", &s3.UploadPartCopyInput{
			Bucket: aws.String("bkt"), Key: aws.String(dst), CopySource: aws.String(source),
		})
		if src == "" || dst == "" {
			if err == nil || errors.Is(err, ErrUnsupported) {
				t.Fatalf("source %q to %q: error %v, want a plain error", source, dst, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("CopySource %q (key %q) to %q: %v", source, src, dst, err)
		}
		checkCovers(t, req, src, dst)
		// As DeleteObjects over the two keys.
		del, err := RequestFor("DeleteObjects", deleteInput("bkt", src, dst))
		if err != nil || del.Target != req.Target || del.TargetType != req.TargetType {
			t.Fatalf("copy %q to %q: target %q %q, DeleteObjects gives %q %q (%v)",
				src, dst, req.Target, req.TargetType, del.Target, del.TargetType, err)
		}
	})
}

// reservedBucket reports whether b is a kind of bucket Access Grants does not
// serve, by the S3 naming rules.
func reservedBucket(b string) bool {
	if strings.HasPrefix(b, "arn:") {
		return true
	}
	for _, suffix := range []string{"--x-s3", "--xa-s3", "--table-s3", "-s3alias", "--ol-s3", "--op-s3", ".mrap"} {
		if strings.HasSuffix(b, suffix) {
			return true
		}
	}
	return false
}

func FuzzRequestForObject(f *testing.F) {
	f.Add(uint8(0), "bkt", "dir/file.txt")
	f.Add(uint8(3), "bkt", "")
	f.Add(uint8(5), "", "k")
	f.Add(uint8(7), "b/p", "k")
	f.Add(uint8(9), "arn:aws:s3:us-west-2:123456789012:accesspoint/ap", "k")
	f.Add(uint8(11), "d--usw2-az1--x-s3", "k")
	f.Add(uint8(13), "bkt", "\xff\x00*?%2F")
	objectOps := []struct {
		op   string
		perm Permission
		in   func(b, k *string) any
	}{
		{"GetObject", PermissionRead, func(b, k *string) any { return &s3.GetObjectInput{Bucket: b, Key: k} }},
		{"HeadObject", PermissionRead, func(b, k *string) any { return &s3.HeadObjectInput{Bucket: b, Key: k} }},
		{"GetObjectAcl", PermissionRead, func(b, k *string) any { return &s3.GetObjectAclInput{Bucket: b, Key: k} }},
		{"GetObjectAttributes", PermissionRead, func(b, k *string) any { return &s3.GetObjectAttributesInput{Bucket: b, Key: k} }},
		{"ListParts", PermissionRead, func(b, k *string) any { return &s3.ListPartsInput{Bucket: b, Key: k} }},
		{"PutObject", PermissionWrite, func(b, k *string) any { return &s3.PutObjectInput{Bucket: b, Key: k} }},
		{"PutObjectAcl", PermissionWrite, func(b, k *string) any { return &s3.PutObjectAclInput{Bucket: b, Key: k} }},
		{"DeleteObject", PermissionWrite, func(b, k *string) any { return &s3.DeleteObjectInput{Bucket: b, Key: k} }},
		{"CreateMultipartUpload", PermissionWrite, func(b, k *string) any { return &s3.CreateMultipartUploadInput{Bucket: b, Key: k} }},
		{"UploadPart", PermissionWrite, func(b, k *string) any { return &s3.UploadPartInput{Bucket: b, Key: k} }},
		{"CompleteMultipartUpload", PermissionWrite, func(b, k *string) any { return &s3.CompleteMultipartUploadInput{Bucket: b, Key: k} }},
		{"AbortMultipartUpload", PermissionWrite, func(b, k *string) any { return &s3.AbortMultipartUploadInput{Bucket: b, Key: k} }},
	}
	f.Fuzz(func(t *testing.T, which uint8, bucket, key string) {
		o := objectOps[int(which)%len(objectOps)]
		req, err := RequestFor(o.op, o.in(&bucket, &key))
		switch {
		case bucket == "":
			if err == nil || errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s without bucket: error %v, want a plain error", o.op, err)
			}
		case reservedBucket(bucket):
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s on bucket %q: error %v, want ErrUnsupported", o.op, bucket, err)
			}
		case strings.Contains(bucket, "/") || key == "":
			if err == nil || errors.Is(err, ErrUnsupported) {
				t.Fatalf("%s on bucket %q key %q: error %v, want a plain error", o.op, bucket, key, err)
			}
		default:
			want := Request{Operation: o.op, Bucket: bucket, Target: "s3://" + bucket + "/" + key, Permission: o.perm, TargetType: "Object"}
			if err != nil || req != want {
				t.Fatalf("got %+v, %v; want %+v", req, err, want)
			}
		}

		// The same text as a list prefix.
		req, err = RequestFor("ListObjectsV2", &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &key})
		if err == nil {
			if want := "s3://" + bucket + "/" + key + "*"; req.Target != want || req.TargetType != "" {
				t.Fatalf("list prefix %q: got %+v, want target %q", key, req, want)
			}
		} else if bucket != "" && !reservedBucket(bucket) && !strings.Contains(bucket, "/") {
			t.Fatalf("list on bucket %q: %v", bucket, err)
		}
	})
}

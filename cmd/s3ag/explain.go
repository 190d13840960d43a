package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"

	accessgrants "github.com/s3ag/accessgrants"
)

// explainFlags are the request fields "s3ag explain" takes.
type explainFlags struct {
	bucket, key, prefix, copySource string
	deleteKeys                      []string
}

// explainShape says which fields an operation's input has and how to
// build it.
type explainShape struct {
	flags []string // the flags that apply, besides --bucket
	input func(f explainFlags) any
}

func objectShape(mk func(bucket, key *string) any) explainShape {
	return explainShape{flags: []string{"key"}, input: func(f explainFlags) any { return mk(optional(f.bucket), optional(f.key)) }}
}

func prefixShape(mk func(bucket, prefix *string) any) explainShape {
	return explainShape{flags: []string{"prefix"}, input: func(f explainFlags) any { return mk(optional(f.bucket), optional(f.prefix)) }}
}

// explainShapes are the operations Access Grants serves, by SDK name.
var explainShapes = map[string]explainShape{
	"GetObject":           objectShape(func(b, k *string) any { return &s3.GetObjectInput{Bucket: b, Key: k} }),
	"HeadObject":          objectShape(func(b, k *string) any { return &s3.HeadObjectInput{Bucket: b, Key: k} }),
	"GetObjectAcl":        objectShape(func(b, k *string) any { return &s3.GetObjectAclInput{Bucket: b, Key: k} }),
	"GetObjectAttributes": objectShape(func(b, k *string) any { return &s3.GetObjectAttributesInput{Bucket: b, Key: k} }),
	"ListParts":           objectShape(func(b, k *string) any { return &s3.ListPartsInput{Bucket: b, Key: k} }),
	"PutObject":           objectShape(func(b, k *string) any { return &s3.PutObjectInput{Bucket: b, Key: k} }),
	"PutObjectAcl":        objectShape(func(b, k *string) any { return &s3.PutObjectAclInput{Bucket: b, Key: k} }),
	"DeleteObject":        objectShape(func(b, k *string) any { return &s3.DeleteObjectInput{Bucket: b, Key: k} }),
	"CreateMultipartUpload": objectShape(func(b, k *string) any {
		return &s3.CreateMultipartUploadInput{Bucket: b, Key: k}
	}),
	"UploadPart": objectShape(func(b, k *string) any { return &s3.UploadPartInput{Bucket: b, Key: k} }),
	"CompleteMultipartUpload": objectShape(func(b, k *string) any {
		return &s3.CompleteMultipartUploadInput{Bucket: b, Key: k}
	}),
	"AbortMultipartUpload": objectShape(func(b, k *string) any {
		return &s3.AbortMultipartUploadInput{Bucket: b, Key: k}
	}),
	"ListObjects":        prefixShape(func(b, p *string) any { return &s3.ListObjectsInput{Bucket: b, Prefix: p} }),
	"ListObjectsV2":      prefixShape(func(b, p *string) any { return &s3.ListObjectsV2Input{Bucket: b, Prefix: p} }),
	"ListObjectVersions": prefixShape(func(b, p *string) any { return &s3.ListObjectVersionsInput{Bucket: b, Prefix: p} }),
	"ListMultipartUploads": prefixShape(func(b, p *string) any {
		return &s3.ListMultipartUploadsInput{Bucket: b, Prefix: p}
	}),
	"HeadBucket": {input: func(f explainFlags) any { return &s3.HeadBucketInput{Bucket: optional(f.bucket)} }},
	"DeleteObjects": {flags: []string{"delete-keys"}, input: func(f explainFlags) any {
		objs := make([]types.ObjectIdentifier, len(f.deleteKeys))
		for i, k := range f.deleteKeys {
			objs[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		return &s3.DeleteObjectsInput{Bucket: optional(f.bucket), Delete: &types.Delete{Objects: objs}}
	}},
	"CopyObject": {flags: []string{"key", "copy-source"}, input: func(f explainFlags) any {
		return &s3.CopyObjectInput{Bucket: optional(f.bucket), Key: optional(f.key), CopySource: optional(f.copySource)}
	}},
	"UploadPartCopy": {flags: []string{"key", "copy-source"}, input: func(f explainFlags) any {
		return &s3.UploadPartCopyInput{Bucket: optional(f.bucket), Key: optional(f.key), CopySource: optional(f.copySource)}
	}},
}

// optional returns nil for "", so that a missing flag is a missing field.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a *app) explainCommand() *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain OPERATION --bucket B [--key K] [--prefix P] [--copy-source S] [--delete-keys a,b]",
		Short: "Show the permission and target the plugin would ask Access Grants for",
		Long: `Show what the plugin would ask GetDataAccess for to sign one S3 operation (named
as the SDK names it: GetObject, ListObjectsV2, CopyObject, ...): the permission
and the target, or why Access Grants does not serve the operation, in which
case the client's own credentials sign it. Nothing is sent anywhere.

Object operations take --key, list operations --prefix, DeleteObjects
--delete-keys and copies --key and --copy-source (bucket/key, URL-encoded).

Example:

  s3ag explain GetObject --bucket my-bucket --key reports/q1.csv
  s3ag explain DeleteObjects --bucket my-bucket --delete-keys work/a.csv,work/b.csv
  s3ag explain CopyObject --bucket my-bucket --key work/b.csv --copy-source my-bucket/work/a.csv`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := canonicalOperation(args[0])
			shape, supported := explainShapes[op]
			var input any
			if supported {
				for _, name := range []string{"key", "prefix", "copy-source", "delete-keys"} {
					if cmd.Flags().Changed(name) && !slices.Contains(shape.flags, name) {
						return usagef("--%s does not apply to %s", name, op)
					}
				}
				input = shape.input(f)
			}
			req, err := accessgrants.RequestFor(op, input)
			if err != nil && !errors.Is(err, accessgrants.ErrUnsupported) {
				return fmt.Errorf("explain %s: %w; with --fallback the request would be signed with the caller's own credentials, without it it fails", op, err)
			}
			writeExplanation(a.stdout, op, req, err)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.bucket, "bucket", "", "the request's bucket")
	fl.StringVar(&f.key, "key", "", "the object key (object operations and copies)")
	fl.StringVar(&f.prefix, "prefix", "", "the listing prefix (list operations)")
	fl.StringVar(&f.copySource, "copy-source", "", "CopySource of a copy: bucket/key, URL-encoded")
	fl.StringSliceVar(&f.deleteKeys, "delete-keys", nil, "keys of a DeleteObjects request, comma-separated")
	return cmd
}

// canonicalOperation returns the SDK's spelling of a supported operation
// named in any case, and other names as given.
func canonicalOperation(name string) string {
	for op := range explainShapes {
		if strings.EqualFold(op, name) {
			return op
		}
	}
	return name
}

// writeExplanation prints what the plugin would do for an operation.
func writeExplanation(w io.Writer, op string, req accessgrants.Request, unsupported error) {
	if unsupported != nil {
		fmt.Fprintf(w, "operation:   %s\n", op)
		fmt.Fprintf(w, "served:      no: %v\n", unsupported)
		fmt.Fprintf(w, "signed with: the client's own credentials, with or without --fallback\n")
		return
	}
	fmt.Fprintf(w, "operation:   %s\n", req.Operation)
	fmt.Fprintf(w, "bucket:      %s\n", req.Bucket)
	fmt.Fprintf(w, "permission:  %s\n", req.Permission)
	fmt.Fprintf(w, "target:      %s\n", req.Target)
	if req.TargetType != "" {
		fmt.Fprintf(w, "target type: %s (sent with --privilege Minimal)\n", req.TargetType)
	}
	fmt.Fprintf(w, "asks:        GetDataAccess(Target=%s, Permission=%s)\n", req.Target, req.Permission)
}

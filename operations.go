package accessgrants

import (
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// operationPermission returns the permission an S3 operation, named as the
// SDK names it, needs from Access Grants, and false for every operation that
// Access Grants does not serve.
//
// The three groups are the operations that credentials vended for READ, WRITE
// and READWRITE grants may perform (service.md, "What vended credentials may
// do"); copies read one object and write another, so they need both.
func operationPermission(operation string) (Permission, bool) {
	switch operation {
	case "GetObject", "HeadObject", "GetObjectAcl", "GetObjectAttributes",
		"ListObjects", "ListObjectsV2", "ListObjectVersions",
		"ListMultipartUploads", "ListParts", "HeadBucket":
		return PermissionRead, true
	case "PutObject", "PutObjectAcl", "DeleteObject", "DeleteObjects",
		"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
		"AbortMultipartUpload":
		return PermissionWrite, true
	case "CopyObject", "UploadPartCopy":
		return PermissionReadWrite, true
	}
	return "", false
}

// targetShape says how an operation's target is computed from its input.
type targetShape uint8

const (
	shapeNone   targetShape = iota // no input to work from: a nil pointer
	shapeObject                    // one object: s3://bucket/key
	shapePrefix                    // a listing: s3://bucket/prefix*
	shapeBucket                    // the whole bucket: s3://bucket/*
	shapeKeys                      // DeleteObjects: the keys' common prefix
	shapeCopy                      // CopyObject, UploadPartCopy: source and destination
)

// operationInput holds the fields of an operation's typed input that decide
// its target. The pointers alias the caller's input; nothing is copied.
type operationInput struct {
	shape      targetShape
	bucket     *string
	key        *string // object operations, and the destination of copies
	prefix     *string // list operations
	copySource *string
	objects    []types.ObjectIdentifier // DeleteObjects
}

// inputOf returns the operation that the typed input belongs to and the
// fields of it that decide the target. For input of a type no supported
// operation takes it returns "". For a nil pointer of a known type it returns
// that operation with shape shapeNone.
//
// A type switch keeps this free of reflection and allocations: it runs on
// every request.
func inputOf(input any) (string, operationInput) {
	var in operationInput
	switch v := input.(type) {
	// READ
	case *s3.GetObjectInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "GetObject", in
	case *s3.HeadObjectInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "HeadObject", in
	case *s3.GetObjectAclInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "GetObjectAcl", in
	case *s3.GetObjectAttributesInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "GetObjectAttributes", in
	case *s3.ListObjectsInput:
		if v != nil {
			in = prefixInput(v.Bucket, v.Prefix)
		}
		return "ListObjects", in
	case *s3.ListObjectsV2Input:
		if v != nil {
			in = prefixInput(v.Bucket, v.Prefix)
		}
		return "ListObjectsV2", in
	case *s3.ListObjectVersionsInput:
		if v != nil {
			in = prefixInput(v.Bucket, v.Prefix)
		}
		return "ListObjectVersions", in
	case *s3.ListMultipartUploadsInput:
		if v != nil {
			in = prefixInput(v.Bucket, v.Prefix)
		}
		return "ListMultipartUploads", in
	case *s3.ListPartsInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "ListParts", in
	case *s3.HeadBucketInput:
		if v != nil {
			in = operationInput{shape: shapeBucket, bucket: v.Bucket}
		}
		return "HeadBucket", in

	// WRITE
	case *s3.PutObjectInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "PutObject", in
	case *s3.PutObjectAclInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "PutObjectAcl", in
	case *s3.DeleteObjectInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "DeleteObject", in
	case *s3.DeleteObjectsInput:
		if v != nil {
			in = operationInput{shape: shapeKeys, bucket: v.Bucket}
			if v.Delete != nil {
				in.objects = v.Delete.Objects
			}
		}
		return "DeleteObjects", in
	case *s3.CreateMultipartUploadInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "CreateMultipartUpload", in
	case *s3.UploadPartInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "UploadPart", in
	case *s3.CompleteMultipartUploadInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "CompleteMultipartUpload", in
	case *s3.AbortMultipartUploadInput:
		if v != nil {
			in = objectInput(v.Bucket, v.Key)
		}
		return "AbortMultipartUpload", in

	// READWRITE
	case *s3.CopyObjectInput:
		if v != nil {
			in = copyInput(v.Bucket, v.Key, v.CopySource)
		}
		return "CopyObject", in
	case *s3.UploadPartCopyInput:
		if v != nil {
			in = copyInput(v.Bucket, v.Key, v.CopySource)
		}
		return "UploadPartCopy", in
	}
	return "", in
}

func objectInput(bucket, key *string) operationInput {
	return operationInput{shape: shapeObject, bucket: bucket, key: key}
}

func prefixInput(bucket, prefix *string) operationInput {
	return operationInput{shape: shapePrefix, bucket: bucket, prefix: prefix}
}

func copyInput(bucket, key, copySource *string) operationInput {
	return operationInput{shape: shapeCopy, bucket: bucket, key: key, copySource: copySource}
}

package accessgrants_test

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	accessgrants "github.com/s3ag/accessgrants"
)

// RequestFor shows which grant an S3 call needs, without calling anything.
func ExampleRequestFor() {
	show := func(operation string, input any) {
		req, err := accessgrants.RequestFor(operation, input)
		switch {
		case errors.Is(err, accessgrants.ErrUnsupported):
			fmt.Printf("%-13s not served by Access Grants\n", operation)
		case err != nil:
			fmt.Printf("%-13s error: %v\n", operation, err)
		default:
			fmt.Printf("%-13s %-9s %s", operation, req.Permission, req.Target)
			if req.TargetType != "" {
				fmt.Printf(" (TargetType %s)", req.TargetType)
			}
			fmt.Println()
		}
	}

	show("GetObject", &s3.GetObjectInput{
		Bucket: aws.String("reports"),
		Key:    aws.String("2024/q1 summary.pdf"),
	})
	show("ListObjectsV2", &s3.ListObjectsV2Input{
		Bucket: aws.String("reports"),
		Prefix: aws.String("2024/"),
	})
	show("DeleteObjects", &s3.DeleteObjectsInput{
		Bucket: aws.String("reports"),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("2024/q1.csv")},
			{Key: aws.String("2024/q2.csv")},
		}},
	})
	show("CopyObject", &s3.CopyObjectInput{
		Bucket:     aws.String("reports"),
		Key:        aws.String("archive/2024/q1.csv"),
		CopySource: aws.String("reports/2024/q1.csv?versionId=abc"),
	})
	show("CopyObject", &s3.CopyObjectInput{
		Bucket:     aws.String("reports"),
		Key:        aws.String("q1.csv"),
		CopySource: aws.String("other-bucket/q1.csv"),
	})
	show("ListBuckets", &s3.ListBucketsInput{})
	show("GetObject", &s3.GetObjectInput{
		Bucket: aws.String("fast--usw2-az1--x-s3"),
		Key:    aws.String("k"),
	})

	// Output:
	// GetObject     READ      s3://reports/2024/q1 summary.pdf (TargetType Object)
	// ListObjectsV2 READ      s3://reports/2024/*
	// DeleteObjects WRITE     s3://reports/2024/q*
	// CopyObject    READWRITE s3://reports/*
	// CopyObject    error: accessgrants: CopyObject: source and destination bucket must be the same (source "other-bucket", destination "reports")
	// ListBuckets   not served by Access Grants
	// GetObject     not served by Access Grants
}

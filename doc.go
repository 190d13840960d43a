// Package accessgrants signs the requests of an aws-sdk-go-v2 Amazon S3
// client with Amazon S3 Access Grants credentials.
package accessgrants

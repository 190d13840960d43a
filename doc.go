// Package accessgrants signs the requests of aws-sdk-go-v2 Amazon S3 clients
// with Amazon S3 Access Grants credentials.
//
// S3 Access Grants lets a bucket owner grant READ, WRITE or READWRITE on a
// bucket, a prefix or an object to an IAM principal. An application trades
// its own identity for short-lived credentials scoped to a grant with S3
// Control's GetDataAccess, and signs its S3 requests with them. This
// package does that transparently: register a Plugin on an S3 client, and
// every request that Access Grants serves is signed with credentials for
// exactly the bucket, key or prefix it touches.
//
//	cfg, err := config.LoadDefaultConfig(ctx)
//	...
//	plugin, err := accessgrants.New(cfg)
//	...
//	client := s3.NewFromConfig(cfg, plugin.Register)
//
// # What is served
//
// RequestFor maps each operation to the permission and target it needs:
// object reads and lists need READ, writes and deletes WRITE, copies within
// one bucket READWRITE. Other operations, and access points, directory
// buckets and other buckets Access Grants does not serve, are signed with
// the client's own credentials.
//
// # Resolution and caches
//
// For a request it serves, the plugin finds the caller's account (from the
// credentials, Options.AccountID or STS), the bucket's Region (HeadBucket),
// the Access Grants instance that owns the bucket's locations
// (GetAccessGrantsInstanceForPrefix, across accounts when a resource policy
// allows it) and calls GetDataAccess as the caller. Every step is cached and
// deduplicated in flight; credentials are cached under the scope of the
// grant that matched and serve every later request inside it, are refreshed
// in the background before they expire, and are never shared between
// identities.
//
// # Failures
//
// Failures reach the caller as *Error, which names the request and wraps
// the service's error. With Options.FallbackEnabled, a request that Access
// Grants refuses or fails is signed with the client's own credentials
// instead.
//
// # Testing
//
// Package github.com/s3ag/accessgrants/emulator serves STS, S3 Control Access
// Grants and S3 on one local endpoint, for tests that run offline.
package accessgrants

// Package emulator serves Amazon STS, S3 Control Access Grants and Amazon S3
// on one local endpoint, so that S3 Access Grants code runs and is tested
// offline with unmodified AWS SDK clients.
//
// Requests are routed by path, never by Host (the SDKs put the account ID
// in front of S3 Control's host): /v20180820/... is S3 Control, a POST /
// signed for sts is STS, /_emulator/... is introspection and fault
// control, and everything else is S3, path style or bucket.localhost.
// Every request must carry a valid AWS Signature Version 4; principals may
// do what their allow statements say, and credentials vended by
// GetDataAccess only what their grant's permission and scope cover. Objects
// are stored by gofakes3, in memory or, with WithDataDir, in bbolt.
//
// In a test:
//
//	srv := emulator.NewServer(t, cfg)                // closed by t.Cleanup
//	client := s3.NewFromConfig(srv.AWSConfig("AKIA..."))
//	...
//	srv.Calls()["GetDataAccess"]                     // what the emulator served
//
// Start serves outside tests; the s3ag command's "emulator" subcommand
// wraps it.
package emulator

package accessgrants

import (
	"errors"
	"strings"

	"github.com/aws/smithy-go"
)

// Error is how every failure that comes from Access Grants reaches the
// caller: it names the request that failed and wraps the cause, so that
// errors.As still finds the service's error (an smithy.APIError with code
// AccessDenied from S3 Control, say) under it.
//
// Its message never holds a secret key, a session token or a signature.
type Error struct {
	// Operation is the S3 operation, e.g. "GetObject"; "" for Credentials.
	Operation string
	// Bucket is the bucket the operation addresses.
	Bucket string
	// Target is the S3 URI asked of GetDataAccess.
	Target string
	// Permission is the permission asked for.
	Permission Permission
	// Err is the cause.
	Err error
}

// Error describes the failure: what was asked, for which target, and why.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("s3 access grants: ")
	if e.Operation != "" {
		b.WriteString(e.Operation)
		b.WriteString(" ")
	}
	if e.Target != "" {
		b.WriteString(e.Target)
	} else if e.Bucket != "" {
		b.WriteString("s3://")
		b.WriteString(e.Bucket)
	}
	if e.Permission != "" {
		b.WriteString(" (")
		b.WriteString(string(e.Permission))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// RetryableError reports false: the S3 client's retryer must not retry an
// Access Grants failure, since the plugin's S3 Control client has already
// retried it as often as its own retryer allows.
func (e *Error) RetryableError() bool { return false }

// ErrorCode returns the AWS error code of the cause ("AccessDenied",
// "SlowDown", ...), or "" when the cause is not an AWS API error.
func (e *Error) ErrorCode() string {
	var ae smithy.APIError
	if errors.As(e.Err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isAccessDenied reports whether err is S3 Control's AccessDenied: the
// caller has no grant for the target. Only these are remembered.
func isAccessDenied(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied"
}

// errNoCredentials is the cause when a client with anonymous credentials
// makes a supported request with fallback off.
//
//lint:ignore ST1005 the message starts with the product's name
var errNoCredentials = errors.New("Access Grants needs the client's credentials to call GetDataAccess, and the client is anonymous")

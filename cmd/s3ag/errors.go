package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	accessgrants "github.com/s3ag/accessgrants"
)

// failure is the error of a data or credentials command: what the command
// was doing (e.g. "cat s3://bucket/key"), what Access Grants was asked
// for it when s3ag knows, and the cause. Its message is the one line s3ag
// prints: what failed, the target, the permission and the service's
// error code.
type failure struct {
	what string
	req  *accessgrants.Request // nil when the operation is not Access Grants'
	err  error
}

func (f *failure) Error() string { return f.what + ": " + describeError(f.req, f.err) }
func (f *failure) Unwrap() error { return f.err }

// fail wraps err, if any, in a failure for the command action, with the
// Access Grants request of operation and input when there is one.
func fail(what, operation string, input any, err error) error {
	if err == nil {
		return nil
	}
	f := &failure{what: what, err: err}
	if operation != "" && input != nil {
		if req, rerr := accessgrants.RequestFor(operation, input); rerr == nil {
			f.req = &req
		}
	}
	return f
}

// describeError says in one line why a call failed:
//
//	Access Grants refused WRITE on s3://b/k: S3 Control GetDataAccess: AccessDenied: You do not have ...
//	S3 GetObject (READ on s3://b/k through Access Grants): NoSuchKey: The specified key does not exist.
//
// It takes the permission and target from an *accessgrants.Error when the
// plugin failed, else from req, and the service, operation and error code
// from the SDK's errors.
func describeError(req *accessgrants.Request, err error) string {
	var b strings.Builder
	var agErr *accessgrants.Error
	if errors.As(err, &agErr) {
		perm, target := agErr.Permission, agErr.Target
		if target == "" && agErr.Bucket != "" {
			target = "s3://" + agErr.Bucket
		}
		verb := "Access Grants failed"
		if agErr.ErrorCode() == "AccessDenied" {
			verb = "Access Grants refused"
		}
		b.WriteString(verb)
		switch {
		case perm != "" && target != "":
			b.WriteString(" " + string(perm) + " on " + target)
		case target != "":
			b.WriteString(" " + target)
		}
		if agErr.Operation != "" {
			b.WriteString(" for " + agErr.Operation)
		}
		b.WriteString(": ")
		// RequestFor's own errors start with the operation again.
		cause := strings.TrimPrefix(describeCause(agErr.Err), "accessgrants: "+agErr.Operation+": ")
		b.WriteString(cause)
		return b.String()
	}
	var opErr *smithy.OperationError
	if !errors.As(err, &opErr) {
		return describeCause(err)
	}
	b.WriteString(serviceName(opErr.ServiceID) + " " + opErr.OperationName)
	if req != nil {
		b.WriteString(" (" + string(req.Permission) + " on " + req.Target + " through Access Grants)")
	}
	b.WriteString(": ")
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		b.WriteString(apiMessage(apiErr))
	} else {
		b.WriteString(transportMessage(opErr.Err))
	}
	return b.String()
}

// apiMessage is an API error's code and message.
func apiMessage(apiErr smithy.APIError) string {
	msg := apiErr.ErrorCode()
	if m := apiErr.ErrorMessage(); m != "" {
		msg += ": " + m
	}
	return msg
}

// describeCause names the failing service call and its error code when
// there is one, else gives the error's own message.
func describeCause(err error) string {
	if err == nil {
		return "unknown error"
	}
	var apiErr smithy.APIError
	var opErr *smithy.OperationError
	switch {
	case errors.As(err, &apiErr):
		msg := apiMessage(apiErr)
		if errors.As(err, &opErr) {
			msg = serviceName(opErr.ServiceID) + " " + opErr.OperationName + ": " + msg
		}
		return msg
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &opErr):
		return serviceName(opErr.ServiceID) + " " + opErr.OperationName + ": " + transportMessage(opErr.Err)
	}
	return err.Error()
}

// transportMessage shortens the SDK's message for a request that got no
// answer to the network error and the number of attempts.
func transportMessage(err error) string {
	var netErr *net.OpError
	if !errors.As(err, &netErr) {
		return err.Error()
	}
	msg := netErr.Error()
	var maxErr *retry.MaxAttemptsError
	if errors.As(err, &maxErr) {
		msg += fmt.Sprintf(" (after %d attempts)", maxErr.Attempt)
	}
	return msg
}

// serviceName returns the name a user knows for an SDK service ID.
func serviceName(id string) string {
	if id == "" {
		return "AWS"
	}
	return id
}

package accessgrants

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// middlewareID names the plugin's step in an S3 client's middleware stack.
const middlewareID = "S3AccessGrants"

// Register attaches the plugin to an S3 client. It is an s3 option
// function:
//
//	client := s3.NewFromConfig(cfg, plugin.Register)
//
// From then on every request that Access Grants serves is signed with
// Access Grants credentials for exactly the data it touches, and every
// other request with the client's own credentials. One plugin may be
// registered on many clients, each with its own credentials; registering
// it twice on one client is harmless.
//
// Register wraps o.Credentials, so it must come after any option function
// that sets them. Nothing may wrap the provider it installs in an
// aws.CredentialsCache, which would pin one set of credentials for every
// request.
func (p *Plugin) Register(o *s3.Options) {
	if pr, ok := o.Credentials.(*provider); ok && pr.plugin == p {
		return
	}
	if o.Credentials == nil || aws.IsCredentialsProvider(o.Credentials, (*aws.AnonymousCredentials)(nil)) {
		// An anonymous client cannot call GetDataAccess: with fallback its
		// requests stay anonymous; without, supported ones fail.
		if !p.opts.FallbackEnabled {
			o.APIOptions = append(o.APIOptions, p.anonymousMiddleware)
		}
		return
	}
	o.Credentials = &provider{plugin: p, base: o.Credentials, region: o.Region}
	o.APIOptions = append(o.APIOptions, p.addMiddleware, addUserAgent)
}

// requestKey is the stack value under which the middleware leaves the
// Request of the operation for the credentials provider.
type requestKey struct{}

// addMiddleware adds the Initialize step that maps the operation to its
// Request.
func (p *Plugin) addMiddleware(stack *middleware.Stack) error {
	if _, ok := stack.Initialize.Get(middlewareID); ok {
		return nil
	}
	return stack.Initialize.Add(p.mw, middleware.After)
}

// initialize maps the operation and its input to a Request, and leaves it
// in the context for the credentials provider, which the SDK calls once
// per attempt (signing, presigning, SigV4a alike). A request the plugin
// cannot map because it is faulty (no bucket, a bad CopySource, a copy
// across buckets) fails here, before any attempt, unless fallback is on.
func (p *Plugin) initialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	op := middleware.GetOperationName(ctx)
	req, err := RequestFor(op, in.Parameters)
	switch {
	case err == nil:
		ctx = middleware.WithStackValue(ctx, requestKey{}, &req)
	case errors.Is(err, ErrUnsupported):
		p.counters.unsupported.Add(1)
		p.logf(ctx, "%s: not served by Access Grants (%v); signing with the client's credentials", op, err)
	case p.opts.FallbackEnabled:
		p.counters.fallback.Add(1)
		p.logf(ctx, "%s: %v; fallback: signing with the client's credentials", op, err)
	default:
		p.counters.failed.Add(1)
		return middleware.InitializeOutput{}, middleware.Metadata{}, &Error{Operation: op, Bucket: req.Bucket, Err: err}
	}
	return next.HandleInitialize(ctx, in)
}

// anonymousMiddleware fails the supported requests of an anonymous client
// when fallback is off.
func (p *Plugin) anonymousMiddleware(stack *middleware.Stack) error {
	if _, ok := stack.Initialize.Get(middlewareID); ok {
		return nil
	}
	fn := func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		op := middleware.GetOperationName(ctx)
		req, err := RequestFor(op, in.Parameters)
		if errors.Is(err, ErrUnsupported) {
			return next.HandleInitialize(ctx, in)
		}
		p.counters.failed.Add(1)
		return middleware.InitializeOutput{}, middleware.Metadata{}, &Error{
			Operation: op, Bucket: req.Bucket, Target: req.Target, Permission: req.Permission, Err: errNoCredentials,
		}
	}
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc(middlewareID, fn), middleware.After)
}

// provider is the credentials provider Register installs: for a request
// the plugin maps, Access Grants credentials; for any other, the client's.
type provider struct {
	plugin *Plugin
	base   aws.CredentialsProvider
	region string // the S3 client's Region, for DisableCrossRegion
}

// Retrieve returns the credentials to sign the request in ctx with.
func (pr *provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	req, _ := middleware.GetStackValue(ctx, requestKey{}).(*Request)
	if req == nil {
		return pr.base.Retrieve(ctx)
	}
	base, err := pr.base.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	p := pr.plugin
	creds, err := p.credentialsFor(ctx, base, *req, pr.region)
	if err == nil {
		return creds, nil
	}
	if p.opts.FallbackEnabled {
		p.counters.fallback.Add(1)
		p.logf(ctx, "%s %s (%s): %v; fallback: signing with the client's credentials", req.Operation, req.Target, req.Permission, err)
		return base, nil
	}
	if isAccessDenied(err) {
		p.counters.denied.Add(1)
	} else {
		p.counters.failed.Add(1)
	}
	return aws.Credentials{}, &Error{Operation: req.Operation, Bucket: req.Bucket, Target: req.Target, Permission: req.Permission, Err: err}
}

// Credentials returns Access Grants credentials for an S3 URI (s3://bucket,
// s3://bucket/key or s3://bucket/prefix*), as the identity of the
// credentials of the aws.Config the plugin was made with, through the same
// caches as registered clients. It is for programs that are not S3 clients
// of this SDK: the CLI's credential_process helper, other tools. Failures
// are an *Error; fallback does not apply.
func (p *Plugin) Credentials(ctx context.Context, target string, perm Permission) (aws.Credentials, error) {
	req, err := requestForURI(target, perm)
	if err != nil {
		return aws.Credentials{}, &Error{Target: target, Permission: perm, Err: err}
	}
	if p.cfg.Credentials == nil || aws.IsCredentialsProvider(p.cfg.Credentials, (*aws.AnonymousCredentials)(nil)) {
		return aws.Credentials{}, &Error{Target: req.Target, Bucket: req.Bucket, Permission: perm, Err: errNoCredentials}
	}
	base, err := p.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, &Error{Target: req.Target, Bucket: req.Bucket, Permission: perm, Err: fmt.Errorf("retrieving the caller's credentials: %w", err)}
	}
	creds, err := p.credentialsFor(ctx, base, req, p.cfg.Region)
	if err != nil {
		if isAccessDenied(err) {
			p.counters.denied.Add(1)
		} else {
			p.counters.failed.Add(1)
		}
		return aws.Credentials{}, &Error{Bucket: req.Bucket, Target: req.Target, Permission: perm, Err: err}
	}
	return creds, nil
}

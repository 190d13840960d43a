package accessgrants

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/metrics"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/tracing"
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
// that sets them; it also takes the client's MeterProvider and
// TracerProvider, unless Options sets the plugin's own. Nothing may wrap
// the provider it installs in an aws.CredentialsCache, which would pin one
// set of credentials for every request.
func (p *Plugin) Register(o *s3.Options) {
	if pr, ok := o.Credentials.(*provider); ok && pr.plugin == p {
		return
	}
	pr := &provider{plugin: p, base: o.Credentials, region: o.Region, tel: p.telemetryFor(o.MeterProvider, o.TracerProvider)}
	pr.mw = middleware.InitializeMiddlewareFunc(middlewareID, pr.initialize)
	if o.Credentials == nil || aws.IsCredentialsProvider(o.Credentials, (*aws.AnonymousCredentials)(nil)) {
		// An anonymous client cannot call GetDataAccess: with fallback its
		// requests stay anonymous; without, supported ones fail.
		if !p.opts.FallbackEnabled {
			pr.anonymous = true
			o.APIOptions = append(o.APIOptions, pr.addMiddleware)
		}
		return
	}
	o.Credentials = pr
	o.APIOptions = append(o.APIOptions, pr.addMiddleware, addUserAgent)
}

// telemetryFor returns the telemetry of a client: the providers of
// Options when set, else the client's.
func (p *Plugin) telemetryFor(mp metrics.MeterProvider, tp tracing.TracerProvider) *telemetry {
	if p.opts.MeterProvider != nil {
		mp = p.opts.MeterProvider
	}
	if p.opts.TracerProvider != nil {
		tp = p.opts.TracerProvider
	}
	if isNop(mp, tp) && !p.tel.metered && !p.tel.traced {
		return p.tel
	}
	return newTelemetry(mp, tp)
}

// provider is the credentials provider Register installs: for a request
// the plugin maps, Access Grants credentials; for any other, the client's.
type provider struct {
	plugin    *Plugin
	base      aws.CredentialsProvider
	region    string // the S3 client's Region, for DisableCrossRegion
	tel       *telemetry
	mw        middleware.InitializeMiddleware
	anonymous bool // the client has no credentials and fallback is off
}

// requestKey is the stack value under which the middleware leaves the
// Request of the operation for the credentials provider.
type requestKey struct{}

// addMiddleware adds the Initialize step that maps the operation to its
// Request. A stack that has it already (a second registration) is left
// alone.
func (pr *provider) addMiddleware(stack *middleware.Stack) error {
	if _, ok := stack.Initialize.Get(middlewareID); ok {
		return nil
	}
	return stack.Initialize.Add(pr.mw, middleware.After)
}

// initialize maps the operation and its input to a Request, and leaves it
// in the context for the credentials provider, which the SDK calls once
// per attempt (signing, presigning, SigV4a alike). A request the plugin
// cannot map because it is faulty (no bucket, a bad CopySource, a copy
// across buckets) fails here, before any attempt, unless fallback is on.
func (pr *provider) initialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	p := pr.plugin
	op := middleware.GetOperationName(ctx)
	req, err := RequestFor(op, in.Parameters)
	switch {
	case errors.Is(err, ErrUnsupported):
		p.outcome(ctx, pr.tel, outcomeUnsupported, op)
		p.logf(ctx, "%s: not served by Access Grants (%v): signed with the client's credentials", op, err)
	case err == nil && pr.anonymous:
		p.outcome(ctx, pr.tel, outcomeFailed, op)
		return middleware.InitializeOutput{}, middleware.Metadata{}, &Error{
			Operation: op, Bucket: req.Bucket, Target: req.Target, Permission: req.Permission, Err: errNoCredentials,
		}
	case err == nil:
		ctx = middleware.WithStackValue(ctx, requestKey{}, &req)
	case p.opts.FallbackEnabled:
		p.outcome(ctx, pr.tel, outcomeFallback, op)
		p.logf(ctx, "%s: %v: fallback to the client's credentials", op, err)
	default:
		p.outcome(ctx, pr.tel, outcomeFailed, op)
		return middleware.InitializeOutput{}, middleware.Metadata{}, &Error{Operation: op, Bucket: req.Bucket, Err: err}
	}
	return next.HandleInitialize(ctx, in)
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
	ctx, span := pr.tel.startSpan(ctx, req)
	creds, _, outcome, err := p.credentialsFor(ctx, pr.tel, base, *req, pr.region)
	switch {
	case err == nil:
	case p.opts.FallbackEnabled:
		p.logf(ctx, "%s %s (%s): %v: fallback to the client's credentials", req.Operation, req.Target, req.Permission, err)
		creds, outcome, err = base, outcomeFallback, nil
	default:
		err = &Error{Operation: req.Operation, Bucket: req.Bucket, Target: req.Target, Permission: req.Permission, Err: err}
	}
	p.outcome(ctx, pr.tel, outcome, req.Operation)
	endSpan(span, outcome, err)
	return creds, err
}

// Credentials returns Access Grants credentials for an S3 URI (s3://bucket,
// s3://bucket/key or s3://bucket/prefix*), as the identity of the
// credentials of the aws.Config the plugin was made with, through the same
// caches as registered clients. It is for programs that are not S3 clients
// of this SDK: the CLI's credential_process helper, other tools. Failures
// are an *Error; fallback does not apply.
func (p *Plugin) Credentials(ctx context.Context, target string, perm Permission) (aws.Credentials, error) {
	da, err := p.DataAccess(ctx, target, perm)
	return da.Credentials, err
}

// DataAccess is what Plugin.DataAccess returns: Access Grants credentials
// and the scope they cover.
type DataAccess struct {
	Credentials aws.Credentials
	// Scope is the grant scope the credentials cover, GetDataAccess's
	// MatchedGrantTarget: the whole grant with PrivilegeDefault
	// (s3://bucket/prefix/*), the target itself with PrivilegeMinimal.
	Scope string
	// Permission is the permission they were vended for.
	Permission Permission
}

// DataAccess is Credentials with the scope the credentials cover, for
// callers that cache or show them (s3ag credentials does both).
func (p *Plugin) DataAccess(ctx context.Context, target string, perm Permission) (DataAccess, error) {
	req, err := requestForURI(target, perm)
	if err != nil {
		return DataAccess{}, &Error{Target: target, Permission: perm, Err: err}
	}
	fail := func(err error) (DataAccess, error) {
		return DataAccess{}, &Error{Bucket: req.Bucket, Target: req.Target, Permission: perm, Err: err}
	}
	if p.cfg.Credentials == nil || aws.IsCredentialsProvider(p.cfg.Credentials, (*aws.AnonymousCredentials)(nil)) {
		return fail(errNoCredentials)
	}
	base, err := p.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return fail(fmt.Errorf("retrieving the caller's credentials: %w", err))
	}
	ctx, span := p.tel.startSpan(ctx, &req)
	creds, scope, outcome, err := p.credentialsFor(ctx, p.tel, base, req, p.cfg.Region)
	p.outcome(ctx, p.tel, outcome, req.Operation)
	endSpan(span, outcome, err)
	if err != nil {
		return fail(err)
	}
	return DataAccess{Credentials: creds, Scope: scope, Permission: perm}, nil
}

// outcome counts a request's outcome in Stats and metrics.
func (p *Plugin) outcome(ctx context.Context, tel *telemetry, outcome, op string) {
	c := &p.counters
	switch outcome {
	case outcomeGranted:
		c.granted.Add(1)
	case outcomeCached:
		c.cached.Add(1)
	case outcomeFallback:
		c.fallback.Add(1)
	case outcomeDenied:
		c.denied.Add(1)
	case outcomeFailed:
		c.failed.Add(1)
	case outcomeUnsupported:
		c.unsupported.Add(1)
	}
	tel.request(ctx, outcome, op)
}

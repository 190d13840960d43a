package accessgrants

import (
	"context"
	"errors"
	"time"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/metrics"
	"github.com/aws/smithy-go/tracing"
)

// instrumentScope names the plugin's meter and tracer.
const instrumentScope = "github.com/s3ag/accessgrants"

// The plugin's metrics. Names, units and attributes are documented in the
// README; every instrument is asserted in telemetry_test.go.
const (
	// metricRequests counts requests by outcome: granted, cached, fallback,
	// denied, failed, unsupported. Attributes: outcome, operation.
	metricRequests = "s3ag.requests"
	// metricCacheLookups counts credential cache lookups. Attribute:
	// result (hit, miss, denied: answered by a remembered denial).
	metricCacheLookups = "s3ag.cache.lookups"
	// metricCacheEvictions counts credentials evicted to stay within
	// CacheSize.
	metricCacheEvictions = "s3ag.cache.evictions"
	// metricRefreshes counts background refreshes ahead of expiry.
	// Attribute: outcome (ok, error).
	metricRefreshes = "s3ag.refreshes"
	// metricCalls counts control-plane calls. Attributes: api
	// (GetDataAccess, GetAccessGrantsInstanceForPrefix,
	// GetCallerIdentity, HeadBucket), outcome (ok, error).
	metricCalls = "s3ag.control_plane.calls"
	// metricErrors counts failed control-plane calls. Attributes: api,
	// error.code (the AWS error code, or "network"/"timeout"/"other").
	metricErrors = "s3ag.control_plane.errors"
	// metricDuration records the latency of control-plane calls, in
	// seconds. Attribute: api.
	metricDuration = "s3ag.control_plane.duration"
)

// The span around one request's Access Grants resolution, and its
// attributes. The control-plane calls it makes are its children, as spans
// of the SDK's own clients.
const (
	spanResolve       = "S3AccessGrants.Resolve"
	attrOperation     = "s3ag.operation"
	attrBucket        = "s3ag.bucket"
	attrTarget        = "s3ag.target"
	attrPermission    = "s3ag.permission"
	attrOutcome       = "s3ag.outcome"
	attrAPI           = "api"
	attrResult        = "result"
	attrErrorCode     = "error.code"
	attrOutcomeMetric = "outcome"
	attrOpMetric      = "operation"
)

// Request outcomes, as Stats counts them and metrics and spans name them.
const (
	outcomeGranted     = "granted"
	outcomeCached      = "cached"
	outcomeFallback    = "fallback"
	outcomeDenied      = "denied"
	outcomeFailed      = "failed"
	outcomeUnsupported = "unsupported"
)

// telemetry is the plugin's instruments on one meter provider and its
// tracer on one tracer provider. The no-op providers cost nothing: each
// recording first checks whether there is anyone to record for.
type telemetry struct {
	mp      metrics.MeterProvider
	tp      tracing.TracerProvider
	metered bool
	traced  bool
	tracer  tracing.Tracer

	requests, lookups, evictions, refreshes, calls, errs metrics.Int64Counter
	duration                                             metrics.Float64Histogram
}

// isNop reports whether both providers are absent or the no-op ones.
func isNop(mp metrics.MeterProvider, tp tracing.TracerProvider) bool {
	switch mp.(type) {
	case nil, metrics.NopMeterProvider, *metrics.NopMeterProvider:
	default:
		return false
	}
	switch tp.(type) {
	case nil, tracing.NopTracerProvider, *tracing.NopTracerProvider:
		return true
	}
	return false
}

// newTelemetry makes the instruments on mp and the tracer on tp; nil
// providers are the no-op ones.
func newTelemetry(mp metrics.MeterProvider, tp tracing.TracerProvider) *telemetry {
	if mp == nil {
		mp = metrics.NopMeterProvider{}
	}
	if tp == nil {
		tp = tracing.NopTracerProvider{}
	}
	t := &telemetry{mp: mp, tp: tp, tracer: tp.Tracer(instrumentScope)}
	switch tp.(type) {
	case tracing.NopTracerProvider, *tracing.NopTracerProvider:
	default:
		t.traced = true
	}
	switch mp.(type) {
	case metrics.NopMeterProvider, *metrics.NopMeterProvider:
		return t
	}
	m := mp.Meter(instrumentScope)
	counter := func(name, unit, desc string) metrics.Int64Counter {
		c, err := m.Int64Counter(name, func(o *metrics.InstrumentOptions) { o.UnitLabel, o.Description = unit, desc })
		if err != nil || c == nil {
			return nil
		}
		return c
	}
	t.requests = counter(metricRequests, "{request}", "S3 requests signed through the plugin, by outcome")
	t.lookups = counter(metricCacheLookups, "{lookup}", "Credential cache lookups, by result")
	t.evictions = counter(metricCacheEvictions, "{entry}", "Credentials evicted from the cache")
	t.refreshes = counter(metricRefreshes, "{refresh}", "Background refreshes of credentials ahead of expiry")
	t.calls = counter(metricCalls, "{call}", "Control-plane calls, by API and outcome")
	t.errs = counter(metricErrors, "{call}", "Failed control-plane calls, by API and error code")
	if h, err := m.Float64Histogram(metricDuration, func(o *metrics.InstrumentOptions) {
		o.UnitLabel, o.Description = "s", "Latency of control-plane calls"
	}); err == nil && h != nil {
		t.duration = h
	}
	t.metered = true
	return t
}

func props(kv ...string) metrics.RecordMetricOption {
	return func(o *metrics.RecordMetricOptions) {
		for i := 0; i+1 < len(kv); i += 2 {
			o.Properties.Set(kv[i], kv[i+1])
		}
	}
}

func (t *telemetry) add(ctx context.Context, c metrics.Int64Counter, n int64, kv ...string) {
	if t.metered && c != nil {
		c.Add(ctx, n, props(kv...))
	}
}

// request records the outcome of one request.
func (t *telemetry) request(ctx context.Context, outcome, op string) {
	if !t.metered {
		return // before the variadic arguments, which would escape
	}
	t.add(ctx, t.requests, 1, attrOutcomeMetric, outcome, attrOpMetric, op)
}

// lookup records a cache lookup's result: hit, miss or denied.
func (t *telemetry) lookup(ctx context.Context, result string) {
	if !t.metered {
		return
	}
	t.add(ctx, t.lookups, 1, attrResult, result)
}

// call records one control-plane call.
func (t *telemetry) call(ctx context.Context, api string, d time.Duration, err error) {
	if !t.metered {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
		t.add(ctx, t.errs, 1, attrAPI, api, attrErrorCode, errorCode(err))
	}
	t.add(ctx, t.calls, 1, attrAPI, api, attrOutcomeMetric, outcome)
	if t.duration != nil {
		t.duration.Record(ctx, d.Seconds(), props(attrAPI, api))
	}
}

// refresh records a background refresh's outcome.
func (t *telemetry) refresh(ctx context.Context, err error) {
	if !t.metered {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	t.add(ctx, t.refreshes, 1, attrOutcomeMetric, outcome)
}

// errorCode classifies an error for the error.code attribute.
func errorCode(err error) string {
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		return ae.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	}
	var ce interface{ Timeout() bool }
	if errors.As(err, &ce) {
		return "network"
	}
	return "other"
}

// startSpan starts the resolution span of a request.
func (t *telemetry) startSpan(ctx context.Context, req *Request) (context.Context, tracing.Span) {
	if !t.traced {
		return ctx, nil
	}
	return t.tracer.StartSpan(ctx, spanResolve, func(o *tracing.SpanOptions) {
		o.Kind = tracing.SpanKindInternal
		o.Properties.Set(attrOperation, req.Operation)
		o.Properties.Set(attrBucket, req.Bucket)
		o.Properties.Set(attrTarget, req.Target)
		o.Properties.Set(attrPermission, string(req.Permission))
	})
}

// endSpan ends a resolution span with its outcome.
func endSpan(span tracing.Span, outcome string, err error) {
	if span == nil {
		return
	}
	span.SetProperty(attrOutcome, outcome)
	if err != nil {
		span.SetProperty("exception.type", "accessgrants.Error")
		span.SetProperty(attrErrorCode, errorCode(err))
		span.SetStatus(tracing.SpanStatusError)
	} else {
		span.SetStatus(tracing.SpanStatusOK)
	}
	span.End()
}

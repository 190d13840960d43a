package accessgrants_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/metrics"
	"github.com/aws/smithy-go/tracing"

	accessgrants "github.com/s3ag/accessgrants"
)

// recMeter is an in-memory implementation of smithy-go's metrics
// interfaces: it sums counters and collects histogram points by
// instrument name and attributes.
type recMeter struct {
	mu     sync.Mutex
	sums   map[string]float64 // "name{k=v,...}" → sum
	points map[string][]float64
	units  map[string]string
}

func newRecMeter() *recMeter {
	return &recMeter{sums: map[string]float64{}, points: map[string][]float64{}, units: map[string]string{}}
}

func (m *recMeter) Meter(string, ...metrics.MeterOption) metrics.Meter { return m }

func seriesKey(name string, opts []metrics.RecordMetricOption) string {
	var o metrics.RecordMetricOptions
	for _, fn := range opts {
		fn(&o)
	}
	var kv []string
	for k, v := range o.Properties.Values() {
		kv = append(kv, fmt.Sprintf("%v=%v", k, v))
	}
	sort.Strings(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

func (m *recMeter) record(name string, v float64, opts []metrics.RecordMetricOption, point bool) {
	k := seriesKey(name, opts)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sums[k] += v
	if point {
		m.points[k] = append(m.points[k], v)
	}
}

func (m *recMeter) sum(series string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sums[series]
}

type recInstrument struct {
	m     *recMeter
	name  string
	point bool
}

func (i recInstrument) Add(_ context.Context, v int64, opts ...metrics.RecordMetricOption) {
	i.m.record(i.name, float64(v), opts, false)
}
func (i recInstrument) Sample(_ context.Context, v int64, opts ...metrics.RecordMetricOption) {
	i.m.record(i.name, float64(v), opts, true)
}
func (i recInstrument) Record(_ context.Context, v int64, opts ...metrics.RecordMetricOption) {
	i.m.record(i.name, float64(v), opts, true)
}

type recFloat struct {
	m    *recMeter
	name string
}

func (i recFloat) Add(_ context.Context, v float64, opts ...metrics.RecordMetricOption) {
	i.m.record(i.name, v, opts, false)
}
func (i recFloat) Sample(_ context.Context, v float64, opts ...metrics.RecordMetricOption) {
	i.m.record(i.name, v, opts, true)
}
func (i recFloat) Record(_ context.Context, v float64, opts ...metrics.RecordMetricOption) {
	i.m.record(i.name, v, opts, true)
}

type recAsync struct{}

func (recAsync) Stop() {}

func (m *recMeter) unit(name string, opts []metrics.InstrumentOption) {
	var o metrics.InstrumentOptions
	for _, fn := range opts {
		fn(&o)
	}
	m.mu.Lock()
	m.units[name] = o.UnitLabel
	m.mu.Unlock()
}

func (m *recMeter) Int64Counter(n string, o ...metrics.InstrumentOption) (metrics.Int64Counter, error) {
	m.unit(n, o)
	return recInstrument{m, n, false}, nil
}
func (m *recMeter) Int64UpDownCounter(n string, o ...metrics.InstrumentOption) (metrics.Int64UpDownCounter, error) {
	m.unit(n, o)
	return recInstrument{m, n, false}, nil
}
func (m *recMeter) Int64Gauge(n string, o ...metrics.InstrumentOption) (metrics.Int64Gauge, error) {
	m.unit(n, o)
	return recInstrument{m, n, true}, nil
}
func (m *recMeter) Int64Histogram(n string, o ...metrics.InstrumentOption) (metrics.Int64Histogram, error) {
	m.unit(n, o)
	return recInstrument{m, n, true}, nil
}
func (m *recMeter) Int64AsyncCounter(string, metrics.Int64Callback, ...metrics.InstrumentOption) (metrics.AsyncInstrument, error) {
	return recAsync{}, nil
}
func (m *recMeter) Int64AsyncUpDownCounter(string, metrics.Int64Callback, ...metrics.InstrumentOption) (metrics.AsyncInstrument, error) {
	return recAsync{}, nil
}
func (m *recMeter) Int64AsyncGauge(string, metrics.Int64Callback, ...metrics.InstrumentOption) (metrics.AsyncInstrument, error) {
	return recAsync{}, nil
}
func (m *recMeter) Float64Counter(n string, o ...metrics.InstrumentOption) (metrics.Float64Counter, error) {
	m.unit(n, o)
	return recFloat{m, n}, nil
}
func (m *recMeter) Float64UpDownCounter(n string, o ...metrics.InstrumentOption) (metrics.Float64UpDownCounter, error) {
	m.unit(n, o)
	return recFloat{m, n}, nil
}
func (m *recMeter) Float64Gauge(n string, o ...metrics.InstrumentOption) (metrics.Float64Gauge, error) {
	m.unit(n, o)
	return recFloat{m, n}, nil
}
func (m *recMeter) Float64Histogram(n string, o ...metrics.InstrumentOption) (metrics.Float64Histogram, error) {
	m.unit(n, o)
	return recFloat{m, n}, nil
}
func (m *recMeter) Float64AsyncCounter(string, metrics.Float64Callback, ...metrics.InstrumentOption) (metrics.AsyncInstrument, error) {
	return recAsync{}, nil
}
func (m *recMeter) Float64AsyncUpDownCounter(string, metrics.Float64Callback, ...metrics.InstrumentOption) (metrics.AsyncInstrument, error) {
	return recAsync{}, nil
}
func (m *recMeter) Float64AsyncGauge(string, metrics.Float64Callback, ...metrics.InstrumentOption) (metrics.AsyncInstrument, error) {
	return recAsync{}, nil
}

// recTracer is an in-memory smithy-go tracer that records every span with
// its parent and properties.
type recTracer struct {
	mu    sync.Mutex
	spans []*recSpan
}

type recSpan struct {
	t      *recTracer
	name   string
	parent *recSpan
	props  smithy.Properties
	status tracing.SpanStatus
	ended  bool
}

func (t *recTracer) Tracer(string, ...tracing.TracerOption) tracing.Tracer { return t }

func (t *recTracer) StartSpan(ctx context.Context, name string, opts ...tracing.SpanOption) (context.Context, tracing.Span) {
	var o tracing.SpanOptions
	for _, fn := range opts {
		fn(&o)
	}
	s := &recSpan{t: t, name: name, props: o.Properties}
	if parent, ok := tracing.GetSpan(ctx); ok {
		s.parent, _ = parent.(*recSpan)
	}
	t.mu.Lock()
	t.spans = append(t.spans, s)
	t.mu.Unlock()
	return tracing.WithSpan(ctx, s), s
}

func (s *recSpan) Name() string { return s.name }
func (s *recSpan) Context() tracing.SpanContext {
	return tracing.SpanContext{TraceID: "t", SpanID: s.name}
}
func (s *recSpan) AddEvent(string, ...tracing.EventOption) {}
func (s *recSpan) SetStatus(st tracing.SpanStatus)         { s.t.mu.Lock(); s.status = st; s.t.mu.Unlock() }
func (s *recSpan) SetProperty(k, v any)                    { s.t.mu.Lock(); s.props.Set(k, v); s.t.mu.Unlock() }
func (s *recSpan) End()                                    { s.t.mu.Lock(); s.ended = true; s.t.mu.Unlock() }

func (t *recTracer) named(name string) []*recSpan {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*recSpan
	for _, s := range t.spans {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// recLogger collects log lines.
type recLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recLogger) Logf(c logging.Classification, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(c)+" "+fmt.Sprintf(format, v...))
}

func TestMetrics(t *testing.T) {
	w := newWorld(t)
	m := newRecMeter()
	p := w.plugin(func(o *accessgrants.Options) { o.MeterProvider = m; o.CacheSize = 1 })
	c := s3.NewFromConfig(withoutAccount(w.srv.AWSConfig(appKey)), p.Register)
	ctx := context.Background()

	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(read(t, c, "data-bucket", "reports/q1.csv")) // cold: granted
	must(read(t, c, "data-bucket", "reports/q2.csv")) // cached
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("reports/x"), Body: strings.NewReader("x")})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("PutObject: %v", err)
	}
	must(read(t, c, "other-bucket", "x.txt")) // evicts the first entry (CacheSize 1)
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatal(err)
	}
	// Into the refresh-ahead window of the other-bucket credentials.
	w.srv.AdvanceClock(55 * time.Minute)
	must(read(t, c, "other-bucket", "x.txt"))
	waitIdle(t, p)

	want := map[string]float64{
		"s3ag.requests{operation=GetObject,outcome=granted}":                        2,
		"s3ag.requests{operation=GetObject,outcome=cached}":                         2,
		"s3ag.requests{operation=PutObject,outcome=denied}":                         1,
		"s3ag.requests{operation=ListBuckets,outcome=unsupported}":                  1,
		"s3ag.cache.lookups{result=hit}":                                            2,
		"s3ag.cache.lookups{result=miss}":                                           3,
		"s3ag.cache.evictions{}":                                                    1,
		"s3ag.refreshes{outcome=ok}":                                                1,
		"s3ag.control_plane.calls{api=GetDataAccess,outcome=ok}":                    3,
		"s3ag.control_plane.calls{api=GetDataAccess,outcome=error}":                 1,
		"s3ag.control_plane.errors{api=GetDataAccess,error.code=AccessDenied}":      1,
		"s3ag.control_plane.calls{api=GetCallerIdentity,outcome=ok}":                1,
		"s3ag.control_plane.calls{api=HeadBucket,outcome=ok}":                       2,
		"s3ag.control_plane.calls{api=GetAccessGrantsInstanceForPrefix,outcome=ok}": 2,
	}
	for series, v := range want {
		if got := m.sum(series); got != v {
			t.Errorf("%s = %v, want %v", series, got, v)
		}
	}
	m.mu.Lock()
	points := m.points["s3ag.control_plane.duration{api=GetDataAccess}"]
	units := m.units
	m.mu.Unlock()
	if len(points) != 4 {
		t.Errorf("GetDataAccess latency points = %d, want 4", len(points))
	}
	for _, d := range points {
		if d <= 0 || d > 5 {
			t.Errorf("GetDataAccess latency %v s", d)
		}
	}
	if units["s3ag.control_plane.duration"] != "s" || units["s3ag.requests"] != "{request}" {
		t.Errorf("units = %v", units)
	}
}

func TestTracing(t *testing.T) {
	w := newWorld(t)
	tr := &recTracer{}
	p := w.plugin()
	// The S3 client's tracer provider is the plugin's default.
	c := s3.NewFromConfig(w.srv.AWSConfig(appKey), func(o *s3.Options) { o.TracerProvider = tr }, p.Register)
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, c, "data-bucket", "reports/q2.csv"); err != nil {
		t.Fatal(err)
	}
	spans := tr.named("S3AccessGrants.Resolve")
	if len(spans) != 2 {
		t.Fatalf("%d resolution spans, want 2", len(spans))
	}
	first, second := spans[0], spans[1]
	for _, s := range spans {
		if !s.ended || s.status != tracing.SpanStatusOK || !hasAncestor(s, "S3.GetObject") {
			t.Errorf("span %s: ended %v, status %v, not under the S3.GetObject span", s.name, s.ended, s.status)
		}
		if s.props.Get("s3ag.permission") != "READ" || s.props.Get("s3ag.bucket") != "data-bucket" || s.props.Get("s3ag.operation") != "GetObject" {
			t.Errorf("span properties %v", s.props.Values())
		}
	}
	if first.props.Get("s3ag.outcome") != "granted" || second.props.Get("s3ag.outcome") != "cached" ||
		first.props.Get("s3ag.target") != "s3://data-bucket/reports/q1.csv" {
		t.Errorf("outcomes %v, %v; target %v", first.props.Get("s3ag.outcome"), second.props.Get("s3ag.outcome"), first.props.Get("s3ag.target"))
	}
	// The control-plane calls are the first span's children.
	for _, name := range []string{"S3 Control.GetDataAccess", "S3 Control.GetAccessGrantsInstanceForPrefix", "S3.HeadBucket"} {
		calls := tr.named(name)
		if len(calls) != 1 || calls[0].parent != first {
			t.Errorf("%s: %d spans, parent %v; want one child of the resolution span", name, len(calls), calls)
		}
	}
}

// hasAncestor reports whether a span named name encloses s.
func hasAncestor(s *recSpan, name string) bool {
	for p := s.parent; p != nil; p = p.parent {
		if p.name == name {
			return true
		}
	}
	return false
}

func TestDebugLogAndUserAgent(t *testing.T) {
	w := newWorld(t)
	log := &recLogger{}
	p := w.plugin(func(o *accessgrants.Options) { o.Logger = log; o.FallbackEnabled = true })
	c := w.client(appKey, p)
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("reports/y"), Body: strings.NewReader("y")}); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	text := strings.Join(log.lines, "\n")
	log.mu.Unlock()
	for _, want := range []string{"DEBUG s3 access grants: GetObject s3://data-bucket/reports/q1.csv (READ): granted by s3://data-bucket/reports/*",
		"PutObject s3://data-bucket/reports/y (WRITE): GetDataAccess failed", "fallback to the client's credentials"} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	for _, secret := range []string{appSecret, "FQoGZXIvYXdzE"} {
		if strings.Contains(text, secret) {
			t.Errorf("the log holds a secret")
		}
	}
	for _, api := range []string{"GetDataAccess", "GetAccessGrantsInstanceForPrefix", "HeadBucket", "GetObject", "PutObject"} {
		if ua := w.lastCall(api).UserAgent; !strings.Contains(ua, "lib/s3ag#"+accessgrants.Version) {
			t.Errorf("%s user agent %q lacks lib/s3ag#%s", api, ua, accessgrants.Version)
		}
	}
}

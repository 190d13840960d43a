package accessgrants_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	s3ctypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"go.uber.org/goleak"

	accessgrants "github.com/s3ag/accessgrants"
	"github.com/s3ag/accessgrants/emulator"
)

// TestSoak runs 64 goroutines as two identities over 1,000 keys while an
// administrator adds and removes grants and the emulator's clock carries
// credentials through their lifetimes. The emulator checks every request:
// none may be signed with another identity's credentials (each identity
// reads only under its own grant, which the other's credentials do not
// cover) or with expired ones. Afterwards no goroutine is left behind.
func TestSoak(t *testing.T) {
	// Registered first, this cleanup runs last: after the emulator and
	// every client are closed.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	w := newWorld(t)
	const keys = 1000
	for i := range keys / 2 {
		w.put(adminKey, "us-east-1", "data-bucket", fmt.Sprintf("reports/s%03d", i), "r")
		w.put(adminKey, "us-east-1", "data-bucket", fmt.Sprintf("other/s%03d", i), "o")
	}
	w.srv.ResetCalls()

	p := w.plugin(func(o *accessgrants.Options) { o.Duration = 15 * time.Minute })
	appCfg, otherCfg := w.srv.AWSConfig(appKey), w.srv.AWSConfig(otherKey)
	app, other := s3.NewFromConfig(appCfg, p.Register), s3.NewFromConfig(otherCfg, p.Register)

	// Requests hold the gate for reading; moving the clock takes it for
	// writing, so that no request is in flight when time jumps (in real
	// life, time does not jump between signing and arrival).
	var gate sync.RWMutex
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var requests, failures, dynamicDenied atomic.Int64
	var wg sync.WaitGroup
	const perWorker = 120
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, prefix := app, "reports/"
			if g%2 == 1 {
				c, prefix = other, "other/"
			}
			for i := range perWorker {
				if ctx.Err() != nil {
					return
				}
				gate.RLock()
				var err error
				if i%10 == 9 && g%2 == 0 {
					// Under a grant that comes and goes: either outcome is
					// fine, but never another identity's or an expired key.
					_, err = read(t, c, "data-bucket", fmt.Sprintf("work/dyn%d/k", i%3))
					if err != nil && (isAGError(err) || apiCode(err) == "NoSuchKey") {
						dynamicDenied.Add(1)
						err = nil
					}
				} else {
					_, err = read(t, c, "data-bucket", fmt.Sprintf("%ss%03d", prefix, (g*perWorker+i)%(keys/2)))
				}
				gate.RUnlock()
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("worker %d request %d: %v", g, i, err)
					return
				}
			}
		}()
	}

	// The administrator adds and removes grants on work/dynN/.
	admin := s3control.NewFromConfig(w.srv.AWSConfig(adminKey))
	adminDone := make(chan struct{})
	go func() {
		defer close(adminDone)
		for n := 0; ctx.Err() == nil; n++ {
			out, err := admin.CreateAccessGrant(ctx, &s3control.CreateAccessGrantInput{
				AccountId:              aws.String(accountA),
				AccessGrantsLocationId: aws.String("default"),
				AccessGrantsLocationConfiguration: &s3ctypes.AccessGrantsLocationConfiguration{
					S3SubPrefix: aws.String(fmt.Sprintf("data-bucket/work/dyn%d/*", n%3)),
				},
				Grantee:    &s3ctypes.Grantee{GranteeType: s3ctypes.GranteeTypeIam, GranteeIdentifier: aws.String(appRoleARN)},
				Permission: s3ctypes.PermissionRead,
			})
			if err != nil {
				if ctx.Err() == nil && apiCode(err) != "AccessGrantAlreadyExists" {
					t.Errorf("CreateAccessGrant: %v", err)
				}
				continue
			}
			time.Sleep(20 * time.Millisecond)
			if _, err := admin.DeleteAccessGrant(context.Background(), &s3control.DeleteAccessGrantInput{
				AccountId: aws.String(accountA), AccessGrantId: out.AccessGrantId,
			}); err != nil {
				t.Errorf("DeleteAccessGrant: %v", err)
			}
		}
	}()

	// The clock: 40 s at a time, through several 15-minute lifetimes.
	clockDone := make(chan struct{})
	var advanced time.Duration
	go func() {
		defer close(clockDone)
		for ctx.Err() == nil {
			time.Sleep(15 * time.Millisecond)
			gate.Lock()
			w.srv.AdvanceClock(40 * time.Second)
			advanced += 40 * time.Second
			gate.Unlock()
		}
	}()

	wg.Wait()
	cancel()
	<-adminDone
	<-clockDone

	outcomes := w.srv.Outcomes()["GetObject"]
	for outcome, n := range outcomes {
		if strings.Contains(outcome, "ExpiredToken") || strings.Contains(outcome, "InvalidAccessKeyId") ||
			(strings.Contains(outcome, "AccessDenied") && n > 0) {
			t.Errorf("the emulator answered %d GetObject calls with %s", n, outcome)
		}
	}
	st := p.Stats()
	t.Logf("%d requests (%d under a changing grant answered by a denial or absence), clock advanced %v, GetDataAccess %d, refreshes %d, outcomes %v",
		requests.Load(), dynamicDenied.Load(), advanced, st.GetDataAccessCalls, st.Refreshes, outcomes)
	if requests.Load() < 64*10 {
		t.Errorf("only %d requests ran", requests.Load())
	}
	if advanced < 45*time.Minute {
		t.Logf("the clock moved only %v; the run was slow", advanced)
	}

	p.Close()
}

// TestNoSecretInAnyOutput runs the plugin's paths (success, cache, each
// kind of failure, fallback) with debug logging, metrics and tracing on,
// and checks that no secret key, session token or signature of the
// caller or of vended credentials appears in any error, log line, Stats,
// span or metric attribute.
func TestNoSecretInAnyOutput(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	log := &recLogger{}
	meter := newRecMeter()
	tracer := &recTracer{}
	newPlugin := func(fallback bool) *accessgrants.Plugin {
		return w.plugin(func(o *accessgrants.Options) {
			o.Logger, o.MeterProvider, o.TracerProvider, o.FallbackEnabled = log, meter, tracer, fallback
		})
	}
	strict, lenient := newPlugin(false), newPlugin(true)

	// The caller signs with a session: a secret and a token to look for.
	session := assumeApp(t, w)
	sessionCfg := w.srv.AWSConfig(appKey)
	sessionCfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return session, nil })
	secrets := []string{appSecret, session.SecretAccessKey, session.SessionToken}

	var outputs []string
	record := func(err error) {
		if err != nil {
			outputs = append(outputs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}
	for _, p := range []*accessgrants.Plugin{strict, lenient} {
		c := s3.NewFromConfig(sessionCfg, p.Register)
		_, err := read(t, c, "data-bucket", "reports/q1.csv") // granted
		record(err)
		_, err = read(t, c, "data-bucket", "reports/q2.csv") // cached
		record(err)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("reports/n"), Body: strings.NewReader("n")})
		record(err) // denied
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("work/x"), CopySource: aws.String("%zz")})
		record(err) // bad copy source
		for _, f := range []emulator.Fault{
			{API: "GetDataAccess", Status: 503, Code: "SlowDown", Count: 10},
			{API: "GetDataAccess", Drop: true, Count: 10},
			{API: "GetDataAccess", Status: 200, Body: "<GetDataAccessResult><Credentials>", Count: 10},
		} {
			if err := w.srv.InjectFault(f); err != nil {
				t.Fatal(err)
			}
			_, err = read(t, c, "data-bucket", "work/a.txt")
			record(err)
			w.srv.ClearFaults()
		}
		da, err := p.DataAccess(ctx, "s3://data-bucket/work/*", accessgrants.PermissionRead)
		record(err)
		if err == nil {
			secrets = append(secrets, da.Credentials.SecretAccessKey, da.Credentials.SessionToken)
		}
		outputs = append(outputs, fmt.Sprintf("%+v", p.Stats()))
	}
	// Every vended key the emulator issued: their secrets are not known
	// here, but their signatures must not show either.
	log.mu.Lock()
	outputs = append(outputs, log.lines...)
	log.mu.Unlock()
	meter.mu.Lock()
	for k := range meter.sums {
		outputs = append(outputs, k)
	}
	meter.mu.Unlock()
	tracer.mu.Lock()
	for _, s := range tracer.spans {
		outputs = append(outputs, fmt.Sprintf("%s %v", s.name, s.props.Values()))
	}
	tracer.mu.Unlock()
	if len(outputs) < 20 {
		t.Fatalf("only %d outputs collected", len(outputs))
	}
	all := strings.Join(outputs, "\n")
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			t.Errorf("a secret or token appears in the plugin's output")
		}
	}
	for _, marker := range []string{"Signature=", "X-Amz-Signature", "X-Amz-Security-Token"} {
		if strings.Contains(all, marker) {
			t.Errorf("%q appears in the plugin's output", marker)
		}
	}
}

// assumeApp returns the credentials of an STS AssumeRole session of the
// app's role: a secret and a session token, which grants match as the
// role.
func assumeApp(t *testing.T, w *world) aws.Credentials {
	t.Helper()
	out, err := sts.NewFromConfig(w.srv.AWSConfig(appKey)).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(appRoleARN), RoleSessionName: aws.String("hygiene"),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
}

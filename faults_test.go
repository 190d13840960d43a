package accessgrants_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	accessgrants "github.com/s3ag/accessgrants"
	"github.com/s3ag/accessgrants/emulator"
)

// withoutAccount hides the account ID that the emulator's credentials
// carry, so that the plugin asks STS for it.
func withoutAccount(cfg aws.Config) aws.Config {
	base := cfg.Credentials
	cfg.Credentials = aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		c, err := base.Retrieve(ctx)
		c.AccountID = ""
		return c, err
	})
	return cfg
}

func TestCallerAccountFromSTS(t *testing.T) {
	w := newWorld(t)
	p := w.plugin()
	c := s3.NewFromConfig(withoutAccount(w.srv.AWSConfig(appKey)), p.Register)
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, c, "other-bucket", "x.txt"); err != nil {
		t.Fatal(err)
	}
	if n := w.calls("GetCallerIdentity"); n != 1 {
		t.Errorf("GetCallerIdentity calls = %d, want 1 per identity", n)
	}
	if k := w.lastCall("GetCallerIdentity").AccessKeyID; k != appKey {
		t.Errorf("GetCallerIdentity signed with %s, want the caller's %s", k, appKey)
	}
	if got := p.Stats().GetCallerIdentityCalls; got != 1 {
		t.Errorf("Stats().GetCallerIdentityCalls = %d, want 1", got)
	}
}

func TestCallerAccountFromOptions(t *testing.T) {
	w := newWorld(t)
	p := w.plugin(func(o *accessgrants.Options) { o.AccountID = accountA })
	c := s3.NewFromConfig(withoutAccount(w.srv.AWSConfig(appKey)), p.Register)
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatal(err)
	}
	if n := w.calls("GetCallerIdentity"); n != 0 {
		t.Errorf("GetCallerIdentity calls = %d, want 0 with Options.AccountID", n)
	}
}

// faultKinds are the failures injected into each control-plane API.
var faultKinds = []struct {
	name  string
	fault emulator.Fault
	// deadline runs the request under a deadline the fault outlasts.
	deadline bool
}{
	{"503 SlowDown", emulator.Fault{Status: 503, Code: "SlowDown", Count: 100}, false},
	{"500 InternalError", emulator.Fault{Status: 500, Code: "InternalError", Count: 100}, false},
	{"latency beyond deadline", emulator.Fault{Latency: 600 * time.Millisecond, Count: 100}, true},
	{"malformed XML", emulator.Fault{Status: 200, Body: "<Result><Credentials><AccessKeyId>", Count: 100}, false},
	{"dropped connection", emulator.Fault{Drop: true, Count: 100}, false},
	{"AccessDenied", emulator.Fault{Status: 403, Code: "AccessDenied", Count: 100}, false},
}

var controlAPIs = []string{"GetDataAccess", "GetAccessGrantsInstanceForPrefix", "GetCallerIdentity", "HeadBucket"}

// TestFaultMatrix injects every kind of failure into every control-plane
// API the plugin calls, with fallback off and on, and checks: the error
// (off) or the client's own key (on); that nothing is cached that should
// not be; and recovery once the fault clears. RELIABILITY.md lists the
// scenarios.
func TestFaultMatrix(t *testing.T) {
	for _, api := range controlAPIs {
		for _, kind := range faultKinds {
			for _, fallback := range []bool{false, true} {
				name := api + "/" + kind.name + "/fallback=off"
				if fallback {
					name = api + "/" + kind.name + "/fallback=on"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					runFault(t, api, kind.fault, kind.deadline, fallback)
				})
			}
		}
	}
}

func runFault(t *testing.T, api string, fault emulator.Fault, deadline, fallback bool) {
	w := newWorld(t)
	pcfg := w.srv.AWSConfig(adminKey)
	pcfg.RetryMaxAttempts = 2 // keep the test short; the SDK's default is 3
	p, err := accessgrants.New(pcfg, func(o *accessgrants.Options) { o.FallbackEnabled = fallback })
	if err != nil {
		t.Fatal(err)
	}
	accessgrants.SetClock(p, w.srv.Now)
	t.Cleanup(func() { p.Close() })
	c := s3.NewFromConfig(withoutAccount(w.srv.AWSConfig(appKey)), p.Register)

	fault.API = api
	if err := w.srv.InjectFault(fault); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if deadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
	}
	start := time.Now()
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("reports/q1.csv")})
	elapsed := time.Since(start)
	if deadline && elapsed > time.Second {
		t.Errorf("the request took %v under a 150ms deadline", elapsed)
	}
	switch {
	case deadline:
		// No time is left to fall back: the request fails at its deadline,
		// with fallback or without.
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline", err)
		}
	case !fallback:
		var agErr *accessgrants.Error
		if !errors.As(err, &agErr) {
			t.Fatalf("err = %v, want an *accessgrants.Error", err)
		}
		if agErr.Target != "s3://data-bucket/reports/q1.csv" || agErr.Permission != accessgrants.PermissionRead {
			t.Errorf("error names %s (%s)", agErr.Target, agErr.Permission)
		}
		if n := w.calls("GetObject"); n != 0 {
			t.Errorf("GetObject reached S3 %d times, want 0", n)
		}
	default:
		// The client's own key: the app has no IAM permission to read, so
		// S3 itself refuses, but the request went out signed by the client.
		if got := w.lastCall("GetObject").AccessKeyID; got != appKey {
			t.Fatalf("GetObject signed with %s, want the client's %s (err %v)", got, appKey, err)
		}
	}
	if deadline {
		waitIdle(t, p) // the emulator records a call when it answers
	}
	if n := w.calls(api); n == 0 {
		t.Fatalf("the faulted %s was never called", api)
	}

	// Once the fault clears, the next request recovers. A denial from
	// GetDataAccess is remembered for DeniedTTL; nothing else is.
	w.srv.ClearFaults()
	before := w.calls(api)
	if api == "GetDataAccess" && fault.Code == "AccessDenied" {
		if _, err := read(t, c, "data-bucket", "reports/q1.csv"); fallback == (err != nil && apiCode(err) == "AccessDenied" && isAGError(err)) {
			t.Errorf("within DeniedTTL: err = %v", err)
		}
		if n := w.calls(api); n != before {
			t.Errorf("a remembered denial called GetDataAccess again")
		}
		w.srv.AdvanceClock(accessgrants.DefaultDeniedTTL + time.Second)
	}
	waitIdle(t, p)
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatalf("after the fault cleared: %v", err)
	}
	if k := w.lastCall("GetObject").AccessKeyID; !isVended(k) {
		t.Errorf("after the fault cleared, GetObject signed with %s, want a vended key", k)
	}
	if !deadline && w.calls(api) == before {
		t.Errorf("%s was not called again after its failure: a failure was cached", api)
	}
}

func isAGError(err error) bool {
	var agErr *accessgrants.Error
	return errors.As(err, &agErr)
}

// waitIdle waits for the plugin's flights that outlived their callers.
func waitIdle(t *testing.T, p *accessgrants.Plugin) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for accessgrants.InFlight(p) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the plugin's flights did not end")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package accessgrants_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	accessgrants "github.com/s3ag/accessgrants"
	"github.com/s3ag/accessgrants/emulator"
)

// TestColdFanOut: 64 goroutines read 64 different keys under one grant on
// a cold plugin. One grant answers them all, so the control plane sees
// exactly one GetDataAccess and one GetAccessGrantsInstanceForPrefix, and
// at most one GetCallerIdentity and one HeadBucket.
func TestColdFanOut(t *testing.T) {
	w := newWorld(t)
	for i := range 64 {
		w.put(adminKey, "us-east-1", "data-bucket", fmt.Sprintf("reports/k%02d", i), "v")
	}
	w.srv.ResetCalls()
	p := w.plugin()
	c := s3.NewFromConfig(withoutAccount(w.srv.AWSConfig(appKey)), p.Register)

	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := read(t, c, "data-bucket", fmt.Sprintf("reports/k%02d", i)); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	calls := w.srv.Calls()
	if calls["GetDataAccess"] != 1 || calls["GetAccessGrantsInstanceForPrefix"] != 1 ||
		calls["GetCallerIdentity"] > 1 || calls["HeadBucket"] > 1 {
		t.Errorf("control-plane calls = GetDataAccess %d, GetAccessGrantsInstanceForPrefix %d, GetCallerIdentity %d, HeadBucket %d; want 1, 1, ≤1, ≤1",
			calls["GetDataAccess"], calls["GetAccessGrantsInstanceForPrefix"], calls["GetCallerIdentity"], calls["HeadBucket"])
	}
	if calls["GetObject"] != 64 {
		t.Errorf("GetObject calls = %d, want 64", calls["GetObject"])
	}
	for _, k := range w.signers("GetObject") {
		if !isVended(k) {
			t.Errorf("GetObject signed with %s", k)
		}
	}
}

// steadyYAML grants the app READ on ten prefixes of one bucket.
func steadyYAML() string {
	var b strings.Builder
	b.WriteString(`
region: us-east-1
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:role/app
        access_key_id: AKIAAPPEXAMPLE000001
        secret_access_key: app-secret-do-not-print
        allow: [{actions: ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix"], resources: ["*"]}]
    roles:
      - {arn: "arn:aws:iam::111122223333:role/ag-location", max_session_duration: 43200}
buckets:
  - {name: data-bucket, account: "111122223333"}
access_grants:
  - account: "111122223333"
    locations:
      - {scope: "s3://data-bucket", role: "arn:aws:iam::111122223333:role/ag-location"}
    grants:
`)
	for g := range 10 {
		fmt.Fprintf(&b, `      - {location: "s3://data-bucket", sub_prefix: "g%d/*", permission: READ, grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}}
`, g)
	}
	return b.String()
}

// TestSteadyState drives 100,000 requests over 1,000 keys under 10 grants
// while the emulator's clock crosses several credential lifetimes. Each
// grant is fetched once cold and then refreshed ahead once per lifetime,
// in the background: GetDataAccess calls = 10 × the credentials each grant
// goes through, and no request waits for a refresh, even a slow one.
//
// The requests go through Plugin.Credentials, the resolution path every
// signed S3 request takes, so that 100,000 of them fit in CI's time.
func TestSteadyState(t *testing.T) {
	cfg, err := emulator.ParseConfig([]byte(steadyYAML()))
	if err != nil {
		t.Fatal(err)
	}
	srv := emulator.NewServer(t, cfg)
	const lifetime = 15 * time.Minute
	p, err := accessgrants.New(srv.AWSConfig(appKey), func(o *accessgrants.Options) { o.Duration = lifetime })
	if err != nil {
		t.Fatal(err)
	}
	accessgrants.SetClock(p, srv.Now)
	defer p.Close()
	// Every refresh is slow: a request that waited for one would show it.
	const slow = 150 * time.Millisecond
	if err := srv.InjectFault(emulator.Fault{API: "GetDataAccess", Latency: slow, Count: 1 << 30}); err != nil {
		t.Fatal(err)
	}

	const (
		requests = 100_000
		keys     = 1_000
		workers  = 8
		// The clock moves in steps of 40 s, so that every set of
		// credentials meets requests in its refresh-ahead window, the last
		// tenth (90 s) of its 15-minute life, and no step lands near the
		// window's edge.
		step  = 40 * time.Second
		steps = 100 // 66 minutes of clock: more than 4 lifetimes
	)
	perStep := requests / steps
	ctx := context.Background()
	var maxWait time.Duration
	var mu sync.Mutex
	for s := range steps {
		if s > 0 {
			srv.AdvanceClock(step)
		}
		var wg sync.WaitGroup
		for wk := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var local time.Duration
				for i := wk; i < perStep; i += workers {
					n := (s*perStep + i) % keys
					target := fmt.Sprintf("s3://data-bucket/g%d/key-%04d", n%10, n)
					refreshing := accessgrants.InFlight(p) > 0
					t0 := time.Now()
					if _, err := p.Credentials(ctx, target, accessgrants.PermissionRead); err != nil {
						t.Errorf("step %d: %s: %v", s, target, err)
						return
					}
					if d := time.Since(t0); refreshing && d > local && s > 0 {
						local = d
					}
				}
				mu.Lock()
				maxWait = max(maxWait, local)
				mu.Unlock()
			}()
		}
		wg.Wait()
		// A refresh started in this step finishes before the clock moves
		// on, as it would in real time.
		waitIdle(t, p)
	}
	st := p.Stats()
	// Credentials obtained at step k turn stale 13.5 min (20.25 steps)
	// later and are refreshed at step k+21: each grant is fetched at steps
	// 0, 21, 42, 63 and 84 of the 100.
	const generations = 5
	if got := srv.Calls()["GetDataAccess"]; got != 10*generations {
		t.Errorf("GetDataAccess calls = %d, want %d (10 grants × %d generations); stats %+v", got, 10*generations, generations, st)
	}
	if st.Refreshes != 10*(generations-1) {
		t.Errorf("background refreshes = %d, want %d", st.Refreshes, 10*(generations-1))
	}
	if maxWait >= slow {
		t.Errorf("a request waited %v while a refresh was in flight; refreshes take %v", maxWait, slow)
	}
	t.Logf("%d requests, %d GetDataAccess, %d refreshes, max time in the plugin during a refresh: %v",
		requests, srv.Calls()["GetDataAccess"], st.Refreshes, maxWait)
	if got := st.CacheHits + st.CacheMisses; got < requests {
		t.Errorf("cache lookups = %d, want at least %d", got, requests)
	}
}

// TestConcurrentDenials: 64 goroutines write under a READ grant. Each
// gets AccessDenied; concurrent requests for one target share one call,
// and a denial is remembered for the next request.
func TestConcurrentDenials(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	write := func(key string) error {
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("data-bucket"), Key: aws.String(key), Body: strings.NewReader("x"),
		})
		return err
	}
	run := func(keyOf func(i int) string) {
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := write(keyOf(i)); apiCode(err) != "AccessDenied" || !isAGError(err) {
					t.Errorf("PutObject %s: %v, want an *accessgrants.Error with AccessDenied", keyOf(i), err)
				}
			}()
		}
		wg.Wait()
	}
	run(func(int) string { return "reports/same.csv" })
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("64 writes of one key: %d GetDataAccess calls, want 1", n)
	}
	w.srv.ResetCalls()
	run(func(i int) string { return fmt.Sprintf("reports/k%02d.csv", i) })
	if n := w.calls("GetDataAccess"); n != 64 {
		t.Errorf("64 writes of 64 keys: %d GetDataAccess calls, want 64 (a denial covers only its target)", n)
	}
	w.srv.ResetCalls()
	run(func(i int) string { return fmt.Sprintf("reports/k%02d.csv", i) })
	if n := w.calls("GetDataAccess") + w.calls("PutObject"); n != 0 {
		t.Errorf("within DeniedTTL: %d calls, want 0 (every denial remembered)", n)
	}
}

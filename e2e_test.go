package accessgrants_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	accessgrants "github.com/s3ag/accessgrants"
	"github.com/s3ag/accessgrants/emulator"
)

// The world of the end-to-end tests: account A (111122223333) with an
// application role "app" and a second identity "other", buckets in two
// Regions, and account B (444455556666) that shares a bucket with A's app
// through its instance's resource policy.
const (
	appKey     = "AKIAAPPEXAMPLE000001"
	appSecret  = "app-secret-do-not-print"
	otherKey   = "AKIAOTHEREXAMPLE0001"
	adminKey   = "AKIAADMINEXAMPLE0001"
	accountA   = "111122223333"
	accountB   = "444455556666"
	appRoleARN = "arn:aws:iam::111122223333:role/app"
)

const worldYAML = `
region: us-east-1
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:user/admin
        access_key_id: AKIAADMINEXAMPLE0001
        secret_access_key: admin-secret
        allow: [{actions: ["*"], resources: ["*"]}]
      - arn: arn:aws:iam::111122223333:role/app
        access_key_id: AKIAAPPEXAMPLE000001
        secret_access_key: app-secret-do-not-print
        allow:
          - actions: ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix", "s3:ListCallerAccessGrants"]
            resources: ["*"]
          - actions: ["s3:ListBucket", "s3:ListAllMyBuckets", "s3:GetObjectTagging"]
            resources: ["*"]
          - actions: ["s3:PutObject"]
            resources: ["arn:aws:s3:::data-bucket/reports/*"]
          - actions: ["sts:AssumeRole"]
            resources: ["arn:aws:iam::111122223333:role/app"]
      - arn: arn:aws:iam::111122223333:role/other
        access_key_id: AKIAOTHEREXAMPLE0001
        secret_access_key: other-secret
        allow:
          - actions: ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix"]
            resources: ["*"]
    roles:
      - arn: arn:aws:iam::111122223333:role/ag-location
        max_session_duration: 43200
  - id: "444455556666"
    principals:
      - arn: arn:aws:iam::444455556666:user/admin
        access_key_id: AKIABADMINEXAMPLE001
        secret_access_key: b-admin-secret
        allow: [{actions: ["*"], resources: ["*"]}]
    roles:
      - arn: arn:aws:iam::444455556666:role/ag-location
buckets:
  - {name: data-bucket, account: "111122223333", region: us-east-1}
  - {name: other-bucket, account: "111122223333", region: us-east-1}
  - {name: west-bucket, account: "111122223333", region: us-west-2}
  - {name: partner-bucket, account: "444455556666", region: us-east-1}
access_grants:
  - account: "111122223333"
    region: us-east-1
    locations:
      - {scope: "s3://", role: "arn:aws:iam::111122223333:role/ag-location"}
    grants:
      - location: "s3://"
        sub_prefix: "data-bucket/reports/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READ
      - location: "s3://"
        sub_prefix: "data-bucket/work/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READWRITE
      - location: "s3://"
        sub_prefix: "other-bucket/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READWRITE
      - location: "s3://"
        sub_prefix: "data-bucket/other/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/other"}
        permission: READ
  - account: "111122223333"
    region: us-west-2
    locations:
      - {scope: "s3://west-bucket", role: "arn:aws:iam::111122223333:role/ag-location"}
    grants:
      - location: "s3://west-bucket"
        sub_prefix: "*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READ
  - account: "444455556666"
    region: us-east-1
    resource_policy_accounts: ["111122223333"]
    locations:
      - {scope: "s3://partner-bucket", role: "arn:aws:iam::444455556666:role/ag-location"}
    grants:
      - location: "s3://partner-bucket"
        sub_prefix: "shared/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READ
`

// world is an emulator seeded with worldYAML and objects to read.
type world struct {
	t   *testing.T
	srv *emulator.Server
}

func newWorld(t *testing.T, opts ...emulator.Option) *world {
	t.Helper()
	cfg, err := emulator.ParseConfig([]byte(worldYAML))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, srv: emulator.NewServer(t, cfg, opts...)}
	// Objects are written by each bucket's owner, outside Access Grants.
	w.put(adminKey, "us-east-1", "data-bucket", "reports/q1.csv", "q1")
	w.put(adminKey, "us-east-1", "data-bucket", "reports/q2.csv", "q2")
	w.put(adminKey, "us-east-1", "data-bucket", "work/a.txt", "a")
	w.put(adminKey, "us-east-1", "data-bucket", "other/o.txt", "o")
	w.put(adminKey, "us-east-1", "other-bucket", "x.txt", "x")
	w.put(adminKey, "us-west-2", "west-bucket", "w.txt", "w")
	w.put("AKIABADMINEXAMPLE001", "us-east-1", "partner-bucket", "shared/p.txt", "p")
	w.srv.ResetCalls()
	return w
}

func (w *world) put(key, region, bucket, objKey, body string) {
	w.t.Helper()
	cfg := w.srv.AWSConfig(key)
	cfg.Region = region
	_, err := s3.NewFromConfig(cfg).PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(objKey), Body: strings.NewReader(body),
	})
	if err != nil {
		w.t.Fatalf("seeding s3://%s/%s: %v", bucket, objKey, err)
	}
}

// plugin makes a plugin on the emulator's config, with its clock.
func (w *world) plugin(optFns ...func(*accessgrants.Options)) *accessgrants.Plugin {
	w.t.Helper()
	p, err := accessgrants.New(w.srv.AWSConfig(adminKey), optFns...)
	if err != nil {
		w.t.Fatal(err)
	}
	accessgrants.SetClock(p, w.srv.Now)
	w.t.Cleanup(func() { p.Close() })
	return p
}

// client makes an S3 client for a principal with the plugin registered.
func (w *world) client(key string, p *accessgrants.Plugin, optFns ...func(*s3.Options)) *s3.Client {
	cfg := w.srv.AWSConfig(key)
	return s3.NewFromConfig(cfg, append(optFns, p.Register)...)
}

// signers lists the keys that signed the emulator's calls of an API.
func (w *world) signers(api string) []string {
	var keys []string
	for _, c := range w.srv.Requests() {
		if c.API == api {
			keys = append(keys, c.AccessKeyID)
		}
	}
	return keys
}

// lastCall returns the emulator's last call of an API.
func (w *world) lastCall(api string) emulator.Call {
	w.t.Helper()
	reqs := w.srv.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].API == api {
			return reqs[i]
		}
	}
	w.t.Fatalf("the emulator served no %s call", api)
	return emulator.Call{}
}

func (w *world) calls(api string) int { return w.srv.Calls()[api] }

// controlCalls counts the plugin's calls to the control plane.
func (w *world) controlCalls() int {
	c := w.srv.Calls()
	return c["GetDataAccess"] + c["GetAccessGrantsInstanceForPrefix"] + c["GetCallerIdentity"] + c["HeadBucket"]
}

func read(t *testing.T, c *s3.Client, bucket, key string) (string, error) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func isVended(key string) bool { return strings.HasPrefix(key, "ASIA") }

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestGrantedReadIsSignedWithVendedKeyAndCached(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())

	got, err := read(t, c, "data-bucket", "reports/q1.csv")
	if err != nil || got != "q1" {
		t.Fatalf("GetObject = %q, %v; want q1", got, err)
	}
	call := w.lastCall("GetObject")
	if !isVended(call.AccessKeyID) || call.Status != http.StatusOK {
		t.Fatalf("GetObject signed with %s (status %d); want a vended ASIA key", call.AccessKeyID, call.Status)
	}
	if call.GrantScope != "s3://data-bucket/reports/*" {
		t.Errorf("vended scope = %q, want the grant's s3://data-bucket/reports/*", call.GrantScope)
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Fatalf("GetDataAccess calls = %d, want 1", n)
	}

	// Another key under the same grant: served from the cache.
	if got, err := read(t, c, "data-bucket", "reports/q2.csv"); err != nil || got != "q2" {
		t.Fatalf("second GetObject = %q, %v", got, err)
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("GetDataAccess calls after a second read = %d, want still 1", n)
	}
	if k := w.lastCall("GetObject").AccessKeyID; k != call.AccessKeyID {
		t.Errorf("second read signed with %s, want the cached %s", k, call.AccessKeyID)
	}
	// No STS call: the emulator's credentials carry the account.
	if n := w.calls("GetCallerIdentity"); n != 0 {
		t.Errorf("GetCallerIdentity calls = %d, want 0 when credentials carry the account", n)
	}
}

func TestListUnderPrefixGrant(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("data-bucket"), Prefix: aws.String("reports/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 2 {
		t.Errorf("listed %d objects, want 2", len(out.Contents))
	}
	if k := w.lastCall("ListObjectsV2").AccessKeyID; !isVended(k) {
		t.Errorf("ListObjectsV2 signed with %s, want a vended key", k)
	}
}

func TestWriteUnderReadGrant(t *testing.T) {
	put := func(c *s3.Client) error {
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("data-bucket"), Key: aws.String("reports/new.csv"), Body: strings.NewReader("n"),
		})
		return err
	}
	t.Run("fallback off", func(t *testing.T) {
		w := newWorld(t)
		c := w.client(appKey, w.plugin())
		err := put(c)
		var agErr *accessgrants.Error
		if !errors.As(err, &agErr) {
			t.Fatalf("PutObject err = %v, want an *accessgrants.Error", err)
		}
		if apiCode(err) != "AccessDenied" || agErr.Permission != accessgrants.PermissionWrite ||
			agErr.Target != "s3://data-bucket/reports/new.csv" || agErr.Operation != "PutObject" || agErr.Bucket != "data-bucket" {
			t.Errorf("error = %+v (code %q), want AccessDenied for PutObject WRITE s3://data-bucket/reports/new.csv", agErr, apiCode(err))
		}
		if n := w.calls("PutObject"); n != 0 {
			t.Errorf("PutObject reached S3 %d times, want 0", n)
		}
		// The denial is remembered: no second GetDataAccess.
		if err := put(c); apiCode(err) != "AccessDenied" {
			t.Fatalf("second PutObject err = %v, want AccessDenied", err)
		}
		if n := w.calls("GetDataAccess"); n != 1 {
			t.Errorf("GetDataAccess calls = %d, want 1 (the denial remembered)", n)
		}
	})
	t.Run("fallback on", func(t *testing.T) {
		w := newWorld(t)
		c := w.client(appKey, w.plugin(func(o *accessgrants.Options) { o.FallbackEnabled = true }))
		if err := put(c); err != nil {
			t.Fatalf("PutObject with fallback: %v", err)
		}
		if k := w.lastCall("PutObject").AccessKeyID; k != appKey {
			t.Errorf("PutObject signed with %s, want the client's own %s", k, appKey)
		}
	})
}

func TestUnsupportedOperationsUseClientKey(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		w := newWorld(t)
		c := w.client(appKey, w.plugin(func(o *accessgrants.Options) { o.FallbackEnabled = fallback }))
		if _, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
			t.Fatalf("fallback=%v: ListBuckets: %v", fallback, err)
		}
		if _, err := c.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String("data-bucket"), Key: aws.String("reports/q1.csv")}); err != nil {
			t.Fatalf("fallback=%v: GetObjectTagging: %v", fallback, err)
		}
		for _, api := range []string{"ListBuckets", "GetObjectTagging"} {
			if k := w.lastCall(api).AccessKeyID; k != appKey {
				t.Errorf("fallback=%v: %s signed with %s, want %s", fallback, api, k, appKey)
			}
		}
		if n := w.controlCalls(); n != 0 {
			t.Errorf("fallback=%v: %d control-plane calls, want none", fallback, n)
		}
	}
}

func TestCopyAndDeleteObjectsInOneBucket(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	ctx := context.Background()
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("work/b.txt"), CopySource: aws.String("data-bucket/work/a.txt"),
	}); err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	if call := w.lastCall("CopyObject"); !isVended(call.AccessKeyID) || call.GrantScope != "s3://data-bucket/work/*" {
		t.Errorf("CopyObject signed with %s scope %q, want a vended key for s3://data-bucket/work/*", call.AccessKeyID, call.GrantScope)
	}
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("data-bucket"), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("work/a.txt")}, {Key: aws.String("work/b.txt")}},
	}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	if len(out.Errors) != 0 || len(out.Deleted) != 2 {
		t.Errorf("DeleteObjects deleted %d, errors %v", len(out.Deleted), out.Errors)
	}
	if k := w.lastCall("DeleteObjects").AccessKeyID; !isVended(k) {
		t.Errorf("DeleteObjects signed with %s, want a vended key", k)
	}
	// The READWRITE credentials of the copy serve the WRITE of the delete.
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("GetDataAccess calls = %d, want 1", n)
	}
}

func TestCrossBucketCopyRefused(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	_, err := c.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("work/x.txt"), CopySource: aws.String("other-bucket/x.txt"),
	})
	var agErr *accessgrants.Error
	if !errors.As(err, &agErr) || !strings.Contains(err.Error(), "same") {
		t.Fatalf("cross-bucket CopyObject err = %v, want an *accessgrants.Error about the same bucket", err)
	}
	if n := w.controlCalls() + w.calls("CopyObject"); n != 0 {
		t.Errorf("%d calls reached the emulator, want none", n)
	}
}

func TestCrossAccountBucket(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	if got, err := read(t, c, "partner-bucket", "shared/p.txt"); err != nil || got != "p" {
		t.Fatalf("GetObject across accounts = %q, %v", got, err)
	}
	call := w.lastCall("GetObject")
	if !isVended(call.AccessKeyID) || call.GrantScope != "s3://partner-bucket/shared/*" {
		t.Errorf("signed with %s scope %q, want a key vended by account B's grant", call.AccessKeyID, call.GrantScope)
	}
	if p := w.lastCall("GetDataAccess").Principal; p != appRoleARN {
		t.Errorf("GetDataAccess called as %s, want %s", p, appRoleARN)
	}
}

func TestCrossRegionBucket(t *testing.T) {
	w := newWorld(t)
	p := w.plugin()
	// The S3 client talks to the bucket's Region; the plugin's own config
	// is in us-east-1 and finds the bucket's Region with HeadBucket.
	c := w.client(appKey, p, func(o *s3.Options) { o.Region = "us-west-2" })
	if got, err := read(t, c, "west-bucket", "w.txt"); err != nil || got != "w" {
		t.Fatalf("GetObject in us-west-2 = %q, %v", got, err)
	}
	if n := w.calls("HeadBucket"); n != 1 {
		t.Errorf("HeadBucket calls = %d, want 1", n)
	}
	if k := w.lastCall("GetObject").AccessKeyID; !isVended(k) {
		t.Errorf("GetObject signed with %s, want a vended key", k)
	}
	// The Region is cached: another read makes no HeadBucket call.
	if _, err := read(t, c, "west-bucket", "w.txt"); err != nil {
		t.Fatal(err)
	}
	if n := w.calls("HeadBucket"); n != 1 {
		t.Errorf("HeadBucket calls after a second read = %d, want 1", n)
	}
}

func TestExpiredCredentialsAreReplaced(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatal(err)
	}
	old := w.lastCall("GetObject").AccessKeyID
	w.srv.AdvanceClock(2 * time.Hour) // past the one-hour default
	w.srv.ResetCalls()
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatalf("GetObject after expiry: %v", err)
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("GetDataAccess calls after expiry = %d, want 1", n)
	}
	for _, k := range w.signers("GetObject") {
		if k == old {
			t.Errorf("the expired key %s was used again", old)
		}
	}
}

func TestIdentitiesNeverShareCredentials(t *testing.T) {
	w := newWorld(t)
	p := w.plugin()
	app, other := w.client(appKey, p), w.client(otherKey, p)
	if _, err := read(t, app, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatal(err)
	}
	appVended := w.lastCall("GetObject").AccessKeyID
	// "other" has no grant on reports/: the app's cached credentials must
	// not serve it.
	if _, err := read(t, other, "data-bucket", "reports/q1.csv"); apiCode(err) != "AccessDenied" {
		t.Fatalf("other's read of reports/ = %v, want AccessDenied", err)
	}
	if _, err := read(t, other, "data-bucket", "other/o.txt"); err != nil {
		t.Fatalf("other's own read: %v", err)
	}
	if k := w.lastCall("GetObject").AccessKeyID; k == appVended || !isVended(k) {
		t.Errorf("other's read signed with %s; app's vended key is %s", k, appVended)
	}
	if p := w.lastCall("GetDataAccess").Principal; p != "arn:aws:iam::111122223333:role/other" {
		t.Errorf("last GetDataAccess as %s, want role/other", p)
	}
}

func TestRetryAfterServerErrorReusesCredentials(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	if err := w.srv.InjectFault(emulator.Fault{API: "GetObject", Status: 500, Code: "InternalError", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatalf("GetObject with one retry: %v", err)
	}
	if n := w.calls("GetObject"); n != 2 {
		t.Errorf("GetObject attempts = %d, want 2", n)
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("GetDataAccess calls = %d, want 1", n)
	}
}

func TestPresignedGetObjectCarriesVendedKey(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	req, err := s3.NewPresignClient(c).PresignGetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("reports/q1.csv"),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	if cred := u.Query().Get("X-Amz-Credential"); !isVended(cred) {
		t.Fatalf("presigned URL credential %q, want a vended key", cred)
	}
	resp, err := w.srv.HTTPClient().Get(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "q1" {
		t.Errorf("GET presigned URL = %d %q", resp.StatusCode, body)
	}
}

func TestConcurrentRequestsOneClient(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bucket, key := "data-bucket", "reports/q1.csv"
			if i%2 == 1 {
				bucket, key = "other-bucket", "x.txt"
			}
			if _, err := read(t, c, bucket, key); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Two grants (two buckets): two GetDataAccess calls, whatever the
	// interleaving; and each read signed with its own grant's key.
	if n := w.calls("GetDataAccess"); n != 2 {
		t.Errorf("GetDataAccess calls = %d, want 2", n)
	}
	for _, call := range w.srv.Requests() {
		if call.API != "GetObject" {
			continue
		}
		want := "s3://" + call.Bucket + "/"
		if !strings.HasPrefix(call.GrantScope, want) {
			t.Errorf("GetObject of s3://%s/%s signed with a key for %q", call.Bucket, call.Key, call.GrantScope)
		}
	}
}

func TestAnonymousClient(t *testing.T) {
	w := newWorld(t)
	cfg := w.srv.AWSConfig(appKey)
	cfg.Credentials = aws.AnonymousCredentials{}
	c := s3.NewFromConfig(cfg, w.plugin().Register)
	_, err := read(t, c, "data-bucket", "reports/q1.csv")
	var agErr *accessgrants.Error
	if !errors.As(err, &agErr) || !strings.Contains(err.Error(), "anonymous") {
		t.Fatalf("anonymous GetObject err = %v, want an *accessgrants.Error saying it needs credentials", err)
	}
	// With fallback, the request goes out anonymous and the emulator
	// refuses it.
	c = s3.NewFromConfig(cfg, w.plugin(func(o *accessgrants.Options) { o.FallbackEnabled = true }).Register)
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err == nil || errors.As(err, &agErr) {
		t.Fatalf("anonymous GetObject with fallback err = %v, want S3's own refusal", err)
	}
	if n := w.controlCalls(); n != 0 {
		t.Errorf("%d control-plane calls, want none", n)
	}
}

func TestRegisterTwiceIsHarmless(t *testing.T) {
	w := newWorld(t)
	p := w.plugin()
	c := s3.NewFromConfig(w.srv.AWSConfig(appKey), p.Register, p.Register)
	if _, err := read(t, c, "data-bucket", "reports/q1.csv"); err != nil {
		t.Fatal(err)
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("GetDataAccess calls = %d, want 1", n)
	}
}

func TestNoSecretInErrors(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("reports/x"), Body: bytes.NewReader(nil),
	})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), appSecret) {
		t.Errorf("error %q holds the secret", err)
	}
}

func TestTransferManagerThroughGrants(t *testing.T) {
	w := newWorld(t)
	c := w.client(appKey, w.plugin())
	tm := transfermanager.New(c, func(o *transfermanager.Options) {
		o.PartSizeBytes = 5 << 20
		o.MultipartUploadThreshold = 5 << 20
		o.GetObjectType = tmtypes.GetObjectRanges
	})
	data := make([]byte, 12<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	ctx := context.Background()
	if _, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("work/big.bin"), Body: bytes.NewReader(data),
	}); err != nil {
		t.Fatalf("UploadObject: %v", err)
	}
	var got writerAt
	if _, err := tm.DownloadObject(ctx, &transfermanager.DownloadObjectInput{
		Bucket: aws.String("data-bucket"), Key: aws.String("work/big.bin"), WriterAt: &got,
	}); err != nil {
		t.Fatalf("DownloadObject: %v", err)
	}
	if !bytes.Equal(got.buf, data) {
		t.Fatalf("downloaded %d bytes, differing from the %d uploaded", len(got.buf), len(data))
	}
	counts := w.srv.Calls()
	for _, api := range []string{"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "GetObject"} {
		if counts[api] == 0 {
			t.Errorf("no %s call", api)
		}
		for _, k := range w.signers(api) {
			if !isVended(k) {
				t.Errorf("%s signed with %s, want vended keys only", api, k)
			}
		}
	}
	if counts["UploadPart"] < 3 || counts["GetObject"] < 3 {
		t.Errorf("UploadPart %d, GetObject %d: want the 12 MiB object in parts and ranges", counts["UploadPart"], counts["GetObject"])
	}
	// One WRITE and one READ credential for the whole transfer.
	if n := w.calls("GetDataAccess"); n != 2 {
		t.Errorf("GetDataAccess calls = %d, want 2", n)
	}
}

// writerAt is an in-memory io.WriterAt.
type writerAt struct {
	mu  sync.Mutex
	buf []byte
}

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end := int(off) + len(p); end > len(w.buf) {
		w.buf = append(w.buf, make([]byte, end-len(w.buf))...)
	}
	copy(w.buf[off:], p)
	return len(p), nil
}

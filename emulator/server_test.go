package emulator_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	s3ctltypes "github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3ag/accessgrants/emulator"
)

const (
	adminKey    = emulator.DefaultAccessKeyID
	adminSecret = emulator.DefaultSecretAccessKey
	bucket      = emulator.DefaultBucket
	accountID   = emulator.DefaultAccountID
)

// twoRegionsYAML has a bucket in another Region, a second account and a
// role to assume.
const twoRegionsYAML = `
region: us-east-1
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:user/admin
        access_key_id: AKIAEXAMPLEADMIN0001
        secret_access_key: admin-secret
        allow: [{actions: ["*"], resources: ["*"]}]
      - arn: arn:aws:iam::111122223333:user/reader
        access_key_id: AKIAEXAMPLEREADER001
        secret_access_key: reader-secret
        allow:
          - {actions: ["s3:GetObject", "s3:ListBucket"], resources: ["arn:aws:s3:::data-bucket", "arn:aws:s3:::data-bucket/*"]}
          - {actions: ["sts:AssumeRole"], resources: ["arn:aws:iam::111122223333:role/writer"]}
    roles:
      - arn: arn:aws:iam::111122223333:role/writer
        max_session_duration: 3600
        allow: [{actions: ["s3:PutObject"], resources: ["arn:aws:s3:::data-bucket/*"]}]
  - id: "444455556666"
    principals:
      - arn: arn:aws:iam::444455556666:user/admin
        access_key_id: AKIAEXAMPLEBADMIN001
        secret_access_key: b-secret
        allow: [{actions: ["*"], resources: ["*"]}]
buckets:
  - {name: data-bucket, account: "111122223333"}
  - {name: west-bucket, account: "111122223333", region: us-west-2}
`

func twoRegions(t *testing.T, opts ...emulator.Option) *emulator.Server {
	t.Helper()
	cfg, err := emulator.ParseConfig([]byte(twoRegionsYAML))
	if err != nil {
		t.Fatal(err)
	}
	return emulator.NewServer(t, cfg, opts...)
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("PutObject s3://%s/%s: %v", bucket, key, err)
	}
}

func get(c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func TestDefaultServerServesS3AndSTS(t *testing.T) {
	srv := emulator.NewServer(t, nil)
	ctx := context.Background()
	cfg := srv.AWSConfig(adminKey)

	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(id.Account) != accountID || aws.ToString(id.Arn) != "arn:aws:iam::111122223333:user/admin" {
		t.Errorf("GetCallerIdentity = %s %s", aws.ToString(id.Account), aws.ToString(id.Arn))
	}

	c := s3.NewFromConfig(cfg)
	put(t, c, bucket, "a/b c+d%.txt", "hello")
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("a/b c+d%.txt")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != "hello" {
		t.Errorf("GetObject body = %q", body)
	}
	if len(out.Metadata) != 0 {
		t.Errorf("object metadata = %v, want none (signing headers must not be stored)", out.Metadata)
	}
	head, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("HeadBucket: %v", err)
	}
	if aws.ToString(head.BucketRegion) != "us-east-1" {
		t.Errorf("HeadBucket region = %q", aws.ToString(head.BucketRegion))
	}
	calls := srv.Calls()
	for _, api := range []string{"GetCallerIdentity", "PutObject", "GetObject", "HeadBucket"} {
		if calls[api] != 1 {
			t.Errorf("Calls()[%s] = %d, want 1 (all: %v)", api, calls[api], calls)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 4 || reqs[1].AccessKeyID != adminKey || reqs[1].Bucket != bucket || reqs[1].Key != "a/b c+d%.txt" {
		t.Errorf("Requests() = %+v", reqs)
	}
	srv.ResetCalls()
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("after ResetCalls, %d APIs counted", n)
	}
}

// signedRequest builds a request signed by the SDK's own SigV4 signer.
func signedRequest(t *testing.T, srv *emulator.Server, method, path string, body []byte, creds aws.Credentials, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	err = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// s3Code sends req and returns the status and the S3 error code.
func s3Code(t *testing.T, srv *emulator.Server, req *http.Request) (int, string) {
	t.Helper()
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	data, _ := io.ReadAll(resp.Body)
	_ = xmlUnmarshal(data, &doc)
	if strings.Contains(string(data), "admin-secret") {
		t.Errorf("error body holds the secret: %s", data)
	}
	return resp.StatusCode, doc.Code
}

func TestSigV4NegativeMatrix(t *testing.T) {
	srv := emulator.NewServer(t, nil)
	put(t, s3.NewFromConfig(srv.AWSConfig(adminKey)), bucket, "obj", "x")
	admin := aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret}
	now := time.Now()
	path := "/" + bucket + "/obj"

	cases := []struct {
		name   string
		build  func() *http.Request
		status int
		code   string
	}{
		{"valid", func() *http.Request { return signedRequest(t, srv, "GET", path, nil, admin, now) }, 200, ""},
		{"wrong secret", func() *http.Request {
			return signedRequest(t, srv, "GET", path, nil, aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: "wrong"}, now)
		}, 403, "SignatureDoesNotMatch"},
		{"unknown key", func() *http.Request {
			return signedRequest(t, srv, "GET", path, nil, aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000001", SecretAccessKey: "x"}, now)
		}, 403, "InvalidAccessKeyId"},
		{"tampered path", func() *http.Request {
			r := signedRequest(t, srv, "GET", path, nil, admin, now)
			r.URL.Path = "/" + bucket + "/obk"
			return r
		}, 403, "SignatureDoesNotMatch"},
		{"tampered query", func() *http.Request {
			r := signedRequest(t, srv, "GET", path+"?response-content-type=text%2Fplain", nil, admin, now)
			r.URL.RawQuery = "response-content-type=text%2Fhtml"
			return r
		}, 403, "SignatureDoesNotMatch"},
		{"tampered signed header", func() *http.Request {
			r := signedRequest(t, srv, "GET", path, nil, admin, now)
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			return r
		}, 403, "SignatureDoesNotMatch"},
		{"26-minute skew", func() *http.Request { return signedRequest(t, srv, "GET", path, nil, admin, now.Add(-26*time.Minute)) }, 403, "RequestTimeTooSkewed"},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+path, nil)
			return r
		}, 403, "AccessDenied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, code := s3Code(t, srv, tc.build())
			if status != tc.status || code != tc.code {
				t.Errorf("got %d %q, want %d %q", status, code, tc.status, tc.code)
			}
		})
	}
}

func TestTemporaryKeys(t *testing.T) {
	srv := twoRegions(t)
	ctx := context.Background()
	readerCfg := srv.AWSConfig("AKIAEXAMPLEREADER001")
	out, err := sts.NewFromConfig(readerCfg).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::111122223333:role/writer"), RoleSessionName: aws.String("job-1"),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	c := out.Credentials
	if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(out.AssumedRoleUser.Arn) != "arn:aws:sts::111122223333:assumed-role/writer/job-1" {
		t.Fatalf("AssumeRole = %s %s", aws.ToString(c.AccessKeyId), aws.ToString(out.AssumedRoleUser.Arn))
	}
	session := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
	sessionCfg := readerCfg.Copy()
	sessionCfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return session, nil })

	id, err := sts.NewFromConfig(sessionCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Arn) != "arn:aws:sts::111122223333:assumed-role/writer/job-1" {
		t.Fatalf("GetCallerIdentity as the session = %v, %v", id, err)
	}
	// The session may do what the role allows, not what the reader may.
	s3c := s3.NewFromConfig(sessionCfg)
	put(t, s3c, "data-bucket", "by-session", "s")
	if _, err := get(s3c, "data-bucket", "by-session"); errCode(err) != "AccessDenied" {
		t.Errorf("session GetObject err = %v, want AccessDenied", err)
	}
	// Without its session token the key is unknown; with another, invalid.
	noToken := session
	noToken.SessionToken = ""
	if st, code := s3Code(t, srv, signedRequest(t, srv, "GET", "/data-bucket/by-session", nil, noToken, time.Now())); st != 403 || code != "InvalidAccessKeyId" {
		t.Errorf("missing session token: %d %s, want 403 InvalidAccessKeyId", st, code)
	}
	wrongToken := session
	wrongToken.SessionToken = "FQoGZXIvYXdzEwrong"
	if st, code := s3Code(t, srv, signedRequest(t, srv, "GET", "/data-bucket/by-session", nil, wrongToken, time.Now())); st != 400 || code != "InvalidToken" {
		t.Errorf("wrong session token: %d %s, want 400 InvalidToken", st, code)
	}
	// Past its expiry, the emulator says so.
	srv.AdvanceClock(61 * time.Minute)
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("late"), Body: strings.NewReader("x")})
	if errCode(err) != "ExpiredToken" || httpStatus(err) != 400 {
		t.Errorf("expired session PutObject err = %v, want 400 ExpiredToken", err)
	}
	if _, err := sts.NewFromConfig(sessionCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); errCode(err) != "ExpiredToken" {
		t.Errorf("expired session GetCallerIdentity err = %v, want ExpiredToken", err)
	}
}

func TestPresignedURLExpiry(t *testing.T) {
	srv := emulator.NewServer(t, nil)
	c := s3.NewFromConfig(srv.AWSConfig(adminKey))
	put(t, c, bucket, "p", "presigned")
	req, err := s3.NewPresignClient(c).PresignGetObject(context.Background(),
		&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("p")}, s3.WithPresignExpires(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	fetch := func() (int, string) {
		r, _ := http.NewRequest("GET", req.URL, nil)
		return s3Code(t, srv, r)
	}
	if st, _ := fetch(); st != 200 {
		t.Fatalf("fresh presigned URL: status %d", st)
	}
	srv.AdvanceClock(16 * time.Minute)
	if st, code := fetch(); st != 403 || code != "AccessDenied" {
		t.Errorf("expired presigned URL: %d %s, want 403 AccessDenied", st, code)
	}
}

func TestWrongRegionRedirect(t *testing.T) {
	srv := twoRegions(t)
	ctx := context.Background()
	east := s3.NewFromConfig(srv.AWSConfig(adminKey)) // us-east-1
	west := s3.NewFromConfig(srv.AWSConfig(adminKey), func(o *s3.Options) { o.Region = "us-west-2" })
	put(t, west, "west-bucket", "w", "w")

	_, err := get(east, "west-bucket", "w")
	if httpStatus(err) != 301 || errCode(err) != "PermanentRedirect" {
		t.Errorf("GetObject in the wrong Region: %v, want 301 PermanentRedirect", err)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response.Header.Get("X-Amz-Bucket-Region") != "us-west-2" {
		t.Errorf("redirect without x-amz-bucket-region: us-west-2")
	}
	_, err = east.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("west-bucket")})
	if !errors.As(err, &re) || re.HTTPStatusCode() != 301 || re.Response.Header.Get("X-Amz-Bucket-Region") != "us-west-2" {
		t.Errorf("HeadBucket in the wrong Region: %v, want 301 with x-amz-bucket-region us-west-2", err)
	}
	// Another account's principal is refused, with the Region still told.
	other := s3.NewFromConfig(srv.AWSConfig("AKIAEXAMPLEBADMIN001"))
	_, err = other.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("data-bucket")})
	if !errors.As(err, &re) || re.HTTPStatusCode() != 403 || re.Response.Header.Get("X-Amz-Bucket-Region") != "us-east-1" {
		t.Errorf("HeadBucket of another account's bucket: %v, want 403 with x-amz-bucket-region us-east-1", err)
	}
}

func TestChunkedPutOverTLS(t *testing.T) {
	srv := emulator.NewServer(t, nil, emulator.WithTLS())
	if !strings.HasPrefix(srv.URL, "https://") || srv.CertFile == "" {
		t.Fatalf("URL %s, cert %q", srv.URL, srv.CertFile)
	}
	c := s3.NewFromConfig(srv.AWSConfig(adminKey))
	data := bytes.Repeat([]byte("0123456789abcdef"), 400_000) // 6.4 MB, several aws-chunks
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("big"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: "CRC32",
	})
	if err != nil {
		t.Fatalf("PutObject over TLS: %v", err)
	}
	got, err := get(c, bucket, "big")
	if err != nil || got != string(data) {
		t.Fatalf("read back %d bytes, %v; want %d bytes", len(got), err, len(data))
	}
	var sawTrailer bool
	for _, r := range srv.Requests() {
		if r.API == "PutObject" && r.Status == 200 {
			sawTrailer = true
		}
	}
	if !sawTrailer {
		t.Error("no successful PutObject recorded")
	}
}

func TestFaults(t *testing.T) {
	srv := emulator.NewServer(t, nil)
	c := s3.NewFromConfig(srv.AWSConfig(adminKey), func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
	put(t, c, bucket, "k", "v")
	ctx := context.Background()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(srv.InjectFault(emulator.Fault{API: "GetObject", Status: 503, Code: "SlowDown", Count: 2}))
	for i := range 2 {
		if _, err := get(c, bucket, "k"); errCode(err) != "SlowDown" || httpStatus(err) != 503 {
			t.Errorf("call %d: %v, want 503 SlowDown", i, err)
		}
	}
	if v, err := get(c, bucket, "k"); err != nil || v != "v" {
		t.Errorf("after the fault's count: %q %v", v, err)
	}

	must(srv.InjectFault(emulator.Fault{API: "HeadObject", Latency: 500 * time.Millisecond}))
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err := c.HeadObject(tctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("latency beyond the deadline: %v, want DeadlineExceeded", err)
	}

	must(srv.InjectFault(emulator.Fault{API: "GetObjectAcl", Status: 200, Body: "<AccessControlPolicy><Owner>"}))
	if _, err := c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String(bucket), Key: aws.String("k")}); err == nil {
		t.Error("malformed body: no error")
	}

	// net/http replays an idempotent request once when a reused
	// connection drops; two drops reach the client.
	must(srv.InjectFault(emulator.Fault{API: "GetObject", Drop: true, Count: 2}))
	if _, err := get(c, bucket, "k"); err == nil {
		t.Error("dropped connection: no error")
	}

	if err := srv.InjectFault(emulator.Fault{API: "GetObject"}); err == nil {
		t.Error("a fault that does nothing was accepted")
	}

	// The JSON API does the same.
	hc := srv.HTTPClient()
	resp, err := hc.Post(srv.URL+"/_emulator/faults", "application/json",
		strings.NewReader(`{"api": "GetObject", "status": 500, "code": "InternalError", "count": 1}`))
	must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /_emulator/faults: %d", resp.StatusCode)
	}
	if _, err := get(c, bucket, "k"); errCode(err) != "InternalError" {
		t.Errorf("JSON-injected fault: %v", err)
	}
	resp, err = hc.Get(srv.URL + "/_emulator/calls")
	must(err)
	var counts struct {
		Calls map[string]int `json:"calls"`
	}
	must(json.NewDecoder(resp.Body).Decode(&counts))
	resp.Body.Close()
	if counts.Calls["GetObject"] != 6 {
		t.Errorf("GET /_emulator/calls: GetObject = %d, want 6 (%v)", counts.Calls["GetObject"], counts.Calls)
	}
}

func TestClockAPI(t *testing.T) {
	srv := emulator.NewServer(t, nil)
	before := srv.Now()
	resp, err := srv.HTTPClient().Post(srv.URL+"/_emulator/clock", "application/json", strings.NewReader(`{"advance_seconds": 3600}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := srv.Now().Sub(before); d < time.Hour || d > time.Hour+time.Minute {
		t.Errorf("clock moved %v, want an hour", d)
	}
}

func TestRestartWithDataDir(t *testing.T) {
	dir := t.TempDir()
	srv, err := emulator.Start(nil, "127.0.0.1:0", emulator.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	c := s3.NewFromConfig(srv.AWSConfig(adminKey))
	put(t, c, bucket, "kept", "still here")
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("made-later")}); err != nil {
		t.Fatal(err)
	}
	put(t, c, "made-later", "k", "v")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv = emulator.NewServer(t, nil, emulator.WithDataDir(dir))
	c = s3.NewFromConfig(srv.AWSConfig(adminKey))
	if v, err := get(c, bucket, "kept"); err != nil || v != "still here" {
		t.Errorf("after restart: %q, %v", v, err)
	}
	if v, err := get(c, "made-later", "k"); err != nil || v != "v" {
		t.Errorf("bucket created through the API after restart: %q, %v", v, err)
	}
}

func TestMalformedRequests(t *testing.T) {
	srv := emulator.NewServer(t, nil)
	admin := aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret}
	now := time.Now()
	cases := []struct {
		name, method, path string
		body               string
		status             int
		code               string
	}{
		{"unknown S3 API", "PUT", "/" + bucket + "?policy", "{}", 501, "NotImplemented"},
		{"malformed DeleteObjects", "POST", "/" + bucket + "?delete", "<Delete><Object>", 400, "MalformedXML"},
		{"no such bucket", "GET", "/no-such-bucket/k", "", 404, "NoSuchBucket"},
		{"bad copy source", "PUT", "/" + bucket + "/dst", "", 400, "InvalidArgument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := signedRequest(t, srv, tc.method, tc.path, []byte(tc.body), admin, now)
			if tc.name == "bad copy source" {
				r = signedRequestWith(t, srv, tc.method, tc.path, nil, admin, now, map[string]string{"X-Amz-Copy-Source": "no-key"})
			}
			if st, code := s3Code(t, srv, r); st != tc.status || code != tc.code {
				t.Errorf("got %d %q, want %d %q", st, code, tc.status, tc.code)
			}
		})
	}
}

// signedRequestWith signs a request with extra headers.
func signedRequestWith(t *testing.T, srv *emulator.Server, method, path string, body []byte, creds aws.Credentials, at time.Time, headers map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestVirtualHostedStyle(t *testing.T) {
	srv := emulator.NewServer(t, nil)
	put(t, s3.NewFromConfig(srv.AWSConfig(adminKey)), bucket, "vh", "virtual")
	// bucket.localhost reaches the emulator through its HTTP client.
	c := s3.NewFromConfig(srv.AWSConfig(adminKey), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	})
	if v, err := get(c, bucket, "vh"); err != nil || v != "virtual" {
		t.Errorf("virtual-hosted GetObject = %q, %v", v, err)
	}
	if call := srv.Requests()[len(srv.Requests())-1]; call.Bucket != bucket || call.Key != "vh" {
		t.Errorf("recorded %s/%s", call.Bucket, call.Key)
	}
}

// bobYAML holds service.md's documented example: grants s3://bkt1/bob/*
// and s3://bkt1/bob/reports/* for one role.
const bobYAML = `
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:role/bob
        access_key_id: AKIAEXAMPLEBOB000001
        secret_access_key: bob-secret
        allow: [{actions: ["s3:GetDataAccess"], resources: ["*"]}]
    roles:
      - {arn: "arn:aws:iam::111122223333:role/ag-location", max_session_duration: 7200}
buckets:
  - {name: bkt1, account: "111122223333"}
access_grants:
  - account: "111122223333"
    locations:
      - {scope: "s3://", role: "arn:aws:iam::111122223333:role/ag-location"}
    grants:
      - {location: "s3://", sub_prefix: "bkt1/bob/*", permission: READ, grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/bob"}}
      - {location: "s3://", sub_prefix: "bkt1/bob/reports/*", permission: READWRITE, grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/bob"}}
`

// TestDocumentedMatchingThroughSDK runs service.md's matching table row by
// row through the real s3control client, then uses the vended credentials
// inside and outside their scope and past their expiry.
func TestDocumentedMatchingThroughSDK(t *testing.T) {
	cfg, err := emulator.ParseConfig([]byte(bobYAML))
	if err != nil {
		t.Fatal(err)
	}
	srv := emulator.NewServer(t, cfg)
	ctx := context.Background()
	bob := srv.AWSConfig("AKIAEXAMPLEBOB000001")
	control := s3control.NewFromConfig(bob)
	access := func(target string, perm s3ctltypes.Permission, priv s3ctltypes.Privilege, tt s3ctltypes.S3PrefixType) (*s3control.GetDataAccessOutput, error) {
		return control.GetDataAccess(ctx, &s3control.GetDataAccessInput{
			AccountId: aws.String(accountID), Target: aws.String(target), Permission: perm, Privilege: priv, TargetType: tt,
		})
	}
	rows := []struct {
		target string
		priv   s3ctltypes.Privilege
		tt     s3ctltypes.S3PrefixType
		scope  string
	}{
		{"s3://bkt1/bob/*", s3ctltypes.PrivilegeDefault, "", "s3://bkt1/bob/*"},
		{"s3://bkt1/bob/images/*", s3ctltypes.PrivilegeMinimal, "", "s3://bkt1/bob/images/*"},
		{"s3://bkt1/bob/reports/file.txt", s3ctltypes.PrivilegeDefault, "", "s3://bkt1/bob/reports/*"},
		{"s3://bkt1/bob/reports/file.txt", s3ctltypes.PrivilegeMinimal, s3ctltypes.S3PrefixTypeObject, "s3://bkt1/bob/reports/file.txt"},
	}
	for _, row := range rows {
		out, err := access(row.target, s3ctltypes.PermissionRead, row.priv, row.tt)
		if err != nil {
			t.Errorf("%s %s: %v", row.target, row.priv, err)
			continue
		}
		if got := aws.ToString(out.MatchedGrantTarget); got != row.scope {
			t.Errorf("%s %s: MatchedGrantTarget %s, want %s", row.target, row.priv, got, row.scope)
		}
	}
	if _, err := access("s3://bkt1/alice/x", s3ctltypes.PermissionRead, "", ""); errCode(err) != "AccessDenied" ||
		!strings.Contains(err.Error(), "You do not have READ permissions to the requested S3 Prefix: s3://bkt1/alice/x") {
		t.Errorf("no grant: %v", err)
	}
	// READWRITE on bob/reports/ satisfies WRITE there; READ on bob/ does not.
	if _, err := access("s3://bkt1/bob/reports/w.txt", s3ctltypes.PermissionWrite, "", ""); err != nil {
		t.Errorf("WRITE under READWRITE: %v", err)
	}
	if _, err := access("s3://bkt1/bob/w.txt", s3ctltypes.PermissionWrite, "", ""); errCode(err) != "AccessDenied" {
		t.Errorf("WRITE under READ: %v, want AccessDenied", err)
	}

	// Credentials for READ on s3://bkt1/bob/*, used with S3.
	out, err := access("s3://bkt1/bob/x.txt", s3ctltypes.PermissionRead, "", "")
	if err != nil {
		t.Fatal(err)
	}
	vended := bob.Copy()
	c := out.Credentials
	vended.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
	})
	vc := s3.NewFromConfig(vended)
	if _, err := vc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt1"), Prefix: aws.String("bob/")}); err != nil {
		t.Errorf("list inside the scope: %v", err)
	}
	if _, err := get(vc, "bkt1", "bob/none"); errCode(err) != "NoSuchKey" {
		t.Errorf("read inside the scope: %v, want NoSuchKey (allowed, absent)", err)
	}
	for name, err := range map[string]error{
		"read outside the scope": func() error { _, err := get(vc, "bkt1", "alice/x"); return err }(),
		"list outside the scope": func() error {
			_, err := vc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt1")})
			return err
		}(),
		"write with READ credentials": func() error {
			_, err := vc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt1"), Key: aws.String("bob/w"), Body: strings.NewReader("w")})
			return err
		}(),
	} {
		if errCode(err) != "AccessDenied" || httpStatus(err) != 403 {
			t.Errorf("%s: %v, want 403 AccessDenied", name, err)
		}
	}
	srv.AdvanceClock(61 * time.Minute)
	if _, err := get(vc, "bkt1", "bob/none"); errCode(err) != "ExpiredToken" || httpStatus(err) != 400 {
		t.Errorf("after expiry: %v, want 400 ExpiredToken", err)
	}
	// Duration beyond the location role's maximum (7200 s).
	_, err = control.GetDataAccess(ctx, &s3control.GetDataAccessInput{AccountId: aws.String(accountID),
		Target: aws.String("s3://bkt1/bob/x"), Permission: s3ctltypes.PermissionRead, DurationSeconds: aws.Int32(7201)})
	if errCode(err) != "InvalidRequest" {
		t.Errorf("duration above the role's maximum: %v, want InvalidRequest", err)
	}
}

// TestCloseDoesNotWaitForUnusedConnections: a client that opened a
// connection and never sent a request (transports do this when another
// connection frees up first) once held Close for five seconds.
func TestCloseDoesNotWaitForUnusedConnections(t *testing.T) {
	srv, err := emulator.Start(nil, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // let the server accept it
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with an unused connection open", d)
	}
}

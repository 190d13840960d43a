package emulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// The example credentials and time of AWS's published SigV4 examples.
const (
	exampleKeyID  = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	emptyHash     = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// lookupOf is a keyLookup over a fixed set of keys.
func lookupOf(creds map[string]sigCredential) keyLookup {
	return func(id string) (sigCredential, bool) {
		c, ok := creds[id]
		return c, ok
	}
}

var exampleLookup = lookupOf(map[string]sigCredential{exampleKeyID: {Secret: exampleSecret}})

// serverRequest builds a request as net/http's server would hand it over:
// RequestURI is the raw request target.
func serverRequest(method, target, host string, header map[string]string, body []byte) *http.Request {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	r.Host = host
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

// fromClient turns a request signed on the client side into the request a
// server receives.
func fromClient(req *http.Request, body []byte) *http.Request {
	r := httptest.NewRequest(req.Method, req.URL.RequestURI(), bytes.NewReader(body))
	r.Host = req.Host
	if r.Host == "" {
		r.Host = req.URL.Host
	}
	r.Header = req.Header.Clone()
	r.ContentLength = int64(len(body))
	return r
}

// checkCode fails t unless err is an *apiError with code and status.
func checkCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want *apiError %s", err, code)
	}
	if ae.Code != code || ae.Status != status {
		t.Fatalf("error = %d %s (%s), want %d %s", ae.Status, ae.Code, ae.Message, status, code)
	}
}

// checkNoLeak fails t if an error message contains one of the secrets.
func checkNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error message %q leaks %q", err.Error(), s)
		}
	}
}

// TestVerifySigV4AWSExamples checks the worked examples of S3's SigV4
// documentation ("Signature Calculations for the Authorization Header" and
// "Authenticating Requests: Using Query Parameters").
func TestVerifySigV4AWSExamples(t *testing.T) {
	const host = "examplebucket.s3.amazonaws.com"
	auth := func(signed, sig string) string {
		return "AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/20130524/us-east-1/s3/aws4_request,SignedHeaders=" + signed + ",Signature=" + sig
	}
	putBody := []byte("Welcome to Amazon S3.")
	putHash := "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
	put := func(target string) *http.Request {
		return serverRequest("PUT", target, host, map[string]string{
			"Date":                 "Fri, 24 May 2013 00:00:00 GMT",
			"X-Amz-Date":           "20130524T000000Z",
			"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
			"X-Amz-Content-Sha256": putHash,
			"Authorization":        auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
		}, putBody)
	}
	get := func(target, signed, sig string, extra map[string]string) *http.Request {
		h := map[string]string{
			"X-Amz-Date":           "20130524T000000Z",
			"X-Amz-Content-Sha256": emptyHash,
			"Authorization":        auth(signed, sig),
		}
		for k, v := range extra {
			h[k] = v
		}
		return serverRequest("GET", target, host, h, nil)
	}
	tests := []struct {
		name      string
		req       *http.Request
		body      []byte
		presigned bool
	}{
		{"GET object", get("/test.txt", "host;range;x-amz-content-sha256;x-amz-date",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", map[string]string{"Range": "bytes=0-9"}), nil, false},
		{"PUT object, escaped path", put("/test%24file.text"), putBody, false},
		// The example's request line has a literal '$'; S3 signs it escaped.
		{"PUT object, raw path", put("/test$file.text"), putBody, false},
		{"GET bucket lifecycle", get("/?lifecycle", "host;x-amz-content-sha256;x-amz-date",
			"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543", nil), nil, false},
		{"GET bucket", get("/?max-keys=2&prefix=J", "host;x-amz-content-sha256;x-amz-date",
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7", nil), nil, false},
		{"presigned GET object", serverRequest("GET", "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
			host, nil, nil), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, payload, trailer, err := verifySigV4(tc.req, tc.body, exampleLookup, verifyOptions{Wall: exampleTime, Now: exampleTime.Add(time.Hour)})
			if err != nil {
				t.Fatalf("verifySigV4: %v", err)
			}
			want := sigInfo{AccessKeyID: exampleKeyID, Region: "us-east-1", Service: "s3", SigningTime: exampleTime, Presigned: tc.presigned}
			want.PayloadHash = tc.req.Header.Get("X-Amz-Content-Sha256")
			if tc.presigned {
				want.PayloadHash = unsignedPayload
			}
			if *info != want {
				t.Errorf("info = %+v, want %+v", *info, want)
			}
			if !bytes.Equal(payload, tc.body) || trailer != nil {
				t.Errorf("payload = %q, trailer = %v; want %q, none", payload, trailer, tc.body)
			}
		})
	}

	// The same requests, one byte off, must fail.
	t.Run("tampered", func(t *testing.T) {
		r := get("/test.txt", "host;range;x-amz-content-sha256;x-amz-date",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", map[string]string{"Range": "bytes=0-8"})
		_, _, _, err := verifySigV4(r, nil, exampleLookup, verifyOptions{Wall: exampleTime})
		checkCode(t, err, "SignatureDoesNotMatch", 403)
	})
}

// sdkCase is a request for the SDK's signer to sign.
type sdkCase struct {
	name        string
	method      string
	url         string // path and query as the client sends them
	header      map[string]string
	body        string
	payloadHash string // "" signs the body's hex SHA-256 without declaring it
	service     string
	keyID       string
	secret      string
	token       string
	escapePath  bool // sign without DisableURIPathEscaping, verify with EscapePath
}

var sdkCases = []sdkCase{
	{name: "GET object", method: "GET", url: "/bucket/key.txt", payloadHash: unsignedPayload},
	{name: "PUT with hex hash", method: "PUT", url: "/bucket/dir/obj", body: "hello, world", payloadHash: "hex",
		header: map[string]string{"Content-Type": "text/plain", "X-Amz-Meta-Color": "  deep   blue  "}},
	{name: "repeated and empty query values", method: "GET", url: "/bucket?list-type=2&prefix=a%2Fb&prefix=a-b&empty=&flag&z=%20x+y", payloadHash: emptyHash},
	{name: "query needing encoding", method: "GET", url: "/bucket?continuation-token=" + url.QueryEscape("a+b/c=d%e ü") + "&start-after=%7E%21", payloadHash: emptyHash},
	{name: "escaped key", method: "GET", url: "/bucket/a%20b/c%2Bd/%E2%98%83/e%24f%3D", payloadHash: unsignedPayload},
	{name: "escaped key, escaped once more", method: "GET", url: "/v20180820/bucket/a%20b/%E2%98%83", payloadHash: emptyHash, escapePath: true},
	{name: "session token", method: "GET", url: "/bucket/key", payloadHash: unsignedPayload, keyID: "ASIATEMPORARY0000001", token: "FwoGZXIvYXdzEJr//////////token+/="},
	{name: "key with special characters", method: "PUT", url: "/bucket/k", body: "x", payloadHash: "hex",
		keyID: "AKID with space=+%", secret: "s3cr3t with space/+%=ünïcødé"},
	{name: "unicode key ID", method: "GET", url: "/bucket/k", payloadHash: unsignedPayload, keyID: "ключ", secret: "秘密"},
	{name: "STS form POST", method: "POST", url: "/", body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts", escapePath: true,
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}},
	{name: "empty body, no hash header", method: "GET", url: "/?Action=GetCallerIdentity&Version=2011-06-15", service: "sts", escapePath: true},
}

func (c sdkCase) credentials() aws.Credentials {
	creds := aws.Credentials{AccessKeyID: exampleKeyID, SecretAccessKey: exampleSecret}
	if c.keyID != "" {
		creds.AccessKeyID = c.keyID
	}
	if c.secret != "" {
		creds.SecretAccessKey = c.secret
	}
	creds.SessionToken = c.token
	return creds
}

func (c sdkCase) lookup() keyLookup {
	creds := c.credentials()
	return lookupOf(map[string]sigCredential{creds.AccessKeyID: {Secret: creds.SecretAccessKey, SessionToken: creds.SessionToken}})
}

func (c sdkCase) serviceName() string {
	if c.service == "" {
		return "s3"
	}
	return c.service
}

// newRequest builds the client-side request of c against base.
func (c sdkCase) newRequest(t testing.TB, base string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.url, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	return req
}

// sign signs req with the SDK's signer, header form.
func (c sdkCase) sign(t testing.TB, req *http.Request, at time.Time) {
	t.Helper()
	hash := c.payloadHash
	switch hash {
	case "hex":
		sum := sha256.Sum256([]byte(c.body))
		hash = hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", hash)
	case "":
		sum := sha256.Sum256([]byte(c.body))
		hash = hex.EncodeToString(sum[:])
	default:
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	err := v4.NewSigner().SignHTTP(context.Background(), c.credentials(), req, hash, c.serviceName(), "eu-west-3", at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = !c.escapePath })
	if err != nil {
		t.Fatal(err)
	}
}

// presign returns the presigned URL of c, valid for expires.
func (c sdkCase) presign(t testing.TB, base string, at time.Time, expires time.Duration) (string, http.Header) {
	t.Helper()
	req := c.newRequest(t, base)
	if expires > 0 {
		if req.URL.RawQuery != "" {
			req.URL.RawQuery += "&"
		}
		req.URL.RawQuery += "X-Amz-Expires=" + strconv.Itoa(int(expires/time.Second))
	}
	hash := unsignedPayload
	if c.serviceName() != "s3" {
		hash = emptyHash
	}
	u, h, err := v4.NewSigner().PresignHTTP(context.Background(), c.credentials(), req, hash, c.serviceName(), "eu-west-3", at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = !c.escapePath })
	if err != nil {
		t.Fatal(err)
	}
	return u, h
}

// verifyingServer is an httptest.Server whose handler verifies every
// request with verifySigV4 and answers 200 with the decoded payload, or
// the error code with its status.
func verifyingServer(t *testing.T, lookup keyLookup, opt func() verifyOptions) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		info, payload, _, err := verifySigV4(r, body, lookup, opt())
		var ae *apiError
		if errors.As(err, &ae) {
			w.Header().Set("X-Test-Code", ae.Code)
			w.WriteHeader(ae.Status)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Test-Key", info.AccessKeyID)
		w.Header().Set("X-Test-Service", info.Service)
		w.Write(payload)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestVerifySigV4SDKSigner cross-checks the verifier against the SDK's
// signer over real HTTP: header form and presigned, S3's path rule and the
// escaped one.
func TestVerifySigV4SDKSigner(t *testing.T) {
	for _, c := range sdkCases {
		t.Run(c.name, func(t *testing.T) {
			srv := verifyingServer(t, c.lookup(), func() verifyOptions { return verifyOptions{EscapePath: c.escapePath} })
			check := func(t *testing.T, resp *http.Response, err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				got, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("X-Test-Code"))
				}
				if string(got) != c.body || resp.Header.Get("X-Test-Key") != c.credentials().AccessKeyID ||
					resp.Header.Get("X-Test-Service") != c.serviceName() {
					t.Fatalf("payload %q key %q service %q", got, resp.Header.Get("X-Test-Key"), resp.Header.Get("X-Test-Service"))
				}
			}
			t.Run("header", func(t *testing.T) {
				req := c.newRequest(t, srv.URL)
				c.sign(t, req, time.Now())
				resp, err := srv.Client().Do(req)
				check(t, resp, err)
			})
			t.Run("presigned", func(t *testing.T) {
				if c.method == "POST" {
					t.Skip("a presigned POST carries a body the URL does not sign")
				}
				u, h := c.presign(t, srv.URL, time.Now(), time.Hour)
				req, err := http.NewRequest(c.method, u, strings.NewReader(c.body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range h {
					if k != "Host" {
						req.Header[k] = v
					}
				}
				if c.body == "" {
					req.Body, req.ContentLength = http.NoBody, 0
				}
				resp, err := srv.Client().Do(req)
				check(t, resp, err)
			})
		})
	}
}

// TestVerifySigV4Rejects is the negative matrix: requests signed by the
// SDK, then changed or checked against the wrong state.
func TestVerifySigV4Rejects(t *testing.T) {
	const token = "session-token-value"
	base := sdkCase{method: "PUT", url: "/bucket/obj?tagging&versionId=v1", body: "payload bytes", payloadHash: "hex",
		header: map[string]string{"X-Amz-Meta-Owner": "alice"}}
	temp := base
	temp.keyID, temp.token = "ASIATEMPKEY", token
	now := time.Now()

	signed := func(c sdkCase, at time.Time) *http.Request {
		req := c.newRequest(t, "https://s3.example.test")
		c.sign(t, req, at)
		return fromClient(req, []byte(c.body))
	}
	presigned := func(c sdkCase, at time.Time, expires time.Duration) *http.Request {
		u, h := c.presign(t, "https://s3.example.test", at, expires)
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(c.method, pu.RequestURI(), strings.NewReader(c.body))
		r.Host = pu.Host
		for k, v := range h {
			if k != "Host" {
				r.Header[k] = v
			}
		}
		return r
	}
	good := lookupOf(map[string]sigCredential{exampleKeyID: {Secret: exampleSecret}, "ASIATEMPKEY": {Secret: exampleSecret, SessionToken: token}})

	tests := []struct {
		name   string
		req    func() *http.Request
		lookup keyLookup
		opt    verifyOptions
		body   *string // overrides the request body
		code   string
		status int
	}{
		{name: "wrong secret", req: func() *http.Request { return signed(base, now) },
			lookup: lookupOf(map[string]sigCredential{exampleKeyID: {Secret: "other"}}), code: "SignatureDoesNotMatch", status: 403},
		{name: "tampered path", req: func() *http.Request {
			r := signed(base, now)
			r.RequestURI = strings.Replace(r.RequestURI, "/obj", "/obk", 1)
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "tampered query", req: func() *http.Request {
			r := signed(base, now)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "v1", "v2", 1)
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "added query parameter", req: func() *http.Request {
			r := signed(base, now)
			r.URL.RawQuery += "&acl"
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "tampered signed header", req: func() *http.Request {
			r := signed(base, now)
			r.Header.Set("X-Amz-Meta-Owner", "mallory")
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "tampered host", req: func() *http.Request {
			r := signed(base, now)
			r.Host = "s3.evil.test"
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "tampered method", req: func() *http.Request {
			r := signed(base, now)
			r.Method = "POST"
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "tampered signature", req: func() *http.Request {
			r := signed(base, now)
			a := r.Header.Get("Authorization")
			flipped := "0"
			if a[len(a)-1] == '0' {
				flipped = "1"
			}
			r.Header.Set("Authorization", a[:len(a)-1]+flipped)
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "signature not hex", req: func() *http.Request {
			r := signed(base, now)
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+"z")
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "26 minutes late", req: func() *http.Request { return signed(base, now.Add(-26*time.Minute)) }, code: "RequestTimeTooSkewed", status: 403},
		{name: "26 minutes early", req: func() *http.Request { return signed(base, now.Add(26*time.Minute)) }, code: "RequestTimeTooSkewed", status: 403},
		{name: "presigned expired", req: func() *http.Request { return presigned(base, now, time.Minute) },
			opt: verifyOptions{Wall: now, Now: now.Add(61 * time.Second)}, code: "AccessDenied", status: 403},
		{name: "presigned tampered query", req: func() *http.Request {
			r := presigned(base, now, time.Minute)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=60", "X-Amz-Expires=600", 1)
			return r
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "unknown key", req: func() *http.Request { return signed(base, now) },
			lookup: lookupOf(nil), code: "InvalidAccessKeyId", status: 403},
		{name: "missing session token", req: func() *http.Request {
			r := signed(temp, now)
			r.Header.Del("X-Amz-Security-Token")
			return r
		}, code: "InvalidAccessKeyId", status: 403},
		{name: "session token not sent", req: func() *http.Request {
			c := temp
			c.token = ""
			return signed(c, now)
		}, code: "InvalidAccessKeyId", status: 403},
		{name: "wrong session token", req: func() *http.Request {
			c := temp
			c.token = "another-token"
			return signed(c, now)
		}, code: "InvalidToken", status: 400},
		{name: "token for a long-term key", req: func() *http.Request {
			c := base
			c.token = "stray-token"
			return signed(c, now)
		}, code: "InvalidToken", status: 400},
		{name: "presigned wrong session token", req: func() *http.Request {
			c := temp
			c.token = "another-token"
			return presigned(c, now, time.Minute)
		}, code: "InvalidToken", status: 400},
		{name: "body not matching declared hash", req: func() *http.Request { return signed(base, now) },
			body: ptr("payload bytez"), code: "XAmzContentSHA256Mismatch", status: 400},
		{name: "bad payload hash value", req: func() *http.Request {
			c := base
			c.payloadHash = "not-a-hash"
			return signed(c, now)
		}, code: "InvalidArgument", status: 400},
		{name: "no signature", req: func() *http.Request {
			r := signed(base, now)
			r.Header.Del("Authorization")
			return r
		}, code: "AccessDenied", status: 403},
		{name: "header and query signature", req: func() *http.Request {
			r := signed(base, now)
			r.URL.RawQuery += "&X-Amz-Signature=00"
			return r
		}, code: "InvalidArgument", status: 400},
		{name: "no date", req: func() *http.Request {
			r := signed(base, now)
			r.Header.Del("X-Amz-Date")
			return r
		}, code: "AccessDenied", status: 403},
		{name: "unparsable date", req: func() *http.Request {
			r := signed(base, now)
			r.Header.Set("X-Amz-Date", "2013-05-24T00:00:00Z")
			return r
		}, code: "AccessDenied", status: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			body, _ := io.ReadAll(r.Body)
			if tc.body != nil {
				body = []byte(*tc.body)
			}
			lookup := tc.lookup
			if lookup == nil {
				lookup = good
			}
			opt := tc.opt
			if opt.Wall.IsZero() {
				opt.Wall, opt.Now = now, now
			}
			info, _, _, err := verifySigV4(r, body, lookup, opt)
			if err == nil {
				t.Fatalf("verified: %+v", info)
			}
			checkCode(t, err, tc.code, tc.status)
			sig := r.Header.Get("Authorization")
			if i := strings.Index(sig, "Signature="); i >= 0 {
				sig = sig[i+len("Signature="):]
			}
			checkNoLeak(t, err, exampleSecret, token, sig)
		})
	}
	if t.Failed() {
		return
	}
	// The unchanged requests verify, so each failure above is the change's.
	for _, r := range []*http.Request{signed(base, now), signed(temp, now), presigned(base, now, time.Minute), presigned(temp, now, time.Minute)} {
		body, _ := io.ReadAll(r.Body)
		if _, _, _, err := verifySigV4(r, body, good, verifyOptions{Wall: now, Now: now.Add(59 * time.Second)}); err != nil {
			t.Errorf("unchanged %s request: %v", r.Method, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestVerifySigV4Malformed covers signatures that cannot be parsed.
func TestVerifySigV4Malformed(t *testing.T) {
	const scope = "20130524/us-east-1/s3/aws4_request"
	const sig = "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	header := func(auth string) *http.Request {
		return serverRequest("GET", "/b/k", "h", map[string]string{"Authorization": auth, "X-Amz-Date": "20130524T000000Z"}, nil)
	}
	query := func(q string) *http.Request { return serverRequest("GET", "/b/k?"+q, "h", nil, nil) }
	presign := func(drop string, set map[string]string) *http.Request {
		v := url.Values{
			qAlgorithm: {sigAlgorithm}, qCredential: {exampleKeyID + "/" + scope}, qDate: {"20130524T000000Z"},
			qExpires: {"60"}, qSignedHeaders: {"host"}, qSignature: {strings.TrimPrefix(sig, "Signature=")},
		}
		v.Del(drop)
		for k, x := range set {
			v.Set(k, x)
		}
		return query(v.Encode())
	}
	tests := []struct {
		name string
		req  *http.Request
		code string
	}{
		{"SigV2", header("AWS " + exampleKeyID + ":c2lnbmF0dXJl"), "AuthorizationHeaderMalformed"},
		{"SigV4a", header("AWS4-ECDSA-P256-SHA256 Credential=" + exampleKeyID + "/" + scope + ", SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"no credential", header("AWS4-HMAC-SHA256 SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"no signed headers", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/" + scope + ", " + sig), "AuthorizationHeaderMalformed"},
		{"no signature", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/" + scope + ", SignedHeaders=host"), "AuthorizationHeaderMalformed"},
		{"unknown component", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/" + scope + ", SignedHeaders=host, Extra=1, " + sig), "AuthorizationHeaderMalformed"},
		{"component without =", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/" + scope + ", SignedHeaders, " + sig), "AuthorizationHeaderMalformed"},
		{"short credential", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/20130524/us-east-1/aws4_request, SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"empty key", header("AWS4-HMAC-SHA256 Credential=/" + scope + ", SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"bad terminator", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/20130524/us-east-1/s3/aws4_reques, SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"bad scope date", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/2013052x/us-east-1/s3/aws4_request, SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"scope date is not x-amz-date's", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/20130525/us-east-1/s3/aws4_request, SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"empty region", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/20130524//s3/aws4_request, SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"empty service", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/20130524/us-east-1//aws4_request, SignedHeaders=host, " + sig), "AuthorizationHeaderMalformed"},
		{"host not signed", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/" + scope + ", SignedHeaders=x-amz-date, " + sig), "AuthorizationHeaderMalformed"},
		{"empty header name", header("AWS4-HMAC-SHA256 Credential=" + exampleKeyID + "/" + scope + ", SignedHeaders=host;;x-amz-date, " + sig), "AuthorizationHeaderMalformed"},
		{"presigned, no algorithm", presign(qAlgorithm, nil), "AuthorizationQueryParametersError"},
		{"presigned, no credential", presign(qCredential, nil), "AuthorizationQueryParametersError"},
		{"presigned, no date", presign(qDate, nil), "AuthorizationQueryParametersError"},
		{"presigned, no signed headers", presign(qSignedHeaders, nil), "AuthorizationQueryParametersError"},
		{"presigned, no expires", presign(qExpires, nil), "AuthorizationQueryParametersError"},
		{"presigned, bad algorithm", presign("", map[string]string{qAlgorithm: "AWS4-HMAC-SHA1"}), "AuthorizationQueryParametersError"},
		{"presigned, expires 0", presign("", map[string]string{qExpires: "0"}), "AuthorizationQueryParametersError"},
		{"presigned, expires negative", presign("", map[string]string{qExpires: "-5"}), "AuthorizationQueryParametersError"},
		{"presigned, expires over a week", presign("", map[string]string{qExpires: "604801"}), "AuthorizationQueryParametersError"},
		{"presigned, expires huge", presign("", map[string]string{qExpires: "99999999999999999999999"}), "AuthorizationQueryParametersError"},
		{"presigned, expires not a number", presign("", map[string]string{qExpires: "1h"}), "AuthorizationQueryParametersError"},
		{"presigned, bad date", presign("", map[string]string{qDate: "20130532T000000Z"}), "AuthorizationQueryParametersError"},
		{"presigned, scope date is not X-Amz-Date's", presign("", map[string]string{qDate: "20130525T000000Z"}), "AuthorizationQueryParametersError"},
		{"presigned, host not signed", presign("", map[string]string{qSignedHeaders: "x-amz-date"}), "AuthorizationQueryParametersError"},
		{"presigned, bad terminator", presign("", map[string]string{qCredential: exampleKeyID + "/20130524/us-east-1/s3/aws5_request"}), "AuthorizationQueryParametersError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := verifySigV4(tc.req, nil, exampleLookup, verifyOptions{Wall: exampleTime})
			checkCode(t, err, tc.code, 400)
			checkNoLeak(t, err, strings.TrimPrefix(sig, "Signature="))
		})
	}

	// A request with no signature at all is told apart, so that the server
	// can answer "anonymous access denied".
	_, _, _, err := verifySigV4(serverRequest("GET", "/b/k?x=1", "h", nil, nil), nil, exampleLookup, verifyOptions{})
	if err != errMissingAuth {
		t.Errorf("unsigned request: %v, want errMissingAuth", err)
	}
}

// TestVerifySigV4PresignedLimits checks the validity window of presigned
// URLs: up to a week, measured on the emulator's clock.
func TestVerifySigV4PresignedLimits(t *testing.T) {
	c := sdkCase{method: "GET", url: "/bucket/key"}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	u, _ := c.presign(t, "http://127.0.0.1", at, 7*24*time.Hour)
	pu, _ := url.Parse(u)
	req := func() *http.Request { return serverRequest("GET", pu.RequestURI(), pu.Host, nil, nil) }
	for _, tc := range []struct {
		now  time.Time
		code string
	}{
		{at, ""},
		{at.Add(7 * 24 * time.Hour), ""},
		{at.Add(7*24*time.Hour + time.Second), "AccessDenied"},
		{at.Add(-14 * time.Minute), ""},
		{at.Add(-16 * time.Minute), "AccessDenied"}, // not valid yet
	} {
		// Wall is far off: presigned URLs are judged by the emulator clock alone.
		_, _, _, err := verifySigV4(req(), nil, exampleLookup, verifyOptions{Wall: at.Add(-30 * 24 * time.Hour), Now: tc.now})
		if tc.code == "" {
			if err != nil {
				t.Errorf("at %v: %v", tc.now, err)
			}
			continue
		}
		checkCode(t, err, tc.code, 403)
	}
}

// TestVerifySigV4PresignedDefaultExpiry checks that a presigned URL of a
// service other than S3 without X-Amz-Expires lives 15 minutes.
func TestVerifySigV4PresignedDefaultExpiry(t *testing.T) {
	c := sdkCase{method: "GET", url: "/?Action=GetCallerIdentity&Version=2011-06-15", service: "sts", escapePath: true}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	u, _ := c.presign(t, "http://127.0.0.1", at, 0)
	pu, _ := url.Parse(u)
	if pu.Query().Has(qExpires) {
		t.Fatalf("URL %s has X-Amz-Expires", u)
	}
	for _, tc := range []struct {
		after time.Duration
		ok    bool
	}{{0, true}, {15 * time.Minute, true}, {15*time.Minute + time.Second, false}} {
		r := serverRequest("GET", pu.RequestURI(), pu.Host, nil, nil)
		_, _, _, err := verifySigV4(r, nil, exampleLookup, verifyOptions{EscapePath: true, Wall: at, Now: at.Add(tc.after)})
		if tc.ok && err != nil {
			t.Errorf("after %v: %v", tc.after, err)
		}
		if !tc.ok {
			checkCode(t, err, "AccessDenied", 403)
		}
	}
}

// TestCanonicalQuery pins the canonical query string on cases the SDK's
// signer does not reach.
func TestCanonicalQuery(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", ""},
		{"a", "a="},
		{"b=2&a=1", "a=1&b=2"},
		{"a=2&a=1&a=", "a=&a=1&a=2"},
		{"a=x+y", "a=x%20y"},
		{"a=%2B", "a=%2B"},
		{"a=%zz", "a=%25zz"}, // an invalid escape is kept as sent
		{"a;b=1", "a%3Bb=1"},
		{"&&a=1&", "a=1"},
		{"k=a%2Fb&k=a-b", "k=a%2Fb&k=a-b"}, // sorted after encoding: '%' < '-'
		{"%7e=~&%41=%C3%BC", "A=%C3%BC&~=~"},
	}
	for _, tc := range tests {
		got := string(parseSigQuery(tc.raw, nil).appendCanonical(nil, false))
		if got != tc.want {
			t.Errorf("canonical(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
	got := string(parseSigQuery("X-Amz-Signature=abc&b=1&X-Amz-Date=x", nil).appendCanonical(nil, true))
	if want := "X-Amz-Date=x&b=1"; got != want {
		t.Errorf("presigned canonical = %q, want %q", got, want)
	}
}

// TestCanonicalHeaders pins header canonicalization: trimming, collapsed
// spaces, repeated headers, content-length from the request.
func TestCanonicalHeaders(t *testing.T) {
	r := serverRequest("PUT", "/b/k", "Example.COM:8080", nil, []byte("12345"))
	r.Header["X-Amz-Meta-A"] = []string{"  one   two  ", "three"}
	r.Header["X-Amz-Meta-B"] = []string{"\ttab\t"}
	p := sigParams{signedHeaders: "Content-Length;host;x-amz-meta-a;x-amz-meta-b;x-amz-missing"}
	got := string(appendCanonicalRequest(nil, r, &p, nil, "/b/k", "HASH"))
	want := "PUT\n/b/k\n\ncontent-length:5\nhost:Example.COM:8080\nx-amz-meta-a:one two,three\nx-amz-meta-b:tab\nx-amz-missing:\n\ncontent-length;host;x-amz-meta-a;x-amz-meta-b;x-amz-missing\nHASH"
	if got != want {
		t.Errorf("canonical request\n%q\nwant\n%q", got, want)
	}
}

// TestCanonicalPath checks the canonical URI of both path rules.
func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		uri    string
		escape bool
		want   string
	}{
		{"/b/k?x=1", false, "/b/k"},
		{"/b/a%20b", false, "/b/a%20b"},
		{"/b/a%20b", true, "/b/a%2520b"},
		{"/b/ü", true, "/b/%C3%BC"},
		{"http://h:1/b/k?q", false, "/b/k"},
		{"http://h:1", false, "/"},
		{"/", true, "/"},
	}
	for _, tc := range tests {
		r := &http.Request{RequestURI: tc.uri, URL: &url.URL{Path: "/ignored"}}
		if got := canonicalPath(r, tc.escape); got != tc.want {
			t.Errorf("canonicalPath(%q, %v) = %q, want %q", tc.uri, tc.escape, got, tc.want)
		}
	}
	// A request built by hand, not read by a server, has no RequestURI.
	r := &http.Request{URL: &url.URL{Path: "/b/a b", RawPath: "/b/a%20b"}}
	if got := canonicalPath(r, false); got != "/b/a%20b" {
		t.Errorf("canonicalPath without RequestURI = %q", got)
	}
}

func TestParseAmzDate(t *testing.T) {
	for s, ok := range map[string]bool{
		"20130524T000000Z": true, "20241231T235959Z": true, "20240229T120000Z": true,
		"20230229T120000Z": false, "20131324T000000Z": false, "20130524T240000Z": false,
		"20130524T000000": false, "20130524 000000Z": false, "2013052AT000000Z": false, "": false,
	} {
		if _, got := parseAmzDate(s); got != ok {
			t.Errorf("parseAmzDate(%q) ok = %v, want %v", s, got, ok)
		}
	}
}

// endToEnd records what the verifying handler of an SDK test saw.
type endToEnd struct {
	mu      sync.Mutex
	info    []*sigInfo
	payload [][]byte
	trailer []http.Header
	errs    []error
}

// handler verifies each request with the example key and answers as S3
// (or STS) would, well enough for the SDK to be satisfied.
func (e *endToEnd) handler(escape bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		info, payload, trailer, err := verifySigV4(r, body, exampleLookup, verifyOptions{EscapePath: escape})
		e.mu.Lock()
		e.info, e.payload, e.trailer, e.errs = append(e.info, info), append(e.payload, payload), append(e.trailer, trailer), append(e.errs, err)
		e.mu.Unlock()
		var ae *apiError
		if errors.As(err, &ae) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(ae.Status)
			fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", ae.Code, ae.Message)
			return
		}
		if info.Service == "sts" {
			w.Header().Set("Content-Type", "text/xml")
			io.WriteString(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/alice</Arn><UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`)
			return
		}
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}
}

func (e *endToEnd) last(t *testing.T) (*sigInfo, []byte, http.Header) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.errs)
	if n == 0 {
		t.Fatal("the server saw no request")
	}
	if e.errs[n-1] != nil {
		t.Fatalf("verifySigV4: %v", e.errs[n-1])
	}
	return e.info[n-1], e.payload[n-1], e.trailer[n-1]
}

func exampleCredentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(exampleKeyID, exampleSecret, "")
}

func s3Client(srv *httptest.Server) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		HTTPClient:   srv.Client(),
		Credentials:  exampleCredentials(),
		// The default of config.LoadDefaultConfig: a CRC32 with every upload.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
}

// TestVerifySigV4S3Client drives the real S3 client: PutObject over TLS
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer) and plain HTTP
// (hex payload hash), and a presigned GetObject URL.
func TestVerifySigV4S3Client(t *testing.T) {
	ctx := context.Background()
	bodies := map[string][]byte{
		"empty": {},
		"small": []byte("hello, access grants"),
		"large": bytes.Repeat([]byte("0123456789abcdef"), 20000), // several 64 KiB chunks
	}
	for _, tls := range []bool{true, false} {
		var e endToEnd
		var srv *httptest.Server
		if tls {
			srv = httptest.NewTLSServer(e.handler(false))
		} else {
			srv = httptest.NewServer(e.handler(false))
		}
		defer srv.Close()
		client := s3Client(srv)
		for name, body := range bodies {
			t.Run(fmt.Sprintf("PutObject/tls=%v/%s", tls, name), func(t *testing.T) {
				_, err := client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String("data-bucket"),
					Key:    aws.String("reports/2030/q1 ü+%.csv"),
					Body:   bytes.NewReader(body),
				})
				if err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				info, payload, trailer := e.last(t)
				if !bytes.Equal(payload, body) {
					t.Errorf("payload: got %d bytes, want %d", len(payload), len(body))
				}
				if info.AccessKeyID != exampleKeyID || info.Service != "s3" || info.Region != "us-east-1" || info.Presigned {
					t.Errorf("info = %+v", info)
				}
				switch {
				case tls && len(body) == 0:
					// The SDK sends the checksum of an empty body as a header.
					if info.PayloadHash != unsignedPayload {
						t.Errorf("payload hash %q, want %s", info.PayloadHash, unsignedPayload)
					}
				case tls:
					if info.PayloadHash != streamingUnsignedPayloadTrailer {
						t.Errorf("payload hash %q, want %s", info.PayloadHash, streamingUnsignedPayloadTrailer)
					}
					if trailer.Get("X-Amz-Checksum-Crc32") == "" {
						t.Errorf("trailer %v lacks x-amz-checksum-crc32", trailer)
					}
				default:
					sum := sha256.Sum256(body)
					if info.PayloadHash != hex.EncodeToString(sum[:]) {
						t.Errorf("payload hash %q, want the body's SHA-256", info.PayloadHash)
					}
				}
			})
		}
		t.Run(fmt.Sprintf("presigned GetObject/tls=%v", tls), func(t *testing.T) {
			ps, err := s3.NewPresignClient(client).PresignGetObject(ctx, &s3.GetObjectInput{
				Bucket: aws.String("data-bucket"),
				Key:    aws.String("reports/a b+c.csv"),
			}, s3.WithPresignExpires(10*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Get(ps.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(got) != "hello" {
				t.Fatalf("GET presigned: %d %q", resp.StatusCode, got)
			}
			if info, _, _ := e.last(t); !info.Presigned || info.PayloadHash != unsignedPayload {
				t.Errorf("info = %+v", info)
			}
		})
	}

	// A wrong secret surfaces in the SDK as S3's error code.
	srv := httptest.NewTLSServer((&endToEnd{}).handler(false))
	defer srv.Close()
	bad := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, HTTPClient: srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider(exampleKeyID, "not-the-secret", ""),
	})
	_, err := bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Errorf("PutObject with a wrong secret: %v, want SignatureDoesNotMatch", err)
	}
}

// TestVerifySigV4STSClient drives the real STS client: a form POST whose
// payload hash is the body's SHA-256, sent without x-amz-content-sha256.
func TestVerifySigV4STSClient(t *testing.T) {
	var e endToEnd
	srv := httptest.NewServer(e.handler(true))
	defer srv.Close()
	client := sts.New(sts.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
		Credentials:  exampleCredentials(),
	})
	out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if aws.ToString(out.Account) != "111122223333" {
		t.Errorf("account %q", aws.ToString(out.Account))
	}
	info, payload, _ := e.last(t)
	sum := sha256.Sum256(payload)
	if info.Service != "sts" || info.PayloadHash != hex.EncodeToString(sum[:]) || !bytes.Contains(payload, []byte("Action=GetCallerIdentity")) {
		t.Errorf("info = %+v, payload %q", info, payload)
	}
}

// fuzzHeader is the header of FuzzVerifySigV4's requests, besides
// Authorization and x-amz-content-sha256.
func fuzzHeader() http.Header {
	return http.Header{
		"X-Amz-Date":                   {"20130524T000000Z"},
		"Range":                        {"bytes=0-9"},
		"Content-Encoding":             {"aws-chunked"},
		"X-Amz-Decoded-Content-Length": {"12"},
		"X-Amz-Trailer":                {"x-amz-checksum-crc32"},
	}
}

// fuzzRequest builds the server-side request of FuzzVerifySigV4.
func fuzzRequest(auth, rawQuery, path, contentSHA string, body []byte) *http.Request {
	h := fuzzHeader()
	h.Set("Authorization", auth)
	h.Set("X-Amz-Content-Sha256", contentSHA)
	return &http.Request{
		Method:        "GET",
		URL:           &url.URL{Path: path, RawQuery: rawQuery},
		RequestURI:    path + "?" + rawQuery,
		Host:          "s3.amazonaws.com",
		Header:        h,
		ContentLength: int64(len(body)),
	}
}

// FuzzVerifySigV4 feeds arbitrary signatures, queries, paths and bodies to
// the verifier: it must never panic, fail only with *apiError, and never
// echo the secret.
func FuzzVerifySigV4(f *testing.F) {
	const vectorAuth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	f.Add(vectorAuth, "", "/test.txt", emptyHash, []byte(nil))
	f.Add("", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
		"/test.txt", "", []byte(nil))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=;;, Signature=", "a=%zz&&;=", "http://x", "UNSIGNED-PAYLOAD", []byte("x"))
	f.Add(vectorAuth, "X-Amz-Signature=1", "*", streamingUnsignedPayloadTrailer, []byte("0\r\n\r\n"))
	// Valid streaming requests, signed for fuzzHeader, so that the fuzzer
	// reaches the aws-chunked decoder.
	hello := []byte("hello, world")
	for _, mode := range []string{streamingSignedPayloadTrailer, streamingUnsignedPayloadTrailer} {
		req, err := http.NewRequest("GET", "https://s3.amazonaws.com/b/k?uploads", nil)
		if err != nil {
			f.Fatal(err)
		}
		req.Header = fuzzHeader()
		req.Header.Set("X-Amz-Content-Sha256", mode)
		creds := aws.Credentials{AccessKeyID: exampleKeyID, SecretAccessKey: exampleSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, mode, "s3", "us-east-1", exampleTime,
			func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
			f.Fatal(err)
		}
		auth := req.Header.Get("Authorization")
		c := testChunker{creds: creds, at: exampleTime, trailer: [][2]string{{"x-amz-checksum-crc32", checksumOf("crc32", hello)}}}
		if mode != streamingUnsignedPayloadTrailer {
			c.seed, _ = hex.DecodeString(auth[strings.Index(auth, "Signature=")+len("Signature="):])
		}
		body := c.frame(f, hello, 5)
		if _, payload, _, err := verifySigV4(fuzzRequest(auth, "uploads", "/b/k", mode, body), body, exampleLookup,
			verifyOptions{Wall: exampleTime}); err != nil || !bytes.Equal(payload, hello) {
			f.Fatalf("%s seed: %v", mode, err)
		}
		f.Add(auth, "uploads", "/b/k", mode, body)
	}
	f.Fuzz(func(t *testing.T, auth, rawQuery, path, contentSHA string, body []byte) {
		r := fuzzRequest(auth, rawQuery, path, contentSHA, body)
		for _, opt := range []verifyOptions{{Wall: exampleTime, Now: exampleTime}, {Wall: exampleTime, EscapePath: true}} {
			info, payload, _, err := verifySigV4(r, body, exampleLookup, opt)
			if err != nil {
				var ae *apiError
				if !errors.As(err, &ae) {
					t.Fatalf("error %T %v is not an *apiError", err, err)
				}
				checkNoLeak(t, err, exampleSecret)
				continue
			}
			if info == nil || info.AccessKeyID != exampleKeyID || len(payload) > len(body) {
				t.Fatalf("verified with info %+v, %d-byte payload of a %d-byte body", info, len(payload), len(body))
			}
		}
	})
}

// TestVerifySigV4PresignedPayloadHash covers a payload hash carried in the
// query of a presigned URL (the SDK for JavaScript hoists it there).
func TestVerifySigV4PresignedPayloadHash(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name, service, hash, body, code string
	}{
		{"s3 unsigned", "s3", unsignedPayload, "", ""},
		{"s3 body hash", "s3", emptyHash, "", ""},
		{"s3 body hash mismatch", "s3", emptyHash, "x", "XAmzContentSHA256Mismatch"},
		{"sts empty body", "sts", emptyHash, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sdkCase{method: "GET", url: "/b/k?X-Amz-Content-Sha256=" + tc.hash, service: tc.service}
			req := c.newRequest(t, "http://127.0.0.1")
			req.URL.RawQuery += "&X-Amz-Expires=60"
			u, _, err := v4.NewSigner().PresignHTTP(context.Background(), c.credentials(), req, tc.hash, c.serviceName(), "us-east-1", now,
				func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
			if err != nil {
				t.Fatal(err)
			}
			pu, _ := url.Parse(u)
			r := serverRequest("GET", pu.RequestURI(), pu.Host, nil, []byte(tc.body))
			info, _, _, err := verifySigV4(r, []byte(tc.body), exampleLookup, verifyOptions{Wall: now})
			if tc.code != "" {
				checkCode(t, err, tc.code, 400)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.PayloadHash != tc.hash {
				t.Errorf("payload hash %q, want %q", info.PayloadHash, tc.hash)
			}
		})
	}
}

// BenchmarkVerifySigV4 measures verification of requests shaped like the
// SDK's: a GetObject with the headers the SDK signs, a presigned URL, and
// an STS form POST.
func BenchmarkVerifySigV4(b *testing.B) {
	now := time.Now()
	get := sdkCase{method: "GET", url: "/data-bucket/reports/2030/q1.csv?x-id=GetObject", payloadHash: unsignedPayload,
		header: map[string]string{
			"Accept-Encoding":             "identity",
			"Amz-Sdk-Invocation-Id":       "0f0c7a4e-7d2b-4c8e-9a59-3d3f1f0e8b11",
			"Amz-Sdk-Request":             "attempt=1; max=3",
			"X-Amz-Checksum-Mode":         "ENABLED",
			"X-Amz-Expected-Bucket-Owner": "111122223333",
		}}
	stsCase := sdkCase{method: "POST", url: "/", body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
	header := func(c sdkCase) (*http.Request, []byte) {
		req := c.newRequest(b, "http://127.0.0.1:9000")
		c.sign(b, req, now)
		return fromClient(req, []byte(c.body)), []byte(c.body)
	}
	presigned := func(c sdkCase) (*http.Request, []byte) {
		u, h := c.presign(b, "http://127.0.0.1:9000", now, time.Hour)
		pu, _ := url.Parse(u)
		r := serverRequest(c.method, pu.RequestURI(), pu.Host, nil, nil)
		for k, v := range h {
			if k != "Host" {
				r.Header[k] = v
			}
		}
		return r, nil
	}
	for _, bc := range []struct {
		name string
		make func(sdkCase) (*http.Request, []byte)
		c    sdkCase
	}{
		{"GetObject", header, get},
		{"presigned", presigned, get},
		{"STS", header, stsCase},
	} {
		for _, cached := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/cached=%v", bc.name, cached), func(b *testing.B) {
				r, body := bc.make(bc.c)
				opt := verifyOptions{Wall: now, Now: now}
				if cached {
					opt.Keys = newSigKeyCache(16)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, _, _, err := verifySigV4(r, body, exampleLookup, opt); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestHMACSHA256 checks the allocation-free HMAC against crypto/hmac on
// keys and messages on both sides of the block size and the stack buffer.
func TestHMACSHA256(t *testing.T) {
	for _, kn := range []int{0, 1, 32, 63, 64, 65, 200} {
		for _, mn := range []int{0, 1, 55, 64, 384, 385, 5000} {
			key := bytes.Repeat([]byte{byte(kn + 1)}, kn)
			msg := bytes.Repeat([]byte{byte(mn + 7)}, mn)
			m := hmac.New(sha256.New, key)
			m.Write(msg)
			want := m.Sum(nil)
			if got := hmacSHA256(key, msg); !bytes.Equal(got[:], want) {
				t.Errorf("key %d bytes, message %d bytes: %x, want %x", kn, mn, got, want)
			}
			if got := hmacSHA256(key, string(msg)); !bytes.Equal(got[:], want) {
				t.Errorf("key %d bytes, string message %d bytes: %x, want %x", kn, mn, got, want)
			}
		}
	}
	// Secrets longer than the stack buffer of deriveSigningKey.
	long := strings.Repeat("s", 100)
	k := hmac.New(sha256.New, []byte("AWS4"+long))
	k.Write([]byte("20130524"))
	for _, part := range []string{"us-east-1", "s3", "aws4_request"} {
		k = hmac.New(sha256.New, k.Sum(nil))
		k.Write([]byte(part))
	}
	if got := deriveSigningKey(long, "20130524", "us-east-1", "s3"); !bytes.Equal(got[:], k.Sum(nil)) {
		t.Errorf("signing key of a long secret differs")
	}
}

// TestSigKeyCache checks that cached keys are the derived ones, that a
// changed secret gets its own key, and that the cache stays bounded.
func TestSigKeyCache(t *testing.T) {
	c := newSigKeyCache(3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				secret := fmt.Sprintf("secret-%d", (g+i)%5)
				if got, want := c.signingKey(secret, "20300102", "us-east-1", "s3"), deriveSigningKey(secret, "20300102", "us-east-1", "s3"); got != want {
					t.Errorf("cached key of %s differs", secret)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(c.keys); n > 3 {
		t.Errorf("cache holds %d keys, max 3", n)
	}

	// Verification through the cache, then with a rotated secret.
	r := func() *http.Request {
		return serverRequest("GET", "/test.txt", "examplebucket.s3.amazonaws.com", map[string]string{
			"Range": "bytes=0-9", "X-Amz-Date": "20130524T000000Z", "X-Amz-Content-Sha256": emptyHash,
			"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		}, nil)
	}
	opt := verifyOptions{Wall: exampleTime, Keys: newSigKeyCache(10)}
	for range 2 {
		if _, _, _, err := verifySigV4(r(), nil, exampleLookup, opt); err != nil {
			t.Fatal(err)
		}
	}
	rotated := lookupOf(map[string]sigCredential{exampleKeyID: {Secret: "rotated"}})
	_, _, _, err := verifySigV4(r(), nil, rotated, opt)
	checkCode(t, err, "SignatureDoesNotMatch", 403)
}

// TestVerifySigV4S3ControlClient drives the real S3 Control client, which
// puts the account ID in front of the host. Its endpoint rules set
// disableDoubleEncoding, like S3's, so its requests verify with EscapePath
// false: a path ID with escapes in it tells the two rules apart.
func TestVerifySigV4S3ControlClient(t *testing.T) {
	var e endToEnd
	handler := e.handler(false)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		handler(rec, r)
		if rec.Code != 200 {
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		io.WriteString(w, `<GetAccessGrantsInstanceForPrefixResult><AccessGrantsInstanceArn>arn:aws:s3:us-east-1:111122223333:access-grants/default</AccessGrantsInstanceArn><AccessGrantsInstanceId>default</AccessGrantsInstanceId></GetAccessGrantsInstanceForPrefixResult>`)
	}))
	defer srv.Close()
	// Every host, account-prefixed or not, is the test server.
	dialer := &net.Dialer{}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, srv.Listener.Addr().String())
		},
	}}
	defer client.CloseIdleConnections()
	sc := s3control.New(s3control.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   client,
		Credentials:  exampleCredentials(),
	})
	_, err := sc.GetAccessGrantsInstanceForPrefix(context.Background(), &s3control.GetAccessGrantsInstanceForPrefixInput{
		AccountId: aws.String("111122223333"),
		S3Prefix:  aws.String("s3://data-bucket/reports with space/ü+%/*"),
	})
	if err != nil {
		t.Fatalf("GetAccessGrantsInstanceForPrefix: %v", err)
	}
	info, _, _ := e.last(t)
	if info.Service != "s3" || info.AccessKeyID != exampleKeyID {
		t.Errorf("info = %+v", info)
	}
	// An ID in the path, escaped by the client and once more by its signer.
	_, err = sc.GetAccessGrantsLocation(context.Background(), &s3control.GetAccessGrantsLocationInput{
		AccountId:              aws.String("111122223333"),
		AccessGrantsLocationId: aws.String("loc id:ü+%"),
	})
	if err != nil {
		t.Fatalf("GetAccessGrantsLocation: %v", err)
	}
}

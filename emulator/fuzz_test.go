package emulator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"go.yaml.in/yaml/v3"
)

// specYAML is the configuration example of emulator.md.
const specYAML = `
region: us-east-1
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:user/admin
        access_key_id: AKIAEXAMPLEADMIN0001
        secret_access_key: admin-secret
        allow:
          - actions: ["*"]
            resources: ["*"]
      - arn: arn:aws:iam::111122223333:role/analyst
        access_key_id: AKIAEXAMPLEANALYST01
        secret_access_key: analyst-secret
        allow:
          - actions: ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix", "s3:ListCallerAccessGrants"]
            resources: ["*"]
    roles:
      - arn: arn:aws:iam::111122223333:role/ag-location
        max_session_duration: 43200
buckets:
  - name: data-bucket
    account: "111122223333"
    region: us-east-1
access_grants:
  - account: "111122223333"
    region: us-east-1
    resource_policy_accounts: ["444455556666"]
    locations:
      - scope: "s3://"
        role: arn:aws:iam::111122223333:role/ag-location
    grants:
      - location: "s3://"
        sub_prefix: "data-bucket/reports/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/analyst"}
        permission: READ
`

// FuzzParseConfig: ParseConfig returns a config or an error and never
// panics; a config it accepts validates again (Start validates it a second
// time), survives a YAML round trip unchanged, and, for small inputs,
// starts.
func FuzzParseConfig(f *testing.F) {
	def, err := yaml.Marshal(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		specYAML,
		controlYAML,
		string(def),
		"",
		"region: us-west-2\n",
		"region: [1, 2]\n",
		"accounts: {}\n",
		"accounts:\n  - id: \"111122223333\"\n    roles:\n      - arn: arn:aws:iam::111122223333:role/r\n        max_session_duration: 9223372036854775807\n",
		"buckets:\n  - {name: b..b, account: \"1\"}\n",
		"a: &a [*a, *a]\n",
		"x: &x [1,1,1]\ny: &y [*x,*x,*x]\nz: &z [*y,*y,*y]\n",
		"region: us-east-1\n---\nregion: 7\n",
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
		"access_grants:\n  - account: \"111122223333\"\n    grants:\n      - {location: \"s3://\", sub_prefix: \"*\", permission: READ, grantee: {type: IAM, identifier: arn:aws:iam::111122223333:user/a}}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			if cfg != nil {
				t.Fatalf("ParseConfig returned a config with error %v", err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("ParseConfig returned neither a config nor an error")
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("an accepted config fails a second Validate: %v", err)
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("an accepted config does not marshal: %v", err)
		}
		again, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("an accepted config, marshaled, is refused: %v\n%s", err, out)
		}
		if out2, _ := yaml.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the config:\n%s\n---\n%s", out, out2)
		}
		if len(data) > 4096 {
			return // starting a server per input is slow; small ones find the bugs
		}
		srv, err := Start(cfg, "127.0.0.1:0")
		if err != nil {
			t.Fatalf("an accepted config does not start: %v\n%s", err, data)
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	})
}

// fuzzHeaders parses "Name: value" lines into a header.
func fuzzHeaders(block string) http.Header {
	h := http.Header{}
	for _, line := range strings.Split(block, "\n") {
		k, v, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
		if ok && k != "" {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	return h
}

// FuzzRoute: routing any method, path, query, host, headers and body never
// panics, names an API, and agrees with itself: the control face is the
// /v20180820/ prefix, STS is POST / alone, and a virtual-hosted request
// routes as its path-style form does.
func FuzzRoute(f *testing.F) {
	f.Add("GET", "/data-bucket/key", "", "127.0.0.1:9000", "", []byte(nil))
	f.Add("GET", "/key", "versionId=1", "data-bucket.localhost:9000", "", []byte(nil))
	f.Add("PUT", "/data-bucket/k", "partNumber=1&uploadId=x", "", "X-Amz-Copy-Source: a/b", []byte(nil))
	f.Add("POST", "/data-bucket", "delete", "", "", []byte("<Delete/>"))
	f.Add("GET", "/v20180820/accessgrantsinstance/dataaccess", "target=s3://b/k&permission=READ", "111122223333.127.0.0.1:9000", "", []byte(nil))
	f.Add("DELETE", "/v20180820/accessgrantsinstance/grant/abc", "", "", "", []byte(nil))
	f.Add("GET", "/v20180820/accessgrantsinstance/caller/grants", "", "", "", []byte(nil))
	f.Add("POST", "/", "", "", "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00", []byte("Action=AssumeRole&Version=2011-06-15"))
	f.Add("POST", "/", "X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fsts%2Faws4_request&Action=GetCallerIdentity", "", "", []byte("%zz"))
	f.Add("GET", "", "list-type=2&prefix=a", "1234.localhost", "", []byte(nil))
	f.Add("HEAD", "//", ";;;&&&==", ".localhost", "Authorization: Credential=/////", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, rawQuery, host, headers string, body []byte) {
		r := &http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: rawQuery}, Host: host, Header: fuzzHeaders(headers)}
		origPath := r.URL.Path
		hostStyleBucket(r)
		if r.URL.Path != origPath && !strings.HasSuffix(r.URL.Path, origPath) {
			t.Fatalf("virtual-host rewrite lost the path: %q -> %q", origPath, r.URL.Path)
		}
		face, api := route(r, body)
		if api == "" {
			t.Fatal("route named no API")
		}
		if isControl := strings.HasPrefix(r.URL.Path, controlPrefix); isControl != (face == faceControl) {
			t.Fatalf("path %q routed to %v", r.URL.Path, face)
		}
		if face == faceSTS && (method != http.MethodPost || r.URL.Path != "/") {
			t.Fatalf("%s %q routed to STS", method, r.URL.Path)
		}
		if s3API(r) == "" || controlAPI(method, strings.TrimPrefix(r.URL.Path, controlPrefix)) == "" || stsAPI(r, body) == "" {
			t.Fatal("an API namer returned an empty name")
		}
		if b, _ := s3PathParts(r); strings.Contains(b, "/") {
			t.Fatalf("bucket %q holds a slash", b)
		}
		// The same request path-style routes the same.
		if r.URL.Path != origPath {
			ps := &http.Request{Method: method, URL: &url.URL{Path: r.URL.Path, RawQuery: rawQuery}, Host: "127.0.0.1", Header: r.Header}
			if f2, api2 := route(ps, body); f2 != face || api2 != api {
				t.Fatalf("virtual-hosted %v %s, path-style %v %s", face, api, f2, api2)
			}
		}
	})
}

// fuzzSigner is a principal of controlYAML that FuzzServeHTTP signs as.
type fuzzSigner struct {
	creds   aws.Credentials
	service string
	payload string // "" hashes the body; else the x-amz-content-sha256 value
	presign bool
}

var fuzzSigners = []*fuzzSigner{
	nil, // unsigned
	{creds: aws.Credentials{AccessKeyID: ctlAdminKey, SecretAccessKey: "admin-secret"}, service: "s3"},
	{creds: aws.Credentials{AccessKeyID: ctlAdminKey, SecretAccessKey: "admin-secret"}, service: "sts"},
	{creds: aws.Credentials{AccessKeyID: ctlAdminKey, SecretAccessKey: "admin-secret"}, service: "s3", payload: "UNSIGNED-PAYLOAD"},
	{creds: aws.Credentials{AccessKeyID: ctlAdminKey, SecretAccessKey: "admin-secret"}, service: "s3", presign: true},
	{creds: aws.Credentials{AccessKeyID: ctlNobodyKey, SecretAccessKey: "nobody-secret"}, service: "s3"},
	{creds: aws.Credentials{AccessKeyID: ctlNobodyKey, SecretAccessKey: "nobody-secret"}, service: "sts"},
	{creds: aws.Credentials{AccessKeyID: ctlPartnerAdmin, SecretAccessKey: "partner-admin-secret"}, service: "s3"},
}

// sign signs a request as net/http's server hands it over.
func (s *fuzzSigner) sign(t *testing.T, r *http.Request, body []byte) {
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if s.presign {
		q := r.URL.Query()
		q.Set("X-Amz-Expires", "900")
		r.URL.RawQuery = q.Encode()
		u, _, err := signer.PresignHTTP(context.Background(), s.creds, r, "UNSIGNED-PAYLOAD", s.service, "us-east-1", time.Now())
		if err != nil {
			t.Skip()
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Skip()
		}
		r.URL.RawQuery = pu.RawQuery
		path, _, _ := strings.Cut(r.RequestURI, "?")
		r.RequestURI = path + "?" + pu.RawQuery
		return
	}
	hash := s.payload
	if hash == "" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	if s.service == "s3" {
		r.Header.Set("X-Amz-Content-Sha256", hash)
	}
	if err := signer.SignHTTP(context.Background(), s.creds, r, hash, s.service, "us-east-1", time.Now()); err != nil {
		t.Skip()
	}
}

// FuzzServeHTTP sends arbitrary requests, parsed by net/http as its server
// would, unsigned or signed by principals of controlYAML, through
// (*Server).ServeHTTP. It checks that no handler panics (ServeHTTP
// recovers and counts them), that nothing answers 500 (the memory backend
// has no failure that would justify one), that every error answer is an
// error document in its face's format, that the clock never goes back, and
// three authorization invariants: an unsigned request succeeds only on
// /_emulator/; a principal allowed nothing but sts:GetCallerIdentity
// succeeds at nothing else; and another account's administrator never
// reaches data-bucket.
//
// The server lives across inputs (objects and grants accumulate, which
// lets the fuzzer build on earlier calls); faults and the clock are reset
// after each input.
func FuzzServeHTTP(f *testing.F) {
	cfg, err := ParseConfig([]byte(controlYAML))
	if err != nil {
		f.Fatal(err)
	}
	srv := NewServer(f, cfg)
	for _, s := range []struct {
		method, target, host, headers string
		body                          []byte
		signer                        uint8
	}{
		{"PUT", "/data-bucket/k", "", "Content-Type: text/plain", []byte("hello"), 1},
		{"GET", "/data-bucket/k", "", "Range: bytes=1-3", nil, 1},
		{"GET", "/data-bucket/k", "", "", nil, 4},
		{"GET", "/data-bucket?list-type=2&prefix=k", "", "", nil, 1},
		{"PUT", "/k", "data-bucket.localhost", "", []byte("vh"), 3},
		{"POST", "/data-bucket/mpu?uploads", "", "", nil, 1},
		{"PUT", "/data-bucket/copy", "", "X-Amz-Copy-Source: data-bucket/k", nil, 1},
		{"PUT", "/data-bucket/k?acl", "", "X-Amz-Acl: public-read", nil, 1},
		{"GET", "/data-bucket/k?attributes", "", "X-Amz-Object-Attributes: ETag,ObjectSize", nil, 1},
		{"PUT", "/new-bucket", "", "", []byte("<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"), 1},
		{"POST", "/", "", "Content-Type: application/x-www-form-urlencoded", []byte("Action=GetCallerIdentity&Version=2011-06-15"), 2},
		{"POST", "/", "", "Content-Type: application/x-www-form-urlencoded", []byte("Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/ag-location&RoleSessionName=fuzz"), 2},
		{"POST", "/", "", "", []byte("Action=GetCallerIdentity&Version=2011-06-15"), 6},
		{"POST", "/v20180820/accessgrantsinstance", "111122223333.localhost", "X-Amz-Account-Id: 111122223333", []byte("<CreateAccessGrantsInstanceRequest/>"), 1},
		{"POST", "/v20180820/accessgrantsinstance/location", "", "X-Amz-Account-Id: 111122223333", []byte("<CreateAccessGrantsLocationRequest><LocationScope>s3://</LocationScope><IAMRoleArn>arn:aws:iam::111122223333:role/ag-location</IAMRoleArn></CreateAccessGrantsLocationRequest>"), 1},
		{"GET", "/v20180820/accessgrantsinstance/dataaccess?target=s3://data-bucket/a&permission=READ", "", "X-Amz-Account-Id: 111122223333", nil, 1},
		{"GET", "/v20180820/accessgrantsinstance/grants?maxResults=2", "", "X-Amz-Account-Id: 111122223333", nil, 5},
		{"GET", "/data-bucket/k", "", "", nil, 7},
		{"POST", "/data-bucket?delete", "", "", []byte("<Delete><Object><Key>copy</Key></Object></Delete>"), 1},
		{"GET", "/data-bucket/k", "", "", nil, 0},
		{"POST", "/_emulator/faults", "", "", []byte(`{"api":"GetObject","status":503,"code":"SlowDown"}`), 0},
		{"POST", "/_emulator/clock", "", "", []byte(`{"advance_seconds": 60}`), 0},
		{"GET", "/_emulator/requests", "", "", nil, 0},
		// Found by hand before the fuzzer ran: an advance past int64
		// nanoseconds moved the clock back 292 years, and a latency of
		// 2^58+1000 ms wrapped around to one second.
		{"POST", "/_emulator/clock", "", "", []byte(`{"advance_seconds": 1e300}`), 0},
		{"POST", "/_emulator/faults", "", "", []byte(`{"api": "GetObject", "latency_ms": 288230376151712744}`), 0},
	} {
		f.Add(s.method, s.target, s.host, s.headers, s.body, s.signer)
	}
	f.Fuzz(func(t *testing.T, method, target, host, headers string, body []byte, signer uint8) {
		if len(body) > 64<<10 || len(headers) > 16<<10 {
			t.Skip()
		}
		if host == "" {
			host = "127.0.0.1:9000"
		}
		var raw bytes.Buffer
		fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
		for _, line := range strings.Split(headers, "\n") {
			if line = strings.TrimSuffix(line, "\r"); line != "" {
				raw.WriteString(line + "\r\n")
			}
		}
		fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\n", len(body))
		raw.Write(body)
		r, err := http.ReadRequest(bufio.NewReader(&raw))
		if err != nil {
			t.Skip() // net/http's server would refuse it before the emulator sees it
		}
		r.RemoteAddr = "127.0.0.1:54321"
		s := fuzzSigners[int(signer)%len(fuzzSigners)]
		if s != nil {
			s.sign(t, r, body)
		}
		defer func() {
			// Each input starts from the same faults and clock.
			srv.ClearFaults()
			srv.clock.offset.Store(0)
		}()
		rec := httptest.NewRecorder()
		aborted := false
		func() {
			defer func() {
				if v := recover(); v != nil {
					if v != http.ErrAbortHandler {
						t.Fatalf("ServeHTTP panicked: %v", v)
					}
					aborted = true // a Drop fault, which a recorder cannot hijack
				}
			}()
			srv.ServeHTTP(rec, r)
		}()
		if n := srv.panics.Swap(0); n != 0 {
			t.Fatalf("a handler panicked (%d); answer %d %s", n, rec.Code, rec.Body.Bytes())
		}
		if aborted {
			return
		}
		if srv.clock.offset.Load() < 0 {
			t.Fatalf("the clock went backwards: offset %v", time.Duration(srv.clock.offset.Load()))
		}
		status := rec.Code
		if status == http.StatusInternalServerError {
			t.Fatalf("500: %s", rec.Body.Bytes())
		}
		introspection := strings.HasPrefix(r.URL.Path, "/_emulator/")
		if status >= 300 && r.Method != http.MethodHead {
			if introspection {
				var doc map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc["error"] == nil {
					t.Fatalf("/_emulator/ error %d is not a JSON error: %q", status, rec.Body.Bytes())
				}
			} else if !isErrorDocument(rec.Body.Bytes()) {
				t.Fatalf("error %d is not an error document: %q", status, rec.Body.Bytes())
			}
		}
		if status >= 300 || introspection {
			return
		}
		face, api := route(r, body)
		bucket, _ := s3PathParts(r)
		switch {
		case s == nil:
			t.Fatalf("an unsigned request succeeded: %d %s (%s)", status, api, rec.Body.Bytes())
		case s.creds.AccessKeyID == ctlNobodyKey && api != "GetCallerIdentity":
			t.Fatalf("a principal allowed nothing succeeded at %s: %d", api, status)
		case s.creds.AccessKeyID == ctlPartnerAdmin && face == faceS3 && bucket == DefaultBucket:
			t.Fatalf("another account's admin reached data-bucket with %s: %d", api, status)
		}
	})
}

// isErrorDocument reports whether body is an S3 <Error> or an
// <ErrorResponse> with a code.
func isErrorDocument(body []byte) bool {
	var s3doc s3ErrorBody
	if xml.Unmarshal(body, &s3doc) == nil && s3doc.Code != "" {
		return true
	}
	var wrapped wrappedErrorBody
	return xml.Unmarshal(body, &wrapped) == nil && wrapped.Error.Code != ""
}

package emulator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// This file checks that no client, careless or hostile, can hang, crash or
// wedge the emulator: oversized bodies, slow and idle connections,
// malformed requests, and handler panics. Every test talks to a real
// listener on 127.0.0.1.

// rbAdmin is the default configuration's administrator.
var rbAdmin = aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}

// withTimeouts shortens the header-read and idle timeouts so that tests of
// them take a second, not minutes.
func withTimeouts(readHeader, idle time.Duration) Option {
	return func(o *serverOptions) {
		o.readHeaderTimeout = readHeader
		o.idleTimeout = idle
	}
}

// rbSign signs req with the SDK's SigV4 signer for service as the admin,
// over the SHA-256 of body. S3 requests carry x-amz-content-sha256, as the
// SDK's S3 client sends it; STS requests do not.
func rbSign(t testing.TB, req *http.Request, service string, body []byte) {
	t.Helper()
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if service == "s3" {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), rbAdmin, req, hash, service, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
}

// rbRequest builds a request to srv signed as the admin for S3.
func rbRequest(t testing.TB, srv *Server, method, path string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rbSign(t, req, "s3", body)
	return req
}

// rbDial opens a raw TCP connection to srv with a deadline that keeps a
// broken test from hanging.
func rbDial(t *testing.T, srv *Server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rbAnswer is a response read whole.
type rbAnswer struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server said it closes the connection
}

// s3Code is the code of an S3 <Error> document, "" if the body is not one.
func (a rbAnswer) s3Code() string {
	var doc s3ErrorBody
	if xml.Unmarshal(a.body, &doc) != nil {
		return ""
	}
	return doc.Code
}

// wrappedCode is the code of an <ErrorResponse> document (S3 Control,
// STS), "" if the body is not one.
func (a rbAnswer) wrappedCode() string {
	var doc wrappedErrorBody
	if xml.Unmarshal(a.body, &doc) != nil {
		return ""
	}
	return doc.Error.Code
}

// jsonError is the "error" field of a JSON body, "" if it is not one.
func (a rbAnswer) jsonError() string {
	var doc map[string]string
	if json.Unmarshal(a.body, &doc) != nil {
		return ""
	}
	return doc["error"]
}

func rbRead(t *testing.T, br *bufio.Reader, method string) rbAnswer {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return rbAnswer{status: resp.StatusCode, header: resp.Header, body: body, close: resp.Close}
}

// rbRoundTrip writes raw bytes on a new connection and reads one answer.
func rbRoundTrip(t *testing.T, srv *Server, raw string) rbAnswer {
	t.Helper()
	conn := rbDial(t, srv)
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(raw, " ")
	return rbRead(t, bufio.NewReader(conn), method)
}

// waitClosed reads from conn until the server closes it and returns how
// long that took and what the server sent before closing.
func waitClosed(t *testing.T, conn net.Conn, limit time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(limit))
	data, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start), string(data)
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	srv := NewServer(t, nil, WithMaxBodyBytes(limit))
	client := srv.HTTPClient()

	t.Run("at the limit", func(t *testing.T) {
		resp, err := client.Do(rbRequest(t, srv, "PUT", "/data-bucket/fits", bytes.Repeat([]byte("a"), limit)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("PUT of %d bytes: %d, want 200", limit, resp.StatusCode)
		}
	})

	// Content-Length over the limit: refused at once, the body unread.
	t.Run("declared length", func(t *testing.T) {
		body := bytes.Repeat([]byte("b"), limit+1)
		resp, err := client.Do(rbRequest(t, srv, "PUT", "/data-bucket/big", body))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a := rbAnswer{status: resp.StatusCode, body: data}
		if a.status != http.StatusBadRequest || a.s3Code() != "EntityTooLarge" {
			t.Errorf("got %d %s, want 400 EntityTooLarge", a.status, data)
		}
	})

	// A chunked body has no length to check up front; it is cut off at
	// the limit.
	t.Run("chunked", func(t *testing.T) {
		body := bytes.Repeat([]byte("c"), 3*limit)
		req := rbRequest(t, srv, "PUT", "/data-bucket/chunked", body)
		req.ContentLength = -1
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body))) // hides the length
		req.TransferEncoding = []string{"chunked"}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a := rbAnswer{status: resp.StatusCode, body: data}
		if a.status != http.StatusBadRequest || a.s3Code() != "EntityTooLarge" {
			t.Errorf("got %d %s, want 400 EntityTooLarge", a.status, data)
		}
	})

	// A client that declares a huge body and sends none gets its answer
	// without the server waiting for the bytes.
	t.Run("declared but not sent", func(t *testing.T) {
		conn := rbDial(t, srv)
		fmt.Fprintf(conn, "PUT /data-bucket/huge HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", srv.listener.Addr(), int64(1)<<40)
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		a := rbRead(t, bufio.NewReader(conn), "PUT")
		if a.status != http.StatusBadRequest || a.s3Code() != "EntityTooLarge" {
			t.Errorf("got %d %s, want 400 EntityTooLarge", a.status, a.body)
		}
	})

	// So does one that asks to continue first, and it never sends a byte.
	t.Run("expect continue", func(t *testing.T) {
		conn := rbDial(t, srv)
		fmt.Fprintf(conn, "PUT /data-bucket/huge HTTP/1.1\r\nHost: %s\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", srv.listener.Addr(), 10*limit)
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		a := rbRead(t, bufio.NewReader(conn), "PUT")
		if a.status != http.StatusBadRequest || a.s3Code() != "EntityTooLarge" {
			t.Errorf("got %d %s, want 400 EntityTooLarge (no 100 Continue)", a.status, a.body)
		}
	})

	if _, err := srv.objects.backend.HeadObject("data-bucket", "big"); err == nil {
		t.Error("the oversized object was stored")
	}
	if got := srv.Outcomes()["PutObject"]["400 EntityTooLarge"]; got != 4 {
		t.Errorf("call log counts %d EntityTooLarge PutObject calls, want 4 (%v)", got, srv.Outcomes())
	}
}

func TestRequestID(t *testing.T) {
	srv := NewServer(t, nil)
	for range 3 {
		want := fmt.Sprintf("%016X", srv.nextID.Load()+1)
		if got := srv.requestID(); got != want {
			t.Errorf("requestID() = %q, want %q", got, want)
		}
	}
	srv.nextID.Store(^uint64(0) - 1)
	if got := srv.requestID(); got != "FFFFFFFFFFFFFFFF" {
		t.Errorf("requestID() = %q at the top of the range", got)
	}
}

func TestDefaultBodyLimit(t *testing.T) {
	srv := NewServer(t, nil)
	if srv.maxBody != MaxBodyBytes {
		t.Errorf("maxBody = %d, want MaxBodyBytes", srv.maxBody)
	}
	srv = NewServer(t, nil, WithMaxBodyBytes(-1))
	if srv.maxBody != MaxBodyBytes {
		t.Errorf("WithMaxBodyBytes(-1): maxBody = %d, want MaxBodyBytes", srv.maxBody)
	}
}

// TestSlowHeaders: a client that trickles its headers one byte per 100 ms
// is cut off at the header timeout, and others are served meanwhile.
func TestSlowHeaders(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	srv := NewServer(t, nil, withTimeouts(timeout, time.Minute))
	conn := rbDial(t, srv)

	start := time.Now()
	trickled := make(chan error, 1)
	go func() {
		header := "GET /data-bucket/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + strings.Repeat("p", 100) + "\r\n\r\n"
		for i := range len(header) {
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				trickled <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		trickled <- nil
	}()

	// Others are served while the slow client trickles.
	client := srv.HTTPClient()
	for i := range 3 {
		resp, err := client.Do(rbRequest(t, srv, "PUT", fmt.Sprintf("/data-bucket/k%d", i), []byte("v")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT while a client trickles: %d", resp.StatusCode)
		}
	}
	served := time.Since(start)

	took, sent := waitClosed(t, conn, 5*time.Second)
	if total := served + took; total > timeout+time.Second {
		t.Errorf("slow client held its connection %v; the header timeout is %v", total, timeout)
	}
	if served >= timeout {
		t.Errorf("three PUTs took %v, as long as the slow client was held", served)
	}
	// net/http answers a plain 400 as it hangs up, or nothing.
	if sent != "" && !strings.HasPrefix(sent, "HTTP/1.1 400 ") {
		t.Errorf("slow client got %q", sent)
	}
	if err := <-trickled; err == nil {
		t.Error("the slow client sent every header byte; want the server to cut it off")
	}
}

// TestIdleTimeout: a keep-alive connection that carries no request is
// closed after the idle timeout.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 400 * time.Millisecond
	srv := NewServer(t, nil, withTimeouts(time.Minute, idle))
	conn := rbDial(t, srv)
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET /_emulator/calls HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if a := rbRead(t, br, "GET"); a.status != http.StatusOK || a.close {
		t.Fatalf("GET /_emulator/calls: %d, close=%v", a.status, a.close)
	}
	start := time.Now()
	_, err := br.ReadByte()
	took := time.Since(start)
	if err == nil {
		t.Fatal("server sent data on an idle connection")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("idle connection still open after %v", took)
	}
	if took < idle/2 || took > idle+2*time.Second {
		t.Errorf("idle connection closed after %v, want about %v", took, idle)
	}
}

// TestMalformedRequestsAnswered sends broken requests over raw TCP. Those
// net/http itself rejects (an unparsable request line or target, headers
// past MaxHeaderBytes) get its plain 4xx; everything that reaches the
// emulator gets an error document in its face's format. None may hang or
// panic.
func TestMalformedRequestsAnswered(t *testing.T) {
	srv := NewServer(t, nil)
	host := srv.listener.Addr().String()
	amzNow := time.Now().UTC().Format("20060102T150405Z")
	req := func(method, target string, headers ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
		for _, h := range headers {
			b.WriteString(h + "\r\n")
		}
		b.WriteString("\r\n")
		return b.String()
	}
	withBody := func(method, target, body string, headers ...string) string {
		headers = append(headers, fmt.Sprintf("Content-Length: %d", len(body)))
		return req(method, target, headers...) + body
	}
	const (
		plain   = iota // net/http's own rejection, which closes the connection
		netHTTP        // net/http's own answer to a valid request
		s3XML
		wrappedXML
		jsonBody
		noBody // HEAD
	)
	cases := []struct {
		name   string
		raw    string
		status int
		format int
		code   string
	}{
		{"garbage request line", "HELLO\r\n\r\n", 400, plain, ""},
		{"binary request line", "\x00\x01\x02\xff GET / \r\n\r\n", 400, plain, ""},
		{"invalid escape in path", req("GET", "/data-bucket/%zz"), 400, plain, ""},
		{"invalid escape in query", req("GET", "/data-bucket/k?a=%zz&b=%"), 403, s3XML, "AccessDenied"},
		{"invalid escape in presigned query", req("GET", "/data-bucket/k?X-Amz-Algorithm=%zz&X-Amz-Credential=%&X-Amz-Signature=%g0"), 400, s3XML, "AuthorizationQueryParametersError"},
		{"absolute-form target", req("GET", "http://example.com/data-bucket/k"), 403, s3XML, "AccessDenied"},
		{"asterisk target", req("OPTIONS", "*"), 200, netHTTP, ""},
		{"headers past MaxHeaderBytes", req("GET", "/", "X-Big: "+strings.Repeat("x", 80<<10)), 431, plain, ""},
		{"many small headers", req("GET", "/data-bucket/k", strings.Repeat("X-A: b\r\n", 100)+"X-Z: z"), 403, s3XML, "AccessDenied"},
		{"authorization of 60 KiB", req("GET", "/data-bucket/k", "Authorization: AWS4-HMAC-SHA256 Credential="+strings.Repeat("A", 60<<10)), 400, s3XML, "AuthorizationHeaderMalformed"},
		{"authorization of 60 KiB, complete", req("GET", "/data-bucket/k", "X-Amz-Date: "+amzNow,
			"Authorization: AWS4-HMAC-SHA256 Credential="+strings.Repeat("A", 60<<10)+"/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature="+strings.Repeat("0", 64)), 400, s3XML, "AuthorizationHeaderMalformed"},
		{"authorization past MaxHeaderBytes", req("GET", "/data-bucket/k", "Authorization: AWS4-HMAC-SHA256 Credential="+strings.Repeat("A", 70<<10)), 431, plain, ""},
		{"authorization of another scheme", req("GET", "/data-bucket/k", "Authorization: Basic YTpi"), 400, s3XML, "AuthorizationHeaderMalformed"},
		{"authorization with no fields", req("GET", "/data-bucket/k", "Authorization: AWS4-HMAC-SHA256"), 400, s3XML, "AuthorizationHeaderMalformed"},
		{"credential of odd parts", req("GET", "/data-bucket/k", "Authorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f/g, SignedHeaders=host, Signature=00"), 400, s3XML, "AuthorizationHeaderMalformed"},
		{"header with bad bytes", req("GET", "/", "X-Bad: a\x00b"), 400, plain, ""},
		{"header without colon", req("GET", "/", "NoColonHere"), 400, plain, ""},
		{"two content lengths", req("PUT", "/data-bucket/k", "Content-Length: 1", "Content-Length: 2"), 400, plain, ""},
		{"negative content length", req("PUT", "/data-bucket/k", "Content-Length: -5"), 400, plain, ""},
		{"unknown transfer encoding", req("PUT", "/data-bucket/k", "Transfer-Encoding: gzip"), 501, plain, ""},
		{"POST / without a credential scope", withBody("POST", "/", "Action=GetCallerIdentity&Version=2011-06-15"), 403, s3XML, "AccessDenied"},
		{"POST / with a scope of another service", withBody("POST", "/", "Action=GetCallerIdentity&Version=2011-06-15",
			"X-Amz-Date: "+amzNow, "Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEADMIN0001/"+amzNow[:8]+"/us-east-1/s4/aws4_request, SignedHeaders=host, Signature="+strings.Repeat("0", 64)), 403, s3XML, "SignatureDoesNotMatch"},
		{"POST / with an STS scope and no signature", withBody("POST", "/", "Action=AssumeRole",
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEADMIN0001/20240101/us-east-1/sts/aws4_request"), 400, wrappedXML, "AuthorizationHeaderMalformed"},
		{"STS with an unknown key", withBody("POST", "/", "Action=GetCallerIdentity",
			"X-Amz-Date: "+amzNow, "Authorization: AWS4-HMAC-SHA256 Credential=AKIANOSUCHKEY0000000/"+amzNow[:8]+"/us-east-1/sts/aws4_request, SignedHeaders=host, Signature="+strings.Repeat("0", 64)), 403, wrappedXML, "InvalidClientTokenId"},
		{"STS without a date", withBody("POST", "/", "Action=GetCallerIdentity",
			"Authorization: AWS4-HMAC-SHA256 Credential=AKIANOSUCHKEY0000000/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature="+strings.Repeat("0", 64)), 403, wrappedXML, "AccessDenied"},
		{"control call unsigned", req("GET", "/v20180820/accessgrantsinstance/dataaccess?target=s3://x"), 403, wrappedXML, "AccessDenied"},
		{"control call of no API", req("GET", "/v20180820/%2e%2e/x"), 403, wrappedXML, "AccessDenied"},
		{"HEAD unsigned", req("HEAD", "/data-bucket/k"), 403, noBody, ""},
		{"unknown method", req("BREW", "/data-bucket/k"), 403, s3XML, "AccessDenied"},
		{"unknown /_emulator/ path", req("GET", "/_emulator/nope"), 404, jsonBody, "unknown path"},
		{"/_emulator/ path with an escape", req("GET", "/_emulator/%2e%2e/calls"), 404, jsonBody, "unknown path"},
		{"/_emulator/calls bad method", req("PUT", "/_emulator/calls"), 405, jsonBody, "use GET or DELETE"},
		{"fault of wrong types", withBody("POST", "/_emulator/faults", `{"api": 5, "status": "503"}`), 400, jsonBody, "malformed JSON"},
		{"fault of unknown field", withBody("POST", "/_emulator/faults", `{"api": "GetObject", "status": 503, "colour": "red"}`), 400, jsonBody, "malformed JSON"},
		{"fault not JSON", withBody("POST", "/_emulator/faults", `<Fault/>`), 400, jsonBody, "malformed JSON"},
		{"fault array", withBody("POST", "/_emulator/faults", `[]`), 400, jsonBody, "malformed JSON"},
		{"fault with no body", req("POST", "/_emulator/faults"), 400, jsonBody, "malformed JSON"},
		{"fault of status 42", withBody("POST", "/_emulator/faults", `{"api": "GetObject", "status": 42}`), 400, jsonBody, "bad status"},
		{"fault of huge count", withBody("POST", "/_emulator/faults", `{"api": "GetObject", "status": 503, "count": 1e400}`), 400, jsonBody, "malformed JSON"},
		{"fault of overflowing latency", withBody("POST", "/_emulator/faults", `{"api": "GetObject", "latency_ms": 9223372036854775807}`), 400, jsonBody, "latency"},
		// 2^58+1000 ms is 1 s once multiplied into int64 nanoseconds.
		{"fault of wrapping latency", withBody("POST", "/_emulator/faults", `{"api": "GetObject", "latency_ms": 288230376151712744}`), 400, jsonBody, "latency"},
		{"clock of wrong type", withBody("POST", "/_emulator/clock", `{"advance_seconds": "1h"}`), 400, jsonBody, "malformed JSON"},
		{"clock backwards", withBody("POST", "/_emulator/clock", `{"advance_seconds": -1}`), 400, jsonBody, "forward"},
		{"clock past int64 nanoseconds", withBody("POST", "/_emulator/clock", `{"advance_seconds": 1e300}`), 400, jsonBody, "advance_seconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Now()
			a := rbRoundTrip(t, srv, tc.raw)
			if a.status != tc.status {
				t.Fatalf("status %d (%q), want %d", a.status, a.body, tc.status)
			}
			switch tc.format {
			case plain:
				if !a.close {
					t.Error("net/http's own rejection should close the connection")
				}
			case netHTTP:
			case s3XML:
				if got := a.s3Code(); got != tc.code {
					t.Errorf("S3 error code %q (%s), want %q", got, a.body, tc.code)
				}
			case wrappedXML:
				if got := a.wrappedCode(); got != tc.code {
					t.Errorf("wrapped error code %q (%s), want %q", got, a.body, tc.code)
				}
			case jsonBody:
				if got := a.jsonError(); !strings.Contains(got, tc.code) {
					t.Errorf("JSON error %q (%s), want it to mention %q", got, a.body, tc.code)
				}
			case noBody:
				if len(a.body) != 0 {
					t.Errorf("HEAD answer has a body: %q", a.body)
				}
			}
			if srv.Now().Before(before) {
				t.Error("the emulator's clock went backwards")
			}
			if len(a.body) > 2048 {
				t.Errorf("the answer echoes the request: %d bytes", len(a.body))
			}
		})
	}
	if n := srv.panics.Load(); n != 0 {
		t.Errorf("%d handler panics", n)
	}
	// The server still works.
	resp, err := srv.HTTPClient().Do(rbRequest(t, srv, "PUT", "/data-bucket/after", []byte("ok")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("PUT after the malformed requests: %d", resp.StatusCode)
	}
}

// TestSignedOddRequests sends correctly signed requests whose paths,
// queries and bodies are odd; each gets an S3 error document or succeeds.
func TestSignedOddRequests(t *testing.T) {
	srv := NewServer(t, nil)
	cases := []struct {
		name, method, target string
		header               map[string]string
		body                 string
		status               int
		code                 string
	}{
		{"query with invalid escapes", "GET", "/data-bucket/k?a=%zz", nil, "", 404, "NoSuchKey"},
		{"key of dots", "GET", "/data-bucket/../../etc/passwd", nil, "", 404, "NoSuchKey"},
		{"empty key segments", "GET", "/data-bucket//", nil, "", 404, "NoSuchKey"},
		{"bucket of no name", "PUT", "//k", nil, "", 501, "NotImplemented"},
		{"bucket name too long", "PUT", "/" + strings.Repeat("b", 300), nil, "", 400, "InvalidBucketName"},
		{"copy source of bad escapes", "PUT", "/data-bucket/dst", map[string]string{"X-Amz-Copy-Source": "%zz/%"}, "", 400, "InvalidArgument"},
		{"copy source range of nonsense", "PUT", "/data-bucket/dst?partNumber=1&uploadId=x", map[string]string{"X-Amz-Copy-Source": "data-bucket/src", "X-Amz-Copy-Source-Range": "bytes=9-1"}, "", 400, "InvalidArgument"},
		{"range of nonsense", "GET", "/data-bucket/src", map[string]string{"Range": "bytes=zz"}, "", 416, "InvalidRange"},
		{"delete of no objects", "POST", "/data-bucket?delete", nil, "<Delete></Delete>", 400, "MalformedXML"},
		{"delete of bad XML", "POST", "/data-bucket?delete", nil, "<Delete><Object><Key>", 400, "MalformedXML"},
		{"create bucket of bad XML", "PUT", "/new-bucket", nil, "<CreateBucketConfiguration><", 400, "MalformedXML"},
		{"create bucket in no Region", "PUT", "/new-bucket", nil, "<CreateBucketConfiguration><LocationConstraint>../x</LocationConstraint></CreateBucketConfiguration>", 400, "InvalidLocationConstraint"},
		{"ACL of bad XML", "PUT", "/data-bucket/src?acl", nil, "<AccessControlPolicy", 400, "MalformedACLError"},
		{"attributes of none", "GET", "/data-bucket/src?attributes", nil, "", 400, "InvalidArgument"},
		{"part number of text", "PUT", "/data-bucket/k?partNumber=x&uploadId=y", nil, "", 400, "InvalidPart"},
		{"part of no upload", "PUT", "/data-bucket/k?partNumber=1&uploadId=y", nil, "x", 404, "NoSuchUpload"},
		{"complete of no upload", "POST", "/data-bucket/k?uploadId=nope", nil, "<CompleteMultipartUpload/>", 404, "NoSuchUpload"},
		{"complete of bad XML", "POST", "/data-bucket/k?uploadId=nope", nil, "<<<", 400, "MalformedXML"},
	}
	resp, err := srv.HTTPClient().Do(rbRequest(t, srv, "PUT", "/data-bucket/src", []byte("source")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+"/", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			// Set the target raw, as a client that does not normalize it
			// would send it.
			req.URL.Opaque = "//" + srv.listener.Addr().String() + strings.SplitN(tc.target, "?", 2)[0]
			if _, q, ok := strings.Cut(tc.target, "?"); ok {
				req.URL.RawQuery = q
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rbSign(t, req, "s3", []byte(tc.body))
			resp, err := srv.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a := rbAnswer{status: resp.StatusCode, body: data}
			if a.status != tc.status {
				t.Fatalf("status %d (%s), want %d %s", a.status, data, tc.status, tc.code)
			}
			if tc.code != "" && a.s3Code() != tc.code {
				t.Errorf("code %q (%s), want %q", a.s3Code(), data, tc.code)
			}
		})
	}
	if n := srv.panics.Load(); n != 0 {
		t.Errorf("%d handler panics", n)
	}
}

// panickingStore wraps the object store's handler so that a request for
// key "panic" panics before answering and one for "panic-late" after
// writing part of its answer.
func panickingStore(srv *Server) {
	next := srv.objects.handler
	srv.objects.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/data-bucket/panic":
			panic("boom")
		case "/data-bucket/panic-late":
			// No Content-Length: a chunked answer that ended normally
			// would look whole.
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "partial")
			http.NewResponseController(w).Flush()
			panic("late boom")
		}
		next.ServeHTTP(w, r)
	})
}

// TestPanicAnswered: a handler panic is answered with 500 InternalError in
// the face's format, counted, and the connection keeps serving.
func TestPanicAnswered(t *testing.T) {
	srv := NewServer(t, nil)
	panickingStore(srv)

	conn := rbDial(t, srv)
	br := bufio.NewReader(conn)
	send := func(req *http.Request) rbAnswer {
		t.Helper()
		if err := req.Write(conn); err != nil {
			t.Fatal(err)
		}
		return rbRead(t, br, req.Method)
	}
	a := send(rbRequest(t, srv, "GET", "/data-bucket/panic", nil))
	if a.status != http.StatusInternalServerError || a.s3Code() != "InternalError" || a.close {
		t.Fatalf("panicking GET: %d %q close=%v, want 500 InternalError on a kept connection", a.status, a.body, a.close)
	}
	if strings.Contains(string(a.body), "boom") || strings.Contains(string(a.body), "goroutine") {
		t.Errorf("the answer leaks the panic: %s", a.body)
	}
	a = send(rbRequest(t, srv, "PUT", "/data-bucket/fine", []byte("fine")))
	if a.status != http.StatusOK {
		t.Fatalf("PUT on the same connection after a panic: %d %s", a.status, a.body)
	}
	a = send(rbRequest(t, srv, "GET", "/data-bucket/fine", nil))
	if a.status != http.StatusOK || string(a.body) != "fine" {
		t.Fatalf("GET on the same connection after a panic: %d %q", a.status, a.body)
	}
	if n := srv.panics.Load(); n != 1 {
		t.Errorf("panics = %d, want 1", n)
	}
	if got := srv.Outcomes()["GetObject"]["500 InternalError"]; got != 1 {
		t.Errorf("call log: %v, want one 500 InternalError GetObject", srv.Outcomes())
	}

	// A panic after part of the answer went out must not pass for a whole
	// answer: the connection is cut.
	conn2 := rbDial(t, srv)
	if err := rbRequest(t, srv, "GET", "/data-bucket/panic-late", nil).Write(conn2); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(bufio.NewReader(conn2), nil); err == nil {
		body, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Errorf("a partial answer read as whole: %d %q", resp.StatusCode, body)
		}
	}
	if n := srv.panics.Load(); n != 2 {
		t.Errorf("panics = %d, want 2", n)
	}
	// The server still serves new connections.
	r2, err := srv.HTTPClient().Do(rbRequest(t, srv, "GET", "/data-bucket/fine", nil))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusOK {
		t.Errorf("GET after an aborted answer: %d", r2.StatusCode)
	}
}

// TestPanicAnsweredPerFace: the 500 uses the error format of the face.
func TestPanicAnsweredPerFace(t *testing.T) {
	srv := NewServer(t, nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v20180820/accessgrantsinstance", nil)
	srv.writeInternalError(rec, req, faceControl, false)
	if a := (rbAnswer{status: rec.Code, body: rec.Body.Bytes()}); a.status != 500 || a.wrappedCode() != "InternalError" {
		t.Errorf("control face: %d %s", a.status, a.body)
	}
	rec = httptest.NewRecorder()
	srv.writeInternalError(rec, httptest.NewRequest("GET", "/_emulator/calls", nil), faceS3, true)
	if a := (rbAnswer{status: rec.Code, body: rec.Body.Bytes()}); a.status != 500 || a.jsonError() == "" {
		t.Errorf("/_emulator/: %d %s", a.status, a.body)
	}
}

// TestDropFaultAbortsWithoutHijack: where the connection cannot be taken
// over (HTTP/2, a recorder), a Drop fault aborts the handler as net/http
// expects instead of turning into a 500.
func TestDropFaultAbortsWithoutHijack(t *testing.T) {
	srv := NewServer(t, nil)
	if err := srv.InjectFault(Fault{API: "GetObject", Drop: true}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/data-bucket/k", nil)
	rec := httptest.NewRecorder()
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", v)
		}
		if n := srv.panics.Load(); n != 0 {
			t.Errorf("an abort counted as %d panics", n)
		}
	}()
	srv.ServeHTTP(rec, req)
	t.Errorf("ServeHTTP returned %d; want it to abort", rec.Code)
}

// TestConcurrentAbuse runs well-behaved clients while others send junk,
// trickle, and disconnect mid-body; the well-behaved ones must all succeed.
func TestConcurrentAbuse(t *testing.T) {
	srv := NewServer(t, nil, WithMaxBodyBytes(64<<10), withTimeouts(300*time.Millisecond, time.Second))
	addr := srv.listener.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	abuse := []func(net.Conn){
		func(c net.Conn) { io.WriteString(c, "GARBAGE\r\n\r\n") },
		func(c net.Conn) {
			io.WriteString(c, "PUT /data-bucket/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nshort")
		},
		func(c net.Conn) { io.WriteString(c, "GET /data-bucket/x HTT") },
		func(c net.Conn) {
			io.WriteString(c, "POST /_emulator/faults HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n{\"api\":[}")
		},
	}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(400 * time.Millisecond))
				abuse[i%len(abuse)](c)
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
	}
	client := srv.HTTPClient()
	served := 0
	for ctx.Err() == nil {
		key := fmt.Sprintf("/data-bucket/good-%d", served)
		resp, err := client.Do(rbRequest(t, srv, "PUT", key, []byte(key)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s under abuse: %d", key, resp.StatusCode)
		}
		served++
	}
	wg.Wait()
	if served < 10 {
		t.Errorf("only %d requests served in 1 s under abuse", served)
	}
	if n := srv.panics.Load(); n != 0 {
		t.Errorf("%d handler panics", n)
	}
}

// TestClockSaturates: advancing the clock never wraps it into the past.
func TestClockSaturates(t *testing.T) {
	var c clock
	before := c.now()
	c.advance(math.MaxInt64)
	c.advance(math.MaxInt64)
	if got := c.offset.Load(); got != math.MaxInt64 {
		t.Errorf("offset after two maximal advances = %d, want MaxInt64", got)
	}
	if c.now().Before(before) {
		t.Errorf("clock went back to %v", c.now())
	}
	c.advance(-math.MaxInt64)
	c.advance(-math.MaxInt64)
	c.advance(-math.MaxInt64)
	if got := c.offset.Load(); got != math.MinInt64 {
		t.Errorf("offset after three minimal advances = %d, want MinInt64", got)
	}
}

// TestCallHistory: the encoded history returns the last calls in order,
// every field intact, and holds no more chunks than the limit needs.
func TestCallHistory(t *testing.T) {
	var h callHistory
	const limit = 2500
	mk := func(i int) Call {
		return Call{
			API: "GetObject", Service: "s3", AccessKeyID: "AKID", Principal: "arn:aws:iam::1:user/u",
			GrantScope: fmt.Sprintf("s3://b/%d/*", i), Bucket: "b", Key: fmt.Sprintf("k/%d/é\x00", i),
			Status: 200 + i%300, Code: strings.Repeat("C", i%3), UserAgent: "ua", Duration: time.Duration(i) * -time.Microsecond,
		}
	}
	if got := h.list(); len(got) != 0 {
		t.Fatalf("empty history lists %d calls", len(got))
	}
	for i := range 3 * limit {
		c := mk(i)
		h.add(&c, limit)
		if i == 10 {
			if got := h.list(); len(got) != 11 || got[10] != mk(10) {
				t.Fatalf("after 11 calls: %d listed, last %+v", len(got), got[len(got)-1])
			}
		}
	}
	got := h.list()
	if len(got) != limit {
		t.Fatalf("%d calls kept, want %d", len(got), limit)
	}
	for j, c := range got {
		if want := mk(2*limit + j); c != want {
			t.Fatalf("call %d = %+v, want %+v", j, c, want)
		}
	}
	if most := limit/callsPerChunk + 2; len(h.chunks) > most {
		t.Errorf("%d chunks for %d calls", len(h.chunks), limit)
	}
}

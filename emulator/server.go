package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Limits that keep one client from holding or exhausting the emulator.
const (
	// MaxBodyBytes bounds one request body. S3 itself takes up to 5 GiB in
	// one PUT; an emulator that keeps objects in memory takes less.
	MaxBodyBytes = 512 << 20
	// maxHeaderBytes bounds the request line and headers.
	maxHeaderBytes = 64 << 10
	// readHeaderTimeout stops a client that sends its headers slowly from
	// holding a connection.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes keep-alive connections nobody uses.
	idleTimeout = 2 * time.Minute
)

// Server is a running emulator: STS, S3 Control (Access Grants) and S3 on
// one endpoint. Create it with NewServer in a test or Start elsewhere; all
// of its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT (https:// with WithTLS).
	URL string
	// CertFile is the PEM file of the self-signed certificate when the
	// server uses TLS, so that other programs can trust it.
	CertFile string

	cfg      *Config
	listener net.Listener
	http     *http.Server
	rootCAs  *x509.CertPool
	dataDir  string
	certDir  string // removed on Close when the server created it
	closed   atomic.Bool
	closeErr error
	closeMu  sync.Mutex

	clock   *clock
	iam     *identities
	grants  *grantsState
	buckets *bucketRegistry
	objects *objectStore
	calls   *callLog
	faults  *faultQueue
	state   *stateFile // nil without a data directory
	acls    objectACLs
	nextID  atomic.Uint64
	conns   connTracker
	sigKeys *sigKeyCache // derived SigV4 signing keys
	maxBody int64        // bound of one request body (MaxBodyBytes by default)
	// panics counts the handler panics ServeHTTP recovered from: each is a
	// bug, which tests and fuzzers look for.
	panics atomic.Int64
}

// connTracker remembers the connections that have not carried a request
// yet.
type connTracker struct {
	mu     sync.Mutex
	unused map[net.Conn]bool
}

func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if state == http.StateNew {
		if t.unused == nil {
			t.unused = map[net.Conn]bool{}
		}
		t.unused[c] = true
	} else {
		delete(t.unused, c)
	}
}

func (t *connTracker) closeUnused() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.unused {
		c.Close()
	}
	t.unused = nil
}

// Option configures a server started by NewServer or Start.
type Option func(*serverOptions)

type serverOptions struct {
	tls     bool
	dataDir string
	certDir string
	// maxBodyBytes, readHeaderTimeout and idleTimeout replace the defaults
	// (MaxBodyBytes, readHeaderTimeout, idleTimeout) when positive; tests
	// shorten the timeouts through an Option literal.
	maxBodyBytes      int64
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
}

// WithTLS serves HTTPS with a self-signed certificate for 127.0.0.1, ::1,
// localhost and *.localhost. Its PEM file is Server.CertFile; the clients
// of AWSConfig trust it.
func WithTLS() Option { return func(o *serverOptions) { o.tls = true } }

// WithDataDir keeps objects (gofakes3's bbolt backend) and Access Grants
// state under dir, so that a restart on the same directory keeps them.
func WithDataDir(dir string) Option { return func(o *serverOptions) { o.dataDir = dir } }

// WithMaxBodyBytes bounds one request body to n bytes instead of
// MaxBodyBytes. A request declaring a larger Content-Length is answered
// 400 EntityTooLarge before its body is read; a chunked body is cut off
// once it passes n. A non-positive n keeps MaxBodyBytes.
func WithMaxBodyBytes(n int64) Option { return func(o *serverOptions) { o.maxBodyBytes = n } }

// WithCertDir writes the TLS certificate and key into dir instead of a
// new temporary directory.
func WithCertDir(dir string) Option { return func(o *serverOptions) { o.certDir = dir } }

// NewServer starts an emulator on a free loopback port for the duration of
// a test and closes it in t.Cleanup. A nil cfg means DefaultConfig. It
// fails the test if the server cannot start.
func NewServer(t testing.TB, cfg *Config, opts ...Option) *Server {
	t.Helper()
	srv, err := Start(cfg, "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("emulator: close: %v", err)
		}
	})
	return srv
}

// Start starts an emulator listening on addr ("127.0.0.1:0" picks a free
// port). A nil cfg means DefaultConfig. Close stops it.
func Start(cfg *Config, addr string, opts ...Option) (*Server, error) {
	var o serverOptions
	for _, fn := range opts {
		fn(&o)
	}
	if cfg == nil {
		cfg = DefaultConfig()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		dataDir: o.dataDir,
		clock:   &clock{},
		calls:   newCallLog(),
		faults:  &faultQueue{},
		sigKeys: newSigKeyCache(4096),
		maxBody: positiveOr(o.maxBodyBytes, MaxBodyBytes),
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.objects.close()
		return nil, fmt.Errorf("emulator: listen: %w", err)
	}
	s.listener = ln
	scheme := "http"
	if o.tls {
		cert, err := s.makeCertificate(o.certDir)
		if err != nil {
			ln.Close()
			s.objects.close()
			return nil, err
		}
		s.listener = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.URL = scheme + "://" + ln.Addr().String()
	s.http = &http.Server{
		Handler:           s,
		ConnState:         s.conns.track,
		ReadHeaderTimeout: positiveOr(o.readHeaderTimeout, readHeaderTimeout),
		IdleTimeout:       positiveOr(o.idleTimeout, idleTimeout),
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          discardLogger(),
	}
	go s.http.Serve(s.listener) //nolint:errcheck // returns ErrServerClosed on Close
	return s, nil
}

// positiveOr returns v, or def when v is not positive.
func positiveOr[T int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// load builds the server's state from the configuration and, with a data
// directory, from what an earlier run left there.
func (s *Server) load() error {
	if s.dataDir != "" {
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return fmt.Errorf("emulator: data directory: %w", err)
		}
	}
	var err error
	s.iam = newIdentities(s.cfg)
	s.buckets = newBucketRegistry()
	s.grants = newGrantsState()
	if s.objects, err = openObjectStore(s.dataDir, s.clock); err != nil {
		return err
	}
	if s.dataDir != "" {
		s.state = &stateFile{path: stateFilePath(s.dataDir)}
		if err := s.state.load(s.buckets, s.grants); err != nil {
			s.objects.close()
			return err
		}
		if err := s.forgetLostBuckets(); err != nil {
			s.objects.close()
			return err
		}
	}
	if err := s.seed(); err != nil {
		s.objects.close()
		return err
	}
	return nil
}

// forgetLostBuckets drops the buckets the state file names but the object
// store lacks: a crash after gofakes3 deleted a bucket and before the
// state file was saved leaves such a name, which could then never be
// created or deleted again. seed makes configured ones anew.
func (s *Server) forgetLostBuckets() error {
	for _, b := range s.buckets.list() {
		exists, err := s.objects.backend.BucketExists(b.Name)
		if err != nil {
			return fmt.Errorf("emulator: checking bucket %s: %w", b.Name, err)
		}
		if !exists {
			s.buckets.remove(b.Name)
		}
	}
	return nil
}

// seed creates the configured buckets and Access Grants that do not exist
// yet (a restart keeps what changed through the API).
func (s *Server) seed() error {
	for _, b := range s.cfg.Buckets {
		if _, ok := s.buckets.get(b.Name); ok {
			continue
		}
		if err := s.objects.createBucket(b.Name); err != nil {
			return fmt.Errorf("emulator: creating bucket %s: %w", b.Name, err)
		}
		s.buckets.add(bucketInfo{Name: b.Name, Account: b.Account, Region: b.Region, Created: s.now()})
	}
	if err := s.grants.seed(s.cfg.AccessGrants, s.now()); err != nil {
		return fmt.Errorf("emulator: seeding access grants: %w", err)
	}
	return s.saveState()
}

// Close stops the server, waiting briefly for requests in flight, and
// releases its storage. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed.Swap(true) {
		return s.closeErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Connections that clients opened but have not sent a request on would
	// hold Shutdown for seconds; nothing is lost by closing them.
	s.conns.closeUnused()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = s.http.Close()
	}
	s.faults.clear()
	err = errors.Join(err, s.saveState(), s.objects.close())
	if s.certDir != "" {
		err = errors.Join(err, os.RemoveAll(s.certDir))
	}
	s.closeErr = err
	return err
}

// Config returns the configuration the server runs with (defaults filled
// in). Callers must not modify it.
func (s *Server) Config() *Config { return s.cfg }

// Now is the emulator's clock: the wall clock plus every AdvanceClock.
// Credentials expire and presigned URLs lapse by this clock.
func (s *Server) Now() time.Time { return s.now() }

func (s *Server) now() time.Time { return s.clock.now() }

// AdvanceClock moves the emulator's clock forward by d, so that expiry can
// be tested without waiting. Signatures are still checked for skew against
// the wall clock, since clients sign with real time.
func (s *Server) AdvanceClock(d time.Duration) { s.clock.advance(d) }

// HTTPClient returns an HTTP client that sends every request to the
// emulator whatever its host (the SDKs put the account ID in front of S3
// Control's host: 111122223333.127.0.0.1:PORT), and trusts the emulator's
// certificate when it serves TLS.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: s.transport()}
}

func (s *Server) transport() *http.Transport {
	addr := s.listener.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, addr)
	}
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	if s.rootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.rootCAs, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	}
	return tr
}

// AWSConfig returns an aws.Config that reaches this emulator as the
// principal with the given access key: Region, BaseEndpoint, the key's
// static credentials and HTTPClient. A key the configuration does not
// list yields credentials that fail to retrieve, with an error naming it.
//
// The endpoint is an IP address, so S3 clients use path-style requests.
func (s *Server) AWSConfig(accessKeyID string) aws.Config {
	return aws.Config{
		Region:       s.cfg.Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  s.iam.staticProvider(accessKeyID),
		HTTPClient:   s.HTTPClient(),
	}
}

// ServeHTTP routes a request to one of the four faces by its path (never by
// its Host header, which the SDKs prefix with an account ID for S3
// Control), after fault injection and SigV4 verification.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &recordingWriter{ResponseWriter: w}
	start := time.Now()
	var rec callRecord
	fc, introspection := faceS3, false
	defer func() {
		v := recover()
		if v == http.ErrAbortHandler {
			// A deliberate abort (a dropped connection on HTTP/2): let
			// net/http reset the stream as the fault asked.
			panic(v)
		}
		partial := false
		if v != nil {
			// A bug must not take the connection down with a stack trace
			// that may hold request data; answer as AWS does.
			s.panics.Add(1)
			rec.Code = "InternalError"
			partial = rw.wroteHeader
			if !partial {
				s.writeInternalError(rw, r, fc, introspection)
			}
		}
		if rec.API != "" {
			rec.Status = rw.status()
			rec.Duration = time.Since(start)
			rec.UserAgent = r.Header.Get("User-Agent")
			s.calls.record(rec)
		}
		if partial {
			// Part of an answer is out: ending normally would let the
			// client take it for a whole one. Abort the connection instead.
			panic(http.ErrAbortHandler)
		}
	}()

	if strings.HasPrefix(r.URL.Path, "/_emulator/") {
		introspection = true
		s.serveIntrospection(rw, r)
		return
	}
	hostStyleBucket(r)
	body, readErr := readBody(rw, r, s.maxBody)
	face, api := route(r, body)
	fc = face
	rec.API, rec.Service = api, face.String()
	if face == faceS3 {
		rec.Bucket, rec.Key = s3PathParts(r)
	}
	id := s.requestID()
	rw.Header()["X-Amz-Request-Id"] = []string{id} // canonical already: no Set

	if f := s.faults.take(api); f != nil {
		if s.applyFault(rw, r, f, face, id) {
			rec.Code = f.Code
			if f.Drop {
				rec.Code = "ConnectionDropped"
			}
			return
		}
	}
	fail := func(err error) {
		s.writeError(rw, r, face, err, id)
		rec.Code = codeOf(err)
	}
	if readErr != nil {
		fail(readErr)
		return
	}
	c, region, payload, err := s.authenticate(r, body, face)
	if c != nil {
		rec.AccessKeyID, rec.Principal = c.AccessKeyID, c.ARN
		if c.grant != nil {
			rec.GrantScope = c.grant.Scope
		}
	}
	if err != nil {
		fail(err)
		return
	}
	req := &request{r: r, w: rw, caller: c, body: payload, id: id, api: api, region: region}
	switch face {
	case faceControl:
		err = s.serveControl(req)
	case faceSTS:
		err = s.serveSTS(req)
	default:
		err = s.serveS3(req)
	}
	if err != nil {
		if rw.wroteHeader {
			rec.Code = codeOf(err) // too late to answer; the log still tells
			return
		}
		fail(err)
	}
}

// writeInternalError answers a request whose handler panicked: 500
// InternalError in the format of its face, JSON for /_emulator/.
func (s *Server) writeInternalError(w http.ResponseWriter, r *http.Request, fc face, introspection bool) {
	if introspection {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	err := errorf(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	s.writeError(w, r, fc, err, s.requestID())
}

// request is one authenticated request on its way to a face.
type request struct {
	r      *http.Request
	w      http.ResponseWriter
	caller *caller
	body   []byte // the payload, aws-chunked framing removed
	id     string
	api    string
	// region is the Region of the request's SigV4 credential scope: the
	// Region the call is addressed to.
	region string
}

// requestID returns the next request ID: 16 upper-case hex digits.
func (s *Server) requestID() string {
	const digits = "0123456789ABCDEF"
	var buf [16]byte
	n := s.nextID.Add(1)
	for i := len(buf) - 1; i >= 0; i-- {
		buf[i] = digits[n&15]
		n >>= 4
	}
	return string(buf[:])
}

// readBody reads the whole request body within limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, errorf(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size of %d bytes.", limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size of %d bytes.", limit)
		}
		return nil, errorf(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	return body, nil
}

// codeOf is the AWS error code of err.
func codeOf(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return "InternalError"
}

// recordingWriter remembers the status a handler wrote.
type recordingWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *recordingWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = http.StatusOK, true
	}
	return w.ResponseWriter.Write(p)
}

func (w *recordingWriter) status() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.code
}

// ReadFrom lets io.Copy, with which gofakes3 writes every object body,
// reach the connection's own ReadFrom, as it does when gofakes3 serves
// alone: net/http copies a body that fits its sniffing buffer with a
// pooled buffer and hands a longer one to the socket, where io.Copy would
// allocate 32 KiB per response and copy through the response's buffer.
func (w *recordingWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = http.StatusOK, true
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, src)
}

// Unwrap lets http.ResponseController reach the connection (to drop it).
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clock is the emulator's advanceable clock.
type clock struct {
	offset atomic.Int64 // nanoseconds added to the wall clock
}

func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// advance moves the clock by d, saturating rather than wrapping around, so
// that no series of advances moves it the other way.
func (c *clock) advance(d time.Duration) {
	for {
		old := c.offset.Load()
		next := old + int64(d)
		switch {
		case d > 0 && next < old:
			next = math.MaxInt64
		case d < 0 && next > old:
			next = math.MinInt64
		}
		if c.offset.CompareAndSwap(old, next) {
			return
		}
	}
}

// Now implements gofakes3.TimeSource so that objects carry the emulator's
// time.
func (c *clock) Now() time.Time { return c.now() }

// Since implements gofakes3.TimeSource.
func (c *clock) Since(t time.Time) time.Duration { return c.now().Sub(t) }

package emulator

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Call is one request the emulator served, as Requests reports it.
type Call struct {
	// API is the operation name: "GetDataAccess", "GetObject", ...
	API string `json:"api"`
	// Service is "s3", "s3control" or "sts".
	Service string `json:"service"`
	// AccessKeyID is the key the request was signed with ("" if unsigned).
	AccessKeyID string `json:"access_key_id,omitempty"`
	// Principal is the ARN of the caller, when the signature verified.
	Principal string `json:"principal,omitempty"`
	// GrantScope is the scope of the Access Grants credentials that signed
	// the request, "" for other keys.
	GrantScope string `json:"grant_scope,omitempty"`
	// Bucket and Key name the S3 resource the request addressed, if any.
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key,omitempty"`
	// Status is the HTTP status answered, Code the error code if it failed.
	Status int    `json:"status"`
	Code   string `json:"code,omitempty"`
	// UserAgent is the request's User-Agent header.
	UserAgent string `json:"user_agent,omitempty"`
	// Duration is the time the emulator spent on the request.
	Duration time.Duration `json:"duration_ns"`
}

type callRecord = Call

// maxCallHistory bounds the requests Requests remembers; counts are kept
// for every call.
const maxCallHistory = 100_000

// callLog counts served calls per API and outcome and keeps the most
// recent requests.
type callLog struct {
	mu       sync.Mutex
	counts   map[string]int
	outcomes map[string]map[outcome]int
	recent   callHistory // the last maxCallHistory calls
}

func newCallLog() *callLog {
	return &callLog{counts: map[string]int{}, outcomes: map[string]map[outcome]int{}}
}

func (l *callLog) record(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[c.API]++
	o := l.outcomes[c.API]
	if o == nil {
		o = map[outcome]int{}
		l.outcomes[c.API] = o
	}
	o[outcome{c.Status, c.Code}]++
	l.recent.add(&c, maxCallHistory)
}

// callHistory keeps calls encoded in chunks of bytes. Byte slices hold no
// pointers, so the garbage collector never scans the history. Kept as
// []Call, 100,000 calls are some 17 MB of string headers to mark on every
// cycle: in BenchmarkServeGetObject that cost about 3 µs of GC work per
// request, as much as verifying its signature.
type callHistory struct {
	chunks [][]byte // encoded calls, oldest first
	counts []int    // calls in each chunk
	skip   int      // calls at the start of chunks[0] already dropped
	n      int      // calls kept
}

// callsPerChunk is how many calls one chunk of a callHistory holds.
const callsPerChunk = 1024

// add appends c and drops the oldest call past limit.
func (h *callHistory) add(c *Call, limit int) {
	last := len(h.chunks) - 1
	if last < 0 || h.counts[last] == callsPerChunk {
		h.chunks = append(h.chunks, make([]byte, 0, 128*callsPerChunk))
		h.counts = append(h.counts, 0)
		last++
	}
	h.chunks[last] = appendCall(h.chunks[last], c)
	h.counts[last]++
	h.n++
	for h.n > limit {
		h.skip++
		h.n--
		if h.skip == h.counts[0] {
			h.chunks[0] = nil
			h.chunks, h.counts, h.skip = h.chunks[1:], h.counts[1:], 0
		}
	}
}

// list decodes the calls kept, oldest first.
func (h *callHistory) list() []Call {
	out := make([]Call, 0, h.n)
	for i, chunk := range h.chunks {
		for j := range h.counts[i] {
			var c Call
			chunk = decodeCall(chunk, &c)
			if i > 0 || j >= h.skip {
				out = append(out, c)
			}
		}
	}
	return out
}

// appendCall encodes c: its strings length-prefixed, its numbers as
// varints.
func appendCall(b []byte, c *Call) []byte {
	for _, s := range [...]string{c.API, c.Service, c.AccessKeyID, c.Principal, c.GrantScope, c.Bucket, c.Key, c.Code, c.UserAgent} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, int64(c.Status))
	return binary.AppendVarint(b, int64(c.Duration))
}

// decodeCall reads a call that appendCall wrote and returns the rest.
func decodeCall(b []byte, c *Call) []byte {
	for _, s := range [...]*string{&c.API, &c.Service, &c.AccessKeyID, &c.Principal, &c.GrantScope, &c.Bucket, &c.Key, &c.Code, &c.UserAgent} {
		n, k := binary.Uvarint(b)
		*s = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	status, k := binary.Varint(b)
	b = b[k:]
	d, k := binary.Varint(b)
	c.Status, c.Duration = int(status), time.Duration(d)
	return b[k:]
}

// outcome is how a call ended. The log counts outcomes by this key and
// names them only when asked, so that recording a call builds no string.
type outcome struct {
	status int
	code   string
}

// String is "200", or "403 AccessDenied" for a failure.
func (o outcome) String() string {
	if o.code == "" {
		return strconv.Itoa(o.status)
	}
	return strconv.Itoa(o.status) + " " + o.code
}

func (l *callLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts = map[string]int{}
	l.outcomes = map[string]map[outcome]int{}
	l.recent = callHistory{}
}

// Calls returns how many calls of each API the emulator served since it
// started or since ResetCalls, whatever their outcome.
func (s *Server) Calls() map[string]int {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	out := make(map[string]int, len(s.calls.counts))
	for k, v := range s.calls.counts {
		out[k] = v
	}
	return out
}

// Outcomes returns, per API, how many calls ended in each outcome: "200",
// "204", "403 AccessDenied", ...
func (s *Server) Outcomes() map[string]map[string]int {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	out := make(map[string]map[string]int, len(s.calls.outcomes))
	for k, v := range s.calls.outcomes {
		m := make(map[string]int, len(v))
		for o, n := range v {
			m[o.String()] += n
		}
		out[k] = m
	}
	return out
}

// Requests returns the most recent calls (up to 100,000) in the order they
// finished, so that a test can see which key signed which request.
func (s *Server) Requests() []Call {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return s.calls.recent.list()
}

// ResetCalls forgets the counts, outcomes and requests recorded so far.
func (s *Server) ResetCalls() { s.calls.reset() }

// Fault makes the next Count calls of an API fail, as InjectFault and
// POST /_emulator/faults describe.
type Fault struct {
	// API is the operation name, e.g. "GetDataAccess", "HeadBucket".
	API string `json:"api"`
	// Status and Code are the HTTP status and error code to answer with,
	// e.g. 503 and "SlowDown". Status 0 with a Body answers 200.
	Status int    `json:"status,omitempty"`
	Code   string `json:"code,omitempty"`
	// Message is the error message (a default is used when empty).
	Message string `json:"message,omitempty"`
	// Count is how many calls fail (1 when zero).
	Count int `json:"count,omitempty"`
	// Latency delays the answer. A fault with only a latency delays the
	// call, which then proceeds normally.
	Latency time.Duration `json:"-"`
	// Body, when set, is sent verbatim instead of an error document: a way
	// to answer with malformed XML.
	Body string `json:"body,omitempty"`
	// Drop closes the connection without an answer.
	Drop bool `json:"drop,omitempty"`
}

// faultJSON is Fault's JSON form, with the latency in milliseconds.
type faultJSON struct {
	Fault
	LatencyMS int64 `json:"latency_ms,omitempty"`
}

// faultQueue holds pending faults per API, applied in order.
type faultQueue struct {
	mu     sync.Mutex
	faults map[string][]*pendingFault
}

type pendingFault struct {
	Fault
	left int
}

// InjectFault makes the next f.Count calls of f.API fail as f describes.
// Faults for one API apply in the order they were injected.
func (s *Server) InjectFault(f Fault) error {
	if f.API == "" {
		return errors.New("emulator: fault needs an api")
	}
	if f.Count < 0 || f.Latency < 0 || f.Status < 0 || f.Status > 599 || (f.Status > 0 && f.Status < 200) {
		return errors.New("emulator: fault has a negative count or latency, or a bad status")
	}
	if f.Status == 0 && f.Body == "" && !f.Drop && f.Latency == 0 {
		return errors.New("emulator: fault does nothing: give a status, a body, drop or a latency")
	}
	if f.Count == 0 {
		f.Count = 1
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.faults == nil {
		s.faults.faults = map[string][]*pendingFault{}
	}
	s.faults.faults[f.API] = append(s.faults.faults[f.API], &pendingFault{Fault: f, left: f.Count})
	return nil
}

// ClearFaults removes every pending fault.
func (s *Server) ClearFaults() { s.faults.clear() }

func (q *faultQueue) clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.faults = nil
}

// take consumes one use of the first pending fault of api.
func (q *faultQueue) take(api string) *Fault {
	q.mu.Lock()
	defer q.mu.Unlock()
	list := q.faults[api]
	if len(list) == 0 {
		return nil
	}
	f := list[0]
	f.left--
	if f.left <= 0 {
		q.faults[api] = list[1:]
	}
	out := f.Fault
	return &out
}

// applyFault answers r as f says. It reports whether the request is done;
// a latency-only fault returns false after the delay.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault, fc face, id string) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true // the client gave up; nobody reads an answer
		}
	}
	switch {
	case f.Drop:
		io.Copy(io.Discard, io.LimitReader(r.Body, s.maxBody)) //nolint:errcheck
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		} else {
			panic(http.ErrAbortHandler) // HTTP/2: abort the stream
		}
		return true
	case f.Body != "":
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		io.WriteString(w, f.Body) //nolint:errcheck
		return true
	case f.Status != 0:
		code := f.Code
		if code == "" {
			code = http.StatusText(f.Status)
		}
		msg := f.Message
		if msg == "" {
			msg = "Fault injected by the emulator."
		}
		s.writeError(w, r, fc, &apiError{Status: f.Status, Code: code, Message: msg}, id)
		return true
	}
	return false
}

// Bounds of the numbers the JSON API converts into a time.Duration.
const (
	maxFaultLatencyMS = math.MaxInt64 / int64(time.Millisecond) // about 292 years
	maxAdvanceSeconds = 100 * 365 * 24 * 3600                   // 100 years
)

// serveIntrospection serves /_emulator/: calls, faults and clock, as JSON,
// to loopback clients only.
func (s *Server) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "the /_emulator/ API answers loopback clients only"})
		return
	}
	switch r.URL.Path {
	case "/_emulator/calls":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]any{"calls": s.Calls(), "outcomes": s.Outcomes()})
		case http.MethodDelete:
			s.ResetCalls()
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or DELETE"})
		}
	case "/_emulator/requests":
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"requests": s.Requests()})
	case "/_emulator/faults":
		switch r.Method {
		case http.MethodPost:
			var fj faultJSON
			if err := decodeJSON(r, &fj); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			if fj.LatencyMS < 0 || fj.LatencyMS > maxFaultLatencyMS {
				// Multiplied into nanoseconds, a larger value wraps around.
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("latency_ms must be 0 to %d", int64(maxFaultLatencyMS))})
				return
			}
			f := fj.Fault
			f.Latency = time.Duration(fj.LatencyMS) * time.Millisecond
			if err := s.InjectFault(f); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case http.MethodDelete:
			s.ClearFaults()
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST or DELETE"})
		}
	case "/_emulator/clock":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, map[string]string{"now": s.now().UTC().Format(time.RFC3339Nano)})
		case http.MethodPost:
			var body struct {
				AdvanceSeconds float64 `json:"advance_seconds"`
			}
			if err := decodeJSON(r, &body); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			if body.AdvanceSeconds < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the clock only moves forward"})
				return
			}
			if body.AdvanceSeconds > maxAdvanceSeconds {
				// Past int64 nanoseconds the conversion is undefined (on
				// amd64 it moved the clock back 292 years).
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("advance_seconds must be at most %d", int64(maxAdvanceSeconds))})
				return
			}
			s.AdvanceClock(time.Duration(body.AdvanceSeconds * float64(time.Second)))
			writeJSON(w, http.StatusOK, map[string]string{"now": s.now().UTC().Format(time.RFC3339Nano)})
		default:
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or POST"})
		}
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown path; try /_emulator/calls, /_emulator/requests, /_emulator/faults or /_emulator/clock"})
	}
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON body: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client went away
}

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/logging"
)

// redacted replaces every secret value in debug output.
const redacted = "REDACTED"

// The SDK's own request and response dumps (aws.LogRequest and friends)
// print the Authorization header and the session token, so --debug never
// turns them on. It logs through debugClient and debugLogger instead,
// which know what to leave out.

// debugClient logs each HTTP request the SDK sends: method, URL with
// presigning values redacted, header names (the Authorization header with
// its signature redacted, X-Amz-Security-Token redacted), status and
// duration. Bodies are never logged: GetDataAccess answers hold secrets.
type debugClient struct {
	next aws.HTTPClient
	w    io.Writer
	mu   sync.Mutex // one line at a time
}

// Do sends r through the wrapped client and logs it.
func (c *debugClient) Do(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := c.next.Do(r)
	took := time.Since(start).Round(time.Microsecond)
	var outcome string
	switch {
	case err != nil:
		outcome = "error: " + err.Error()
	default:
		outcome = resp.Status
		if id := resp.Header.Get("X-Amz-Request-Id"); id != "" {
			outcome += " request-id=" + id
		}
	}
	line := fmt.Sprintf("s3ag debug: http %s %s [%s] -> %s (%s)\n",
		r.Method, redactURL(r.URL), describeHeaders(r.Header), outcome, took)
	c.mu.Lock()
	io.WriteString(c.w, oneLine(strings.TrimSuffix(line, "\n"))+"\n") //nolint:errcheck // best-effort log
	c.mu.Unlock()
	return resp, err
}

// secretQueryParams are the query parameters of a presigned URL that give
// it away; they are redacted whatever their case.
var secretQueryParams = []string{"x-amz-signature", "x-amz-credential", "x-amz-security-token"}

// redactURL returns u as text with the values of secretQueryParams
// replaced, keeping the order and encoding of everything else.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		parts := strings.Split(c.RawQuery, "&")
		for i, p := range parts {
			name, _, _ := strings.Cut(p, "=")
			if dec, err := url.QueryUnescape(name); err == nil {
				name = dec
			}
			if slices.Contains(secretQueryParams, strings.ToLower(name)) {
				parts[i] = name + "=" + redacted
			}
		}
		c.RawQuery = strings.Join(parts, "&")
	}
	c.Fragment, c.RawFragment = "", ""
	return c.String()
}

// describeHeaders lists the header names of a request, sorted, with the
// Authorization header's scheme, credential scope and signed headers (its
// signature redacted) and X-Amz-Security-Token redacted. Other values are
// left out: they are rarely what a debugging user needs and could hold
// anything.
func describeHeaders(h http.Header) string {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, http.CanonicalHeaderKey(name))
	}
	slices.Sort(names)
	for i, name := range names {
		switch name {
		case "Authorization":
			names[i] = name + "=" + redactAuthorization(h.Get(name))
		case "X-Amz-Security-Token":
			names[i] = name + "=" + redacted
		}
	}
	return strings.Join(names, " ")
}

// redactAuthorization keeps the parts of a SigV4 or SigV4a Authorization
// header that tell which key signed what (the scheme, Credential and
// SignedHeaders) and redacts the rest, the signature above all. A header
// of any other form is redacted whole.
func redactAuthorization(v string) string {
	scheme, params, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.HasPrefix(scheme, "AWS4-") {
		return redacted
	}
	var kept []string
	for _, p := range strings.Split(params, ",") {
		p = strings.TrimSpace(p)
		name, _, _ := strings.Cut(p, "=")
		switch name {
		case "Credential", "SignedHeaders":
			kept = append(kept, p)
		default:
			kept = append(kept, name+"="+redacted)
		}
	}
	return scheme + " " + strings.Join(kept, ", ")
}

// debugLogger is the smithy-go logger given to the SDK and to the plugin
// with --debug: one line per message on w. Neither logs secrets (the
// SDK's request dumps are off, and the plugin never logs them); the
// scrubber behind w is a second line of defence.
type debugLogger struct {
	mu sync.Mutex
	w  io.Writer
}

// Logf writes one log line.
func (l *debugLogger) Logf(classification logging.Classification, format string, v ...any) {
	msg := oneLine(fmt.Sprintf(format, v...))
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "s3ag %s: %s\n", strings.ToLower(string(classification)), msg)
}

// logger returns the logger of --debug, nil without it.
func (a *app) logger() logging.Logger {
	if !a.debug {
		return nil
	}
	return &debugLogger{w: a.stderr}
}

// debugf writes one debug line when --debug is on.
func (a *app) debugf(format string, v ...any) {
	if a.debug {
		fmt.Fprintf(a.stderr, "s3ag debug: %s\n", oneLine(fmt.Sprintf(format, v...)))
	}
}

// scrubber is the writer behind stderr: it replaces every secret the
// command learned (the caller's secret key and session token, vended
// credentials) with REDACTED before the text reaches the terminal. The
// log lines and the error message are built not to hold secrets; this
// catches a mistake anywhere in the stack, including the SDK's.
//
// It scrubs within one Write: every writer of stderr in s3ag writes whole
// lines.
type scrubber struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte
}

func newScrubber(w io.Writer) *scrubber { return &scrubber{w: w} }

// minSecretLen keeps short strings, which could be common words, from
// being scrubbed out of unrelated text.
const minSecretLen = 8

// add registers secrets to scrub.
func (s *scrubber) add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range secrets {
		if len(v) >= minSecretLen && !slices.ContainsFunc(s.secrets, func(b []byte) bool { return string(b) == v }) {
			s.secrets = append(s.secrets, []byte(v))
		}
	}
}

// Write writes p with the registered secrets replaced.
func (s *scrubber) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := p
	for _, secret := range s.secrets {
		if bytes.Contains(out, secret) {
			out = bytes.ReplaceAll(out, secret, []byte(redacted))
		}
	}
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// addCredentials registers a set of credentials with the scrubber.
func (a *app) addCredentials(c aws.Credentials) {
	if a.scrub != nil {
		a.scrub.add(c.SecretAccessKey, c.SessionToken)
	}
}

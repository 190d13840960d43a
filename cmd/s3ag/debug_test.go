package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// signaturePattern matches a SigV4 signature in clear.
var signaturePattern = regexp.MustCompile(`(?i)signature=[0-9a-f]{64}`)

// TestDebugNeverPrintsSecrets runs commands with --debug, as a caller with
// a fixed sentinel secret and as one with a session token, and checks that
// neither, nor any vended secret or token or any signature, reaches the
// output. The log itself must be there.
func TestDebugNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	local := filepath.Join(t.TempDir(), "up.txt")
	if err := os.WriteFile(local, []byte("up"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A session of role/session: its token is a secret too.
	stsCfg := w.srv.AWSConfig(appKey)
	out, err := sts.NewFromConfig(stsCfg).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(sessionRole), RoleSessionName: aws.String("hygiene"),
	})
	if err != nil {
		t.Fatal(err)
	}
	session := out.Credentials
	sessionEnv := w.env(aws.ToString(session.AccessKeyId), aws.ToString(session.SecretAccessKey),
		"AWS_SESSION_TOKEN="+aws.ToString(session.SessionToken))

	appEnv := w.env(appKey, appSecret)
	runs := []struct {
		env  []string
		args []string
		// secretsOnStdout: credentials prints vended secrets by design.
		secretsOnStdout bool
	}{
		{appEnv, []string{"cat", "s3://data-bucket/reports/q1.csv", "--debug"}, false},
		{appEnv, []string{"--debug", "ls", "s3://data-bucket/reports/"}, false},
		{appEnv, []string{"cp", local, "s3://data-bucket/work/up.txt", "--debug"}, false},
		{appEnv, []string{"cp", "s3://data-bucket/reports/q1.csv", "s3://data-bucket/reports/q9.csv", "--debug"}, false}, // denied
		{appEnv, []string{"cp", local, "s3://data-bucket/fallback/up.txt", "--fallback", "--debug"}, false},
		{appEnv, []string{"grants", "--debug"}, false},
		{appEnv, []string{"credentials", "s3://data-bucket/work/*", "--format", "json", "--debug"}, true},
		{sessionEnv, []string{"cat", "s3://data-bucket/reports/q2.csv", "--debug"}, false},
		{sessionEnv, []string{"credentials", "s3://data-bucket/reports/*", "--format", "json", "--debug"}, true},
		{sessionEnv, []string{"cat", "s3://data-bucket/work/a.txt", "--debug"}, false}, // denied
	}
	secrets := []string{appSecret, aws.ToString(session.SecretAccessKey), aws.ToString(session.SessionToken)}
	for _, run := range runs {
		r := w.runEnv(run.env, nil, run.args...)
		name := strings.Join(run.args, " ")
		if !strings.Contains(r.stderr, "s3ag debug: http ") || !strings.Contains(r.stderr, "Signature="+redacted) {
			t.Errorf("%s: no request log on stderr:\n%s", name, r.stderr)
		}
		vendedSecrets := append([]string(nil), secrets...)
		if run.secretsOnStdout {
			var j jsonCredentials
			if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
				t.Fatalf("%s: %v\n%v", name, err, r)
			}
			vendedSecrets = append(vendedSecrets, j.SecretAccessKey, j.SessionToken)
		}
		streams := map[string]string{"stderr": r.stderr}
		if !run.secretsOnStdout {
			streams["stdout"] = r.stdout
		}
		for stream, text := range streams {
			for _, s := range vendedSecrets {
				if strings.Contains(text, s) {
					t.Errorf("%s: %s holds the secret %.6s…", name, stream, s)
				}
			}
			if strings.Contains(text, tokenPrefix) {
				t.Errorf("%s: %s holds a session token", name, stream)
			}
			if m := signaturePattern.FindString(text); m != "" {
				t.Errorf("%s: %s holds a signature: %s", name, stream, m)
			}
		}
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:9000/b/k?x-id=GetObject", "http://127.0.0.1:9000/b/k?x-id=GetObject"},
		{
			"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAX%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token=FQoGZXIvYXdzEabc&X-Amz-Signature=deadbeef&X-Amz-SignedHeaders=host",
			"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED&X-Amz-SignedHeaders=host",
		},
		{"http://h/k?x-amz-signature=abc&X%2DAmz%2DSignature=def", "http://h/k?x-amz-signature=REDACTED&X-Amz-Signature=REDACTED"},
		{"http://user:pass@h/k#frag", "http://h/k"},
	} {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u); got != tc.want {
			t.Errorf("redactURL(%s)\n = %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestRedactAuthorization(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{
			"AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd",
			"AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=REDACTED",
		},
		{
			"AWS4-ECDSA-P256-SHA256 Credential=AKIA/20240101/s3/aws4_request,SignedHeaders=host,Signature=3045",
			"AWS4-ECDSA-P256-SHA256 Credential=AKIA/20240101/s3/aws4_request, SignedHeaders=host, Signature=REDACTED",
		},
		{"Bearer secret-token", "REDACTED"},
		{"AWS AKIA:signature", "REDACTED"},
		{"", "REDACTED"},
	} {
		if got := redactAuthorization(tc.in); got != tc.want {
			t.Errorf("redactAuthorization(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestDescribeHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Security-Token", "FQoGZXIvYXdzEsecret")
	h.Set("Authorization", "AWS4-HMAC-SHA256 Credential=ASIA/x, SignedHeaders=host, Signature=abc")
	h.Set("X-Amz-Date", "20240101T000000Z")
	got := describeHeaders(h)
	want := "Authorization=AWS4-HMAC-SHA256 Credential=ASIA/x, SignedHeaders=host, Signature=REDACTED X-Amz-Date X-Amz-Security-Token=REDACTED"
	if got != want {
		t.Errorf("describeHeaders = %q\nwant %q", got, want)
	}
}

func TestScrubber(t *testing.T) {
	var buf bytes.Buffer
	s := newScrubber(&buf)
	s.add("short", "a-long-secret-value", "")
	n, err := s.Write([]byte("x a-long-secret-value y short\n"))
	if err != nil || n != len("x a-long-secret-value y short\n") {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if got := buf.String(); got != "x REDACTED y short\n" {
		t.Errorf("scrubbed %q", got)
	}
}

// FuzzRedactAuthorization checks that the Signature field never
// survives, whatever comes before it.
func FuzzRedactAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/s3/aws4_request, SignedHeaders=host")
	f.Add("AWS4-X")
	f.Add("AWS4-HMAC-SHA256 Credential=a,SignedHeaders=b")
	f.Add("")
	f.Fuzz(func(t *testing.T, prefix string) {
		const sig = "f00dfeedf00dfeedf00dfeedf00dfeed"
		if strings.Contains(prefix, "f00dfeed") {
			return
		}
		header := prefix + ", Signature=" + sig
		if got := redactAuthorization(header); strings.Contains(got, sig) {
			t.Errorf("redactAuthorization(%q) = %q keeps the signature", header, got)
		}
	})
}

// FuzzRedactURL checks that the value of a secret query parameter never
// survives.
func FuzzRedactURL(f *testing.F) {
	f.Add("X-Amz-Signature", "a=b&")
	f.Add("x-amz-security-token", "")
	f.Add("X-Amz-Credential", "&&=&")
	f.Fuzz(func(t *testing.T, name, before string) {
		const secret = "c0ffeec0ffeec0ffee"
		if !secretParam(name) || strings.Contains(before, "c0ffee") {
			return
		}
		if before != "" && !strings.HasSuffix(before, "&") {
			before += "&" // the parameter must be a parameter of its own
		}
		u := &url.URL{Scheme: "https", Host: "h", Path: "/k", RawQuery: before + url.QueryEscape(name) + "=" + secret}
		if got := redactURL(u); strings.Contains(got, secret) {
			t.Errorf("redactURL(%s) = %s keeps the secret", u, got)
		}
	})
}

// secretParam reports whether a fuzzed parameter name is one redactURL
// must redact.
func secretParam(name string) bool {
	for _, p := range secretQueryParams {
		if strings.EqualFold(name, p) {
			return true
		}
	}
	return false
}

package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/s3ag/accessgrants/emulator"
)

// withoutVar returns env without the variable name.
func withoutVar(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestEndpointOnly: --endpoint-url or AWS_ENDPOINT_URL alone reach the
// emulator, S3 Control's account-prefixed host included, with no Region
// configured.
func TestEndpointOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	base := withoutVar(withoutVar(w.env(appKey, appSecret), "AWS_ENDPOINT_URL"), "AWS_REGION")
	u, err := url.Parse(w.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"flag", base, []string{"cat", "s3://data-bucket/reports/q1.csv", "--endpoint-url", w.srv.URL}},
		{"AWS_ENDPOINT_URL", append(base, "AWS_ENDPOINT_URL="+w.srv.URL), []string{"cat", "s3://data-bucket/reports/q1.csv"}},
		{"localhost", base, []string{"--endpoint-url", "http://localhost:" + u.Port(), "cat", "s3://data-bucket/reports/q1.csv"}},
		{"per-service variables", append(base,
			"AWS_ENDPOINT_URL_S3="+w.srv.URL, "AWS_ENDPOINT_URL_S3_CONTROL="+w.srv.URL, "AWS_ENDPOINT_URL_STS="+w.srv.URL),
			[]string{"cat", "s3://data-bucket/reports/q1.csv"}},
		{"flag outranks the variables", append(base, "AWS_ENDPOINT_URL=http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3_CONTROL=http://127.0.0.1:1"),
			[]string{"cat", "s3://data-bucket/reports/q1.csv", "--endpoint-url", w.srv.URL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.srv.ResetCalls()
			r := w.runEnv(tc.env, nil, tc.args...)
			if r.code != 0 || r.stdout != "q1\n" {
				t.Fatalf("%v", r)
			}
			if n := w.calls("GetDataAccess"); n != 1 {
				t.Errorf("GetDataAccess calls = %d, want 1", n)
			}
		})
	}
}

// TestTLSEndpoint reaches an HTTPS emulator with a self-signed
// certificate through AWS_CA_BUNDLE, verifying the endpoint's own name
// while dialling it for S3 Control's account-prefixed host.
func TestTLSEndpoint(t *testing.T) {
	t.Parallel()
	w := newWorld(t, emulator.WithTLS())
	if !strings.HasPrefix(w.srv.URL, "https://") || w.srv.CertFile == "" {
		t.Fatalf("emulator at %s, certificate %q", w.srv.URL, w.srv.CertFile)
	}
	r := w.runEnv(w.env(appKey, appSecret, "AWS_CA_BUNDLE="+w.srv.CertFile), nil, "cat", "s3://data-bucket/reports/q1.csv")
	if r.code != 0 || r.stdout != "q1\n" {
		t.Fatalf("cat over TLS: %v", r)
	}
	if c := w.lastCall("GetDataAccess"); c.Status != 200 {
		t.Errorf("GetDataAccess answered %d", c.Status)
	}
	// Without the bundle the certificate is not trusted.
	r = w.run("cat", "s3://data-bucket/reports/q2.csv")
	if r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("cat over TLS without AWS_CA_BUNDLE: %v", r)
	}
	checkOneLine(t, r)
}

func TestParseLocalEndpoint(t *testing.T) {
	for _, tc := range []struct {
		raw        string
		local      bool
		host, addr string
		err        bool
	}{
		{raw: "http://127.0.0.1:9000", local: true, host: "127.0.0.1", addr: "127.0.0.1:9000"},
		{raw: "https://127.0.0.1", local: true, host: "127.0.0.1", addr: "127.0.0.1:443"},
		{raw: "http://[::1]:9000/", local: true, host: "::1", addr: "[::1]:9000"},
		{raw: "http://localhost:9000", local: true, host: "localhost", addr: "localhost:9000"},
		{raw: "http://10.0.0.5", local: true, host: "10.0.0.5", addr: "10.0.0.5:80"},
		{raw: "https://s3.us-east-1.amazonaws.com"},
		{raw: "127.0.0.1:9000", err: true},
		{raw: "ftp://127.0.0.1", err: true},
		{raw: "http://%zz", err: true},
	} {
		ep, local, err := parseLocalEndpoint(tc.raw)
		if (err != nil) != tc.err || local != tc.local || ep.host != tc.host || ep.addr != tc.addr {
			t.Errorf("parseLocalEndpoint(%q) = %+v, %v, %v", tc.raw, ep, local, err)
		}
	}
}

func TestDialPlanRedirect(t *testing.T) {
	global := dialPlan{global: &localEndpoint{host: "127.0.0.1", addr: "127.0.0.1:9000"}}
	services := dialPlan{services: []localEndpoint{{host: "127.0.0.1", addr: "127.0.0.1:9000"}, {host: "localhost", addr: "localhost:9100"}}}
	for _, tc := range []struct {
		plan       dialPlan
		addr, want string
	}{
		{global, "111122223333.127.0.0.1:9000", "127.0.0.1:9000"},
		{global, "bucket.example.com:443", "127.0.0.1:9000"},
		{services, "111122223333.127.0.0.1:9000", "127.0.0.1:9000"},
		{services, "127.0.0.1:9000", "127.0.0.1:9000"},
		{services, "111122223333.localhost:9100", "localhost:9100"},
		{services, "111122223333.127.0.0.1:9100", "111122223333.127.0.0.1:9100"},
		{services, "sts.amazonaws.com:443", "sts.amazonaws.com:443"},
		{services, "x127.0.0.1:9000", "x127.0.0.1:9000"},
		{dialPlan{}, "a:1", "a:1"},
	} {
		if got := tc.plan.redirect(tc.addr); got != tc.want {
			t.Errorf("redirect(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if global.serverName() != "127.0.0.1" || services.serverName() != "127.0.0.1" || (dialPlan{}).active() {
		t.Error("serverName or active is wrong")
	}
}

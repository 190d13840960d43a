package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestCredentialProcess uses s3ag as the credential_process of a profile,
// the way any AWS tool would, and reads an object with what it prints.
func TestCredentialProcess(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	configFile := filepath.Join(dir, "config")
	credsFile := filepath.Join(dir, "credentials")
	// The caller's own keys live in profile "base"; profile "reports" gets
	// Access Grants credentials from s3ag, which reaches the emulator
	// through --endpoint-url.
	if err := os.WriteFile(configFile, fmt.Appendf(nil, `[profile base]
region = us-east-1

[profile reports]
region = us-east-1
credential_process = %s credentials s3://data-bucket/reports/* --permission READ --format process --profile base --endpoint-url %s
`, s3agBin, w.srv.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(credsFile, fmt.Appendf(nil, "[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n", appKey, appSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	// The SDK runs credential_process with this process's environment.
	t.Setenv("AWS_CONFIG_FILE", configFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile)
	t.Setenv("S3AG_CACHE_DIR", w.cache)
	t.Setenv("HOME", w.home)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}

	read := func(key string) string {
		t.Helper()
		ctx := context.Background()
		cfg, err := config.LoadDefaultConfig(ctx,
			config.WithSharedConfigProfile("reports"),
			config.WithSharedConfigFiles([]string{configFile}),
			config.WithSharedCredentialsFiles([]string{credsFile}),
		)
		if err != nil {
			t.Fatal(err)
		}
		c := s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(w.srv.URL)
			o.UsePathStyle = true
		})
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GetObject with the credential_process profile: %v", err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return string(b)
	}

	if got := read("reports/q1.csv"); got != "q1\n" {
		t.Fatalf("read %q, want q1", got)
	}
	call := w.lastCall("GetObject")
	if !isVendedKey(call.AccessKeyID) || call.GrantScope != reportsScope {
		t.Errorf("GetObject signed with %s for scope %q, want a vended key for %s", call.AccessKeyID, call.GrantScope, reportsScope)
	}
	if p := w.lastCall("GetDataAccess").Principal; p != "arn:aws:iam::111122223333:role/app" {
		t.Errorf("GetDataAccess called as %s, want the base profile's role/app", p)
	}
	// A second tool run: the SDK starts s3ag again, which answers from its
	// disk cache.
	if got := read("reports/q2.csv"); got != "q2\n" {
		t.Fatalf("second read %q, want q2", got)
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("GetDataAccess calls = %d, want 1 (the second run served from the disk cache)", n)
	}
	if k := w.lastCall("GetObject").AccessKeyID; k != call.AccessKeyID {
		t.Errorf("second read signed with %s, want the cached %s", k, call.AccessKeyID)
	}
}

// credentialsJSON runs "s3ag credentials --format json" and decodes it.
func credentialsJSON(t *testing.T, w *world, env []string, args ...string) jsonCredentials {
	t.Helper()
	r := w.runEnv(env, nil, append([]string{"credentials", "--format", "json"}, args...)...)
	mustSucceed(t, r, "credentials")
	var out jsonCredentials
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("credentials --format json printed %q: %v", r.stdout, err)
	}
	return out
}

func TestCredentialsFormats(t *testing.T) {
	t.Parallel()
	w := newWorld(t)

	// process: flags after the target, exactly as cli.md shows them.
	r := w.run("credentials", "s3://data-bucket/reports/*", "--permission", "READ", "--format", "process")
	mustSucceed(t, r, "credentials --format process")
	var p map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("process output %q: %v", r.stdout, err)
	}
	if p["Version"] != float64(1) || !isVendedKey(fmt.Sprint(p["AccessKeyId"])) || p["SecretAccessKey"] == "" || !strings.HasPrefix(fmt.Sprint(p["SessionToken"]), tokenPrefix) {
		t.Errorf("process output = %v", p)
	}
	exp, err := time.Parse(time.RFC3339, fmt.Sprint(p["Expiration"]))
	if err != nil || time.Until(exp) < 50*time.Minute {
		t.Errorf("Expiration %v (%v), want RFC 3339 about an hour ahead", p["Expiration"], err)
	}
	if len(p) != 5 {
		t.Errorf("process output has %d fields, want the 5 of credential_process", len(p))
	}
	if r.stderr != "" {
		t.Errorf("stderr = %q, want nothing", r.stderr)
	}

	// env: export lines, served from the cache the process run filled.
	r = w.run("credentials", "s3://data-bucket/reports/q1.csv", "--format", "env")
	mustSucceed(t, r, "credentials --format env")
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || !strings.HasPrefix(line, "export ") || !strings.HasPrefix(value, "'") {
			t.Fatalf("env line %q is not export NAME='value'", line)
		}
		vars[name] = strings.Trim(value, "'")
	}
	if vars["AWS_ACCESS_KEY_ID"] != p["AccessKeyId"] || vars["AWS_SECRET_ACCESS_KEY"] != p["SecretAccessKey"] || vars["AWS_SESSION_TOKEN"] != p["SessionToken"] {
		t.Errorf("env credentials %v differ from the cached ones %v", vars, p)
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("GetDataAccess calls = %d, want 1: the object is under the cached scope", n)
	}

	// json: the matched scope and the target; Minimal covers the target only.
	j := credentialsJSON(t, w, w.env(appKey, appSecret), "s3://data-bucket/reports/q2.csv")
	if j.MatchedGrantTarget != reportsScope || j.Target != "s3://data-bucket/reports/q2.csv" || !j.Cached || j.Permission != "READ" || j.Privilege != "Default" {
		t.Errorf("json = %+v, want the cached grant scope %s", j, reportsScope)
	}
	j = credentialsJSON(t, w, w.env(appKey, appSecret), "s3://data-bucket/reports/q2.csv", "--privilege", "minimal", "--duration", "30m")
	if j.MatchedGrantTarget != "s3://data-bucket/reports/q2.csv" || j.Cached || j.Privilege != "Minimal" {
		t.Errorf("Minimal json = %+v, want the target itself, freshly vended", j)
	}
	if exp, _ := time.Parse(time.RFC3339, j.Expiration); time.Until(exp) > 31*time.Minute || time.Until(exp) < 25*time.Minute {
		t.Errorf("--duration 30m vended credentials expiring at %s", j.Expiration)
	}
	if c := w.lastCall("GetDataAccess"); c.Status != 200 {
		t.Errorf("Minimal GetDataAccess answered %d", c.Status)
	}

	// s3://bucket asks for the whole bucket: the app has no such grant.
	r = w.run("credentials", "s3://data-bucket")
	if r.code != 1 {
		t.Fatalf("credentials for a whole bucket without a grant: %v", r)
	}
	checkOneLine(t, r, "credentials s3://data-bucket/*", "READ", "AccessDenied")
}

func TestCredentialsUsage(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, args := range [][]string{
		{"credentials"},
		{"credentials", "data-bucket/reports/*"},
		{"credentials", "s3://data-bucket/reports/*", "--permission", "ADMIN"},
		{"credentials", "s3://data-bucket/reports/*", "--privilege", "Max"},
		{"credentials", "s3://data-bucket/reports/*", "--duration", "1m"},
		{"credentials", "s3://data-bucket/reports/*", "--format", "xml"},
		{"credentials", "s3://data-bucket/reports/*", "--no-such-flag"},
	} {
		r := w.run(args...)
		if r.code != 2 || r.stdout != "" {
			t.Errorf("s3ag %v: %v; want exit 2 and no output", args, r)
		}
		checkOneLine(t, r)
	}
	if n := w.calls("GetDataAccess"); n != 0 {
		t.Errorf("usage errors made %d GetDataAccess calls", n)
	}
}

// TestCredentialsConcurrentRunsShareOneCall starts 8 runs for one target
// at once: the bucket's lock makes them wait for the first.
func TestCredentialsConcurrentRunsShareOneCall(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const runs = 8
	results := make([]result, runs)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = w.run("credentials", "s3://data-bucket/reports/q1.csv", "--format", "json")
		}()
	}
	close(start)
	wg.Wait()
	keys := map[string]bool{}
	cached := 0
	for _, r := range results {
		mustSucceed(t, r, "concurrent credentials")
		var j jsonCredentials
		if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
			t.Fatal(err)
		}
		keys[j.AccessKeyID] = true
		if j.Cached {
			cached++
		}
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("%d concurrent runs made %d GetDataAccess calls, want 1", runs, n)
	}
	if len(keys) != 1 || cached != runs-1 {
		t.Errorf("runs printed %d distinct keys, %d from the cache; want 1 and %d", len(keys), cached, runs-1)
	}
}

func TestCredentialsDiskCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	appEnv := w.env(appKey, appSecret)
	first := credentialsJSON(t, w, appEnv, "s3://data-bucket/reports/*")
	if first.Cached {
		t.Fatal("the first run was served from an empty cache")
	}

	// Owner-only files, hashed names, no caller secret anywhere.
	var entries []string
	err := filepath.WalkDir(w.cache, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		for _, s := range []string{appKey, appSecret, "data-bucket", "reports"} {
			if strings.Contains(p, s) {
				t.Errorf("cache path %s names %q", p, s)
			}
		}
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.Contains(string(data), appSecret) || strings.Contains(string(data), appKey) {
				t.Errorf("cache file %s holds the caller's key", p)
			}
			if strings.HasSuffix(p, ".json") {
				entries = append(entries, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(entries))
	}

	calls := func() int { return w.calls("GetDataAccess") }
	// Served again, for the scope and for a target under it.
	for _, target := range []string{"s3://data-bucket/reports/*", "s3://data-bucket/reports/sub/x.csv"} {
		if j := credentialsJSON(t, w, appEnv, target); !j.Cached || j.AccessKeyID != first.AccessKeyID {
			t.Errorf("%s: cached=%v key %s, want the cached %s", target, j.Cached, j.AccessKeyID, first.AccessKeyID)
		}
	}
	if n := calls(); n != 1 {
		t.Errorf("GetDataAccess calls = %d, want 1", n)
	}
	// Another permission, privilege or scope is another entry.
	credentialsJSON(t, w, appEnv, "s3://data-bucket/work/a.txt", "--permission", "WRITE")
	credentialsJSON(t, w, appEnv, "s3://data-bucket/reports/q1.csv", "--privilege", "Minimal")
	if n := calls(); n != 3 {
		t.Errorf("GetDataAccess calls = %d, want 3", n)
	}
	// Another identity never sees the app's entries.
	r := w.runEnv(w.env(noGrantsKey, noGrantsSec), nil, "credentials", "s3://data-bucket/reports/*")
	if r.code != 1 || !strings.Contains(r.stderr, "AccessDenied") {
		t.Errorf("another identity: %v; want AccessDenied, not the app's cached credentials", r)
	}

	// An entry with less than a minute left is not served; a new one
	// replaces it.
	var e cacheEntry
	data, err := os.ReadFile(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	e.Expiration = time.Now().Add(30 * time.Second).UTC()
	data, _ = json.Marshal(e)
	if err := os.WriteFile(entries[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	before := calls()
	if j := credentialsJSON(t, w, appEnv, "s3://data-bucket/reports/*"); j.Cached || j.AccessKeyID == first.AccessKeyID {
		t.Errorf("an entry 30 s from expiry was served: %+v", j)
	}
	if n := calls(); n != before+1 {
		t.Errorf("GetDataAccess calls = %d, want %d", n, before+1)
	}

	// --no-cache asks every time.
	before = calls()
	if j := credentialsJSON(t, w, appEnv, "s3://data-bucket/reports/*", "--no-cache"); j.Cached {
		t.Error("--no-cache served from the cache")
	}
	if n := calls(); n != before+1 {
		t.Errorf("--no-cache: GetDataAccess calls = %d, want %d", n, before+1)
	}
}

func TestCredentialsCacheDirTightened(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if err := os.MkdirAll(w.cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(w.cache, 0o755); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, w.run("credentials", "s3://data-bucket/reports/*"), "credentials")
	fi, err := os.Stat(w.cache)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %v, want 0700", fi.Mode().Perm())
	}
}

// TestCredentialsRefusesItself: a profile whose credential_process is s3ag
// credentials, given as the caller's own profile, must fail at once rather
// than start s3ag again and again.
func TestCredentialsRefusesItself(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cfgFile := filepath.Join(w.home, "config")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, "[profile loop]\nregion = us-east-1\ncredential_process = %s credentials s3://data-bucket/reports/* --profile loop\n", s3agBin), 0o600); err != nil {
		t.Fatal(err)
	}
	env := withoutVar(withoutVar(w.env("", ""), "AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY")
	r := w.runEnv(env, nil, "credentials", "s3://data-bucket/reports/*", "--profile", "loop")
	if r.code != 1 || !strings.Contains(r.stderr, "own credential_process") {
		t.Fatalf("credentials through itself: %v", r)
	}
	if n := w.calls("GetDataAccess"); n != 0 {
		t.Errorf("GetDataAccess calls = %d", n)
	}
}

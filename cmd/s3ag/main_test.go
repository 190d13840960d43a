package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/s3ag/accessgrants/emulator"
)

// s3agBin is the s3ag binary TestMain builds; the tests run it as a user
// would, each with its own environment.
var s3agBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "s3ag-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s3agBin = filepath.Join(dir, "s3ag")
	build := exec.Command(goTool(), "build", "-o", s3agBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building s3ag:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool returns the go command that runs these tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// The principals of testdata/world.yaml.
const (
	adminKey     = "AKIATESTADMIN0000001"
	appKey       = "AKIATESTAPP000000001"
	appSecret    = "SENTINEL-app-secret-0123456789" // the hygiene test's sentinel
	noGrantsKey  = "AKIATESTNOGRANTS0001"
	noGrantsSec  = "nogrants-secret"
	partnerKey   = "AKIATESTPARTNER00001"
	sessionRole  = "arn:aws:iam::111122223333:role/session"
	tokenPrefix  = "FQoGZXIvYXdzE" // every emulator session token starts so
	reportsScope = "s3://data-bucket/reports/*"
)

// world is an emulator seeded with testdata/world.yaml and a few objects,
// and an isolated environment to run s3ag in.
type world struct {
	t     *testing.T
	srv   *emulator.Server
	home  string
	cache string
}

func newWorld(t *testing.T, opts ...emulator.Option) *world {
	t.Helper()
	cfg, err := emulator.LoadConfig(filepath.Join("testdata", "world.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, srv: emulator.NewServer(t, cfg, opts...), home: t.TempDir(), cache: filepath.Join(t.TempDir(), "cache")}
	for _, f := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(w.home, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w.put(adminKey, "data-bucket", "reports/q1.csv", "q1\n")
	w.put(adminKey, "data-bucket", "reports/q2.csv", "q2\n")
	w.put(adminKey, "data-bucket", "work/a.txt", "a\n")
	w.put(adminKey, "other-bucket", "x.txt", "x\n")
	w.put(partnerKey, "partner-bucket", "shared/p.txt", "p\n")
	w.srv.ResetCalls()
	return w
}

// put writes an object as a principal, outside Access Grants.
func (w *world) put(key, bucket, objKey, body string) {
	w.t.Helper()
	c := w.client(key)
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(objKey), Body: strings.NewReader(body),
	}); err != nil {
		w.t.Fatalf("seeding s3://%s/%s: %v", bucket, objKey, err)
	}
}

// client returns a plain S3 client of a principal, without the plugin.
func (w *world) client(key string) *s3.Client {
	return s3.NewFromConfig(w.srv.AWSConfig(key), func(o *s3.Options) {
		o.UsePathStyle = true
		o.Logger = logging.Nop{} // no checksum notes in the test log
	})
}

// get reads an object as a principal, outside Access Grants.
func (w *world) get(key, bucket, objKey string) []byte {
	w.t.Helper()
	c := w.client(key)
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(objKey)})
	if err != nil {
		w.t.Fatalf("reading s3://%s/%s: %v", bucket, objKey, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// env is the environment s3ag runs in: only what the test sets, so that
// the user's own AWS configuration never leaks in.
func (w *world) env(accessKey, secret string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + w.home,
		"AWS_CONFIG_FILE=" + filepath.Join(w.home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(w.home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + w.srv.URL,
		"AWS_REGION=us-east-1",
		"S3AG_CACHE_DIR=" + w.cache,
	}
	if accessKey != "" {
		env = append(env, "AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY="+secret)
	}
	return append(env, extra...)
}

// result is what one run of s3ag left.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs s3ag as the app principal.
func (w *world) run(args ...string) result {
	w.t.Helper()
	return w.runEnv(w.env(appKey, appSecret), nil, args...)
}

// runEnv runs s3ag with an environment and standard input.
func (w *world) runEnv(env []string, stdin io.Reader, args ...string) result {
	w.t.Helper()
	return runBinary(w.t, env, stdin, args...)
}

// runBinary runs the built s3ag.
func runBinary(t *testing.T, env []string, stdin io.Reader, args ...string) result {
	t.Helper()
	cmd := exec.Command(s3agBin, args...)
	cmd.Env = env
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running s3ag %v: %v", args, err)
	}
	return r
}

// mustSucceed fails the test unless r exited 0.
func mustSucceed(t *testing.T, r result, what string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: %v", what, r)
	}
}

// calls returns the emulator's count for an API.
func (w *world) calls(api string) int { return w.srv.Calls()[api] }

// requests returns the emulator's requests of an API.
func (w *world) requests(api string) []emulator.Call {
	var out []emulator.Call
	for _, c := range w.srv.Requests() {
		if c.API == api {
			out = append(out, c)
		}
	}
	return out
}

// lastCall returns the emulator's last request of an API.
func (w *world) lastCall(api string) emulator.Call {
	w.t.Helper()
	reqs := w.requests(api)
	if len(reqs) == 0 {
		w.t.Fatalf("the emulator served no %s call", api)
	}
	return reqs[len(reqs)-1]
}

// runInProcess runs the command line in this process, for commands that
// read no AWS environment (explain, demo, version), so that the race
// detector sees them.
func runInProcess(args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(""), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// checkOneLine fails unless stderr is exactly one line starting "s3ag: "
// and holding every want.
func checkOneLine(t *testing.T, r result, want ...string) {
	t.Helper()
	line := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "s3ag: ") {
		t.Errorf("stderr is not one s3ag: line:\n%s", r.stderr)
	}
	for _, s := range want {
		if !strings.Contains(line, s) {
			t.Errorf("error line %q lacks %q", line, s)
		}
	}
}

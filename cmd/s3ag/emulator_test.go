package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestEmulatorCommand runs "s3ag emulator" with a config, a data directory
// and TLS: it prints its endpoint, certificate, keys and export lines,
// serves the SDK over HTTPS, and stops cleanly on SIGTERM.
func TestEmulatorCommand(t *testing.T) {
	dataDir := t.TempDir()
	cmd := exec.Command(s3agBin, "emulator", "--addr", "127.0.0.1:0", "--config", filepath.Join("testdata", "world.yaml"),
		"--data-dir", dataDir, "--tls")
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []string
	var url, cert string
	deadline := time.After(20 * time.Second)
	for url == "" || cert == "" || !strings.Contains(strings.Join(out, "\n"), "AWS_CA_BUNDLE") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("emulator exited early:\n%s", strings.Join(out, "\n"))
			}
			out = append(out, l)
			if m := regexp.MustCompile(`on (https://127\.0\.0\.1:\d+)`).FindStringSubmatch(l); m != nil {
				url = m[1]
			}
			if c, ok := strings.CutPrefix(l, "TLS certificate: "); ok {
				cert = c
			}
		case <-deadline:
			t.Fatalf("no endpoint, certificate and export lines printed:\n%s", strings.Join(out, "\n"))
		}
	}
	text := strings.Join(out, "\n")
	for _, want := range []string{"export AWS_ENDPOINT_URL=" + url, "export AWS_REGION=us-east-1", adminKey, "data directory: " + dataDir} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	// The printed certificate lets an SDK client in over HTTPS.
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("the printed certificate is not PEM")
	}
	c := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: "admin-secret"}, nil
		}),
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	if _, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("ListBuckets over HTTPS: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator did not stop within 10 s of SIGTERM")
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if !strings.Contains(strings.Join(rest, "\n"), "stopping") {
		t.Errorf("no stopping line after SIGTERM: %q", rest)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "state.json")); err != nil {
		t.Errorf("the data directory has no state: %v", err)
	}
}

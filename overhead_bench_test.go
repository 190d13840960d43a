package accessgrants_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	accessgrants "github.com/s3ag/accessgrants"
)

// memTransport answers, in memory, every call a GetObject through the
// plugin makes: S3's GetObject and HeadBucket, S3 Control's
// GetAccessGrantsInstanceForPrefix and GetDataAccess. No network, no
// server: what remains to measure is the SDK and the plugin.
type memTransport struct{}

const (
	memInstanceXML = `<GetAccessGrantsInstanceForPrefixResult><AccessGrantsInstanceArn>arn:aws:s3:us-east-1:111122223333:access-grants/default</AccessGrantsInstanceArn><AccessGrantsInstanceId>default</AccessGrantsInstanceId></GetAccessGrantsInstanceForPrefixResult>`
	memDataXML     = `<GetDataAccessResult><Credentials><AccessKeyId>ASIAVENDEDEXAMPLE001</AccessKeyId><SecretAccessKey>vended-secret</SecretAccessKey><SessionToken>vended-token</SessionToken><Expiration>2100-01-01T00:00:00Z</Expiration></Credentials><MatchedGrantTarget>s3://bench-bucket/*</MatchedGrantTarget></GetDataAccessResult>`
)

func (memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Request: r, ProtoMajor: 1, ProtoMinor: 1}
	body := ""
	switch {
	case strings.HasSuffix(r.URL.Path, "/accessgrantsinstance/prefix"):
		body = memInstanceXML
	case strings.HasSuffix(r.URL.Path, "/accessgrantsinstance/dataaccess"):
		body = memDataXML
	case r.Method == http.MethodHead:
		resp.Header.Set("X-Amz-Bucket-Region", "us-east-1")
	default:
		body = "hello"
		resp.Header.Set("Etag", `"5d41402abc4b2a76b9719d911017c592"`)
		resp.Header.Set("Content-Type", "text/plain")
	}
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", itoa(len(body)))
	resp.Body = io.NopCloser(strings.NewReader(body))
	return resp, nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func memConfig() aws.Config {
	creds := aws.Credentials{AccessKeyID: "AKIABENCHEXAMPLE0001", SecretAccessKey: "bench-secret", AccountID: "111122223333"}
	return aws.Config{
		Region:      "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		HTTPClient:  &http.Client{Transport: memTransport{}},
	}
}

func getObject(b *testing.B, c *s3.Client) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("bench-bucket"), Key: aws.String("reports/2026/q4.csv")})
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, out.Body)
	out.Body.Close()
}

// BenchmarkGetObject measures what the plugin costs per request, side by
// side in one run: a plain client; the same client with the plugin and a
// warm cache (the overhead goal: ≤ 1.05× the time, ≤ 10 more allocations);
// and with a cold plugin each time (HeadBucket,
// GetAccessGrantsInstanceForPrefix and GetDataAccess answered in memory).
//
//	go test -run '^$' -bench BenchmarkGetObject -benchmem -count 10 .
func BenchmarkGetObject(b *testing.B) {
	cfg := memConfig()
	b.Run("plain", func(b *testing.B) {
		c := s3.NewFromConfig(cfg)
		getObject(b, c)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			getObject(b, c)
		}
	})
	b.Run("plugin-warm", func(b *testing.B) {
		p, err := accessgrants.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		c := s3.NewFromConfig(cfg, p.Register)
		getObject(b, c)
		if st := p.Stats(); st.Granted != 1 {
			b.Fatalf("warm-up: %+v", st)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			getObject(b, c)
		}
		b.StopTimer()
		if st := p.Stats(); st.GetDataAccessCalls != 1 || st.Cached < uint64(b.N) {
			b.Fatalf("not served from the cache: %+v", st)
		}
	})
	b.Run("plugin-cold", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			p, err := accessgrants.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			getObject(b, s3.NewFromConfig(cfg, p.Register))
		}
	})
}

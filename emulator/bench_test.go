package emulator

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// benchObject is the 1 KiB object the GetObject benchmarks read.
var benchObject = bytes.Repeat([]byte("0123456789abcdef"), 64)

// benchTarget is one side of a comparison: a handler holding benchObject
// at /data-bucket/obj, and a request for it.
type benchTarget struct {
	handler http.Handler
	url     string // a loopback server of handler
	sign    bool   // the request must carry SigV4
}

// emulatorTarget is the emulator with benchObject stored.
func emulatorTarget(b *testing.B) benchTarget {
	srv := NewServer(b, nil)
	if _, err := srv.objects.backend.PutObject(DefaultBucket, "obj", map[string]string{"Content-Type": "application/octet-stream"},
		bytes.NewReader(benchObject), int64(len(benchObject)), nil); err != nil {
		b.Fatal(err)
	}
	return benchTarget{handler: srv, url: srv.URL, sign: true}
}

// gofakes3Target is gofakes3 alone on its memory backend, with the same
// object, served without authentication.
func gofakes3Target(b *testing.B) benchTarget {
	backend := s3mem.New()
	if err := backend.CreateBucket(DefaultBucket); err != nil {
		b.Fatal(err)
	}
	if _, err := backend.PutObject(DefaultBucket, "obj", map[string]string{"Content-Type": "application/octet-stream"},
		bytes.NewReader(benchObject), int64(len(benchObject)), nil); err != nil {
		b.Fatal(err)
	}
	h := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	return benchTarget{handler: h, url: ts.URL}
}

// request builds GET /data-bucket/obj for base, signed once, as the SDK
// signs a GetObject (the SHA-256 of the empty payload), when the target
// checks signatures. The emulator accepts the same signature again within
// the 15-minute skew window, so signing stays out of the measurement.
func (bt benchTarget) request(b *testing.B, base string) *http.Request {
	req, err := http.NewRequest("GET", base+"/data-bucket/obj", nil)
	if err != nil {
		b.Fatal(err)
	}
	if bt.sign {
		req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err := signer.SignHTTP(context.Background(), rbAdmin, req, emptySHA256, "s3", "us-east-1", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	return req
}

// BenchmarkServeGetObject compares the emulator, SigV4 verification and
// authorization included, with gofakes3 alone serving the same 1 KiB
// GetObject unauthenticated: in process through ServeHTTP (no network),
// and over loopback HTTP with a keep-alive client. The ratio of the two
// ns/op is the share of gofakes3's throughput the emulator keeps.
func BenchmarkServeGetObject(b *testing.B) {
	targets := []struct {
		name string
		make func(*testing.B) benchTarget
	}{
		{"emulator", emulatorTarget},
		{"gofakes3", gofakes3Target},
	}
	for _, tg := range targets {
		b.Run("inprocess/"+tg.name, func(b *testing.B) {
			bt := tg.make(b)
			// A request as net/http's server hands it to a handler.
			req := httptest.NewRequest("GET", "/data-bucket/obj", nil)
			req.Host = "127.0.0.1:9000"
			if bt.sign {
				signed := bt.request(b, "http://127.0.0.1:9000")
				req.Header = signed.Header
			}
			check := httptest.NewRecorder()
			bt.handler.ServeHTTP(check, req)
			if check.Code != http.StatusOK || !bytes.Equal(check.Body.Bytes(), benchObject) {
				b.Fatalf("GetObject: %d %q", check.Code, check.Body.Bytes())
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(benchObject)))
			for b.Loop() {
				rec := httptest.NewRecorder()
				bt.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GetObject: %d", rec.Code)
				}
			}
		})
	}
	for _, tg := range targets {
		b.Run("loopback/"+tg.name, func(b *testing.B) {
			bt := tg.make(b)
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			b.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr}
			req := bt.request(b, bt.url)
			buf := make([]byte, 2*len(benchObject))
			get := func() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.ReadFull(resp.Body, buf)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n != len(benchObject) {
					b.Fatalf("GetObject: %d, %d bytes", resp.StatusCode, n)
				}
			}
			get() // opens the connection that the loop reuses
			b.ReportAllocs()
			b.SetBytes(int64(len(benchObject)))
			for b.Loop() {
				get()
			}
		})
	}
}

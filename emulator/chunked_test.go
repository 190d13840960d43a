package emulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The chunked-upload example of S3's documentation ("Signature
// Calculations for the Authorization Header: Transferring Payload in
// Multiple Chunks"): 65 KiB of 'a' in a 64 KiB and a 1 KiB chunk.
const chunkedVectorAuth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"

func chunkedVectorBody() []byte {
	return []byte("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" +
		strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" +
		strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")
}

// The trailing-header example ("Signature calculations for trailing
// headers"): the same payload with a signed CRC32C trailer.
const trailerVectorAuth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"

// trailerVectorBody frames the example; sep is what comes between the final
// chunk and the trailer ("" on the wire of real clients, "\r\n" as the AWS
// page prints it).
func trailerVectorBody(sep string) []byte {
	return []byte("10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n" +
		strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n" +
		strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n" + sep +
		"x-amz-checksum-crc32c:sOO8/Q==\r\n" +
		"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n")
}

func TestChunkedAWSExamples(t *testing.T) {
	want := bytes.Repeat([]byte("a"), 66560)
	t.Run("signed chunks", func(t *testing.T) {
		body := chunkedVectorBody()
		r := serverRequest("PUT", "/examplebucket/chunkObject.txt", "s3.amazonaws.com", map[string]string{
			"Authorization":                chunkedVectorAuth,
			"X-Amz-Date":                   "20130524T000000Z",
			"X-Amz-Storage-Class":          "REDUCED_REDUNDANCY",
			"X-Amz-Content-Sha256":         streamingSignedPayload,
			"Content-Encoding":             "aws-chunked",
			"X-Amz-Decoded-Content-Length": "66560",
		}, body)
		if len(body) != 66824 {
			t.Fatalf("example body is %d bytes, the page says 66824", len(body))
		}
		info, payload, trailer, err := verifySigV4(r, body, exampleLookup, verifyOptions{Wall: exampleTime})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(payload, want) || trailer != nil || info.PayloadHash != streamingSignedPayload {
			t.Errorf("payload %d bytes, trailer %v, info %+v", len(payload), trailer, info)
		}
		// Any changed byte of data or signature fails.
		for _, at := range []int{100, 66000, len(body) - 10} {
			bad := bytes.Clone(body)
			bad[at] ^= 1
			_, _, _, err := verifySigV4(r, bad, exampleLookup, verifyOptions{Wall: exampleTime})
			checkCode(t, err, "SignatureDoesNotMatch", 403)
		}
	})
	for _, sep := range []string{"", "\r\n"} {
		t.Run(fmt.Sprintf("signed trailer, separator %q", sep), func(t *testing.T) {
			body := trailerVectorBody(sep)
			r := serverRequest("PUT", "/examplebucket/chunkObject.txt", "s3.amazonaws.com", map[string]string{
				"Authorization":                trailerVectorAuth,
				"X-Amz-Date":                   "20130524T000000Z",
				"X-Amz-Storage-Class":          "REDUCED_REDUNDANCY",
				"X-Amz-Content-Sha256":         streamingSignedPayloadTrailer,
				"Content-Encoding":             "aws-chunked",
				"X-Amz-Decoded-Content-Length": "66560",
				"X-Amz-Trailer":                "x-amz-checksum-crc32c",
			}, body)
			_, payload, trailer, err := verifySigV4(r, body, exampleLookup, verifyOptions{Wall: exampleTime})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, want) || trailer.Get("X-Amz-Checksum-Crc32c") != "sOO8/Q==" || len(trailer) != 1 {
				t.Errorf("payload %d bytes, trailer %v", len(payload), trailer)
			}
			bad := bytes.Replace(body, []byte("d81f82fc"), []byte("d81f82fd"), 1)
			_, _, _, err = verifySigV4(r, bad, exampleLookup, verifyOptions{Wall: exampleTime})
			checkCode(t, err, "SignatureDoesNotMatch", 403)
		})
	}
}

// testChunker frames payloads as aws-chunked, independently of the
// decoder: chunk signatures come from the SDK's StreamSigner (whose string
// to sign is S3's chunk one when the headers are empty).
type testChunker struct {
	creds   aws.Credentials
	at      time.Time
	seed    []byte // request signature; nil for unsigned framing
	trailer [][2]string
}

func (c testChunker) frame(t testing.TB, payload []byte, chunkSize int) []byte {
	t.Helper()
	var b bytes.Buffer
	var signer *v4.StreamSigner
	if c.seed != nil {
		signer = v4.NewStreamSigner(c.creds, "s3", "us-east-1", c.seed)
	}
	var last []byte
	writeChunk := func(data []byte) {
		fmt.Fprintf(&b, "%x", len(data))
		if signer != nil {
			sig, err := signer.GetSignature(context.Background(), nil, data, c.at)
			if err != nil {
				t.Fatal(err)
			}
			last = sig
			fmt.Fprintf(&b, ";chunk-signature=%x", sig)
		}
		b.WriteString("\r\n")
		b.Write(data)
		if len(data) > 0 {
			b.WriteString("\r\n")
		}
	}
	for off := 0; off < len(payload); off += chunkSize {
		writeChunk(payload[off:min(off+chunkSize, len(payload))])
	}
	writeChunk(nil)
	var canonical strings.Builder
	for _, kv := range c.trailer {
		fmt.Fprintf(&b, "%s:%s\r\n", kv[0], kv[1])
		fmt.Fprintf(&canonical, "%s:%s\n", kv[0], kv[1])
	}
	if signer != nil && len(c.trailer) > 0 {
		fmt.Fprintf(&b, "x-amz-trailer-signature:%s\r\n", c.trailerSignature(last, canonical.String()))
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// trailerSignature signs a trailer by hand from the published string to
// sign (the SDK for Go has no signed-trailer signer).
func (c testChunker) trailerSignature(prev []byte, canonical string) string {
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	date := c.at.Format("20060102")
	key := mac(mac(mac(mac([]byte("AWS4"+c.creds.SecretAccessKey), date), "us-east-1"), "s3"), "aws4_request")
	sum := sha256.Sum256([]byte(canonical))
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + c.at.Format(amzDateLayout) + "\n" + date + "/us-east-1/s3/aws4_request\n" +
		hex.EncodeToString(prev) + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(mac(key, sts))
}

// streamingRequest signs a PUT whose body is aws-chunked in mode and
// returns the server-side request and a chunker for its body. The signed
// headers x-amz-decoded-content-length and x-amz-trailer follow the payload
// length and the trailers unless hdr sets them.
func streamingRequest(t testing.TB, mode string, payloadLen int, hdr map[string]string, trailers ...[2]string) (*http.Request, testChunker) {
	t.Helper()
	at := time.Now().UTC().Truncate(time.Second)
	creds := aws.Credentials{AccessKeyID: exampleKeyID, SecretAccessKey: exampleSecret}
	req, err := http.NewRequest("PUT", "https://s3.example.test/bucket/streamed", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Content-Sha256", mode)
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(payloadLen))
	var names []string
	for _, kv := range trailers {
		names = append(names, kv[0])
	}
	if len(names) > 0 {
		req.Header.Set("X-Amz-Trailer", strings.Join(names, ","))
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, mode, "s3", "us-east-1", at,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		t.Fatal(err)
	}
	c := testChunker{creds: creds, at: at, trailer: trailers}
	if mode != streamingUnsignedPayloadTrailer {
		auth := req.Header.Get("Authorization")
		seed, err := hex.DecodeString(auth[strings.Index(auth, "Signature=")+len("Signature="):])
		if err != nil {
			t.Fatal(err)
		}
		c.seed = seed
	}
	return fromClient(req, nil), c
}

func checksumOf(alg string, data []byte) string {
	switch alg {
	case "crc32":
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)))
	case "crc32c":
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))))
	case "sha256":
		s := sha256.Sum256(data)
		return base64.StdEncoding.EncodeToString(s[:])
	}
	panic(alg)
}

// TestChunkedRoundTrip frames payloads of several sizes in every mode and
// checks that they verify and decode to themselves.
func TestChunkedRoundTrip(t *testing.T) {
	payload := make([]byte, 3*8192+1)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	for _, mode := range []string{streamingUnsignedPayloadTrailer, streamingSignedPayload, streamingSignedPayloadTrailer} {
		for _, n := range []int{0, 1, 8191, 8192, 2 * 8192, len(payload)} {
			for _, withTrailer := range []bool{false, true} {
				if withTrailer && mode == streamingSignedPayload {
					continue
				}
				t.Run(fmt.Sprintf("%s/%d/trailer=%v", mode, n, withTrailer), func(t *testing.T) {
					data := payload[:n]
					var trailers [][2]string
					if withTrailer {
						trailers = [][2]string{{"x-amz-checksum-crc32", checksumOf("crc32", data)}}
					}
					r, c := streamingRequest(t, mode, n, nil, trailers...)
					body := c.frame(t, data, 8192)
					_, got, trailer, err := verifySigV4(r, body, exampleLookup, verifyOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, data) {
						t.Fatalf("decoded %d bytes, want %d", len(got), n)
					}
					if withTrailer != (trailer.Get("X-Amz-Checksum-Crc32") != "") {
						t.Errorf("trailer = %v", trailer)
					}
				})
			}
		}
	}
}

// TestChunkedChecksums checks every trailer checksum algorithm, right and
// wrong.
func TestChunkedChecksums(t *testing.T) {
	data := []byte("123456789")
	crc64 := func(v uint64) string { return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, v)) }
	sha1 := "98O8HYCOBHMq32eZZczDTKeuNEE=" // SHA-1("123456789"), base64
	tests := []struct {
		name, value string
		code        string
	}{
		{"x-amz-checksum-crc32", "y/Q5Jg==", ""},  // 0xcbf43926, the CRC-32 check value
		{"x-amz-checksum-crc32c", "4waSgw==", ""}, // 0xe3069283, the CRC-32C check value
		{"x-amz-checksum-crc64nvme", crc64(0xae8b14860a799888), ""},
		{"x-amz-checksum-sha1", sha1, ""},
		{"x-amz-checksum-sha256", checksumOf("sha256", data), ""},
		{"x-amz-checksum-xxhash64", "anything", ""}, // not computed: passed on
		{"x-amz-checksum-crc32", "y/Q5Jw==", "BadDigest"},
		{"x-amz-checksum-crc32c", "y/Q5Jg==", "BadDigest"},
		{"x-amz-checksum-crc64nvme", crc64(0xae8b14860a799889), "BadDigest"},
		{"x-amz-checksum-sha1", checksumOf("sha256", data), "InvalidRequest"},
		{"x-amz-checksum-sha256", checksumOf("sha256", []byte("12345678")), "BadDigest"},
		{"x-amz-checksum-crc32", "not base64!", "InvalidRequest"},
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			for _, mode := range []string{streamingUnsignedPayloadTrailer, streamingSignedPayloadTrailer} {
				r, c := streamingRequest(t, mode, len(data), nil, [2]string{tc.name, tc.value})
				_, _, trailer, err := verifySigV4(r, c.frame(t, data, 4), exampleLookup, verifyOptions{})
				if tc.code == "" {
					if err != nil || trailer.Get(tc.name) != tc.value {
						t.Fatalf("%s: err %v, trailer %v", mode, err, trailer)
					}
					continue
				}
				checkCode(t, err, tc.code, 400)
			}
		})
	}
	// CRC-64/NVME of 32 zero bytes, a second check value.
	if err := verifyChecksum("x-amz-checksum-crc64nvme", crc64(0xcf3473434d4ecf3b), make([]byte, 32)); err != nil {
		t.Errorf("crc64nvme of zeros: %v", err)
	}
}

// TestChunkedRejects corrupts framed bodies.
func TestChunkedRejects(t *testing.T) {
	data := bytes.Repeat([]byte("xyz"), 5000)
	crc := [2]string{"x-amz-checksum-crc32", checksumOf("crc32", data)}
	type mut func(body []byte) []byte
	tests := []struct {
		name     string
		mode     string
		trailers [][2]string
		hdr      map[string]string // signed headers set before signing
		mutate   mut
		code     string
		status   int
	}{
		{name: "corrupted chunk signature", mode: streamingSignedPayload, mutate: func(b []byte) []byte {
			i := bytes.Index(b, []byte("chunk-signature=")) + len("chunk-signature=")
			b[i] ^= 1
			return b
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "corrupted final chunk signature", mode: streamingSignedPayloadTrailer, trailers: [][2]string{crc}, mutate: func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte("chunk-signature=")) + len("chunk-signature=")
			b[i+63] ^= 1
			return b
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "chunk signature missing", mode: streamingSignedPayload, mutate: func(b []byte) []byte {
			return bytes.Replace(b, []byte(";chunk-signature="), []byte(";chunk-signatur="), 1)
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "chunks swapped", mode: streamingSignedPayload, mutate: func(b []byte) []byte {
			// Each chunk keeps its own signature; only the chain breaks.
			end := func(from int) int { return from + bytes.Index(b[from:], []byte("\r\n")) + 2 + 4096 + 2 }
			e1 := end(0)
			e2 := end(e1)
			return slices.Concat(b[e1:e2], b[:e1], b[e2:])
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "corrupted data", mode: streamingSignedPayload, mutate: func(b []byte) []byte {
			b[len(b)/2] ^= 1
			return b
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "corrupted trailer signature", mode: streamingSignedPayloadTrailer, trailers: [][2]string{crc}, mutate: func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-trailer-signature:")) + len("x-amz-trailer-signature:")
			b[i] ^= 1
			return b
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "tampered signed checksum", mode: streamingSignedPayloadTrailer, trailers: [][2]string{crc}, mutate: func(b []byte) []byte {
			// A checksum that matches the payload, but not the one signed.
			return bytes.Replace(b, []byte(crc[1]), []byte(checksumOf("crc32c", data)), 1)
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "trailer signature missing", mode: streamingSignedPayloadTrailer, trailers: [][2]string{crc}, mutate: func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-trailer-signature:"))
			return append(b[:i], "\r\n"...)
		}, code: "SignatureDoesNotMatch", status: 403},
		{name: "trailer signature in unsigned mode", mode: streamingUnsignedPayloadTrailer, trailers: [][2]string{crc}, mutate: func(b []byte) []byte {
			return append(b[:len(b)-2], "x-amz-trailer-signature:00\r\n\r\n"...)
		}, code: "MalformedTrailerError", status: 400},
		{name: "truncated in data", mode: streamingSignedPayload, mutate: func(b []byte) []byte { return b[:len(b)/2] },
			code: "IncompleteBody", status: 400},
		{name: "truncated in header line", mode: streamingUnsignedPayloadTrailer, mutate: func(b []byte) []byte {
			return b[:bytes.Index(b, []byte("\r\n"))]
		}, code: "IncompleteBody", status: 400},
		{name: "final chunk missing", mode: streamingUnsignedPayloadTrailer, trailers: [][2]string{crc}, mutate: func(b []byte) []byte {
			return b[:bytes.LastIndex(b, []byte("\r\n0\r\n"))+2]
		}, code: "IncompleteBody", status: 400},
		{name: "final CRLF missing", mode: streamingUnsignedPayloadTrailer, trailers: [][2]string{crc}, mutate: func(b []byte) []byte {
			return b[:len(b)-2]
		}, code: "IncompleteBody", status: 400},
		{name: "empty body", mode: streamingSignedPayload, mutate: func([]byte) []byte { return nil },
			code: "IncompleteBody", status: 400},
		{name: "decoded length larger", mode: streamingSignedPayload, hdr: map[string]string{"X-Amz-Decoded-Content-Length": strconv.Itoa(len(data) + 1)},
			code: "IncompleteBody", status: 400},
		{name: "decoded length smaller", mode: streamingUnsignedPayloadTrailer, hdr: map[string]string{"X-Amz-Decoded-Content-Length": strconv.Itoa(len(data) - 1)},
			code: "IncompleteBody", status: 400},
		{name: "decoded length not a number", mode: streamingUnsignedPayloadTrailer, hdr: map[string]string{"X-Amz-Decoded-Content-Length": "lots"},
			code: "InvalidArgument", status: 400},
		{name: "size not hex", mode: streamingUnsignedPayloadTrailer, mutate: func(b []byte) []byte {
			return append([]byte("zz\r\n"), b...)
		}, code: "InvalidRequest", status: 400},
		{name: "size larger than body", mode: streamingUnsignedPayloadTrailer, mutate: func(b []byte) []byte {
			return append([]byte("fffffffffffffffffffff\r\n"), b...)
		}, code: "IncompleteBody", status: 400},
		{name: "no CRLF after data", mode: streamingUnsignedPayloadTrailer, mutate: func(b []byte) []byte {
			i := bytes.Index(b, []byte("\r\n"))
			j := bytes.Index(b[i+2:], []byte("\r\n"))
			b[i+2+j] = 'X'
			return b
		}, code: "InvalidRequest", status: 400},
		{name: "data after the end", mode: streamingSignedPayload, mutate: func(b []byte) []byte {
			return append(b, "junk"...)
		}, code: "InvalidRequest", status: 400},
		{name: "header line too long", mode: streamingUnsignedPayloadTrailer, mutate: func([]byte) []byte {
			return bytes.Repeat([]byte("0"), 5000)
		}, code: "InvalidRequest", status: 400},
		{name: "undeclared trailer", mode: streamingUnsignedPayloadTrailer, trailers: [][2]string{crc, {"x-amz-checksum-sha256", checksumOf("sha256", data)}},
			hdr:  map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"},
			code: "MalformedTrailerError", status: 400},
		{name: "declared trailer missing", mode: streamingUnsignedPayloadTrailer, hdr: map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"},
			code: "MalformedTrailerError", status: 400},
		{name: "trailer in a mode without one", mode: streamingSignedPayload, mutate: func(b []byte) []byte {
			return append(b[:len(b)-2], "x-amz-checksum-crc32:AAAAAA==\r\n\r\n"...)
		}, code: "MalformedTrailerError", status: 400},
		{name: "trailer line without colon", mode: streamingUnsignedPayloadTrailer, trailers: [][2]string{crc}, mutate: func(b []byte) []byte {
			return bytes.Replace(b, []byte("x-amz-checksum-crc32:"), []byte("x-amz-checksum-crc32="), 1)
		}, code: "MalformedTrailerError", status: 400},
		{name: "repeated trailer", mode: streamingUnsignedPayloadTrailer, trailers: [][2]string{crc, crc},
			code: "MalformedTrailerError", status: 400},
		{name: "wrong checksum", mode: streamingSignedPayloadTrailer, trailers: [][2]string{{"x-amz-checksum-crc32", checksumOf("crc32", data[1:])}},
			code: "BadDigest", status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, c := streamingRequest(t, tc.mode, len(data), tc.hdr, tc.trailers...)
			body := c.frame(t, data, 4096)
			if tc.mutate != nil {
				body = tc.mutate(body)
			}
			_, _, _, err := verifySigV4(r, body, exampleLookup, verifyOptions{})
			checkCode(t, err, tc.code, tc.status)
		})
	}
}

// FuzzChunkedDecode decodes arbitrary bodies in every mode (no panics, only
// *apiError failures, a payload no longer than the body), and checks that
// any payload framed at any chunk size decodes to itself.
func FuzzChunkedDecode(f *testing.F) {
	// Small bodies signed for the fuzz target's chunkSigner, so that the
	// fuzzer starts past the signature checks. (The 66 KiB AWS examples
	// would slow it down; TestChunkedAWSExamples covers them.)
	const seedSig = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
	seed, _ := hex.DecodeString(seedSig)
	signed := testChunker{creds: aws.Credentials{AccessKeyID: exampleKeyID, SecretAccessKey: exampleSecret}, at: exampleTime, seed: seed}
	hello := []byte("hello, world")
	crc := [2]string{"x-amz-checksum-crc32", checksumOf("crc32", hello)}
	crcc := [2]string{"x-amz-checksum-crc32c", checksumOf("crc32c", hello)}
	withTrailer := signed
	withTrailer.trailer = [][2]string{crc, crcc}
	key := deriveSigningKey(exampleSecret, "20130524", "us-east-1", "s3")
	cs := chunkSigner{key: key, amzDate: "20130524T000000Z", scope: "20130524/us-east-1/s3/aws4_request", seed: seedSig}
	trailerHeader := http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32, x-amz-checksum-crc32c"}}
	for i, s := range []struct {
		body []byte
		mode string
		h    http.Header
	}{
		{signed.frame(f, hello, 5), streamingSignedPayload, http.Header{}},
		{withTrailer.frame(f, hello, 4), streamingSignedPayloadTrailer, trailerHeader},
	} {
		if got, _, err := decodeAWSChunked(s.body, s.mode, s.h, &cs); err != nil || !bytes.Equal(got, hello) {
			f.Fatalf("seed %d: %v", i, err)
		}
		f.Add(s.body, uint8(1+i), uint16(5))
	}
	f.Add(testChunker{trailer: [][2]string{crc}}.frame(f, hello, 3), uint8(0), uint16(3))
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"), uint8(0), uint16(3))
	f.Add([]byte("0;chunk-signature=\r\n\r\n\r\n"), uint8(1), uint16(0))
	f.Add([]byte("ffffffffffffffffffffffffff\r\n"), uint8(0), uint16(0))
	modes := []string{streamingUnsignedPayloadTrailer, streamingSignedPayload, streamingSignedPayloadTrailer}
	f.Fuzz(func(t *testing.T, body []byte, modeIndex uint8, chunkSize uint16) {
		if len(body) > 16<<10 {
			// Framing bugs show on small bodies; large ones only slow the
			// fuzzer (and its minimizer) down.
			t.Skip()
		}
		mode := modes[int(modeIndex)%len(modes)]
		for _, hdr := range []http.Header{trailerHeader, {}} {
			payload, _, err := decodeAWSChunked(body, mode, hdr, &cs)
			if err != nil {
				if _, ok := err.(*apiError); !ok {
					t.Fatalf("error %T %v", err, err)
				}
				continue
			}
			if len(payload) > len(body) {
				t.Fatalf("%d-byte payload from a %d-byte body", len(payload), len(body))
			}
		}

		// Round trip: body as a payload, framed unsigned with a checksum.
		size := int(chunkSize)%20000 + 1
		c := testChunker{trailer: [][2]string{{"x-amz-checksum-crc32", checksumOf("crc32", body)}}}
		framed := c.frame(t, body, size)
		rh := http.Header{"X-Amz-Trailer": {"x-amz-checksum-crc32"}, "X-Amz-Decoded-Content-Length": {strconv.Itoa(len(body))}}
		got, trailer, err := decodeAWSChunked(framed, streamingUnsignedPayloadTrailer, rh, nil)
		if err != nil || !bytes.Equal(got, body) || trailer.Get("X-Amz-Checksum-Crc32") == "" {
			t.Fatalf("round trip at chunk size %d: err %v, %d of %d bytes", size, err, len(got), len(body))
		}
	})
}

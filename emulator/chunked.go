package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strconv"
	"strings"
)

// This file decodes aws-chunked request bodies, the framing S3 clients use
// to stream a payload whose hash they do not know up front (S3's "Transferring
// Payload in Multiple Chunks" and "Signature calculations for trailing
// headers"):
//
//	body    = *chunk final-chunk [trailer] CRLF
//	chunk   = hex-size [";chunk-signature=" sig] CRLF data CRLF
//	final   = "0" [";chunk-signature=" sig] CRLF
//	trailer = *(name ":" value CRLF) ["x-amz-trailer-signature:" sig CRLF]
//
// With STREAMING-AWS4-HMAC-SHA256-PAYLOAD each chunk signs its data and the
// signature before it (the first chunk the request's own, the "seed"):
//
//	"AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope + "\n" + previous +
//	"\n" + hex(SHA-256("")) + "\n" + hex(SHA-256(data))
//
// and with ...-PAYLOAD-TRAILER the trailer is signed after the final chunk:
//
//	"AWS4-HMAC-SHA256-TRAILER\n" + amzDate + "\n" + scope + "\n" + previous +
//	"\n" + hex(SHA-256(each "name:value\n"))
//
// STREAMING-UNSIGNED-PAYLOAD-TRAILER sends the same framing without any
// signature; its integrity rests on the checksum in the trailer.

// maxChunkLine bounds a chunk header or trailer line; real ones are under
// 200 bytes.
const maxChunkLine = 4096

// emptySHA256 is hex(SHA-256("")), a fixed line of every chunk's string to
// sign.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// crc64NVMETable is the table of CRC-64/NVME (x-amz-checksum-crc64nvme),
// polynomial 0xad93d23594c93659 in the reversed form hash/crc64 takes. It is
// built once and only read.
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// aws-chunked errors. Signature problems answer 403 SignatureDoesNotMatch
// (errSignatureMismatch); a body that ends early 400 IncompleteBody; bad
// framing 400 InvalidRequest; a bad trailer 400 MalformedTrailerError; a
// trailer checksum that does not match the payload 400 BadDigest.
var (
	errChunkedIncomplete = &apiError{http.StatusBadRequest, "IncompleteBody",
		"The request body terminated unexpectedly: the aws-chunked body is truncated."}
	errChunkedTrailer = &apiError{http.StatusBadRequest, "MalformedTrailerError",
		"The request contained trailing data that was not well-formed or did not conform to our published schema."}
)

func chunkedMalformed(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "InvalidRequest", "The aws-chunked body is malformed: "+format, args...)
}

// chunkSigner holds what checking chunk and trailer signatures needs.
type chunkSigner struct {
	key     [sha256.Size]byte // signing key of the request
	amzDate string            // signing time, 20130524T000000Z
	scope   string            // 20130524/us-east-1/s3/aws4_request
	seed    string            // hex signature of the request itself
}

// chunkVerifier chains chunk signatures.
type chunkVerifier struct {
	cs   *chunkSigner
	prev [2 * sha256.Size]byte // hex signature of the previous chunk
}

func newChunkVerifier(cs *chunkSigner) chunkVerifier {
	v := chunkVerifier{cs: cs}
	copy(v.prev[:], cs.seed)
	return v
}

// verify checks sig (hex, as sent) against the signature of the next
// string to sign, made of kind ("AWS4-HMAC-SHA256-PAYLOAD" or
// "AWS4-HMAC-SHA256-TRAILER") and the hash of what is signed, and advances
// the chain.
func (v *chunkVerifier) verify(kind string, contentHash *[sha256.Size]byte, sig []byte) bool {
	var want [sha256.Size]byte
	if len(sig) != hex.EncodedLen(sha256.Size) {
		return false
	}
	if _, err := hex.Decode(want[:], sig); err != nil {
		return false
	}
	var buf [384]byte
	sts := append(buf[:0], kind...)
	sts = append(sts, '\n')
	sts = append(sts, v.cs.amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, v.cs.scope...)
	sts = append(sts, '\n')
	sts = append(sts, v.prev[:]...)
	sts = append(sts, '\n')
	if kind == "AWS4-HMAC-SHA256-PAYLOAD" {
		sts = append(sts, emptySHA256...)
		sts = append(sts, '\n')
	}
	sts = hex.AppendEncode(sts, contentHash[:])
	got := hmacSHA256(v.cs.key[:], sts)
	if !hmac.Equal(got[:], want[:]) {
		return false
	}
	hex.Encode(v.prev[:], got[:])
	return true
}

// decodeAWSChunked decodes an aws-chunked body sent with the payload hash
// mode (one of the three STREAMING-* values), checking chunk signatures
// with cs when mode is signed. h is the request's header: it gives
// x-amz-decoded-content-length, which the decoded length must equal when
// present, and x-amz-trailer, the trailing headers the body must end with
// (and the only ones it may carry). Trailing x-amz-checksum-* values of the
// algorithms S3 computes (crc32, crc32c, crc64nvme, sha1, sha256) are
// checked against the payload; others are passed on unchecked.
//
// It returns the payload and the trailing headers (nil when none), without
// x-amz-trailer-signature. Errors: 403 SignatureDoesNotMatch for a missing
// or wrong chunk or trailer signature; 400 IncompleteBody for a body that
// ends early or decodes to another length than declared; 400 InvalidRequest
// for bad framing or data after the end; 400 MalformedTrailerError for a
// trailer that is malformed, undeclared or missing; 400 BadDigest for a
// checksum that does not match.
//
// As in AWS's published example, an empty line between the final chunk and
// the trailer is tolerated.
func decodeAWSChunked(body []byte, mode string, h http.Header, cs *chunkSigner) ([]byte, http.Header, error) {
	signed := mode != streamingUnsignedPayloadTrailer
	withTrailer := mode != streamingSignedPayload

	declaredLen := int64(-1)
	if v := h.Get("X-Amz-Decoded-Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, nil, errorf(http.StatusBadRequest, "InvalidArgument",
				"x-amz-decoded-content-length must be a non-negative integer.")
		}
		declaredLen = n
	}
	declared := declaredTrailers(h)

	var verifier chunkVerifier
	if signed {
		verifier = newChunkVerifier(cs)
	}
	size := len(body)
	if declaredLen >= 0 && declaredLen < int64(size) {
		size = int(declaredLen)
	}
	payload := make([]byte, 0, size)

	// Chunks.
	pos := 0
	for {
		line, next, err := chunkLine(body, pos)
		if err != nil {
			return nil, nil, err
		}
		sizeField, ext, hasExt := bytes.Cut(line, []byte{';'})
		n, ok := parseChunkSize(sizeField)
		if !ok {
			return nil, nil, chunkedMalformed("invalid chunk size.")
		}
		if n > int64(len(body)-next) {
			return nil, nil, errChunkedIncomplete
		}
		data := body[next : next+int(n)]
		if signed {
			sig, ok := bytes.CutPrefix(ext, []byte("chunk-signature="))
			if !hasExt || !ok {
				return nil, nil, errSignatureMismatch
			}
			sum := sha256.Sum256(data)
			if !verifier.verify("AWS4-HMAC-SHA256-PAYLOAD", &sum, sig) {
				return nil, nil, errSignatureMismatch
			}
		}
		if n == 0 {
			pos = next
			break
		}
		payload = append(payload, data...)
		pos = next + int(n)
		switch {
		case len(body)-pos < 2:
			return nil, nil, errChunkedIncomplete
		case body[pos] != '\r' || body[pos+1] != '\n':
			return nil, nil, chunkedMalformed("chunk data is not followed by CRLF.")
		}
		pos += 2
	}

	// Trailer.
	var trailer http.Header
	var canonical []byte // "name:value\n" of each trailing header, for its signature
	var trailerSig []byte
	skippedBlank := false
	for {
		line, next, err := chunkLine(body, pos)
		if err != nil {
			return nil, nil, err
		}
		pos = next
		if len(line) == 0 {
			if withTrailer && !skippedBlank && trailer == nil && trailerSig == nil && pos < len(body) {
				skippedBlank = true
				continue
			}
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !withTrailer || trailerSig != nil {
			return nil, nil, errChunkedTrailer
		}
		lname := strings.ToLower(string(bytes.TrimSpace(name)))
		value = bytes.TrimSpace(value)
		if lname == "x-amz-trailer-signature" {
			if !signed {
				return nil, nil, errChunkedTrailer
			}
			trailerSig = value
			continue
		}
		if !containsString(declared, lname) || trailer.Get(lname) != "" {
			return nil, nil, errChunkedTrailer
		}
		if trailer == nil {
			trailer = make(http.Header, len(declared))
		}
		trailer.Set(lname, string(value))
		canonical = append(canonical, lname...)
		canonical = append(canonical, ':')
		canonical = append(canonical, value...)
		canonical = append(canonical, '\n')
	}
	if pos != len(body) {
		return nil, nil, chunkedMalformed("data follows the end of the body.")
	}
	for _, name := range declared {
		if trailer.Get(name) == "" {
			return nil, nil, errChunkedTrailer
		}
	}
	if signed && withTrailer && (trailer != nil || trailerSig != nil) {
		sum := sha256.Sum256(canonical)
		if !verifier.verify("AWS4-HMAC-SHA256-TRAILER", &sum, trailerSig) {
			return nil, nil, errSignatureMismatch
		}
	}
	// Checksums after the trailer signature: a forged trailer is a
	// signature problem, not a digest one.
	for _, name := range declared {
		if err := verifyChecksum(name, trailer.Get(name), payload); err != nil {
			return nil, nil, err
		}
	}
	if declaredLen >= 0 && declaredLen != int64(len(payload)) {
		return nil, nil, errorf(http.StatusBadRequest, "IncompleteBody",
			"The aws-chunked body decodes to %d bytes, not the %d of x-amz-decoded-content-length.", len(payload), declaredLen)
	}
	return payload, trailer, nil
}

// chunkLine returns the line of body that starts at pos, without its CRLF,
// and the position after the CRLF.
func chunkLine(body []byte, pos int) (line []byte, next int, err error) {
	rest := body[pos:]
	if len(rest) > maxChunkLine+2 {
		rest = rest[:maxChunkLine+2]
	}
	i := bytes.Index(rest, []byte("\r\n"))
	if i < 0 {
		if len(rest) > maxChunkLine {
			return nil, 0, chunkedMalformed("a chunk header or trailer line is too long.")
		}
		return nil, 0, errChunkedIncomplete
	}
	return rest[:i], pos + i + 2, nil
}

// parseChunkSize parses a hex chunk size. Sizes beyond any body saturate,
// so that the caller reports them as a truncated body.
func parseChunkSize(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const limit = 1 << 48
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		if n < limit {
			n = n<<4 | int64(d)
		}
	}
	return n, true
}

// declaredTrailers returns the lowercase names listed by x-amz-trailer.
func declaredTrailers(h http.Header) []string {
	var names []string
	for _, v := range h.Values("X-Amz-Trailer") {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
				names = append(names, name)
			}
		}
	}
	return names
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// verifyChecksum checks the trailing header name: value against data when
// name is an x-amz-checksum-* of an algorithm it knows.
func verifyChecksum(name, value string, data []byte) error {
	alg, ok := strings.CutPrefix(name, "x-amz-checksum-")
	if !ok {
		return nil
	}
	var sum []byte
	switch alg {
	case "crc32":
		sum = binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case "crc32c":
		sum = binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	case "crc64nvme":
		sum = binary.BigEndian.AppendUint64(nil, crc64.Checksum(data, crc64NVMETable))
	case "sha1":
		s := sha1.Sum(data)
		sum = s[:]
	case "sha256":
		s := sha256.Sum256(data)
		sum = s[:]
	default:
		return nil
	}
	got, err := base64.StdEncoding.DecodeString(value)
	if err != nil || len(got) != len(sum) {
		return errorf(http.StatusBadRequest, "InvalidRequest", "Value for %s trailing header is invalid.", name)
	}
	if !bytes.Equal(got, sum) {
		return errorf(http.StatusBadRequest, "BadDigest",
			"The %s you specified did not match the calculated checksum.", strings.ToUpper(alg))
	}
	return nil
}

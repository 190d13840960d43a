package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file verifies AWS Signature Version 4 on the server side, written
// from the SigV4 specification ("Create a canonical request for Signature
// Version 4" and S3's "Authenticating Requests (AWS Signature Version 4)").
//
// A signature is HMAC-SHA256(signingKey, stringToSign), where
//
//	signingKey   = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
//	stringToSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex(SHA-256(canonicalRequest))
//	scope        = date + "/" + region + "/" + service + "/aws4_request"
//
// and the canonical request is
//
//	method \n canonicalURI \n canonicalQuery \n canonicalHeaders \n signedHeaders \n payloadHash
//
// The server cannot know which headers the client signed, so it rebuilds the
// canonical request from the client's own SignedHeaders list and the values
// it received; any difference between what was signed and what arrived then
// shows as a signature mismatch.

// SigV4 names and limits.
const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	sigTerminator = "aws4_request"
	amzDateLayout = "20060102T150405Z"

	// maxClockSkew is how far the signing time of a header-signed request
	// may be from the wall clock.
	maxClockSkew = 15 * time.Minute
	// maxPresignExpires is the longest validity of a presigned URL, in
	// seconds (seven days).
	maxPresignExpires = 604800
	// defaultPresignExpires is the validity of a presigned URL of a service
	// other than S3 that names no X-Amz-Expires.
	defaultPresignExpires = 900
)

// Payload hash values of x-amz-content-sha256 other than a hex SHA-256.
const (
	unsignedPayload                 = "UNSIGNED-PAYLOAD"
	streamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	streamingSignedPayload          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedPayloadTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
)

// Query parameters of a presigned URL.
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
)

// Authentication errors beyond those in errors.go. None of them carries a
// secret, a session token or a signature.
var (
	errRequestTimeTooSkewed = &apiError{http.StatusForbidden, "RequestTimeTooSkewed",
		"The difference between the request time and the current time is too large."}
	errRequestExpired  = &apiError{http.StatusForbidden, "AccessDenied", "Request has expired"}
	errRequestNotValid = &apiError{http.StatusForbidden, "AccessDenied", "Request is not valid yet"}
	errMissingDate     = &apiError{http.StatusForbidden, "AccessDenied",
		"AWS authentication requires a valid Date or x-amz-date header"}
	errMissingSessionToken = &apiError{http.StatusForbidden, "InvalidAccessKeyId",
		"The AWS Access Key Id you provided does not exist in our records (the session token of these temporary credentials is missing)."}
	errContentSHA256Mismatch = &apiError{http.StatusBadRequest, "XAmzContentSHA256Mismatch",
		"The provided 'x-amz-content-sha256' header does not match what was computed."}
	errInvalidContentSHA256 = &apiError{http.StatusBadRequest, "InvalidArgument",
		"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value."}
	errTwoAuthMechanisms = &apiError{http.StatusBadRequest, "InvalidArgument",
		"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified"}
	errPresignMissingParams = &apiError{http.StatusBadRequest, "AuthorizationQueryParametersError",
		"Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."}
)

// headerMalformed is the error of an Authorization header that cannot be
// parsed; presigned URLs get queryMalformed instead.
func headerMalformed(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "AuthorizationHeaderMalformed", format, args...)
}

func queryMalformed(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "AuthorizationQueryParametersError", format, args...)
}

// sigCredential is what the server knows about an access key.
type sigCredential struct {
	Secret       string // secret access key
	SessionToken string // "" for long-term keys; temporary keys must present exactly this token
}

// keyLookup finds the credential of an access key ID; ok is false when the
// key is unknown.
type keyLookup func(accessKeyID string) (c sigCredential, ok bool)

// sigInfo is what a verified request was signed with.
type sigInfo struct {
	AccessKeyID string
	Region      string // from the credential scope
	Service     string // from the credential scope ("s3", "sts", ...)
	SigningTime time.Time
	Presigned   bool
	PayloadHash string // the declared x-amz-content-sha256, or the computed body hash when absent
}

// verifyOptions tune one verification.
type verifyOptions struct {
	// Wall is real time, for the 15-minute skew check of header-signed
	// requests; the zero value means time.Now().
	Wall time.Time
	// Now is the emulator's (advanceable) clock, for presigned-URL expiry;
	// the zero value means Wall.
	Now time.Time
	// EscapePath selects the canonical URI: true, the raw path URI-encoded
	// once more (the SDKs' default); false, the raw path as sent (the SDKs'
	// DisableURIPathEscaping, which S3 and, through the disableDoubleEncoding
	// of its endpoint rules, S3 Control use).
	EscapePath bool
	// Keys, when set, remembers signing keys across verifications, which
	// saves four of the six HMACs of each; nil derives every key afresh.
	Keys *sigKeyCache
}

// sigParams is the parsed signature of a request: Authorization header or
// presigned query.
type sigParams struct {
	accessKeyID   string
	date          string // scope date, YYYYMMDD
	region        string
	service       string
	scope         string // date/region/service/aws4_request
	signedHeaders string // as sent, ';'-separated
	signature     string // hex, as sent
	amzDate       string // signing time in amzDateLayout
	signingTime   time.Time
	presigned     bool
	expires       int64 // seconds; presigned only
	token         string
}

// verifySigV4 checks the SigV4 signature of r, header form (Authorization:
// AWS4-HMAC-SHA256 ...) or presigned query form
// (X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=...&X-Amz-Signature=...).
// body is the full raw request body, already read by the caller; r.Body is
// not read. It returns what the request was signed with and the payload:
// body itself, or for aws-chunked bodies the decoded bytes and the trailing
// headers (x-amz-checksum-crc32 and the like), whose checksums it has
// verified.
//
// Errors are *apiError values with S3's codes; checks run in this order:
//
//   - no signature at all: errMissingAuth (403 AccessDenied);
//   - unparsable signature: 400 AuthorizationHeaderMalformed (header form)
//     or AuthorizationQueryParametersError (presigned); a header-signed
//     request with neither a valid x-amz-date nor Date header: 403
//     AccessDenied;
//   - unknown key: 403 InvalidAccessKeyId; a temporary key without its
//     session token: 403 InvalidAccessKeyId; a different token: 400
//     InvalidToken;
//   - wrong signature: 403 SignatureDoesNotMatch;
//   - header form more than 15 minutes from opt.Wall: 403
//     RequestTimeTooSkewed; presigned URL expired at opt.Now: 403
//     AccessDenied "Request has expired";
//   - payload: a hex x-amz-content-sha256 that is not the body's: 400
//     XAmzContentSHA256Mismatch; an unknown value: 400 InvalidArgument;
//     aws-chunked errors as listed at decodeAWSChunked.
//
// The time checks come after the signature check so that only a holder of
// the secret learns that a request is late.
func verifySigV4(r *http.Request, body []byte, lookup keyLookup, opt verifyOptions) (*sigInfo, []byte, http.Header, error) {
	if opt.Wall.IsZero() {
		opt.Wall = time.Now()
	}
	if opt.Now.IsZero() {
		opt.Now = opt.Wall
	}
	var rawQuery string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	var queryBuf [16]sigQueryParam
	query := parseSigQuery(rawQuery, queryBuf[:0])

	var p sigParams
	var err error
	auth := r.Header.Get("Authorization")
	switch {
	case auth != "":
		if query.has(qAlgorithm) || query.has(qSignature) || query.has(qCredential) {
			return nil, nil, nil, errTwoAuthMechanisms
		}
		p, err = parseAuthorization(auth, r.Header)
	case query.has(qSignature) || query.has(qAlgorithm) || query.has(qCredential):
		p, err = parsePresigned(query, r.Header)
	default:
		return nil, nil, nil, errMissingAuth
	}
	if err != nil {
		return nil, nil, nil, err
	}

	cred, ok := lookup(p.accessKeyID)
	if !ok {
		return nil, nil, nil, errInvalidAccessKeyID
	}
	switch {
	case p.token == "" && cred.SessionToken != "":
		return nil, nil, nil, errMissingSessionToken
	case p.token != "" && subtle.ConstantTimeCompare([]byte(p.token), []byte(cred.SessionToken)) != 1:
		return nil, nil, nil, errInvalidToken
	}

	// The payload hash of the canonical request: declared by the client (a
	// presigned URL may carry it in its query), or implied by the form of
	// the request.
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if declared == "" && p.presigned {
		declared, _ = query.get("X-Amz-Content-Sha256")
	}
	payloadHash := declared
	if payloadHash == "" {
		if p.presigned && p.service == "s3" {
			payloadHash = unsignedPayload
		} else {
			sum := sha256.Sum256(body)
			payloadHash = hex.EncodeToString(sum[:])
		}
	}

	var want [sha256.Size]byte
	if len(p.signature) != hex.EncodedLen(sha256.Size) {
		return nil, nil, nil, errSignatureMismatch
	}
	if _, err := hex.Decode(want[:], []byte(p.signature)); err != nil {
		return nil, nil, nil, errSignatureMismatch
	}
	key := opt.Keys.signingKey(cred.Secret, p.date, p.region, p.service)
	path := canonicalPath(r, opt.EscapePath)
	got := computeSignature(&key, r, &p, query, path, payloadHash)
	if !hmac.Equal(got[:], want[:]) {
		// S3 compares against the path as its own encoder would write it,
		// so a client that left a character such as '$' unescaped in the
		// request line still verifies.
		alt := ""
		if !opt.EscapePath {
			alt = normalizeS3Path(path)
		}
		if alt == "" || alt == path {
			return nil, nil, nil, errSignatureMismatch
		}
		got = computeSignature(&key, r, &p, query, alt, payloadHash)
		if !hmac.Equal(got[:], want[:]) {
			return nil, nil, nil, errSignatureMismatch
		}
	}

	if p.presigned {
		if opt.Now.After(p.signingTime.Add(time.Duration(p.expires) * time.Second)) {
			return nil, nil, nil, errRequestExpired
		}
		if p.signingTime.Sub(opt.Now) > maxClockSkew {
			return nil, nil, nil, errRequestNotValid
		}
	} else if d := opt.Wall.Sub(p.signingTime); d > maxClockSkew || d < -maxClockSkew {
		return nil, nil, nil, errRequestTimeTooSkewed
	}

	info := &sigInfo{
		AccessKeyID: p.accessKeyID,
		Region:      p.region,
		Service:     p.service,
		SigningTime: p.signingTime,
		Presigned:   p.presigned,
		PayloadHash: payloadHash,
	}

	switch declared {
	case "", unsignedPayload:
		return info, body, nil, nil
	case streamingUnsignedPayloadTrailer, streamingSignedPayload, streamingSignedPayloadTrailer:
		cs := chunkSigner{
			key:     key,
			amzDate: p.amzDate,
			scope:   p.scope,
			seed:    hex.EncodeToString(got[:]),
		}
		payload, trailer, err := decodeAWSChunked(body, declared, r.Header, &cs)
		if err != nil {
			return nil, nil, nil, err
		}
		return info, payload, trailer, nil
	}
	var declaredSum [sha256.Size]byte
	if len(declared) != hex.EncodedLen(sha256.Size) {
		return nil, nil, nil, errInvalidContentSHA256
	}
	if _, err := hex.Decode(declaredSum[:], []byte(declared)); err != nil {
		return nil, nil, nil, errInvalidContentSHA256
	}
	if sha256.Sum256(body) != declaredSum {
		return nil, nil, nil, errContentSHA256Mismatch
	}
	return info, body, nil, nil
}

// parseAuthorization parses the header form:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex
//
// The signing time comes from x-amz-date, or else from Date.
func parseAuthorization(auth string, h http.Header) (sigParams, error) {
	var p sigParams
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != sigAlgorithm {
		return p, headerMalformed("The authorization header is malformed; the authorization mechanism %s is not supported, use %s.", quoteShort(alg), sigAlgorithm)
	}
	var credential string
	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			// Not echoed: it may be a bare signature.
			return p, headerMalformed("The authorization header is malformed; a component is not of the form name=value.")
		}
		switch strings.TrimSpace(name) {
		case "Credential":
			credential, haveCred = strings.TrimSpace(value), true
		case "SignedHeaders":
			p.signedHeaders, haveSigned = strings.TrimSpace(value), true
		case "Signature":
			p.signature, haveSig = strings.TrimSpace(value), true
		default:
			return p, headerMalformed("The authorization header is malformed; the component %s is unknown.", quoteShort(name))
		}
	}
	switch {
	case !haveCred:
		return p, headerMalformed("The authorization header is malformed; it lacks the Credential component.")
	case !haveSigned:
		return p, headerMalformed("The authorization header is malformed; it lacks the SignedHeaders component.")
	case !haveSig:
		return p, headerMalformed("The authorization header is malformed; it lacks the Signature component.")
	}
	if err := p.parseCredential(credential); err != "" {
		return p, headerMalformed("The authorization header is malformed; %s", err)
	}
	if err := checkSignedHeaders(p.signedHeaders); err != "" {
		return p, headerMalformed("The authorization header is malformed; %s", err)
	}

	if v := h.Get("X-Amz-Date"); v != "" {
		t, ok := parseAmzDate(v)
		if !ok {
			return p, errMissingDate
		}
		p.amzDate, p.signingTime = v, t
	} else if v := h.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return p, errMissingDate
		}
		p.signingTime = t.UTC()
		p.amzDate = p.signingTime.Format(amzDateLayout)
	} else {
		return p, errMissingDate
	}
	if p.amzDate[:8] != p.date {
		return p, headerMalformed("The authorization header is malformed; the credential date %s does not match the request date %s.", p.date, p.amzDate[:8])
	}
	p.token = h.Get("X-Amz-Security-Token")
	return p, nil
}

// parsePresigned parses the presigned query form.
func parsePresigned(q sigQuery, h http.Header) (sigParams, error) {
	p := sigParams{presigned: true}
	alg, okAlg := q.get(qAlgorithm)
	credential, okCred := q.get(qCredential)
	amzDate, okDate := q.get(qDate)
	expires, okExp := q.get(qExpires)
	p.signedHeaders, _ = q.get(qSignedHeaders)
	p.signature, _ = q.get(qSignature)
	if !okAlg || !okCred || !okDate || !q.has(qSignedHeaders) || !q.has(qSignature) {
		return p, errPresignMissingParams
	}
	if alg != sigAlgorithm {
		return p, queryMalformed("X-Amz-Algorithm only supports \"%s\".", sigAlgorithm)
	}
	if err := p.parseCredential(credential); err != "" {
		return p, queryMalformed("Error parsing the X-Amz-Credential parameter; %s", err)
	}
	if err := checkSignedHeaders(p.signedHeaders); err != "" {
		return p, queryMalformed("Error parsing the X-Amz-SignedHeaders parameter; %s", err)
	}
	t, ok := parseAmzDate(amzDate)
	if !ok {
		return p, queryMalformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".")
	}
	p.amzDate, p.signingTime = amzDate, t
	if p.amzDate[:8] != p.date {
		return p, queryMalformed("Error parsing the X-Amz-Credential parameter; the credential date %s does not match the date of X-Amz-Date %s.", p.date, p.amzDate[:8])
	}
	switch {
	case okExp:
		n, err := strconv.ParseInt(expires, 10, 64)
		if err != nil {
			if !isDigits(expires) {
				return p, queryMalformed("X-Amz-Expires should be a number.")
			}
			n = maxPresignExpires + 1 // too large for an int64
		}
		switch {
		case n < 1:
			return p, queryMalformed("X-Amz-Expires must be positive.")
		case n > maxPresignExpires:
			return p, queryMalformed("X-Amz-Expires must be less than a week (in seconds) that is 604800.")
		}
		p.expires = n
	case p.service == "s3":
		return p, errPresignMissingParams
	default:
		p.expires = defaultPresignExpires
	}
	p.token, _ = q.get(qSecurityToken)
	if p.token == "" {
		p.token = h.Get("X-Amz-Security-Token")
	}
	return p, nil
}

// parseCredential parses AKID/date/region/service/aws4_request into p. It
// splits from the right, so that an access key ID holding a '/' survives.
// It returns a description of what is wrong, or "".
func (p *sigParams) parseCredential(c string) string {
	var parts [4]string
	rest := c
	for i := 3; i >= 0; i-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return "the Credential must have the form <key>/<YYYYMMDD>/<region>/<service>/aws4_request."
		}
		parts[i], rest = rest[j+1:], rest[:j]
	}
	p.accessKeyID = rest
	p.date, p.region, p.service = parts[0], parts[1], parts[2]
	switch {
	case p.accessKeyID == "":
		return "the Credential names no access key."
	case len(p.date) != 8 || !isDigits(p.date):
		return "the Credential date must be in the form YYYYMMDD."
	case p.region == "":
		return "the Credential names no region."
	case p.service == "":
		return "the Credential names no service."
	case parts[3] != sigTerminator:
		return "the Credential must end with aws4_request, not " + quoteShort(parts[3]) + "."
	}
	p.scope = c[len(rest)+1:]
	return ""
}

// checkSignedHeaders checks the SignedHeaders list: non-empty names,
// "host" among them. It returns a description of what is wrong, or "".
func checkSignedHeaders(list string) string {
	host := false
	for rest := list; ; {
		name, more, found := strings.Cut(rest, ";")
		if name == "" {
			return "the SignedHeaders list has an empty header name."
		}
		if len(name) == 4 && strings.EqualFold(name, "host") {
			host = true
		}
		if !found {
			break
		}
		rest = more
	}
	if !host {
		return "the host header must be signed (SignedHeaders lacks host)."
	}
	return ""
}

// deriveSigningKey computes the SigV4 signing key of a secret for one day,
// Region and service.
func deriveSigningKey(secret, date, region, service string) [sha256.Size]byte {
	var buf [64]byte
	k0 := append(append(buf[:0], "AWS4"...), secret...)
	k := hmacSHA256(k0, date)
	k = hmacSHA256(k[:], region)
	k = hmacSHA256(k[:], service)
	return hmacSHA256(k[:], sigTerminator)
}

// sigKeyCache remembers derived signing keys. A key depends on the secret,
// the day, the Region and the service, so one entry serves every request of
// a client for a day. It is safe for concurrent use; a nil *sigKeyCache
// derives every key.
type sigKeyCache struct {
	mu   sync.Mutex
	max  int
	keys map[sigKeyID][sha256.Size]byte
}

type sigKeyID struct {
	secret, date, region, service string
}

// newSigKeyCache returns a cache of at most max keys; when full, it starts
// over, which costs one derivation per key and bounds its memory.
func newSigKeyCache(max int) *sigKeyCache {
	return &sigKeyCache{max: max, keys: make(map[sigKeyID][sha256.Size]byte)}
}

// signingKey returns the signing key of secret for date, region and
// service.
func (c *sigKeyCache) signingKey(secret, date, region, service string) [sha256.Size]byte {
	if c == nil {
		return deriveSigningKey(secret, date, region, service)
	}
	id := sigKeyID{secret, date, region, service}
	c.mu.Lock()
	key, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = deriveSigningKey(secret, date, region, service)
	c.mu.Lock()
	if len(c.keys) >= c.max {
		clear(c.keys)
	}
	c.keys[id] = key
	c.mu.Unlock()
	return key
}

// hmacSHA256 computes HMAC-SHA256 (RFC 2104) of a string. It is written out
// with sha256.Sum256 over stack buffers, rather than with crypto/hmac, so
// that the five HMACs of every verification do not allocate.
func hmacSHA256[T string | []byte](key []byte, msg T) [sha256.Size]byte {
	var k [sha256.BlockSize]byte
	if len(key) > len(k) {
		sum := sha256.Sum256(key)
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}
	var ibuf [sha256.BlockSize + 384]byte
	in := ibuf[:0]
	if n := len(k) + len(msg); n > len(ibuf) {
		in = make([]byte, 0, n)
	}
	for _, c := range k {
		in = append(in, c^0x36)
	}
	in = append(in, msg...)
	inner := sha256.Sum256(in)

	var out [sha256.BlockSize + sha256.Size]byte
	for i, c := range k {
		out[i] = c ^ 0x5c
	}
	copy(out[sha256.BlockSize:], inner[:])
	return sha256.Sum256(out[:])
}

// computeSignature returns the signature of r for the given canonical path
// and payload hash.
func computeSignature(key *[sha256.Size]byte, r *http.Request, p *sigParams, q sigQuery, path, payloadHash string) [sha256.Size]byte {
	var buf [2048]byte
	cr := appendCanonicalRequest(buf[:0], r, p, q, path, payloadHash)
	crHash := sha256.Sum256(cr)

	// Reuse the buffer for the string to sign.
	sts := cr[:0]
	sts = append(sts, sigAlgorithm...)
	sts = append(sts, '\n')
	sts = append(sts, p.amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, p.scope...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, crHash[:])
	return hmacSHA256(key[:], sts)
}

// appendCanonicalRequest appends the canonical request of r to dst.
func appendCanonicalRequest(dst []byte, r *http.Request, p *sigParams, q sigQuery, path, payloadHash string) []byte {
	dst = append(dst, r.Method...)
	dst = append(dst, '\n')
	dst = append(dst, path...)
	dst = append(dst, '\n')
	dst = q.appendCanonical(dst, p.presigned)
	dst = append(dst, '\n')

	// Canonical headers: one line per signed header, in the client's order.
	for rest := p.signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		name = strings.ToLower(name) // allocates only when the client sent capitals
		dst = append(dst, name...)
		dst = append(dst, ':')
		dst = appendHeaderValue(dst, r, name)
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')

	start := len(dst)
	dst = append(dst, p.signedHeaders...)
	lowerASCII(dst[start:])
	dst = append(dst, '\n')
	dst = append(dst, payloadHash...)
	return dst
}

// appendHeaderValue appends the canonical value of the lowercase header
// name: values trimmed, inner runs of spaces collapsed, several values
// joined with ",".
func appendHeaderValue(dst []byte, r *http.Request, name string) []byte {
	switch name {
	case "host":
		return appendTrimmedValue(dst, r.Host)
	case "content-length":
		if vs := r.Header["Content-Length"]; len(vs) > 0 {
			return appendTrimmedValue(dst, vs[0])
		}
		if r.ContentLength >= 0 {
			return strconv.AppendInt(dst, r.ContentLength, 10)
		}
		return dst
	}
	for i, v := range headerValues(r.Header, name) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendTrimmedValue(dst, v)
	}
	return dst
}

// appendTrimmedValue appends v without leading and trailing whitespace and
// with each inner run of spaces reduced to one.
func appendTrimmedValue(dst []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// headerValues returns the values of the lowercase header name. net/http
// stores header names in canonical MIME form (X-Amz-Date), which is built in
// a stack buffer so that the lookup does not allocate.
func headerValues(h http.Header, name string) []string {
	var buf [128]byte
	if len(name) > len(buf) {
		return h.Values(name)
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTokenByte(c) {
			// net/http keeps names that are not valid tokens as sent.
			return h[name]
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return h[string(b)]
}

// isTokenByte reports whether c may appear in an HTTP header name (RFC 7230
// tchar).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
}

// canonicalPath returns the canonical URI of r: the path of the raw request
// URI, URI-encoded once more when escape is set.
func canonicalPath(r *http.Request, escape bool) string {
	path := r.RequestURI
	if path == "" {
		if r.URL != nil {
			path = r.URL.EscapedPath()
		}
	} else {
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		// Absolute-form request target (http://host/path): keep the path.
		if path != "" && path[0] != '/' {
			if i := strings.Index(path, "://"); i >= 0 {
				rest := path[i+3:]
				if j := strings.IndexByte(rest, '/'); j >= 0 {
					path = rest[j:]
				} else {
					path = "/"
				}
			}
		}
	}
	if path == "" {
		path = "/"
	}
	if escape {
		return string(appendURIEncode(nil, path, false))
	}
	return path
}

// normalizeS3Path decodes the percent-escapes of a raw path and encodes it
// again the way SigV4 clients do; it returns "" when the path holds an
// invalid escape.
func normalizeS3Path(path string) string {
	dec, err := url.PathUnescape(path)
	if err != nil {
		return ""
	}
	return string(appendURIEncode(make([]byte, 0, len(path)+16), dec, false))
}

// appendURIEncode appends s URI-encoded per SigV4: every byte but the RFC
// 3986 unreserved characters (and '/' unless encodeSlash) becomes %XX with
// uppercase hex.
func appendURIEncode(dst []byte, s string, encodeSlash bool) []byte {
	const upperHex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !encodeSlash) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseAmzDate parses the ISO 8601 basic format of x-amz-date
// (20130524T000000Z) strictly.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) || s[8] != 'T' || s[15] != 'Z' ||
		!isDigits(s[:8]) || !isDigits(s[9:15]) {
		return time.Time{}, false
	}
	num := func(s string) int {
		n := 0
		for i := 0; i < len(s); i++ {
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	year, month, day := num(s[0:4]), num(s[4:6]), num(s[6:8])
	hour, minute, sec := num(s[9:11]), num(s[11:13]), num(s[13:15])
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	// time.Date normalizes out-of-range fields (month 13); reject them.
	if t.Year() != year || int(t.Month()) != month || t.Day() != day ||
		t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		return time.Time{}, false
	}
	return t, true
}

// quoteShort quotes a client-supplied name for an error message. Long
// values are cut, so that a message never echoes a long header (or a
// signature put where a name belongs) back.
func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:16] + "..."
	}
	return strconv.Quote(s)
}

// sigQuery is a request's query string split into decoded parameters, in
// the order sent.
type sigQuery []sigQueryParam

type sigQueryParam struct {
	key, value string
}

// parseSigQuery splits a raw query, appending to q. A '+' decodes as a
// space, like in forms; a component with an invalid escape is kept as sent.
// Unlike url.ParseQuery, ';' is an ordinary character.
func parseSigQuery(raw string, q sigQuery) sigQuery {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		q = append(q, sigQueryParam{key: queryUnescape(k), value: queryUnescape(v)})
	}
	return q
}

func queryUnescape(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// get returns the first value of key.
func (q sigQuery) get(key string) (string, bool) {
	for _, p := range q {
		if p.key == key {
			return p.value, true
		}
	}
	return "", false
}

func (q sigQuery) has(key string) bool {
	_, ok := q.get(key)
	return ok
}

// appendCanonical appends the canonical query string: every parameter
// (except X-Amz-Signature of a presigned URL) URI-encoded, sorted by
// encoded name and then encoded value, joined with '&'.
func (q sigQuery) appendCanonical(dst []byte, presigned bool) []byte {
	if len(q) == 0 {
		return dst
	}
	// Encode every parameter once into one buffer and sort spans of it.
	type span struct{ k0, k1, v1 int }
	var spanBuf [16]span
	spans := spanBuf[:0]
	enc := make([]byte, 0, 256)
	for _, p := range q {
		if presigned && p.key == qSignature {
			continue
		}
		k0 := len(enc)
		enc = appendURIEncode(enc, p.key, true)
		k1 := len(enc)
		enc = appendURIEncode(enc, p.value, true)
		spans = append(spans, span{k0, k1, len(enc)})
	}
	slices.SortFunc(spans, func(a, b span) int {
		if c := bytes.Compare(enc[a.k0:a.k1], enc[b.k0:b.k1]); c != 0 {
			return c
		}
		return bytes.Compare(enc[a.k1:a.v1], enc[b.k1:b.v1])
	})
	for i, s := range spans {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, enc[s.k0:s.k1]...)
		dst = append(dst, '=')
		dst = append(dst, enc[s.k1:s.v1]...)
	}
	return dst
}

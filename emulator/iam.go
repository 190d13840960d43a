package emulator

import (
	"context"
	"crypto/rand"
	"fmt"
	"hash/fnv"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// caller is the authenticated identity behind a request.
type caller struct {
	AccessKeyID string
	// Account is the account the caller belongs to.
	Account string
	// ARN is what GetCallerIdentity reports: a user or role ARN, or an
	// assumed-role session arn:aws:sts::A:assumed-role/R/S.
	ARN string
	// Identity is the IAM identity that grants are matched against: the
	// user or role ARN (an assumed-role session is its role).
	Identity string
	// UserID is GetCallerIdentity's UserId.
	UserID string
	// allow is what the caller may do as an IAM principal or role session.
	allow []Statement
	// grant is set for Access Grants credentials: they may do only what it
	// covers, and nothing through IAM.
	grant *vendedGrant
	// expires is the expiry of temporary credentials (zero for long-term).
	expires time.Time
}

// vendedGrant is what Access Grants credentials may reach.
type vendedGrant struct {
	// Permission is READ, WRITE or READWRITE.
	Permission string
	// Scope is the matched grant scope (Privilege Default) or the requested
	// target (Minimal), e.g. s3://bucket/prefix/* or s3://bucket/key.
	Scope string
	// Bucket is the bucket of Scope.
	Bucket string
}

// principal is a configured IAM user or role with a long-term key.
type principal struct {
	Principal
	Account string
	userID  string // GetCallerIdentity's UserId, computed once
}

// tempKey is a temporary access key: an STS AssumeRole session or Access
// Grants credentials. The emulator remembers each one with its scope.
type tempKey struct {
	AccessKeyID  string
	Secret       string
	SessionToken string
	Expires      time.Time
	caller       caller
}

// identities holds every key the emulator accepts.
type identities struct {
	mu        sync.RWMutex
	principal map[string]*principal // by access key ID
	temp      map[string]*tempKey   // by access key ID
	roles     map[string]Role       // by ARN
	accounts  map[string]bool
	issued    int
}

// sweepAfter is how long after its expiry a temporary key is forgotten.
// Until then it is answered with ExpiredToken.
const sweepAfter = 7 * 24 * time.Hour

func newIdentities(cfg *Config) *identities {
	ids := &identities{
		principal: map[string]*principal{},
		temp:      map[string]*tempKey{},
		roles:     map[string]Role{},
		accounts:  map[string]bool{},
	}
	for _, a := range cfg.Accounts {
		ids.accounts[a.ID] = true
		for _, p := range a.Principals {
			ids.principal[p.AccessKeyID] = &principal{Principal: p, Account: a.ID, userID: userID(p.ARN)}
		}
		for _, r := range a.Roles {
			ids.roles[r.ARN] = r
		}
	}
	return ids
}

// lookup implements keyLookup for SigV4 verification.
func (ids *identities) lookup(accessKeyID string) (sigCredential, bool) {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	if p, ok := ids.principal[accessKeyID]; ok {
		return sigCredential{Secret: p.SecretAccessKey}, true
	}
	if t, ok := ids.temp[accessKeyID]; ok {
		return sigCredential{Secret: t.Secret, SessionToken: t.SessionToken}, true
	}
	return sigCredential{}, false
}

// caller returns the identity behind an access key the request was signed
// with (verified before).
func (ids *identities) caller(accessKeyID string) (*caller, bool) {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	if p, ok := ids.principal[accessKeyID]; ok {
		return &caller{
			AccessKeyID: accessKeyID,
			Account:     p.Account,
			ARN:         p.ARN,
			Identity:    p.ARN,
			UserID:      p.userID,
			allow:       p.Allow,
		}, true
	}
	if t, ok := ids.temp[accessKeyID]; ok {
		c := t.caller
		c.AccessKeyID = accessKeyID
		c.expires = t.Expires
		return &c, true
	}
	return nil, false
}

// role returns a configured role.
func (ids *identities) role(arn string) (Role, bool) {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	r, ok := ids.roles[arn]
	return r, ok
}

// assumable returns a role that STS AssumeRole may start a session of and
// what the session may do: a configured role with its allow statements, or
// a principal whose ARN is a role, with the principal's.
func (ids *identities) assumable(arn string) (Role, []Statement, bool) {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	if r, ok := ids.roles[arn]; ok {
		return r, r.Allow, true
	}
	for _, p := range ids.principal {
		if p.ARN == arn && strings.Contains(arn, ":role/") {
			return Role{ARN: arn, MaxSessionDuration: 43200}, p.Allow, true
		}
	}
	return Role{}, nil, false
}

// issue creates a temporary key for c that expires at expires, and
// remembers it. The key ID starts with ASIA, like every temporary key.
func (ids *identities) issue(c caller, expires time.Time) *tempKey {
	t := &tempKey{
		AccessKeyID:  "ASIA" + randomString(16, upperAlnum),
		Secret:       randomString(40, base64Alphabet),
		SessionToken: "FQoGZXIvYXdzE" + randomString(96, base64Alphabet),
		Expires:      expires,
		caller:       c,
	}
	ids.mu.Lock()
	ids.temp[t.AccessKeyID] = t
	ids.issued++
	if ids.issued%sweepEvery == 0 {
		ids.sweepLocked(expires.Add(-sweepAfter))
	}
	ids.mu.Unlock()
	return t
}

// sweep forgets temporary keys that expired before cutoff, so that a long
// run does not grow without bound. An expired key then reads as unknown
// rather than expired, as in AWS after a while.
func (ids *identities) sweepLocked(cutoff time.Time) {
	for id, t := range ids.temp {
		if t.Expires.Before(cutoff) {
			delete(ids.temp, id)
		}
	}
}

// issueGrant vends Access Grants credentials: a session of the location's
// role, limited to g, for grantee c.
func (ids *identities) issueGrant(c *caller, g vendedGrant, locationRole string, expires time.Time) *tempKey {
	roleName := path.Base(locationRole)
	session := "access-grants-" + randomString(8, lowerAlnum)
	vc := caller{
		Account:  accountOfARN(locationRole),
		ARN:      fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", accountOfARN(locationRole), roleName, session),
		Identity: locationRole,
		UserID:   "AROA" + randomString(17, upperAlnum) + ":" + session,
		grant:    &g,
	}
	_ = c // the grantee is recorded by the caller of issueGrant; the session is the role's
	return ids.issue(vc, expires)
}

// staticProvider returns credentials for a configured principal's key, or
// a provider that fails with a clear error for an unknown one.
func (ids *identities) staticProvider(accessKeyID string) aws.CredentialsProvider {
	ids.mu.RLock()
	p, ok := ids.principal[accessKeyID]
	ids.mu.RUnlock()
	if !ok {
		return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, fmt.Errorf("emulator: access key %s is not a configured principal", accessKeyID)
		})
	}
	creds := aws.Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey, AccountID: p.Account, Source: "emulator"}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
}

// allowed reports whether an allow statement of c covers action on
// resource. Access Grants credentials are never allowed anything through
// IAM: their scope is checked by the S3 face.
func (c *caller) allowed(action, resource string) bool {
	if c.grant != nil {
		return false
	}
	for _, st := range c.allow {
		if matchAny(st.Actions, action, true) && matchAny(st.Resources, resource, false) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			if wildcardMatch(strings.ToLower(p), strings.ToLower(s)) {
				return true
			}
		} else if wildcardMatch(p, s) {
			return true
		}
	}
	return false
}

// wildcardMatch matches s against an IAM pattern where * is any run of
// characters and ? any one character. It runs in O(len(p)·len(s)) at
// worst, never exponential.
func wildcardMatch(p, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(p) && (p[px] == '?' || p[px] == s[sx]):
			px++
			sx++
		case px < len(p) && p[px] == '*':
			starP, starS = px, sx
			px++
		case starP >= 0:
			px = starP + 1
			starS++
			sx = starS
		default:
			return false
		}
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// accountOfARN returns the account field of an ARN ("" if it has none).
func accountOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// userID makes a stable GetCallerIdentity UserId for a principal.
func userID(arn string) string {
	prefix := "AIDA"
	if strings.Contains(arn, ":role/") {
		prefix = "AROA"
	}
	h := fnv.New64a()
	h.Write([]byte(arn))
	return fmt.Sprintf("%s%017X", prefix, h.Sum64())[:21]
}

const (
	upperAlnum     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	lowerAlnum     = "abcdefghijklmnopqrstuvwxyz012345"
	base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randomString returns n characters drawn uniformly from alphabet, whose
// length must divide 256.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// randomID returns an identifier of the form Access Grants uses for
// locations and grants ([a-zA-Z0-9-], UUID-like).
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

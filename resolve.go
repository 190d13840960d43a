package accessgrants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/singleflight"
)

// fetchTimeout bounds one cold-path resolution or background refresh,
// which no single caller's context bounds.
const fetchTimeout = 30 * time.Second

// maxFlightRounds bounds how often one request waits for another's
// GetDataAccess before fetching for itself. Each round serves at least its
// leader, so a request waits at most as many rounds as there are requests
// for other grants of the same bucket waiting with it; the bound is a
// safety valve against starvation, not a limit met in practice.
const maxFlightRounds = 64

// flightResult is what one cold-path flight found, and for which target.
type flightResult struct {
	entry  *credEntry
	target string
}

// credentialsFor resolves the Access Grants credentials for one request
// made with the base credentials: from the cache, else through the six
// steps of plugin.md, each cached and each deduplicated in flight. It
// returns the request's outcome: cached, granted or denied, or failed with
// an error; and the scope the credentials cover.
//
// Concurrent misses that one grant will answer make one GetDataAccess
// call: one miss per identity, permission and bucket (with PrivilegeMinimal,
// per target) is in flight, and the others wait for it and look again,
// since the grant it finds often covers their targets too. Every caller
// waits only as long as its own context allows; the flight goes on for
// the others, and its result is cached.
func (p *Plugin) credentialsFor(ctx context.Context, tel *telemetry, base aws.Credentials, req Request, clientRegion string) (aws.Credentials, string, string, error) {
	id := p.idMemo.fingerprint(base)
	key := flightKey("creds", id, string(req.Permission), req.Bucket)
	if p.opts.Privilege == PrivilegeMinimal {
		key = flightKey("creds", id, string(req.Permission), req.Target)
	}
	ownFlight := false // after another target's denial, ours is asked on its own
	for round := 0; ; round++ {
		now := p.now()
		if e := p.creds.lookup(id, req.Permission, req.Target, now); e != nil {
			p.counters.cacheHits.Add(1)
			tel.lookup(ctx, "hit")
			if e.state(now) == credStale && e.tryStartRefresh() {
				p.refreshAhead(ctx, tel, e, id, base, req, clientRegion)
			}
			if p.opts.Logger != nil { // spare the hot path the boxing of arguments
				p.logf(ctx, "%s %s (%s): cached credentials for %s", req.Operation, req.Target, req.Permission, e.scope)
			}
			return e.credentials, e.scope, outcomeCached, nil
		}
		if err, ok := p.denied.get(deniedKey{id, req.Permission, req.Target}, now); ok {
			p.counters.deniedHits.Add(1)
			tel.lookup(ctx, "denied")
			p.logf(ctx, "%s %s (%s): denied (remembered)", req.Operation, req.Target, req.Permission)
			return aws.Credentials{}, "", outcomeDenied, err
		}
		p.counters.cacheMisses.Add(1)
		tel.lookup(ctx, "miss")
		flight := key
		if ownFlight || round >= maxFlightRounds {
			flight = flightKey("creds", id, string(req.Permission), req.Target)
		}
		ch := p.flight.DoChan(flight, func() (any, error) {
			e, err := p.fetch(ctx, tel, id, base, req, clientRegion)
			return flightResult{entry: e, target: req.Target}, err
		})
		var res singleflight.Result
		select {
		case res = <-ch:
		case <-ctx.Done():
			return aws.Credentials{}, "", outcomeFailed, ctx.Err()
		}
		fr, _ := res.Val.(flightResult)
		if res.Err != nil {
			if fr.target == req.Target || !isAccessDenied(res.Err) {
				// Our own failure, or one (throttling, network) that is
				// everyone's.
				if isAccessDenied(res.Err) {
					return aws.Credentials{}, "", outcomeDenied, res.Err
				}
				return aws.Credentials{}, "", outcomeFailed, res.Err
			}
			// Another target was denied; ours may not be. Denials say
			// nothing of other targets, so the waiters ask for theirs side
			// by side rather than one after the other.
			ownFlight = true
			continue
		}
		if e := fr.entry; e != nil && e.perm.Satisfies(req.Permission) && ScopeCovers(e.scope, req.Target) && e.life.usableAt(p.now()) {
			return e.credentials, e.scope, outcomeGranted, nil
		}
	}
}

// fetch runs the cold path for one request and caches its result.
func (p *Plugin) fetch(ctx context.Context, tel *telemetry, id string, base aws.Credentials, req Request, clientRegion string) (*credEntry, error) {
	// The result is shared with other waiters: a caller that gives up must
	// not cancel their fetch. Values (logger, span) are kept.
	ctx = context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	p.fetching.Add(1)
	defer p.fetching.Add(-1)

	account, err := p.callerAccount(ctx, tel, id, base)
	if err != nil {
		return nil, err
	}
	region := clientRegion
	if !p.opts.DisableCrossRegion {
		if region, err = p.bucketRegion(ctx, tel, req.Bucket, base); err != nil {
			return nil, err
		}
	}
	if region == "" {
		region = p.cfg.Region
	}
	owner, err := p.instanceOwner(ctx, tel, account, region, req, base)
	if err != nil {
		return nil, err
	}
	e, err := p.getDataAccess(ctx, tel, id, owner, region, req.Permission, req.Target, req.TargetType, base)
	if err != nil {
		if isAccessDenied(err) {
			p.denied.set(deniedKey{id, req.Permission, req.Target}, err, p.opts.DeniedTTL, p.now())
		}
		p.logf(ctx, "%s %s (%s): GetDataAccess failed: %v", req.Operation, req.Target, req.Permission, err)
		return nil, err
	}
	p.logf(ctx, "%s %s (%s): granted by %s in account %s, expiring %s", req.Operation, req.Target, req.Permission,
		e.scope, owner, e.credentials.Expires.UTC().Format(time.RFC3339))
	return e, nil
}

// getDataAccess is step 5: GetDataAccess as the caller, whose result is
// cached under the matched scope.
func (p *Plugin) getDataAccess(ctx context.Context, tel *telemetry, id, owner, region string, perm Permission, target, targetType string, base aws.Credentials) (*credEntry, error) {
	in := &s3control.GetDataAccessInput{
		AccountId:  aws.String(owner),
		Target:     aws.String(target),
		Permission: types.Permission(perm),
		Privilege:  types.Privilege(p.opts.Privilege),
	}
	if p.opts.Duration != 0 {
		in.DurationSeconds = aws.Int32(int32(p.opts.Duration / time.Second))
	}
	if p.opts.Privilege == PrivilegeMinimal && targetType == targetTypeObject {
		in.TargetType = types.S3PrefixTypeObject
	}
	p.counters.getDataAccess.Add(1)
	obtained := p.now()
	start := time.Now()
	out, err := p.control(region).GetDataAccess(ctx, in, controlOptions(tel, base))
	tel.call(ctx, "GetDataAccess", time.Since(start), err)
	if err != nil {
		return nil, err
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.Expiration == nil {
		return nil, errors.New("GetDataAccess answered without credentials")
	}
	creds := aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Source:          "S3AccessGrants",
		CanExpire:       true,
		Expires:         *c.Expiration,
		AccountID:       owner,
	}
	// The matched scope serves every target it covers. Should the service
	// name a scope that does not cover the target, cache under the target.
	scope := aws.ToString(out.MatchedGrantTarget)
	if !ScopeCovers(scope, target) {
		scope = target
	}
	if targetType == targetTypeObject && scope == target && strings.HasSuffix(scope, "*") {
		// Credentials for one object whose key ends in "*" would read as a
		// prefix scope in the cache; use them for this request only.
		return &credEntry{credentials: creds, scope: scope, perm: perm, obtained: obtained, life: newCredLifetime(creds, obtained)}, nil
	}
	evicted := p.creds.evicted()
	e, err := p.creds.store(id, perm, scope, creds, obtained)
	if n := p.creds.evicted() - evicted; n > 0 {
		tel.add(ctx, tel.evictions, int64(n))
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// refreshAhead fetches new credentials for a stale entry in the
// background; the entry keeps serving meanwhile. A failed refresh leaves it
// in place, to be retried by the next request.
func (p *Plugin) refreshAhead(ctx context.Context, tel *telemetry, e *credEntry, id string, base aws.Credentials, req Request, clientRegion string) {
	if p.ctx.Err() != nil {
		e.endRefresh()
		return
	}
	p.counters.refreshes.Add(1)
	p.inFlight.Add(1)
	// The refresh outlives the request: it keeps the request's values
	// (its span, so the refresh's calls show under it) but not its
	// deadline, and stops when the plugin closes.
	rctx, cancel := context.WithTimeout(mergeCancel(context.WithoutCancel(ctx), p.ctx), fetchTimeout)
	go func() {
		defer p.inFlight.Done()
		defer cancel()
		targetType := ""
		if !strings.HasSuffix(e.scope, "*") {
			targetType = targetTypeObject
		}
		refresh := Request{Operation: req.Operation, Bucket: req.Bucket, Target: e.scope, Permission: e.perm, TargetType: targetType}
		fresh, err := p.fetch(rctx, tel, id, base, refresh, clientRegion)
		tel.refresh(rctx, err)
		if err != nil {
			p.counters.refreshFailures.Add(1)
			e.endRefresh()
			return
		}
		if fresh.scope != e.scope {
			p.creds.removeEntry(e) // the grant changed; the old scope is not refreshed again
		}
	}()
}

// mergeCancel returns ctx, canceled also when stop is.
func mergeCancel(ctx, stop context.Context) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	context.AfterFunc(stop, func() { cancel(context.Cause(stop)) })
	return ctx
}

// callerAccount is step 2: the account of the caller's credentials.
func (p *Plugin) callerAccount(ctx context.Context, tel *telemetry, id string, base aws.Credentials) (string, error) {
	if base.AccountID != "" {
		return base.AccountID, nil
	}
	if p.opts.AccountID != "" {
		return p.opts.AccountID, nil
	}
	return cached(p, p.accounts, id, flightKey("account", id), func() (string, error) {
		p.counters.callerIdentity.Add(1)
		start := time.Now()
		out, err := p.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.Options) {
			o.Credentials = staticProvider(base)
			o.MeterProvider, o.TracerProvider = tel.mp, tel.tp
		})
		tel.call(ctx, "GetCallerIdentity", time.Since(start), err)
		if err != nil {
			return "", fmt.Errorf("finding the caller's account: %w", err)
		}
		if !isAccountID(aws.ToString(out.Account)) {
			return "", errors.New("finding the caller's account: STS answered without an account")
		}
		return *out.Account, nil
	})
}

// bucketRegion is step 3: the bucket's Region, from HeadBucket's
// x-amz-bucket-region header, which S3 sends on 200, 301 and 403 alike.
func (p *Plugin) bucketRegion(ctx context.Context, tel *telemetry, bucket string, base aws.Credentials) (string, error) {
	return cached(p, p.regions, bucket, flightKey("region", bucket), func() (string, error) {
		p.counters.headBucket.Add(1)
		start := time.Now()
		out, err := p.headS3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}, func(o *s3.Options) {
			o.Credentials = staticProvider(base)
			o.MeterProvider, o.TracerProvider = tel.mp, tel.tp
		})
		region := regionFromError(err)
		if err == nil {
			region = aws.ToString(out.BucketRegion)
		}
		// A 301 or 403 that names the Region is an answer, not a failure.
		if region != "" {
			err = nil
		}
		tel.call(ctx, "HeadBucket", time.Since(start), err)
		if region != "" {
			return region, nil
		}
		if err == nil {
			err = errors.New("HeadBucket answered without x-amz-bucket-region")
		}
		return "", fmt.Errorf("finding the Region of bucket %s: %w", bucket, err)
	})
}

// instanceOwner is step 4: the account whose Access Grants instance holds
// the bucket's locations, from GetAccessGrantsInstanceForPrefix.
func (p *Plugin) instanceOwner(ctx context.Context, tel *telemetry, account, region string, req Request, base aws.Credentials) (string, error) {
	key := ownerKey{account, req.Bucket}
	return cached(p, p.owners, key, flightKey("owner", account, req.Bucket), func() (string, error) {
		p.counters.instanceForPrefix.Add(1)
		start := time.Now()
		out, err := p.control(region).GetAccessGrantsInstanceForPrefix(ctx, &s3control.GetAccessGrantsInstanceForPrefixInput{
			AccountId: aws.String(account),
			S3Prefix:  aws.String(req.Target),
		}, controlOptions(tel, base))
		tel.call(ctx, "GetAccessGrantsInstanceForPrefix", time.Since(start), err)
		if err != nil {
			return "", fmt.Errorf("finding the Access Grants instance for %s: %w", req.Target, err)
		}
		owner := arnAccount(aws.ToString(out.AccessGrantsInstanceArn))
		if !isAccountID(owner) {
			return "", errors.New("GetAccessGrantsInstanceForPrefix answered without an instance ARN")
		}
		return owner, nil
	})
}

// cached returns the value cached under key, else computes it once for
// all concurrent callers and caches it for MetadataTTL. Failures are not
// cached.
func cached[K comparable](p *Plugin, c *ttlCache[K, string], key K, flight string, compute func() (string, error)) (string, error) {
	if v, ok := c.get(key, p.now()); ok {
		return v, nil
	}
	v, err, _ := p.flight.Do(flight, func() (any, error) {
		if v, ok := c.get(key, p.now()); ok {
			return v, nil
		}
		v, err := compute()
		if err != nil {
			return "", err
		}
		c.set(key, v, p.opts.MetadataTTL, p.now())
		return v, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// flightKey joins the parts of a singleflight key; parts never hold NUL.
func flightKey(parts ...string) string { return strings.Join(parts, "\x00") }

// arnAccount returns the account field of an ARN.
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// staticProvider returns credentials already retrieved.
func staticProvider(c aws.Credentials) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
}

// controlOptions signs one S3 Control call with the caller's credentials
// and reports it to the request's meter and tracer providers.
func controlOptions(tel *telemetry, c aws.Credentials) func(*s3control.Options) {
	return func(o *s3control.Options) {
		o.Credentials = staticProvider(c)
		o.MeterProvider, o.TracerProvider = tel.mp, tel.tp
	}
}

// regionFromError reads x-amz-bucket-region from a failed HeadBucket's
// response (301 for another Region, 403 for a bucket the caller may not
// list).
func regionFromError(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}

// identityMemo remembers the fingerprint of the last credentials seen, so
// that the common case, one client whose credentials rarely change, hashes
// them once per rotation rather than once per request.
type identityMemo struct {
	last atomic.Pointer[memoEntry]
}

type memoEntry struct {
	keyID, secret, token string
	fingerprint          string
}

// fingerprint identifies the caller by its base credentials: the key ID
// with a hash of the secret and session token, so that vended credentials
// are never shared between identities and no secret is kept in the clear
// in a cache key.
func (m *identityMemo) fingerprint(c aws.Credentials) string {
	if e := m.last.Load(); e != nil && e.keyID == c.AccessKeyID && e.secret == c.SecretAccessKey && e.token == c.SessionToken {
		return e.fingerprint
	}
	h := sha256.New()
	h.Write([]byte(c.SecretAccessKey))
	h.Write([]byte{0})
	h.Write([]byte(c.SessionToken))
	fp := c.AccessKeyID + ":" + hex.EncodeToString(h.Sum(nil)[:16])
	m.last.Store(&memoEntry{keyID: c.AccessKeyID, secret: c.SecretAccessKey, token: c.SessionToken, fingerprint: fp})
	return fp
}

// logf writes one debug line through the configured logger.
func (p *Plugin) logf(ctx context.Context, format string, args ...any) {
	l := p.opts.Logger
	if l == nil {
		return
	}
	if cl, ok := l.(logging.ContextLogger); ok {
		l = cl.WithContext(ctx)
	}
	l.Logf(logging.Debug, "s3 access grants: "+format, args...)
}

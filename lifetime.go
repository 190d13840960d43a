package accessgrants

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// credState is where cached credentials stand in their lifetime at a given
// moment. The resolver serves fresh credentials as they are, serves stale ones
// while it refreshes them in the background, and never hands out expired ones.
//
// The lifetime runs from the moment the credentials were obtained to their
// Expiration, and two instants divide it:
//
//	obtained                        staleAt              expiredAt      Expires
//	   |=========== fresh =============|~~~~~~ stale ~~~~~~~|xx expired xx|
//	   |<-------------------------- lifetime ---------------------------->|
//	                                   |<----- max(lifetime/10, 1m) ----->|
//	                                                        |<--- 10s --->|
//
// The states, and what the resolver does in each:
//
//   - fresh: at least max(10% of the lifetime, 1 minute) remains. Serve them.
//   - stale: less than that remains, but more than 10 seconds. Serve them and
//     start one background refresh, so that new credentials are in place
//     before these stop working and no request waits for GetDataAccess.
//   - expired: 10 seconds or less remain. Never hand them out: a request
//     signed now may spend that long in retries and transit, or meet a server
//     whose clock runs ahead, and fail with ExpiredToken.
//
// The 1 minute floor keeps short-lived credentials (the service's minimum is
// 15 minutes) from being refreshed only seconds before the 10 second cut-off.
type credState uint8

const (
	credFresh credState = iota
	credStale
	credExpired
)

// String returns the name of the state, for test failures and debug logs.
func (s credState) String() string {
	switch s {
	case credFresh:
		return "fresh"
	case credStale:
		return "stale"
	case credExpired:
		return "expired"
	}
	return "credState(invalid)"
}

const (
	// credRefreshDivisor sets the refresh-ahead window to a tenth of the
	// credentials' lifetime...
	credRefreshDivisor = 10
	// ...but never less than credRefreshMinWindow.
	credRefreshMinWindow = time.Minute
	// credExpiryMargin is the remaining validity at or below which
	// credentials are treated as expired.
	credExpiryMargin = 10 * time.Second
)

// credLifetime holds the two instants that divide the lifetime of one set of
// credentials into its states. It is computed once, when the credentials
// enter the cache, so that classifying them on every request is two
// comparisons.
type credLifetime struct {
	// canExpire is false for credentials without an expiry, which are always
	// fresh; the instants below are then unused.
	canExpire bool
	// staleAt is the last fresh instant: Expires minus the refresh window.
	staleAt time.Time
	// expiredAt is the first expired instant: Expires minus credExpiryMargin.
	expiredAt time.Time
}

// newCredLifetime computes the lifetime of creds obtained at obtained. When
// obtained is the zero time or not before the expiry, the lifetime is unknown
// and the refresh window is credRefreshMinWindow.
func newCredLifetime(creds aws.Credentials, obtained time.Time) credLifetime {
	if !creds.CanExpire {
		return credLifetime{}
	}
	window := credRefreshMinWindow
	if !obtained.IsZero() {
		if w := creds.Expires.Sub(obtained) / credRefreshDivisor; w > window {
			window = w
		}
	}
	return credLifetime{
		canExpire: true,
		staleAt:   creds.Expires.Add(-window),
		expiredAt: creds.Expires.Add(-credExpiryMargin),
	}
}

// stateAt classifies the credentials at now.
func (l *credLifetime) stateAt(now time.Time) credState {
	switch {
	case !l.canExpire:
		return credFresh
	case !now.After(l.staleAt):
		return credFresh
	case now.Before(l.expiredAt):
		return credStale
	}
	return credExpired
}

// usableAt reports whether the credentials may still be handed out at now,
// that is whether they are fresh or stale.
func (l *credLifetime) usableAt(now time.Time) bool {
	return !l.canExpire || now.Before(l.expiredAt)
}

// credStateAt classifies creds, obtained at obtained, at the instant now.
func credStateAt(creds aws.Credentials, obtained, now time.Time) credState {
	l := newCredLifetime(creds, obtained)
	return l.stateAt(now)
}

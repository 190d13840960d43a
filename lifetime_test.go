package accessgrants

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestCredStateAt(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	hour := t0.Add(time.Hour) // a one-hour lifetime: the window is 6 minutes
	expiring := func(expires time.Time) aws.Credentials {
		return aws.Credentials{AccessKeyID: "ASIA", CanExpire: true, Expires: expires}
	}
	tests := []struct {
		name     string
		creds    aws.Credentials
		obtained time.Time
		now      time.Time
		want     credState
	}{
		{"1h: just obtained", expiring(hour), t0, t0, credFresh},
		{"1h: before obtained", expiring(hour), t0, t0.Add(-time.Hour), credFresh},
		{"1h: exactly 10% left", expiring(hour), t0, hour.Add(-6 * time.Minute), credFresh},
		{"1h: just under 10% left", expiring(hour), t0, hour.Add(-6*time.Minute + time.Nanosecond), credStale},
		{"1h: 1m left", expiring(hour), t0, hour.Add(-time.Minute), credStale},
		{"1h: just over 10s left", expiring(hour), t0, hour.Add(-10*time.Second - time.Nanosecond), credStale},
		{"1h: exactly 10s left", expiring(hour), t0, hour.Add(-10 * time.Second), credExpired},
		{"1h: at expiry", expiring(hour), t0, hour, credExpired},
		{"1h: after expiry", expiring(hour), t0, hour.Add(time.Hour), credExpired},

		// A 5 minute lifetime: 10% is 30s, so the 1 minute floor applies.
		{"5m: exactly 1m left", expiring(t0.Add(5 * time.Minute)), t0, t0.Add(4 * time.Minute), credFresh},
		{"5m: just under 1m left", expiring(t0.Add(5 * time.Minute)), t0, t0.Add(4*time.Minute + time.Nanosecond), credStale},
		{"5m: 30s left", expiring(t0.Add(5 * time.Minute)), t0, t0.Add(4*time.Minute + 30*time.Second), credStale},
		{"5m: exactly 10s left", expiring(t0.Add(5 * time.Minute)), t0, t0.Add(4*time.Minute + 50*time.Second), credExpired},

		// A 10 minute lifetime: 10% and the floor coincide.
		{"10m: exactly 1m left", expiring(t0.Add(10 * time.Minute)), t0, t0.Add(9 * time.Minute), credFresh},
		{"10m: just under 1m left", expiring(t0.Add(10 * time.Minute)), t0, t0.Add(9*time.Minute + time.Nanosecond), credStale},

		// A 12 hour lifetime: the window is 72 minutes.
		{"12h: exactly 72m left", expiring(t0.Add(12 * time.Hour)), t0, t0.Add(12*time.Hour - 72*time.Minute), credFresh},
		{"12h: just under 72m left", expiring(t0.Add(12 * time.Hour)), t0, t0.Add(12*time.Hour - 72*time.Minute + time.Nanosecond), credStale},

		// Lifetimes that are unknown or make no sense fall back to the floor.
		{"zero obtained: exactly 1m left", expiring(hour), time.Time{}, hour.Add(-time.Minute), credFresh},
		{"zero obtained: just under 1m left", expiring(hour), time.Time{}, hour.Add(-time.Minute + time.Nanosecond), credStale},
		{"obtained after expiry: 1m left", expiring(hour), hour.Add(time.Hour), hour.Add(-time.Minute), credFresh},
		{"obtained after expiry: 30s left", expiring(hour), hour.Add(time.Hour), hour.Add(-30 * time.Second), credStale},
		{"already expired when obtained", expiring(t0.Add(5 * time.Second)), t0, t0, credExpired},

		// Credentials that cannot expire are always fresh.
		{"no expiry", aws.Credentials{AccessKeyID: "AKIA"}, t0, t0.Add(100 * 365 * 24 * time.Hour), credFresh},
		{"no expiry, Expires set", aws.Credentials{AccessKeyID: "AKIA", Expires: t0}, t0, t0.Add(time.Hour), credFresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := credStateAt(tt.creds, tt.obtained, tt.now); got != tt.want {
				t.Errorf("credStateAt = %v, want %v", got, tt.want)
			}
			l := newCredLifetime(tt.creds, tt.obtained)
			if got, want := l.usableAt(tt.now), tt.want != credExpired; got != want {
				t.Errorf("usableAt = %v, want %v", got, want)
			}
		})
	}
}

// TestCredStateAtMonotonic checks that states follow each other in order as
// time passes, for lifetimes of many lengths.
func TestCredStateAtMonotonic(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, lifetime := range []time.Duration{0, time.Second, 10 * time.Second, 11 * time.Second, time.Minute, 15 * time.Minute, time.Hour, 12 * time.Hour} {
		creds := aws.Credentials{CanExpire: true, Expires: t0.Add(lifetime)}
		prev := credFresh
		for now := t0; !now.After(t0.Add(lifetime + time.Second)); now = now.Add(time.Second / 4) {
			got := credStateAt(creds, t0, now)
			if got < prev {
				t.Fatalf("lifetime %v: state went back from %v to %v at %v", lifetime, prev, got, now.Sub(t0))
			}
			prev = got
		}
		if prev != credExpired {
			t.Errorf("lifetime %v: state after expiry = %v, want expired", lifetime, prev)
		}
	}
}

func TestCredStateString(t *testing.T) {
	for s, want := range map[credState]string{credFresh: "fresh", credStale: "stale", credExpired: "expired", 9: "credState(invalid)"} {
		if got := s.String(); got != want {
			t.Errorf("credState(%d).String() = %q, want %q", s, got, want)
		}
	}
}

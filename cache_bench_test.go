package accessgrants

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// credBenchIdentity is a caller fingerprint the size of a hex SHA-256.
var credBenchIdentity = strings.Repeat("f0", 32)

// credBenchSetup returns a cache of n prefix scopes of keyLen bytes each, and
// one target under each scope, in random order so that consecutive lookups
// walk different paths of the trie.
func credBenchSetup(b *testing.B, n, keyLen int) (*credCache, []string) {
	b.Helper()
	c := newCredCache(n)
	targets := make([]string, n)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range n {
		// "s3://b/" and 8 hex digits that spread the scopes over the trie,
		// padded to keyLen bytes with the final "*".
		scope := fmt.Sprintf("s3://b/%08x", rng.Uint32())
		scope += strings.Repeat("p", max(keyLen-len(scope)-2, 0)) + "/*"
		if _, err := c.store(credBenchIdentity, PermissionRead, scope, credTestCreds(scope[:8], time.Hour), credTestNow); err != nil {
			b.Fatal(err)
		}
		// The target is as long as the scope: its key, with the "*"
		// replaced by one byte of object name.
		targets[i] = scope[:len(scope)-1] + "x"
	}
	rng.Shuffle(n, func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	return c, targets
}

// credBenchCases are the cache sizes and key lengths benchmarked.
var credBenchCases = []struct {
	entries int
	keyLen  int
	name    string
}{
	{100, 16, "entries=100/key=16B"},
	{100, 1024, "entries=100/key=1KiB"},
	{100_000, 16, "entries=100000/key=16B"},
	{100_000, 1024, "entries=100000/key=1KiB"},
}

// credBenchHot is the number of distinct targets the hot benchmarks look up.
const credBenchHot = 100

// BenchmarkCacheLookup measures a lookup hit. It cycles through the same
// number of targets, credBenchHot, whatever the size of the cache, so that the
// working set is the same and the comparison across sizes shows how the cost
// of a lookup grows with the number of entries; with 100,000 entries those
// targets are spread over the whole trie. BenchmarkCacheLookupCold shows the
// cost when every lookup goes to a different part of a large trie.
func BenchmarkCacheLookup(b *testing.B) {
	for _, bc := range credBenchCases {
		b.Run(bc.name, func(b *testing.B) {
			c, targets := credBenchSetup(b, bc.entries, bc.keyLen)
			targets = targets[:min(len(targets), credBenchHot)]
			benchLookups(b, c, targets)
		})
	}
}

// BenchmarkCacheLookupCold measures a lookup hit, cycling through every entry
// of the cache in random order: with 100,000 entries the trie no longer fits
// in the processor's caches and the figure is mostly memory latency.
func BenchmarkCacheLookupCold(b *testing.B) {
	for _, bc := range credBenchCases {
		b.Run(bc.name, func(b *testing.B) {
			c, targets := credBenchSetup(b, bc.entries, bc.keyLen)
			benchLookups(b, c, targets)
		})
	}
}

func benchLookups(b *testing.B, c *credCache, targets []string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if c.lookup(credBenchIdentity, PermissionRead, targets[i%len(targets)], credTestNow) == nil {
			b.Fatal("miss")
		}
	}
}

// BenchmarkCacheLookupParallel measures lookup hits from GOMAXPROCS
// goroutines at once, over credBenchHot targets as BenchmarkCacheLookup.
func BenchmarkCacheLookupParallel(b *testing.B) {
	for _, bc := range credBenchCases {
		b.Run(bc.name, func(b *testing.B) {
			c, targets := credBenchSetup(b, bc.entries, bc.keyLen)
			targets = targets[:min(len(targets), credBenchHot)]
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(targets))
				for pb.Next() {
					if c.lookup(credBenchIdentity, PermissionRead, targets[i%len(targets)], credTestNow) == nil {
						b.Error("miss")
						return
					}
					i++
				}
			})
		})
	}
}

// BenchmarkCacheStore measures storing into a full cache, evicting an entry
// each time.
func BenchmarkCacheStore(b *testing.B) {
	const n = 100_000
	c, targets := credBenchSetup(b, n, 48)
	creds := credTestCreds("store", time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		scope := targets[i%n][:len(targets[i%n])-1] + "*"
		if _, err := c.store("another identity", PermissionRead, scope, creds, credTestNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheMemory measures the heap that 100,000 cached entries occupy,
// with credentials the size GetDataAccess returns (a 20-byte key ID, a
// 40-byte secret and a 400-byte session token, distinct for every entry) and
// scopes of about 50 bytes spread over 10 identities. It reports bytes per
// entry with and without the credential strings.
func BenchmarkCacheMemory(b *testing.B) {
	const n = 100_000
	identities := make([]string, 10)
	for i := range identities {
		identities[i] = fmt.Sprintf("%064x", i)
	}
	// credentials returns the distinct credentials of entry i.
	credentials := func(i int) aws.Credentials {
		token := []byte(strings.Repeat("T", 400))
		copy(token, fmt.Sprintf("%08d", i))
		return aws.Credentials{
			AccessKeyID:     fmt.Sprintf("ASIA%016d", i),
			SecretAccessKey: fmt.Sprintf("%040d", i),
			SessionToken:    string(token),
			CanExpire:       true,
			Expires:         credTestNow.Add(time.Hour),
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}

	var perEntry, perCreds float64
	for b.Loop() {
		// What the credential strings alone occupy, less the slices that
		// keep them alive.
		before := heap()
		ids, secrets, tokens := make([]string, n), make([]string, n), make([]string, n)
		for i := range n {
			cr := credentials(i)
			ids[i], secrets[i], tokens[i] = cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken
		}
		perCreds = float64(heap()-before-3*16*n) / n
		runtime.KeepAlive(ids)
		runtime.KeepAlive(secrets)
		runtime.KeepAlive(tokens)
		ids, secrets, tokens = nil, nil, nil

		before = heap()
		c := newCredCache(n)
		for i := range n {
			scope := fmt.Sprintf("s3://bucket-%d/users/user-%06d/*", i%7, i)
			if _, err := c.store(identities[i%len(identities)], PermissionRead, scope, credentials(i), credTestNow); err != nil {
				b.Fatal(err)
			}
		}
		perEntry = float64(heap()-before) / n
		if c.len() != n {
			b.Fatalf("len = %d, want %d", c.len(), n)
		}
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perEntry, "B/entry")
	b.ReportMetric(perEntry-perCreds, "B/entry-without-creds")
	b.ReportMetric(0, "ns/op") // the time to fill the cache is not the point
}

package accessgrants

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// credTestNow is the clock of the cache tests.
var credTestNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// credTestCreds returns credentials, named by id, that expire lifetime after
// credTestNow.
func credTestCreds(id string, lifetime time.Duration) aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     "ASIA" + id,
		SecretAccessKey: "secret-" + id,
		SessionToken:    "token-" + id,
		CanExpire:       true,
		Expires:         credTestNow.Add(lifetime),
	}
}

// credTestEntry names an entry in tests: identity, permission and scope.
type credTestEntry struct {
	identity string
	perm     Permission
	scope    string
}

func (e credTestEntry) String() string {
	return fmt.Sprintf("%s %s %s", e.identity, e.perm, e.scope)
}

// mustStore stores e with credentials valid for an hour.
func mustStore(t testing.TB, c *credCache, e credTestEntry) *credEntry {
	t.Helper()
	got, err := c.store(e.identity, e.perm, e.scope, credTestCreds(e.scope, time.Hour), credTestNow)
	if err != nil {
		t.Fatalf("store(%v): %v", e, err)
	}
	return got
}

func TestCredCacheLookup(t *testing.T) {
	r, w, rw := PermissionRead, PermissionWrite, PermissionReadWrite
	tests := []struct {
		name     string
		entries  []credTestEntry
		identity string // "alice" if empty
		want     Permission
		target   string
		wantHit  string // "scope PERM", or "" for a miss
	}{
		// service.md: grants s3://b1/bob/* and s3://b1/bob/reports/*.
		{"service example bob/*", bobGrants(r), "", r, "s3://b1/bob/*", "s3://b1/bob/* READ"},
		{"service example bob/images/*", bobGrants(r), "", r, "s3://b1/bob/images/*", "s3://b1/bob/* READ"},
		{"service example reports file", bobGrants(r), "", r, "s3://b1/bob/reports/file.txt", "s3://b1/bob/reports/* READ"},
		{"reports list", bobGrants(r), "", r, "s3://b1/bob/reports/*", "s3://b1/bob/reports/* READ"},
		{"reports without slash", bobGrants(r), "", r, "s3://b1/bob/reports", "s3://b1/bob/* READ"},
		{"bob/ itself", bobGrants(r), "", r, "s3://b1/bob/", "s3://b1/bob/* READ"},
		{"bob without slash", bobGrants(r), "", r, "s3://b1/bob", ""},
		{"shorter list", bobGrants(r), "", r, "s3://b1/bo*", ""},
		{"other bucket", bobGrants(r), "", r, "s3://b2/bob/x", ""},
		{"empty target", bobGrants(r), "", r, "", ""},

		// Prefix scopes.
		{"slash scope covers object", one(r, "s3://b/p/*"), "", r, "s3://b/p/x.txt", "s3://b/p/* READ"},
		{"slash scope covers its folder", one(r, "s3://b/p/*"), "", r, "s3://b/p/", "s3://b/p/* READ"},
		{"slash scope covers sub-list", one(r, "s3://b/p/*"), "", r, "s3://b/p/sub/*", "s3://b/p/* READ"},
		{"slash scope covers its own list", one(r, "s3://b/p/*"), "", r, "s3://b/p/*", "s3://b/p/* READ"},
		{"slash scope misses sibling", one(r, "s3://b/p/*"), "", r, "s3://b/pq.txt", ""},
		{"slash scope misses parent", one(r, "s3://b/p/*"), "", r, "s3://b/p", ""},
		{"slash scope misses wider list", one(r, "s3://b/p/*"), "", r, "s3://b/p*", ""},
		{"partial scope covers sibling", one(r, "s3://b/p*"), "", r, "s3://b/pq.txt", "s3://b/p* READ"},
		{"partial scope covers exact key", one(r, "s3://b/p*"), "", r, "s3://b/p", "s3://b/p* READ"},
		{"partial scope covers own list", one(r, "s3://b/p*"), "", r, "s3://b/p*", "s3://b/p* READ"},
		{"partial scope covers narrower list", one(r, "s3://b/p*"), "", r, "s3://b/pq/*", "s3://b/p* READ"},
		{"partial scope misses bucket list", one(r, "s3://b/p*"), "", r, "s3://b/*", ""},
		{"bucket scope", one(r, "s3://b/*"), "", r, "s3://b/a/b/c", "s3://b/* READ"},
		{"bucket scope misses other bucket", one(r, "s3://b/*"), "", r, "s3://bb/a", ""},
		{"root scope", one(r, "s3://*"), "", r, "s3://any/thing", "s3://* READ"},
		{"scope of a star only", one(r, "*"), "", r, "s3://any/thing", "* READ"},
		{"double star scope", one(r, "s3://b/p**"), "", r, "s3://b/p*x", "s3://b/p** READ"},
		{"double star scope misses", one(r, "s3://b/p**"), "", r, "s3://b/px", ""},

		// Exact (object) scopes.
		{"exact scope hit", one(r, "s3://b/k"), "", r, "s3://b/k", "s3://b/k READ"},
		{"exact scope misses longer key", one(r, "s3://b/k"), "", r, "s3://b/kk", ""},
		{"exact scope misses child", one(r, "s3://b/k"), "", r, "s3://b/k/x", ""},
		{"exact scope misses shorter key", one(r, "s3://b/k"), "", r, "s3://b/", ""},
		{"exact scope misses list of itself", one(r, "s3://b/k"), "", r, "s3://b/k*", ""},
		{"exact folder misses its list", one(r, "s3://b/p/"), "", r, "s3://b/p/*", ""},
		{"exact scope with inner star", one(r, "s3://b/a*b"), "", r, "s3://b/a*b", "s3://b/a*b READ"},
		{"exact scope with inner star misses", one(r, "s3://b/a*b"), "", r, "s3://b/axb", ""},

		// Most specific wins.
		{"exact beats prefix of equal length", ents(e(r, "s3://b/a*"), e(r, "s3://b/ab")), "", r, "s3://b/ab", "s3://b/ab READ"},
		{"exact beats shorter prefix", ents(e(r, "s3://b/*"), e(r, "s3://b/ab")), "", r, "s3://b/ab", "s3://b/ab READ"},
		{"prefix of the same key beats exact", ents(e(r, "s3://b/ab*"), e(r, "s3://b/ab")), "", r, "s3://b/ab", "s3://b/ab* READ"},
		{"longer prefix wins", ents(e(r, "s3://b/*"), e(r, "s3://b/a/*"), e(r, "s3://b/a/b/*")), "", r, "s3://b/a/b/c", "s3://b/a/b/* READ"},
		{"longer prefix wins, inserted first", ents(e(r, "s3://b/a/b/*"), e(r, "s3://b/a/*"), e(r, "s3://b/*")), "", r, "s3://b/a/b/c", "s3://b/a/b/* READ"},
		{"uncovering longer scope ignored", ents(e(r, "s3://b/*"), e(r, "s3://b/a/bx/*")), "", r, "s3://b/a/by", "s3://b/* READ"},

		// Permissions.
		{"READ serves READ", one(r, "s3://b/*"), "", r, "s3://b/x", "s3://b/* READ"},
		{"READ does not serve WRITE", one(r, "s3://b/*"), "", w, "s3://b/x", ""},
		{"READ does not serve READWRITE", one(r, "s3://b/*"), "", rw, "s3://b/x", ""},
		{"WRITE serves WRITE", one(w, "s3://b/*"), "", w, "s3://b/x", "s3://b/* WRITE"},
		{"WRITE does not serve READ", one(w, "s3://b/*"), "", r, "s3://b/x", ""},
		{"READWRITE serves READ", one(rw, "s3://b/*"), "", r, "s3://b/x", "s3://b/* READWRITE"},
		{"READWRITE serves WRITE", one(rw, "s3://b/*"), "", w, "s3://b/x", "s3://b/* READWRITE"},
		{"READWRITE serves READWRITE", one(rw, "s3://b/*"), "", rw, "s3://b/x", "s3://b/* READWRITE"},
		{"unknown permission", one(rw, "s3://b/*"), "", "LIST", "s3://b/x", ""},
		{"READ and WRITE do not make READWRITE", ents(e(r, "s3://b/*"), e(w, "s3://b/*")), "", rw, "s3://b/x", ""},
		{"same scope: READ preferred for READ", ents(e(rw, "s3://b/*"), e(r, "s3://b/*")), "", r, "s3://b/x", "s3://b/* READ"},
		{"same scope: WRITE preferred for WRITE", ents(e(rw, "s3://b/*"), e(w, "s3://b/*"), e(r, "s3://b/*")), "", w, "s3://b/x", "s3://b/* WRITE"},
		{"most specific across permissions, READ", ents(e(rw, "s3://b/*"), e(r, "s3://b/p/*")), "", r, "s3://b/p/x", "s3://b/p/* READ"},
		{"most specific across permissions, WRITE", ents(e(rw, "s3://b/*"), e(r, "s3://b/p/*")), "", w, "s3://b/p/x", "s3://b/* READWRITE"},
		{"most specific across permissions, exact", ents(e(r, "s3://b/p/*"), e(rw, "s3://b/p/x")), "", r, "s3://b/p/x", "s3://b/p/x READWRITE"},
		{"insufficient specific falls back", ents(e(r, "s3://b/*"), e(w, "s3://b/p/*"), e(w, "s3://b/p/x")), "", r, "s3://b/p/x", "s3://b/* READ"},

		// Identities.
		{"other identity invisible", one(rw, "s3://b/*"), "bob", r, "s3://b/x", ""},
		{"each identity its own", ents(credTestEntry{"bob", r, "s3://b/p/*"}, e(r, "s3://b/*")), "alice", r, "s3://b/p/x", "s3://b/* READ"},
		{"each identity its own, bob", ents(credTestEntry{"bob", r, "s3://b/p/*"}, e(r, "s3://b/*")), "bob", r, "s3://b/p/x", "s3://b/p/* READ"},
		{"empty identity is an identity", ents(credTestEntry{"", r, "s3://b/*"}), "bob", r, "s3://b/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCredCache(100)
			for _, e := range tt.entries {
				mustStore(t, c, e)
			}
			checkCredCache(t, c)
			identity := tt.identity
			if identity == "" {
				identity = "alice"
			}
			got := c.lookup(identity, tt.want, tt.target, credTestNow)
			if s := hitString(got); s != tt.wantHit {
				t.Errorf("lookup(%s, %s, %q) = %q, want %q", identity, tt.want, tt.target, s, tt.wantHit)
			}
			if got != nil && got.tree.identity != identity {
				t.Errorf("lookup(%s) returned an entry of %s", identity, got.tree.identity)
			}
			// The reference must agree with the table, or it proves nothing
			// in the randomized tests.
			ref := credRefLookup(refFrom(tt.entries), identity, tt.want, tt.target, credTestNow)
			if s := refString(ref); s != tt.wantHit {
				t.Errorf("reference lookup = %q, want %q", s, tt.wantHit)
			}
		})
	}
}

func bobGrants(p Permission) []credTestEntry {
	return ents(e(p, "s3://b1/bob/*"), e(p, "s3://b1/bob/reports/*"))
}

func e(p Permission, scope string) credTestEntry { return credTestEntry{"alice", p, scope} }

func one(p Permission, scope string) []credTestEntry { return ents(e(p, scope)) }

func ents(es ...credTestEntry) []credTestEntry { return es }

func hitString(e *credEntry) string {
	if e == nil {
		return ""
	}
	return e.scope + " " + string(e.perm)
}

func TestCredCacheLookupSkipsExpired(t *testing.T) {
	c := newCredCache(10)
	wide, err := c.store("alice", PermissionRead, "s3://b/*", credTestCreds("wide", time.Hour), credTestNow)
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := c.store("alice", PermissionRead, "s3://b/p/*", credTestCreds("narrow", 15*time.Minute), credTestNow)
	if err != nil {
		t.Fatal(err)
	}
	forever, err := c.store("alice", PermissionWrite, "s3://b/p/*", aws.Credentials{AccessKeyID: "AKIA"}, credTestNow)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		after time.Duration
		want  Permission
		hit   *credEntry
	}{
		{0, PermissionRead, narrow},
		{14 * time.Minute, PermissionRead, narrow},                      // stale: still served
		{15*time.Minute - 10*time.Second - 1, PermissionRead, narrow},   // last usable instant
		{15*time.Minute - 10*time.Second, PermissionRead, wide},         // narrow expired
		{time.Hour - 10*time.Second - 1, PermissionRead, wide},          // last usable instant
		{time.Hour - 10*time.Second, PermissionRead, nil},               // both expired
		{1000 * time.Hour, PermissionWrite, forever},                    // never expires
		{-1000 * time.Hour, PermissionRead, narrow},                     // clock before obtained
		{15*time.Minute - 10*time.Second, PermissionReadWrite, nil},     // no READWRITE entry
		{15*time.Minute - 10*time.Second, PermissionWrite, forever},     // WRITE entry never expires
		{15*time.Minute - 10*time.Second - 1, PermissionWrite, forever}, // READ entries do not serve WRITE
	}
	for _, tt := range tests {
		if got := c.lookup("alice", tt.want, "s3://b/p/x", credTestNow.Add(tt.after)); got != tt.hit {
			t.Errorf("lookup %s at +%v = %q, want %q", tt.want, tt.after, hitString(got), hitString(tt.hit))
		}
	}
	// Expired entries stay until replaced, evicted or removed.
	if n := c.len(); n != 3 {
		t.Errorf("len = %d, want 3", n)
	}
}

func TestCredCacheEntryAccessors(t *testing.T) {
	c := newCredCache(10)
	creds := credTestCreds("x", time.Hour)
	obtained := credTestNow.Add(-time.Minute)
	got, err := c.store("alice", PermissionWrite, "s3://b/k", creds, obtained)
	if err != nil {
		t.Fatal(err)
	}
	if got.credentials != creds || got.scope != "s3://b/k" || got.perm != PermissionWrite || !got.obtained.Equal(obtained) {
		t.Errorf("entry = %+v", got)
	}
	if !got.expires().Equal(creds.Expires) {
		t.Errorf("expires = %v, want %v", got.expires(), creds.Expires)
	}
	if s := got.state(credTestNow.Add(55 * time.Minute)); s != credStale {
		t.Errorf("state = %v, want stale", s)
	}
	static, err := c.store("alice", PermissionRead, "s3://b/*", aws.Credentials{AccessKeyID: "AKIA", Expires: credTestNow}, obtained)
	if err != nil {
		t.Fatal(err)
	}
	if !static.expires().IsZero() {
		t.Errorf("expires of credentials that cannot expire = %v, want zero", static.expires())
	}
}

func TestCredCacheStoreInvalidPermission(t *testing.T) {
	c := newCredCache(10)
	for _, p := range []Permission{"", "read", "LIST"} {
		e, err := c.store("alice", p, "s3://b/*", credTestCreds("x", time.Hour), credTestNow)
		if err == nil || e != nil {
			t.Errorf("store with permission %q = %v, %v; want an error", p, e, err)
		} else if strings.Contains(err.Error(), "secret-") || strings.Contains(err.Error(), "token-") {
			t.Errorf("error reveals credentials: %v", err)
		}
		if c.remove("alice", p, "s3://b/*") {
			t.Errorf("remove with permission %q reported a removal", p)
		}
	}
	if n := c.len(); n != 0 {
		t.Errorf("len = %d, want 0", n)
	}
	checkCredCache(t, c)
}

func TestCredCacheStoreReplaces(t *testing.T) {
	c := newCredCache(2)
	old := mustStore(t, c, e(PermissionRead, "s3://b/p/*"))
	other := mustStore(t, c, e(PermissionRead, "s3://b/*"))
	old.tryStartRefresh()
	fresh, err := c.store("alice", PermissionRead, "s3://b/p/*", credTestCreds("fresh", 2*time.Hour), credTestNow)
	if err != nil {
		t.Fatal(err)
	}
	checkCredCache(t, c)
	if n := c.len(); n != 2 {
		t.Errorf("len = %d, want 2", n)
	}
	if n := c.evicted(); n != 0 {
		t.Errorf("evicted = %d, want 0: replacing is not evicting", n)
	}
	if got := c.lookup("alice", PermissionRead, "s3://b/p/x", credTestNow); got != fresh {
		t.Errorf("lookup = %+v, want the replacement", got)
	}
	if !fresh.tryStartRefresh() {
		t.Error("the replacement inherited the old entry's refresh claim")
	}
	// A refresh holding the old entry cannot remove the new one.
	if c.removeEntry(old) {
		t.Error("removeEntry(old) = true after replacement")
	}
	if got := c.lookup("alice", PermissionRead, "s3://b/p/x", credTestNow); got != fresh {
		t.Errorf("after removeEntry(old), lookup = %q, want the replacement", hitString(got))
	}
	if !c.removeEntry(fresh) {
		t.Error("removeEntry(fresh) = false")
	}
	if c.removeEntry(fresh) {
		t.Error("second removeEntry(fresh) = true")
	}
	if c.removeEntry(nil) {
		t.Error("removeEntry(nil) = true")
	}
	// Entries never stored, such as credentials used once without caching,
	// are not cached either, whatever their slot says.
	for _, stray := range []*credEntry{{}, {scope: "s3://b/*", perm: PermissionRead, slot: 1}, {slot: 7}} {
		if c.removeEntry(stray) {
			t.Errorf("removeEntry of an entry never stored (slot %d) = true", stray.slot)
		}
	}
	if got := c.lookup("alice", PermissionRead, "s3://b/p/x", credTestNow); got != other {
		t.Errorf("after removal, lookup = %q, want s3://b/*", hitString(got))
	}
	checkCredCache(t, c)
}

func TestCredCacheRemove(t *testing.T) {
	c := newCredCache(10)
	mustStore(t, c, e(PermissionRead, "s3://b/p/*"))
	mustStore(t, c, e(PermissionRead, "s3://b/p/x"))
	tests := []struct {
		entry credTestEntry
		want  bool
	}{
		{credTestEntry{"bob", PermissionRead, "s3://b/p/*"}, false},
		{e(PermissionWrite, "s3://b/p/*"), false},
		{e(PermissionReadWrite, "s3://b/p/*"), false},
		{e(PermissionRead, "s3://b/p/"), false}, // the exact scope at the same node
		{e(PermissionRead, "s3://b/p*"), false},
		{e(PermissionRead, "s3://b/p/*"), true},
		{e(PermissionRead, "s3://b/p/*"), false},
		{e(PermissionRead, "s3://b/p/x"), true},
	}
	for _, tt := range tests {
		if got := c.remove(tt.entry.identity, tt.entry.perm, tt.entry.scope); got != tt.want {
			t.Errorf("remove(%v) = %v, want %v", tt.entry, got, tt.want)
		}
		checkCredCache(t, c)
	}
	if len(c.trees) != 0 {
		t.Errorf("%d tries left after removing every entry", len(c.trees))
	}
}

// TestCredCachePrune removes entries one by one, in random order, and checks
// after each removal that the trie is exactly as small as a trie built from
// the entries that remain.
func TestCredCachePrune(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		// Narrow alphabets make deep tries, wide ones wide nodes.
		alphabet, maxLen := credNarrowAlphabet, 6
		if round%2 == 1 {
			alphabet, maxLen = credWideAlphabet, 3
		}
		var all []credTestEntry
		seen := map[credTestEntry]bool{}
		for range 40 {
			ent := credTestEntry{
				identity: []string{"alice", "bob"}[rng.IntN(2)],
				perm:     []Permission{PermissionRead, PermissionWrite, PermissionReadWrite}[rng.IntN(3)],
				scope:    randomCredString(rng, alphabet, maxLen, true),
			}
			if !seen[ent] {
				seen[ent] = true
				all = append(all, ent)
			}
		}
		c := newCredCache(len(all))
		for _, ent := range all {
			mustStore(t, c, ent)
		}
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		for i, ent := range all {
			if !c.remove(ent.identity, ent.perm, ent.scope) {
				t.Fatalf("round %d: remove(%v) = false", round, ent)
			}
			nodes := checkCredCache(t, c)
			rebuilt := newCredCache(len(all))
			for _, kept := range all[i+1:] {
				mustStore(t, rebuilt, kept)
			}
			if want := checkCredCache(t, rebuilt); nodes != want {
				t.Fatalf("round %d: after removing %v the trie has %d nodes, a trie built from the rest %d", round, ent, nodes, want)
			}
		}
		if len(c.trees) != 0 || c.len() != 0 {
			t.Fatalf("round %d: %d tries and %d entries left after removing every entry", round, len(c.trees), c.len())
		}
	}
}

func TestCredCacheEvictionOrder(t *testing.T) {
	c := newCredCache(4)
	for _, s := range []string{"a", "b", "c", "d"} {
		mustStore(t, c, e(PermissionRead, "s3://b/"+s))
	}
	// Untouched entries go in the order they came; a touched one gets a
	// second chance, and loses it once the hand has passed it.
	steps := []struct {
		touch   string
		store   string
		evicted string
	}{
		{"", "e", "a"},
		{"b", "f", "c"},
		{"", "g", "d"},
		{"", "h", "e"},
		{"", "i", "b"},
		{"g", "j", "f"},
		{"", "k", "h"},
	}
	for i, st := range steps {
		before := cachedScopes(c)
		if st.touch != "" {
			if c.lookup("alice", PermissionRead, "s3://b/"+st.touch, credTestNow) == nil {
				t.Fatalf("step %d: %s is not cached", i, st.touch)
			}
		}
		mustStore(t, c, e(PermissionRead, "s3://b/"+st.store))
		after := cachedScopes(c)
		var gone []string
		for s := range before {
			if !after[s] {
				gone = append(gone, s)
			}
		}
		if want := []string{"s3://b/" + st.evicted}; !slices.Equal(gone, want) {
			t.Fatalf("step %d: storing %s evicted %v, want %v", i, st.store, gone, want)
		}
		if got := c.evicted(); got != uint64(i+1) {
			t.Fatalf("step %d: evicted() = %d, want %d", i, got, i+1)
		}
		checkCredCache(t, c)
	}
}

// TestCredCacheEvictionSparesTouched checks the property every LRU
// approximation must have, at several sizes: fill the cache, touch the first
// entry, store one more; the touched entry stays.
func TestCredCacheEvictionSparesTouched(t *testing.T) {
	for _, n := range []int{2, 3, 10, 1000} {
		c := newCredCache(n)
		for i := range n {
			mustStore(t, c, e(PermissionRead, fmt.Sprintf("s3://b/%d/*", i)))
		}
		first := c.lookup("alice", PermissionRead, "s3://b/0/x", credTestNow)
		if first == nil {
			t.Fatalf("n=%d: first entry not cached", n)
		}
		mustStore(t, c, e(PermissionRead, "s3://b/new/*"))
		if c.len() != n || c.evicted() != 1 {
			t.Fatalf("n=%d: len = %d, evicted = %d; want %d, 1", n, c.len(), c.evicted(), n)
		}
		if first.slot < 0 {
			t.Errorf("n=%d: the touched entry was evicted", n)
		}
		checkCredCache(t, c)
	}
}

func TestCredCacheCapacityOne(t *testing.T) {
	for _, capacity := range []int{1, 0, -5} {
		c := newCredCache(capacity)
		a := mustStore(t, c, e(PermissionRead, "s3://b/a/*"))
		if got := c.lookup("alice", PermissionRead, "s3://b/a/x", credTestNow); got != a {
			t.Fatalf("capacity %d: lookup = %q, want a", capacity, hitString(got))
		}
		b := mustStore(t, c, credTestEntry{"bob", PermissionWrite, "s3://b/b/*"})
		if c.len() != 1 || c.evicted() != 1 {
			t.Fatalf("capacity %d: len = %d, evicted = %d; want 1, 1", capacity, c.len(), c.evicted())
		}
		if got := c.lookup("alice", PermissionRead, "s3://b/a/x", credTestNow); got != nil {
			t.Errorf("capacity %d: evicted entry still found", capacity)
		}
		if got := c.lookup("bob", PermissionWrite, "s3://b/b/x", credTestNow); got != b {
			t.Errorf("capacity %d: lookup = %q, want b", capacity, hitString(got))
		}
		// Replacing the only entry does not evict it.
		b2 := mustStore(t, c, credTestEntry{"bob", PermissionWrite, "s3://b/b/*"})
		if got := c.lookup("bob", PermissionWrite, "s3://b/b/x", credTestNow); got != b2 || c.evicted() != 1 {
			t.Errorf("capacity %d: after replacement lookup = %v, evicted = %d", capacity, got, c.evicted())
		}
		if len(c.trees) != 1 {
			t.Errorf("capacity %d: %d tries, want 1 (alice's pruned)", capacity, len(c.trees))
		}
		checkCredCache(t, c)
	}
}

func TestCredCacheRefreshClaim(t *testing.T) {
	c := newCredCache(1)
	ent := mustStore(t, c, e(PermissionRead, "s3://b/*"))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if ent.tryStartRefresh() {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d goroutines claimed the refresh, want 1", n)
	}
	ent.endRefresh()
	if !ent.tryStartRefresh() {
		t.Fatal("tryStartRefresh after endRefresh = false")
	}
}

// TestCredCacheRandomized compares the cache with the brute-force reference
// over random operations on short scopes from a small alphabet, so that
// prefixes collide often.
func TestCredCacheRandomized(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 42))
		capacity := 1 + rng.IntN(60)
		alphabet := credNarrowAlphabet
		if seed%2 == 1 {
			alphabet = credWideAlphabet
		}
		c := newCredCache(capacity)
		model := newCredModel()
		for op := range 2000 {
			switch rng.IntN(10) {
			case 0, 1, 2:
				ent := randomCredTestEntry(rng, alphabet)
				life := []time.Duration{time.Hour, 20 * time.Minute, 30 * time.Second}[rng.IntN(3)]
				got, err := c.store(ent.identity, ent.perm, ent.scope, credTestCreds(ent.scope, life), credTestNow)
				if err != nil {
					t.Fatal(err)
				}
				model.stored(t, c, ent, got)
			case 3:
				ent := randomCredTestEntry(rng, alphabet)
				_, had := model.entries[ent]
				if got := c.remove(ent.identity, ent.perm, ent.scope); got != had {
					t.Fatalf("seed %d op %d: remove(%v) = %v, want %v", seed, op, ent, got, had)
				}
				delete(model.entries, ent)
			default:
				identity := []string{"alice", "bob"}[rng.IntN(2)]
				want := []Permission{PermissionRead, PermissionWrite, PermissionReadWrite}[rng.IntN(3)]
				target := randomCredString(rng, alphabet, 7, true)
				now := credTestNow.Add([]time.Duration{0, 19 * time.Minute, 59 * time.Minute}[rng.IntN(3)])
				got := c.lookup(identity, want, target, now)
				ref := credRefLookup(model.list(), identity, want, target, now)
				if hitString(got) != refString(ref) || got != nil && (got.tree.identity != identity || got != model.entries[ref.credTestEntry]) {
					t.Fatalf("seed %d op %d: lookup(%s, %s, %q) = %q, reference %q", seed, op, identity, want, target, hitString(got), refString(ref))
				}
			}
			if op%100 == 0 {
				checkCredCache(t, c)
			}
		}
		checkCredCache(t, c)
		if c.len() > capacity {
			t.Fatalf("seed %d: len %d > capacity %d", seed, c.len(), capacity)
		}
	}
}

// TestCredCacheConcurrent mixes lookups, stores, removes and evictions from
// 64 goroutines; run it with -race. Every hit must be a correct one.
func TestCredCacheConcurrent(t *testing.T) {
	const capacity = 40
	c := newCredCache(capacity)
	var wg sync.WaitGroup
	var hits atomic.Int64
	errs := make(chan string, 64)
	for g := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			var mine []*credEntry
			for range 2000 {
				switch rng.IntN(10) {
				case 0, 1:
					ent := randomCredTestEntry(rng, credNarrowAlphabet)
					got, err := c.store(ent.identity, ent.perm, ent.scope, credTestCreds(ent.scope, time.Hour), credTestNow)
					if err != nil {
						errs <- err.Error()
						return
					}
					mine = append(mine, got)
				case 2:
					ent := randomCredTestEntry(rng, credNarrowAlphabet)
					c.remove(ent.identity, ent.perm, ent.scope)
				case 3:
					if len(mine) > 0 {
						ent := mine[rng.IntN(len(mine))]
						if c.removeEntry(ent) {
							if again := c.removeEntry(ent); again {
								errs <- "removeEntry succeeded twice"
								return
							}
						}
					}
				default:
					identity := []string{"alice", "bob"}[rng.IntN(2)]
					want := []Permission{PermissionRead, PermissionWrite, PermissionReadWrite}[rng.IntN(3)]
					target := randomCredString(rng, credNarrowAlphabet, 7, true)
					got := c.lookup(identity, want, target, credTestNow)
					if got == nil {
						continue
					}
					hits.Add(1)
					if got.tree.identity != identity || !got.perm.Satisfies(want) || !credRefCovers(got.scope, target) {
						errs <- fmt.Sprintf("lookup(%s, %s, %q) returned %s %q", identity, want, target, got.tree.identity, hitString(got))
						return
					}
					if got.tryStartRefresh() {
						got.endRefresh()
					}
				}
				if n := c.len(); n > capacity {
					errs <- fmt.Sprintf("len %d > capacity %d", n, capacity)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkCredCache(t, c)
	if hits.Load() == 0 || c.evicted() == 0 {
		t.Errorf("hits = %d, evictions = %d: the test exercised too little", hits.Load(), c.evicted())
	}
}

// FuzzCredCache runs the operations a fuzzed byte string describes against a
// cache with room for 8 entries and compares every lookup with the
// brute-force reference.
func FuzzCredCache(f *testing.F) {
	f.Add([]byte("\x00aa/*\x00a\x02aa/b"))
	f.Add([]byte("\x00a*\x01ab\x02ab\x03ab\x02ab*"))
	f.Add([]byte("\x00\x04s3://b/p/*\x00\x05s3://b/*\x02\x01s3://b/p/x\x04\x00\x02\x02\x00"))
	f.Fuzz(func(t *testing.T, program []byte) {
		const capacity = 8
		c := newCredCache(capacity)
		model := newCredModel()
		var stored []*credEntry
		r := credFuzzReader{data: program}
		for step := 0; !r.done(); step++ {
			op := r.byte()
			ent := credTestEntry{
				identity: []string{"alice", "bob"}[op>>3&1],
				perm:     []Permission{PermissionRead, PermissionWrite, PermissionReadWrite, "BAD"}[op>>4&3],
			}
			switch op & 7 {
			case 0, 1: // store
				ent.scope = r.string()
				life := []time.Duration{time.Hour, 20 * time.Minute, 30 * time.Second, -time.Minute}[op>>6]
				got, err := c.store(ent.identity, ent.perm, ent.scope, credTestCreds(ent.scope, life), credTestNow)
				if ent.perm == "BAD" {
					if err == nil {
						t.Fatalf("step %d: store with a bad permission succeeded", step)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				model.stored(t, c, ent, got)
				stored = append(stored, got)
			case 2: // remove
				ent.scope = r.string()
				_, had := model.entries[ent]
				if got := c.remove(ent.identity, ent.perm, ent.scope); got != had {
					t.Fatalf("step %d: remove(%v) = %v, want %v", step, ent, got, had)
				}
				delete(model.entries, ent)
			case 3: // remove an entry stored before, if it is still the current one
				if len(stored) == 0 {
					continue
				}
				old := stored[int(r.byte())%len(stored)]
				key := credTestEntry{old.tree.identity, old.perm, old.scope}
				current := model.entries[key] == old
				if got := c.removeEntry(old); got != current {
					t.Fatalf("step %d: removeEntry(%v) = %v, want %v", step, key, got, current)
				}
				if current {
					delete(model.entries, key)
				}
			default: // lookup
				target := r.string()
				now := credTestNow.Add([]time.Duration{0, 19 * time.Minute, 59 * time.Minute, -time.Hour}[op>>6])
				got := c.lookup(ent.identity, ent.perm, target, now)
				ref := credRefLookup(model.list(), ent.identity, ent.perm, target, now)
				if hitString(got) != refString(ref) || got != nil && got != model.entries[ref.credTestEntry] {
					t.Fatalf("step %d: lookup(%s, %s, %q) = %q, reference %q", step, ent.identity, ent.perm, target, hitString(got), refString(ref))
				}
			}
			checkCredCache(t, c)
		}
	})
}

// credFuzzReader decodes a fuzzed program.
type credFuzzReader struct {
	data []byte
}

func (r *credFuzzReader) done() bool { return len(r.data) == 0 }

func (r *credFuzzReader) byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

// string reads a string of up to 15 bytes: its length, then its bytes. Bytes
// 0 to 4 stand for the letters of a small alphabet, so that random programs
// build colliding prefixes, and bytes 5 to 31 for letters, so that they build
// nodes with many children; any other byte stands for itself.
func (r *credFuzzReader) string() string {
	n := int(r.byte() & 15)
	var sb strings.Builder
	for i := 0; i < n && !r.done(); i++ {
		b := r.byte()
		switch {
		case b < 5:
			b = "ab/*s"[b]
		case b < 32:
			b = 'a' + b - 5
		}
		sb.WriteByte(b)
	}
	return sb.String()
}

// Alphabets of random scopes and targets: a narrow one, so that prefixes
// collide often and tries grow deep, and a wide one, so that nodes have many
// children.
const (
	credNarrowAlphabet = "ab/"
	credWideAlphabet   = "abcdefghijklmnopqrstuvwxyz0123456789/"
)

// randomCredTestEntry returns a random entry over alphabet, its scope short
// enough that prefixes collide.
func randomCredTestEntry(rng *rand.Rand, alphabet string) credTestEntry {
	maxLen := 6
	if len(alphabet) > 8 {
		maxLen = 3
	}
	return credTestEntry{
		identity: []string{"alice", "bob"}[rng.IntN(2)],
		perm:     []Permission{PermissionRead, PermissionWrite, PermissionReadWrite}[rng.IntN(3)],
		scope:    randomCredString(rng, alphabet, maxLen, true),
	}
}

// randomCredString returns a string of up to maxLen bytes from alphabet,
// followed, half of the time if star is set, by "*".
func randomCredString(rng *rand.Rand, alphabet string, maxLen int, star bool) string {
	var sb strings.Builder
	for range rng.IntN(maxLen + 1) {
		sb.WriteByte(alphabet[rng.IntN(len(alphabet))])
	}
	if star && rng.IntN(2) == 0 {
		sb.WriteByte('*')
	}
	return sb.String()
}

// credModel is the reference's idea of what the cache holds.
type credModel struct {
	entries map[credTestEntry]*credEntry
}

func newCredModel() *credModel {
	return &credModel{entries: map[credTestEntry]*credEntry{}}
}

// stored records that ent was stored in c as got, and checks that c evicted
// at most one other entry to make room for it, and only when full.
func (m *credModel) stored(t testing.TB, c *credCache, ent credTestEntry, got *credEntry) {
	t.Helper()
	_, replacing := m.entries[ent]
	m.entries[ent] = got
	cached := cachedEntries(c)
	var gone []credTestEntry
	for k, v := range m.entries {
		if cached[v] != k {
			gone = append(gone, k)
		}
	}
	switch {
	case len(gone) > 1:
		t.Fatalf("storing %v lost %v", ent, gone)
	case len(gone) == 1 && (replacing || len(m.entries)-1 != c.capacity || gone[0] == ent):
		t.Fatalf("storing %v (replacing=%v, %d entries) evicted %v", ent, replacing, len(m.entries), gone[0])
	case len(gone) == 0 && len(m.entries) > c.capacity:
		t.Fatalf("storing %v in a full cache evicted nothing", ent)
	case len(gone) == 1:
		delete(m.entries, gone[0])
	}
	if len(cached) != len(m.entries) {
		t.Fatalf("cache holds %d entries, model %d", len(cached), len(m.entries))
	}
}

// credRefEntry is an entry as the brute-force reference sees it.
type credRefEntry struct {
	credTestEntry
	life credLifetime
}

func (m *credModel) list() []credRefEntry {
	var out []credRefEntry
	for k, v := range m.entries {
		out = append(out, credRefEntry{k, v.life})
	}
	return out
}

// refFrom turns test entries, valid for an hour, into reference entries.
func refFrom(es []credTestEntry) []credRefEntry {
	var out []credRefEntry
	for _, e := range es {
		out = append(out, credRefEntry{e, newCredLifetime(credTestCreds(e.scope, time.Hour), credTestNow)})
	}
	return out
}

func refString(e *credRefEntry) string {
	if e == nil {
		return ""
	}
	return e.scope + " " + string(e.perm)
}

// credRefCovers is service.md's rule, written as plainly as possible.
func credRefCovers(scope, target string) bool {
	if strings.HasSuffix(scope, "*") {
		return strings.HasPrefix(strings.TrimSuffix(target, "*"), strings.TrimSuffix(scope, "*"))
	}
	return scope == target
}

// credRefLookup is the brute-force reference of credCache.lookup: of all
// usable entries of identity that cover target with a sufficient permission,
// the one with the longest scope, exact scopes winning ties, and the requested
// permission winning over READWRITE.
func credRefLookup(entries []credRefEntry, identity string, want Permission, target string, now time.Time) *credRefEntry {
	rank := func(e *credRefEntry) [3]int {
		exact, samePerm := 0, 0
		if !strings.HasSuffix(e.scope, "*") {
			exact = 1
		}
		if e.perm == want {
			samePerm = 1
		}
		return [3]int{len(e.scope), exact, samePerm}
	}
	var best *credRefEntry
	for i := range entries {
		e := &entries[i]
		if e.identity != identity || !e.perm.Satisfies(want) || !want.valid() || !credRefCovers(e.scope, target) || !e.life.usableAt(now) {
			continue
		}
		if best == nil {
			best = e
			continue
		}
		if re, rb := rank(e), rank(best); slices.Compare(re[:], rb[:]) > 0 {
			best = e
		}
	}
	return best
}

// cachedScopes returns the scopes in c, without touching reference bits.
func cachedScopes(c *credCache) map[string]bool {
	out := map[string]bool{}
	for e := range cachedEntries(c) {
		out[e.scope] = true
	}
	return out
}

// cachedEntries returns the entries in c, without touching reference bits.
func cachedEntries(c *credCache) map[*credEntry]credTestEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[*credEntry]credTestEntry{}
	for _, e := range c.ring {
		if e != nil {
			out[e] = credTestEntry{e.tree.identity, e.perm, e.scope}
		}
	}
	return out
}

// checkCredCache checks the invariants of c and returns its number of trie
// nodes, roots included.
func checkCredCache(t testing.TB, c *credCache) int {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.ring) > c.capacity {
		t.Fatalf("ring of %d slots, capacity %d", len(c.ring), c.capacity)
	}
	free := map[int]bool{}
	for _, s := range c.free {
		if free[s] || s < 0 || s >= len(c.ring) || c.ring[s] != nil {
			t.Fatalf("bad free slot %d", s)
		}
		free[s] = true
	}
	inRing := 0
	for i, e := range c.ring {
		if e == nil && !free[i] {
			t.Fatalf("slot %d is nil but not free", i)
		}
		if e != nil {
			inRing++
			if e.slot != i {
				t.Fatalf("entry %q in slot %d says slot %d", e.scope, i, e.slot)
			}
		}
	}
	if len(c.ring) > 0 && (c.hand < 0 || c.hand >= len(c.ring)) {
		t.Fatalf("hand %d outside ring of %d", c.hand, len(c.ring))
	}
	nodes, inTries := 0, 0
	for identity, tree := range c.trees {
		if tree.identity != identity {
			t.Fatalf("tree of %q filed under %q", tree.identity, identity)
		}
		if tree.root.entries == nil && len(tree.root.children) == 0 {
			t.Fatalf("empty tree left for %q", identity)
		}
		var walk func(n *credNode, path string, isRoot bool)
		walk = func(n *credNode, path string, isRoot bool) {
			nodes++
			if !isRoot && (n.label == "" || n.entries == nil && len(n.children) < 2) {
				t.Fatalf("%q: node %q has label %q, %d children and entries %v", identity, path, n.label, len(n.children), n.entries)
			}
			if len(n.children) > 0 && cap(n.children) > 4*len(n.children) {
				t.Fatalf("%q: node %q: %d children in room for %d", identity, path, len(n.children), cap(n.children))
			}
			if k := min(len(n.index), credInlineChildren); string(n.firsts[:k]) != n.index[:k] {
				t.Fatalf("%q: node %q: inline index %q, index %q", identity, path, n.firsts, n.index)
			}
			if len(n.index) != len(n.children) {
				t.Fatalf("%q: node %q: %d index bytes, %d children", identity, path, len(n.index), len(n.children))
			}
			firsts := map[byte]bool{}
			for i := range n.children {
				child := &n.children[i]
				if child.label == "" || n.index[i] != child.label[0] || firsts[n.index[i]] {
					t.Fatalf("%q: node %q: bad child %d %q, index %q", identity, path, i, child.label, n.index)
				}
				firsts[n.index[i]] = true
			}
			kinds := map[[2]int]bool{}
			for e := n.entries; e != nil; e = e.next {
				inTries++
				key, exact := credScopeKey(e.scope)
				kind := [2]int{int(e.permIndex), 0}
				if e.exact {
					kind[1] = 1
				}
				if key != path || exact != e.exact || credPermIndex(e.perm) != e.permIndex || kinds[kind] || e.tree != tree || e.slot < 0 || e.slot >= len(c.ring) || c.ring[e.slot] != e {
					t.Fatalf("%q: node %q holds misplaced or duplicate entry %s %q (slot %d)", identity, path, e.perm, e.scope, e.slot)
				}
				kinds[kind] = true
			}
			for i := range n.children {
				walk(&n.children[i], path+n.children[i].label, false)
			}
		}
		walk(&tree.root, "", true)
	}
	if inTries != inRing || inRing != len(c.ring)-len(c.free) {
		t.Fatalf("%d entries in tries, %d in ring, len %d", inTries, inRing, len(c.ring)-len(c.free))
	}
	return nodes
}

package accessgrants

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestTTLCacheGetSet(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTTLCache[string, int](10)
	if _, ok := c.get("a", t0); ok {
		t.Fatal("get on an empty cache found a value")
	}
	c.set("a", 1, time.Minute, t0)
	tests := []struct {
		now    time.Time
		want   int
		wantOK bool
	}{
		{t0, 1, true},
		{t0.Add(-time.Hour), 1, true},
		{t0.Add(time.Minute - 1), 1, true},
		{t0.Add(time.Minute), 0, false}, // the first expired instant
		{t0.Add(time.Hour), 0, false},
	}
	for _, tt := range tests {
		if got, ok := c.get("a", tt.now); got != tt.want || ok != tt.wantOK {
			t.Errorf("get at +%v = %d, %v; want %d, %v", tt.now.Sub(t0), got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := c.get("b", t0); ok {
		t.Error("get of a key never set found a value")
	}

	// Overwriting sets a new value and a new expiry.
	c.set("a", 2, time.Hour, t0.Add(30*time.Minute))
	if got, ok := c.get("a", t0.Add(time.Hour)); got != 2 || !ok {
		t.Errorf("after overwrite, get = %d, %v; want 2, true", got, ok)
	}
	c.set("a", 3, time.Second, t0)
	if _, ok := c.get("a", t0.Add(time.Second)); ok {
		t.Error("overwriting with a shorter ttl kept the longer expiry")
	}

	// A ttl of zero or less deletes.
	c.set("a", 4, 0, t0)
	if _, ok := c.get("a", t0); ok || c.len() != 0 {
		t.Errorf("after set with ttl 0: found=%v, len=%d; want false, 0", ok, c.len())
	}
	c.set("a", 5, -time.Second, t0)
	if c.len() != 0 {
		t.Errorf("set with a negative ttl stored an entry")
	}

	c.set("b", 6, time.Minute, t0)
	c.delete("b")
	c.delete("never")
	if _, ok := c.get("b", t0); ok || c.len() != 0 {
		t.Errorf("after delete: found=%v, len=%d; want false, 0", ok, c.len())
	}
}

// TestTTLCacheEviction checks what a full cache drops to make room.
func TestTTLCacheEviction(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	type set struct {
		key string
		ttl time.Duration
		at  time.Duration // after t0
	}
	tests := []struct {
		name     string
		capacity int
		sets     []set
		want     []string // keys left, sorted
	}{
		{
			name:     "oldest goes when none expired",
			capacity: 3,
			sets:     []set{{"a", time.Hour, 0}, {"b", time.Hour, 1}, {"c", time.Hour, 2}, {"d", time.Hour, 3}},
			want:     []string{"b", "c", "d"},
		},
		{
			name:     "oldest by when set, not by expiry",
			capacity: 3,
			sets:     []set{{"a", 3 * time.Hour, 0}, {"b", time.Hour, 1}, {"c", 2 * time.Hour, 2}, {"d", time.Hour, 3}},
			want:     []string{"b", "c", "d"},
		},
		{
			name:     "overwriting makes an entry the newest",
			capacity: 3,
			sets:     []set{{"a", time.Hour, 0}, {"b", time.Hour, 1}, {"c", time.Hour, 2}, {"a", time.Hour, 3}, {"d", time.Hour, 4}},
			want:     []string{"a", "c", "d"},
		},
		{
			name:     "expired go first, however new",
			capacity: 3,
			sets:     []set{{"a", time.Hour, 0}, {"b", time.Minute, 1}, {"c", time.Hour, 2}, {"d", time.Hour, 2 * time.Minute}},
			want:     []string{"a", "c", "d"},
		},
		{
			name:     "every expired entry goes",
			capacity: 4,
			sets: []set{
				{"a", time.Minute, 0}, {"b", time.Hour, 1}, {"c", time.Minute, 2}, {"d", time.Minute, 3},
				{"e", time.Hour, 2 * time.Minute}, {"f", time.Hour, 2 * time.Minute}, {"g", time.Hour, 2 * time.Minute},
			},
			want: []string{"b", "e", "f", "g"},
		},
		{
			name:     "capacity 1",
			capacity: 1,
			sets:     []set{{"a", time.Hour, 0}, {"b", time.Hour, 1}},
			want:     []string{"b"},
		},
		{
			name:     "capacity 0 is 1",
			capacity: 0,
			sets:     []set{{"a", time.Hour, 0}, {"b", time.Hour, 1}},
			want:     []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTTLCache[string, string](tt.capacity)
			for _, s := range tt.sets {
				c.set(s.key, s.key, s.ttl, t0.Add(s.at))
			}
			checkTTLCache(t, c)
			var got []string
			for k := range c.items {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("keys = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTTLCacheDenials uses the cache the way the resolver remembers
// AccessDenied answers.
func TestTTLCacheDenials(t *testing.T) {
	type key struct {
		identity string
		perm     Permission
		target   string
	}
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	denied := errors.New("AccessDenied")
	c := newTTLCache[key, error](100)
	c.set(key{"alice", PermissionRead, "s3://b/x"}, denied, 5*time.Minute, t0)
	if err, ok := c.get(key{"alice", PermissionRead, "s3://b/x"}, t0.Add(time.Minute)); !ok || err != denied {
		t.Errorf("get = %v, %v; want the denial", err, ok)
	}
	for _, k := range []key{{"bob", PermissionRead, "s3://b/x"}, {"alice", PermissionWrite, "s3://b/x"}, {"alice", PermissionRead, "s3://b/y"}} {
		if _, ok := c.get(k, t0); ok {
			t.Errorf("get(%v) found the denial of another key", k)
		}
	}
}

// TestTTLCacheRandomized compares the cache with a plain map over random
// operations, checking its invariants as it goes.
func TestTTLCacheRandomized(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	const capacity = 16
	c := newTTLCache[int, int](capacity)
	type ref struct {
		value   int
		expires time.Time
	}
	model := map[int]ref{}
	now := t0
	for op := range 20000 {
		now = now.Add(time.Duration(rng.IntN(10)) * time.Second)
		k := rng.IntN(40)
		switch rng.IntN(4) {
		case 0:
			ttl := time.Duration(rng.IntN(120)-10) * time.Second
			c.set(k, op, ttl, now)
			if ttl <= 0 {
				delete(model, k)
				break
			}
			_, had := model[k]
			model[k] = ref{op, now.Add(ttl)}
			if !had && len(model) > capacity {
				// Something was dropped: the cache tells what.
				for mk := range model {
					if _, ok := c.items[mk]; !ok {
						delete(model, mk)
					}
				}
			}
		case 1:
			c.delete(k)
			delete(model, k)
		default:
			got, ok := c.get(k, now)
			want, wantOK := model[k]
			wantOK = wantOK && now.Before(want.expires)
			if ok != wantOK || ok && got != want.value {
				t.Fatalf("op %d: get(%d) = %d, %v; want %d, %v", op, k, got, ok, want.value, wantOK)
			}
		}
		if len(c.items) != len(model) || len(model) > capacity {
			t.Fatalf("op %d: cache holds %d, model %d, capacity %d", op, len(c.items), len(model), capacity)
		}
		if op%500 == 0 {
			checkTTLCache(t, c)
		}
	}
}

func TestTTLCacheConcurrent(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTTLCache[string, string](50)
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 1000 {
				k := fmt.Sprint(rng.IntN(100))
				now := t0.Add(time.Duration(i) * time.Second)
				switch rng.IntN(4) {
				case 0:
					c.set(k, "v"+k, time.Duration(rng.IntN(60))*time.Second, now)
				case 1:
					c.delete(k)
				default:
					if v, ok := c.get(k, now); ok && v != "v"+k {
						t.Errorf("get(%s) = %q", k, v)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	checkTTLCache(t, c)
	if n := c.len(); n > 50 {
		t.Errorf("len = %d > capacity 50", n)
	}
}

// checkTTLCache checks that the map, the heap and the list of c agree.
func checkTTLCache[K comparable, V any](t *testing.T, c *ttlCache[K, V]) {
	t.Helper()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.items) > c.capacity || len(c.byExpiry) != len(c.items) {
		t.Fatalf("%d items, %d in heap, capacity %d", len(c.items), len(c.byExpiry), c.capacity)
	}
	for i, it := range c.byExpiry {
		if it.heapIndex != i || c.items[it.key] != it {
			t.Fatalf("heap item %d is misplaced", i)
		}
		if i > 0 && it.expires.Before(c.byExpiry[(i-1)/2].expires) {
			t.Fatalf("heap order broken at %d", i)
		}
	}
	n := 0
	var prev *ttlItem[K, V]
	for it := c.oldest; it != nil; it = it.next {
		if it.prev != prev || c.items[it.key] != it {
			t.Fatal("list broken")
		}
		prev = it
		n++
	}
	if prev != c.newest || n != len(c.items) {
		t.Fatalf("list of %d items ends at %p, newest %p; map holds %d", n, prev, c.newest, len(c.items))
	}
}

package accessgrants

import (
	"container/heap"
	"sync"
	"time"
)

// ttlCache is a bounded map whose entries expire: each entry is given a
// time-to-live when it is set and is invisible from then on. The plugin keeps
// in one the AccessDenied answers it remembers and in others what it learns
// about identities and buckets (caller accounts, bucket Regions, instance
// owners).
//
// When the cache is full, setting a new key first drops every expired entry,
// then, if none was expired, the oldest entry, the one set longest ago.
// Expired entries are otherwise left in place until they are overwritten,
// deleted or dropped that way, so that get needs only a read lock.
//
// A ttlCache is safe for concurrent use. The zero value is not usable; use
// newTTLCache.
type ttlCache[K comparable, V any] struct {
	capacity int

	mu    sync.RWMutex
	items map[K]*ttlItem[K, V]
	// byExpiry orders the items by expiry, soonest first.
	byExpiry ttlHeap[K, V]
	// oldest and newest are the ends of the list of items in the order they
	// were set.
	oldest, newest *ttlItem[K, V]
}

// ttlItem is one entry of a ttlCache.
type ttlItem[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time // the first instant at which the entry is expired

	heapIndex  int // position in ttlCache.byExpiry
	prev, next *ttlItem[K, V]
}

// newTTLCache returns an empty cache holding at most capacity entries; a
// capacity below 1 is taken as 1.
func newTTLCache[K comparable, V any](capacity int) *ttlCache[K, V] {
	return &ttlCache[K, V]{
		capacity: max(capacity, 1),
		items:    make(map[K]*ttlItem[K, V]),
	}
}

// get returns the value set for k and whether there is one that has not
// expired at now.
func (c *ttlCache[K, V]) get(k K, now time.Time) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if it := c.items[k]; it != nil && now.Before(it.expires) {
		return it.value, true
	}
	var zero V
	return zero, false
}

// set stores v for k, replacing any value there was, until ttl after now. A
// ttl of zero or less stores nothing and deletes k.
func (c *ttlCache[K, V]) set(k K, v V, ttl time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it := c.items[k]; it != nil {
		c.unlink(it)
	}
	if ttl <= 0 {
		return
	}
	if len(c.items) >= c.capacity {
		c.makeRoom(now)
	}
	it := &ttlItem[K, V]{key: k, value: v, expires: now.Add(ttl)}
	c.items[k] = it
	heap.Push(&c.byExpiry, it)
	it.prev = c.newest
	if c.newest != nil {
		c.newest.next = it
	} else {
		c.oldest = it
	}
	c.newest = it
}

// delete removes k, if it is there.
func (c *ttlCache[K, V]) delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it := c.items[k]; it != nil {
		c.unlink(it)
	}
}

// len returns the number of entries, including expired ones not yet dropped.
func (c *ttlCache[K, V]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// makeRoom drops the entries expired at now or, if there are none, the
// oldest entry. The caller holds c.mu for writing.
func (c *ttlCache[K, V]) makeRoom(now time.Time) {
	dropped := false
	for len(c.byExpiry) > 0 && !now.Before(c.byExpiry[0].expires) {
		c.unlink(c.byExpiry[0])
		dropped = true
	}
	if !dropped && c.oldest != nil {
		c.unlink(c.oldest)
	}
}

// unlink removes it from the map, the heap and the list. The caller holds
// c.mu for writing.
func (c *ttlCache[K, V]) unlink(it *ttlItem[K, V]) {
	delete(c.items, it.key)
	heap.Remove(&c.byExpiry, it.heapIndex)
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		c.oldest = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		c.newest = it.prev
	}
	it.prev, it.next = nil, nil
}

// ttlHeap is a min-heap of items by expiry, for container/heap.
type ttlHeap[K comparable, V any] []*ttlItem[K, V]

// Len returns the number of items; for container/heap only.
func (h ttlHeap[K, V]) Len() int { return len(h) }

// Less orders items by expiry; for container/heap only.
func (h ttlHeap[K, V]) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }

// Swap swaps two items and updates their positions; for container/heap only.
func (h ttlHeap[K, V]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex = i
	h[j].heapIndex = j
}

// Push appends x, which must be a *ttlItem[K, V]; for container/heap only.
func (h *ttlHeap[K, V]) Push(x any) {
	it := x.(*ttlItem[K, V])
	it.heapIndex = len(*h)
	*h = append(*h, it)
}

// Pop removes the last item; for container/heap only.
func (h *ttlHeap[K, V]) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.heapIndex = -1
	return it
}

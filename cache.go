package accessgrants

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// credCache holds credentials vended by GetDataAccess, keyed by the caller's
// identity, the permission they were vended for and their scope (the
// MatchedGrantTarget of the response), and answers which cached credentials
// may sign a request for a given target.
//
// # Matching
//
// A scope ending in "*" covers every target whose text, with one trailing "*"
// of its own removed, starts with the scope's text before the "*"; a scope
// without "*" covers only the identical target. Credentials satisfy a request
// when their permission satisfies the requested one (READWRITE satisfies READ
// and WRITE). Among the entries that cover a target with a sufficient
// permission, lookup returns the most specific, the one with the longest scope
// text; of an exact scope "s3://b/ab" and a prefix scope "s3://b/a*", equally
// long, it prefers the exact one, and of two permissions on one scope, the one
// equal to the requested permission over READWRITE. Entries of one identity
// are never visible to another.
//
// Each identity has its own radix trie over the scope texts without their
// trailing "*". A lookup walks it once along the target, comparing each byte
// of the target at most once and picking up, at every node on the way, the
// entries for all three permissions, so its cost depends on neither the
// number of entries nor, beyond that single pass, the length of the target.
//
// # Eviction
//
// The cache holds at most capacity entries. When it is full, storing a new
// entry evicts one chosen by the CLOCK (second chance) algorithm, a
// well-known approximation of least-recently-used eviction: entries sit in a
// ring, a hit sets the entry's reference bit, and the evicting hand clears set
// bits as it passes and takes the first entry whose bit is clear. An entry
// used since the hand last passed it is therefore never the one evicted while
// an unused entry remains. The approximation keeps hits free of exclusive
// locks: the trie is guarded by a sync.RWMutex, taken for reading by lookups,
// and the reference bit is an atomic flag written only when it was clear.
//
// A credCache is safe for concurrent use.
type credCache struct {
	capacity int

	mu    sync.RWMutex
	trees map[string]*credTree // by identity; an identity with no entries has none
	// ring holds the cached entries in CLOCK order; slots listed in free are
	// nil. Entries are added at free slots or, when there are none and the
	// cache is not full, appended, so len(ring) never exceeds capacity and a
	// full cache has no free slots.
	ring []*credEntry
	free []int
	hand int // the next slot the CLOCK hand examines

	evictions atomic.Uint64
}

// credEntry is one cached set of credentials. Its first fields are set when
// the entry is stored and never change afterwards, so a caller may read them
// without locks; the entry may leave the cache at any time, which does not
// affect them.
type credEntry struct {
	// credentials are the credentials GetDataAccess returned.
	credentials aws.Credentials
	// scope is the MatchedGrantTarget the credentials were vended for.
	scope string
	// perm is the permission they were vended for.
	perm Permission
	// obtained is when they were obtained.
	obtained time.Time
	// life divides their lifetime into fresh, stale and expired.
	life credLifetime

	// tree is the trie of the identity the entry belongs to.
	tree *credTree
	// exact and permIndex place the entry among those of its trie node:
	// whether scope is an exact scope, and credPermIndex(perm).
	exact     bool
	permIndex int8

	// next is the next entry of the same trie node. Guarded by credCache.mu.
	next *credEntry
	// slot is the entry's index in credCache.ring, or -1 once it has left
	// the cache. Guarded by credCache.mu.
	slot int

	referenced atomic.Bool // CLOCK reference bit, set by hits
	refreshing atomic.Bool // a background refresh has been claimed
}

// expires returns the instant the credentials expire, the zero time if they
// cannot expire.
func (e *credEntry) expires() time.Time {
	if !e.credentials.CanExpire {
		return time.Time{}
	}
	return e.credentials.Expires
}

// state classifies the entry's credentials at now.
func (e *credEntry) state(now time.Time) credState {
	return e.life.stateAt(now)
}

// tryStartRefresh claims the entry's refresh: it reports true to exactly one
// caller until that caller calls endRefresh, so that at most one background
// refresh runs per entry.
func (e *credEntry) tryStartRefresh() bool {
	return e.refreshing.CompareAndSwap(false, true)
}

// endRefresh releases the claim taken by a successful tryStartRefresh, for
// instance after a refresh that failed, so that a later request may try again.
func (e *credEntry) endRefresh() {
	e.refreshing.Store(false)
}

// credTree is the radix trie of one identity's entries.
type credTree struct {
	identity string
	root     credNode
}

// credNode is a node of a credTree. Its path, the concatenation of the labels
// from the root down to it, is the key of the entries it holds: the scope
// text without its trailing "*" for prefix scopes, the whole scope text for
// exact ones. Every node other than the root has a non-empty label and holds
// entries or has at least two children; removals restore that shape, so the
// trie never holds more than twice as many nodes as entries.
//
// Nodes hold their children by value and, for up to 16 children, the first
// bytes of their labels inline, so that a lookup reads about two cache lines
// per level: the node, and the child it follows.
type credNode struct {
	label string
	// index holds the first byte of each child's label, index[i] for
	// children[i]; firsts holds a copy of its first bytes, which lookups
	// read without following a pointer when there are few children.
	index    string
	firsts   [credInlineChildren]byte
	children []credNode
	// entries lists the node's entries, at most one for each pair of
	// exactness and permission, through credEntry.next. Most nodes hold
	// none or one.
	entries *credEntry
}

// credInlineChildren is the number of children up to which a node finds
// the child to follow in credNode.firsts.
const credInlineChildren = 16

// credPermIndex returns the index of p among the permissions, or -1 if p is
// not a permission.
func credPermIndex(p Permission) int8 {
	switch p {
	case PermissionRead:
		return 0
	case PermissionWrite:
		return 1
	case PermissionReadWrite:
		return 2
	}
	return -1
}

// credScopeKey splits a scope into its trie key and whether it is an exact
// scope: "s3://b/p/*" is the prefix scope with key "s3://b/p/", "s3://b/k"
// the exact scope with key "s3://b/k".
func credScopeKey(scope string) (key string, exact bool) {
	if key, ok := strings.CutSuffix(scope, "*"); ok {
		return key, false
	}
	return scope, true
}

// credWanted holds, in order of preference, the permission indexes whose
// entries satisfy a request: the requested permission itself, then
// READWRITE. An index of -1 matches no entry.
type credWanted struct {
	first, second int8
}

// credWantedFor returns the permissions that satisfy want; none if want is not
// a permission.
func credWantedFor(want Permission) credWanted {
	switch i := credPermIndex(want); i {
	case -1, credPermIndex(PermissionReadWrite):
		return credWanted{first: i, second: -1}
	default:
		return credWanted{first: i, second: credPermIndex(PermissionReadWrite)}
	}
}

// newCredCache returns an empty cache holding at most capacity entries; a
// capacity below 1 is taken as 1.
func newCredCache(capacity int) *credCache {
	return &credCache{
		capacity: max(capacity, 1),
		trees:    make(map[string]*credTree),
	}
}

// lookup returns the most specific entry of identity whose scope covers
// target with a permission that satisfies want and whose credentials are not
// expired at now, or nil if there is none. See credCache for the rules.
func (c *credCache) lookup(identity string, want Permission, target string, now time.Time) *credEntry {
	wanted := credWantedFor(want)
	// A list target such as "s3://b/p/*" is covered as its text before "*".
	key, listing := strings.CutSuffix(target, "*")

	c.mu.RLock()
	defer c.mu.RUnlock()
	t := c.trees[identity]
	if t == nil {
		return nil
	}
	var best *credEntry
	n := &t.root
	rest := key
	for {
		// n's path is a prefix of key, so its prefix scopes cover the target;
		// being longer, they beat any found higher up.
		prefixHit := n.pick(false, wanted, now)
		if prefixHit != nil {
			best = prefixHit
		}
		if rest == "" {
			// n's path is the whole key. Its exact scopes equal the target
			// unless the target ends in "*". One byte shorter than n's
			// prefix scopes, they lose to those and beat the rest.
			if prefixHit == nil && !listing {
				if e := n.pick(true, wanted, now); e != nil {
					best = e
				}
			}
			break
		}
		_, child := n.child(rest[0])
		if child == nil || !credHasPrefixAfterFirst(rest, child.label) {
			break
		}
		rest = rest[len(child.label):]
		n = child
	}
	if best != nil && !best.referenced.Load() {
		best.referenced.Store(true)
	}
	return best
}

// pick returns the node's preferred usable entry among its exact or prefix
// entries with the wanted permissions, or nil.
func (n *credNode) pick(exact bool, wanted credWanted, now time.Time) *credEntry {
	var second *credEntry
	for e := n.entries; e != nil; e = e.next {
		if e.exact != exact || !e.life.usableAt(now) {
			continue
		}
		switch e.permIndex {
		case wanted.first:
			return e
		case wanted.second:
			second = e
		}
	}
	return second
}

// store caches creds, vended for perm on scope to identity and obtained at
// obtained, and returns the new entry. It replaces the entry already cached
// for the same identity, permission and scope, if any; otherwise, if the
// cache is full, it evicts one entry first.
func (c *credCache) store(identity string, perm Permission, scope string, creds aws.Credentials, obtained time.Time) (*credEntry, error) {
	pi := credPermIndex(perm)
	if pi < 0 {
		return nil, fmt.Errorf("accessgrants: cannot cache credentials for %q: unknown permission %q", scope, perm)
	}
	key, exact := credScopeKey(scope)
	e := &credEntry{
		credentials: creds,
		scope:       scope,
		perm:        perm,
		obtained:    obtained,
		life:        newCredLifetime(creds, obtained),
		exact:       exact,
		permIndex:   pi,
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.trees[identity]; t != nil {
		if n := t.find(key); n != nil {
			if old := n.replace(e); old != nil {
				// e took the old entry's place in the trie; it takes its
				// place in the ring too.
				e.tree, e.slot = t, old.slot
				e.referenced.Store(old.referenced.Load())
				c.ring[e.slot] = e
				old.slot = -1
				return e, nil
			}
		}
	}
	// Make room before walking the trie: an eviction may reshape it.
	e.slot = c.takeSlot()
	t := c.trees[identity]
	if t == nil {
		t = &credTree{identity: identity}
		c.trees[identity] = t
	}
	e.tree = t
	n := t.insert(key)
	e.next = n.entries
	n.entries = e
	c.ring[e.slot] = e
	return e, nil
}

// takeSlot returns a free slot of the ring, evicting an entry if the cache is
// full. The caller holds c.mu for writing.
func (c *credCache) takeSlot() int {
	if len(c.free) == 0 && len(c.ring) < c.capacity {
		c.ring = append(c.ring, nil)
		return len(c.ring) - 1
	}
	if len(c.free) == 0 {
		// Full, so no slot is nil. Every pass clears a reference bit, so the
		// hand stops within two turns.
		for {
			e := c.ring[c.hand]
			c.hand = (c.hand + 1) % len(c.ring)
			if e.referenced.Load() {
				e.referenced.Store(false)
				continue
			}
			c.detach(e)
			c.evictions.Add(1)
			break
		}
	}
	s := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	return s
}

// remove removes the entry cached for identity, perm and scope, and reports
// whether there was one.
func (c *credCache) remove(identity string, perm Permission, scope string) bool {
	pi := credPermIndex(perm)
	if pi < 0 {
		return false
	}
	key, exact := credScopeKey(scope)
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.trees[identity]
	if t == nil {
		return false
	}
	n := t.find(key)
	if n == nil {
		return false
	}
	for e := n.entries; e != nil; e = e.next {
		if e.exact == exact && e.permIndex == pi {
			c.detach(e)
			return true
		}
	}
	return false
}

// removeEntry removes e if it is still cached, and reports whether it was. An
// entry that was replaced, evicted or removed is not cached any more, so a
// caller holding an old entry cannot remove the one that replaced it; nor is
// an entry that was never stored in c.
func (c *credCache) removeEntry(e *credEntry) bool {
	if e == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.slot < 0 || e.slot >= len(c.ring) || c.ring[e.slot] != e {
		return false
	}
	c.detach(e)
	return true
}

// len returns the number of cached entries.
func (c *credCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.ring) - len(c.free)
}

// evicted returns the number of entries evicted to make room since the cache
// was created. Replaced and removed entries are not counted.
func (c *credCache) evicted() uint64 {
	return c.evictions.Load()
}

// detach takes the cached entry e out of the trie and the ring, pruning the
// trie and dropping the identity's trie once it is empty. The caller holds
// c.mu for writing.
func (c *credCache) detach(e *credEntry) {
	key, _ := credScopeKey(e.scope)
	t := e.tree
	t.remove(key, e)
	if t.root.entries == nil && len(t.root.children) == 0 {
		delete(c.trees, t.identity)
	}
	c.ring[e.slot] = nil
	c.free = append(c.free, e.slot)
	e.slot = -1
}

// find returns the node whose path is key, or nil. The node is valid until
// the trie next changes.
func (t *credTree) find(key string) *credNode {
	n := &t.root
	for rest := key; rest != ""; {
		_, child := n.child(rest[0])
		if child == nil || !credHasPrefixAfterFirst(rest, child.label) {
			return nil
		}
		n = child
		rest = rest[len(n.label):]
	}
	return n
}

// insert returns the node whose path is key, creating it, and splitting an
// edge to make room for it, if needed. The node is valid until the trie next
// changes.
func (t *credTree) insert(key string) *credNode {
	n := &t.root
	rest := key
	for rest != "" {
		_, child := n.child(rest[0])
		if child == nil {
			// The label is copied so that the trie does not keep the
			// caller's string, and whatever it was cut from, alive.
			n.setIndex(n.index + rest[:1])
			n.children = append(n.children, credNode{label: strings.Clone(rest)})
			return &n.children[len(n.children)-1]
		}
		common := credCommonPrefixLen(child.label, rest)
		if common < len(child.label) {
			// Split the edge: the child becomes a node with the common part
			// of the label, and what it was hangs below with the rest.
			moved := *child
			moved.label = child.label[common:]
			*child = credNode{
				label:    child.label[:common],
				children: []credNode{moved},
			}
			child.setIndex(moved.label[:1])
		}
		rest = rest[common:]
		n = child
	}
	return n
}

// remove takes the entry e out of the node whose path is key, which holds it,
// and restores the trie's shape: a node left without entries or children is
// cut off, and a node left without entries and with one child is merged with
// that child.
func (t *credTree) remove(key string, e *credEntry) {
	// Walk down remembering the node, its parent and grandparent, and where
	// each hangs in its parent.
	var parent, grand *credNode
	var at, parentAt int
	n := &t.root
	for rest := key; rest != ""; {
		i, child := n.child(rest[0])
		grand, parent, parentAt, at = parent, n, at, i
		n = child
		rest = rest[len(n.label):]
	}
	n.unlink(e)
	if parent == nil || n.entries != nil {
		return // the root, or a node that still holds entries
	}
	switch len(n.children) {
	case 0:
		parent.removeChild(at)
		if grand != nil && parent.entries == nil && len(parent.children) == 1 {
			grand.mergeChild(parentAt)
		}
	case 1:
		parent.mergeChild(at)
	}
}

// replace puts e in the place of the entry of n with the same exactness and
// permission and returns that entry, or returns nil, leaving n unchanged, if
// there is none.
func (n *credNode) replace(e *credEntry) *credEntry {
	for p := &n.entries; *p != nil; p = &(*p).next {
		if old := *p; old.exact == e.exact && old.permIndex == e.permIndex {
			e.next = old.next
			*p = e
			old.next = nil
			return old
		}
	}
	return nil
}

// unlink removes e from n's entries.
func (n *credNode) unlink(e *credEntry) {
	for p := &n.entries; *p != nil; p = &(*p).next {
		if *p == e {
			*p = e.next
			e.next = nil
			return
		}
	}
}

// child returns the index and the child of n whose label starts with b, or
// -1 and nil if there is none. The child is valid until the trie next
// changes.
func (n *credNode) child(b byte) (int, *credNode) {
	// Most nodes have few children, for which a loop over the inline copy
	// beats a call and a pointer to follow.
	if len(n.children) <= credInlineChildren {
		for i := range len(n.children) {
			if n.firsts[i] == b {
				return i, &n.children[i]
			}
		}
		return -1, nil
	}
	if i := strings.IndexByte(n.index, b); i >= 0 {
		return i, &n.children[i]
	}
	return -1, nil
}

// setIndex sets n's index, and its inline copy, to index.
func (n *credNode) setIndex(index string) {
	n.index = index
	copy(n.firsts[:], index)
}

// removeChild removes n's child at index i.
func (n *credNode) removeChild(i int) {
	last := len(n.children) - 1
	if i < last {
		n.children[i] = n.children[last]
		n.setIndex(n.index[:i] + n.index[last:] + n.index[i+1:last])
	} else {
		n.setIndex(n.index[:last])
	}
	n.children[last] = credNode{} // let the removed node's memory go
	n.children = n.children[:last]
	switch {
	case last == 0:
		n.children = nil
	case last <= cap(n.children)/4:
		// Give back the room of children long gone.
		n.children = slices.Clip(slices.Clone(n.children))
	}
}

// mergeChild replaces n's child at index i, which holds no entries and has a
// single child, by that grandchild, its label extended by the child's.
func (n *credNode) mergeChild(i int) {
	child := &n.children[i]
	grandchild := child.children[0]
	grandchild.label = child.label + grandchild.label
	*child = grandchild // index[i] is unchanged: the same first byte
}

// credHasPrefixAfterFirst reports whether s starts with label, given that
// their first bytes are known to be equal. Skipping that byte spares a lookup
// the memory access to the label of the many one-byte edges of a dense trie.
func credHasPrefixAfterFirst(s, label string) bool {
	return len(label) == 1 || len(s) >= len(label) && s[1:len(label)] == label[1:]
}

// credCommonPrefixLen returns the length of the longest common prefix of a and b.
func credCommonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

package emulator

import (
	"sort"
	"sync"
	"time"
)

// bucketInfo is what the emulator knows of a bucket beyond its objects:
// the account that owns it and its Region.
type bucketInfo struct {
	Name    string    `json:"name"`
	Account string    `json:"account"`
	Region  string    `json:"region"`
	Created time.Time `json:"created"`
}

// bucketRegistry holds every bucket's owner and Region.
type bucketRegistry struct {
	mu      sync.RWMutex
	buckets map[string]bucketInfo
}

func newBucketRegistry() *bucketRegistry {
	return &bucketRegistry{buckets: map[string]bucketInfo{}}
}

func (b *bucketRegistry) get(name string) (bucketInfo, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	info, ok := b.buckets[name]
	return info, ok
}

// add registers a bucket; it reports false if the name is taken.
func (b *bucketRegistry) add(info bucketInfo) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.buckets[info.Name]; ok {
		return false
	}
	b.buckets[info.Name] = info
	return true
}

func (b *bucketRegistry) remove(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.buckets, name)
}

// list returns the buckets sorted by name.
func (b *bucketRegistry) list() []bucketInfo {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]bucketInfo, 0, len(b.buckets))
	for _, info := range b.buckets {
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

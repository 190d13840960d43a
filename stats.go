package accessgrants

import "sync/atomic"

// Stats are counters of a Plugin's work since New: what a test or a
// dashboard reads to see the plugin at work. They hold no credentials.
type Stats struct {
	// Requests by outcome. Every S3 request signed through the plugin
	// counts once per signing attempt under one of them.
	Granted     uint64 // signed with credentials fetched from GetDataAccess for it
	Cached      uint64 // signed with cached Access Grants credentials
	Fallback    uint64 // signed with the client's own credentials after an Access Grants failure
	Denied      uint64 // failed with AccessDenied (fallback off)
	Failed      uint64 // failed otherwise (fallback off)
	Unsupported uint64 // not served by Access Grants: signed with the client's own credentials

	// CacheHits and CacheMisses count credential cache lookups.
	CacheHits   uint64
	CacheMisses uint64
	// DeniedHits counts requests answered from remembered denials.
	DeniedHits uint64
	// Refreshes counts background refreshes started ahead of expiry;
	// RefreshFailures those that failed.
	Refreshes       uint64
	RefreshFailures uint64
	// Evictions counts credentials evicted to keep the cache within
	// CacheSize.
	Evictions uint64
	// CacheEntries is the number of credentials cached now.
	CacheEntries int

	// Calls to the control plane, by API, including failed ones.
	GetDataAccessCalls                    uint64
	GetAccessGrantsInstanceForPrefixCalls uint64
	GetCallerIdentityCalls                uint64
	HeadBucketCalls                       uint64
}

// counters are the atomic counters behind Stats.
type counters struct {
	granted, cached, fallback, denied, failed, unsupported atomic.Uint64
	cacheHits, cacheMisses, deniedHits                     atomic.Uint64
	refreshes, refreshFailures                             atomic.Uint64
	getDataAccess, instanceForPrefix, callerIdentity       atomic.Uint64
	headBucket                                             atomic.Uint64
}

// Stats returns the plugin's counters.
func (p *Plugin) Stats() Stats {
	c := &p.counters
	return Stats{
		Granted:                               c.granted.Load(),
		Cached:                                c.cached.Load(),
		Fallback:                              c.fallback.Load(),
		Denied:                                c.denied.Load(),
		Failed:                                c.failed.Load(),
		Unsupported:                           c.unsupported.Load(),
		CacheHits:                             c.cacheHits.Load(),
		CacheMisses:                           c.cacheMisses.Load(),
		DeniedHits:                            c.deniedHits.Load(),
		Refreshes:                             c.refreshes.Load(),
		RefreshFailures:                       c.refreshFailures.Load(),
		Evictions:                             p.creds.evicted(),
		CacheEntries:                          p.creds.len(),
		GetDataAccessCalls:                    c.getDataAccess.Load(),
		GetAccessGrantsInstanceForPrefixCalls: c.instanceForPrefix.Load(),
		GetCallerIdentityCalls:                c.callerIdentity.Load(),
		HeadBucketCalls:                       c.headBucket.Load(),
	}
}

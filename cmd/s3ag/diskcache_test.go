package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// testCache opens a cache in a temporary directory with a fixed clock.
func testCache(t *testing.T, now time.Time) *diskCache {
	t.Helper()
	c, err := openDiskCache(filepath.Join(t.TempDir(), "root"), identityHash(aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s"}, ""))
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return now }
	return c
}

func entry(perm, priv, scope string, exp time.Time) *cacheEntry {
	return &cacheEntry{Permission: perm, Privilege: priv, Scope: scope, AccessKeyID: "ASIA" + scope, SecretAccessKey: "s", SessionToken: "t", Expiration: exp}
}

func TestDiskCacheLookup(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := testCache(t, now)
	hour := now.Add(time.Hour)
	for _, e := range []*cacheEntry{
		entry("READ", "Default", "s3://b/*", hour),
		entry("READ", "Default", "s3://b/p/*", hour),
		entry("READ", "Default", "s3://b/p/q/*", now.Add(59*time.Second)), // too close to expiry to store
		entry("READ", "Default", "s3://b/obj", hour),
		entry("WRITE", "Default", "s3://b/w/*", hour),
		entry("READ", "Minimal", "s3://b/m/x", hour),
	} {
		if err := c.store(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		perm, priv, target, want string
	}{
		{"READ", "Default", "s3://b/p/x", "s3://b/p/*"}, // the most specific scope
		{"READ", "Default", "s3://b/p/q/x", "s3://b/p/*"},
		{"READ", "Default", "s3://b/other", "s3://b/*"},
		{"READ", "Default", "s3://b/obj", "s3://b/obj"},
		{"READ", "Default", "s3://b/p/*", "s3://b/p/*"},
		{"READ", "Default", "s3://c/x", ""},
		{"WRITE", "Default", "s3://b/w/x", "s3://b/w/*"},
		{"WRITE", "Default", "s3://b/p/x", ""}, // the permission is part of the key
		{"READWRITE", "Default", "s3://b/w/x", ""},
		{"READ", "Minimal", "s3://b/m/x", "s3://b/m/x"},
		{"READ", "Default", "s3://b/m/y", "s3://b/*"},
		{"READ", "Minimal", "s3://b/p/x", ""}, // so is the privilege
	} {
		got := ""
		if e := c.lookup(tc.perm, tc.priv, tc.target); e != nil {
			got = e.Scope
		}
		if got != tc.want {
			t.Errorf("lookup(%s, %s, %s) = %q, want %q", tc.perm, tc.priv, tc.target, got, tc.want)
		}
	}

	// Time passes: nothing with less than a minute left is served.
	c.now = func() time.Time { return hour.Add(-59 * time.Second) }
	if e := c.lookup("READ", "Default", "s3://b/p/x"); e != nil {
		t.Errorf("an entry with 59 s left was served: %+v", e)
	}
	c.now = func() time.Time { return hour.Add(-61 * time.Second) }
	if e := c.lookup("READ", "Default", "s3://b/p/x"); e == nil {
		t.Error("an entry with 61 s left was not served")
	}
}

func TestDiskCacheRejectsForeignFiles(t *testing.T) {
	now := time.Now()
	c := testCache(t, now)
	e := entry("READ", "Default", "s3://b/p/*", now.Add(time.Hour))
	if err := c.store(e); err != nil {
		t.Fatal(err)
	}
	name := entryName("READ", "Default", "s3://b/p/*")
	path := filepath.Join(c.dir, name)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("entry mode %v, %v; want 0600", fi.Mode(), err)
	}
	if c.lookup("READ", "Default", "s3://b/p/x") == nil {
		t.Fatal("the stored entry is not served")
	}
	// A readable-by-others entry is not trusted.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if c.lookup("READ", "Default", "s3://b/p/x") != nil {
		t.Error("a 0644 entry was served")
	}
	os.Chmod(path, 0o600)
	// An entry under another entry's name is not served.
	other := filepath.Join(c.dir, entryName("READ", "Default", "s3://b/*"))
	if err := os.Rename(path, other); err != nil {
		t.Fatal(err)
	}
	if c.lookup("READ", "Default", "s3://b/p/x") != nil {
		t.Error("a renamed entry was served")
	}
	// A symbolic link is not followed.
	if err := os.Symlink(other, path); err != nil {
		t.Fatal(err)
	}
	if _, err := c.read(name); err == nil {
		t.Error("read followed a symbolic link")
	}
	// No temporary file is left behind by store.
	files, _ := os.ReadDir(c.dir)
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".tmp") {
			t.Errorf("temporary file %s left", f.Name())
		}
	}
}

func TestDiskCachePrune(t *testing.T) {
	now := time.Now()
	c := testCache(t, now)
	for _, e := range []*cacheEntry{
		entry("READ", "Default", "s3://b/old/*", now.Add(2*time.Minute)),
		entry("READ", "Default", "s3://b/new/*", now.Add(time.Hour)),
		entry("READ", "Default", "s3://c/old/*", now.Add(2*time.Minute)),
	} {
		if err := c.store(e); err != nil {
			t.Fatal(err)
		}
	}
	c.now = func() time.Time { return now.Add(10 * time.Minute) }
	c.prune("b")
	exists := func(scope string) bool {
		_, err := os.Stat(filepath.Join(c.dir, entryName("READ", "Default", scope)))
		return err == nil
	}
	if exists("s3://b/old/*") || !exists("s3://b/new/*") || !exists("s3://c/old/*") {
		t.Errorf("after prune(b): b/old %v, b/new %v, c/old %v; want false, true, true",
			exists("s3://b/old/*"), exists("s3://b/new/*"), exists("s3://c/old/*"))
	}
}

// TestDiskCacheLock checks mutual exclusion between holders (flock locks
// on separate opens exclude each other within a process too), and that a
// waiter gives up with its context.
func TestDiskCacheLock(t *testing.T) {
	c := testCache(t, time.Now())
	ctx := context.Background()
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, ok, err := c.lock(ctx, "READ", "Default", "b")
			if err != nil || !ok {
				t.Errorf("lock = %v, %v", ok, err)
				return
			}
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			inside.Add(-1)
			l.unlock()
		}()
	}
	wg.Wait()
	if m := maxInside.Load(); m != 1 {
		t.Errorf("%d holders at once, want 1", m)
	}

	held, ok, err := c.lock(ctx, "READ", "Default", "b")
	if err != nil || !ok {
		t.Fatal(err)
	}
	defer held.unlock()
	// Another bucket is another lock.
	other, ok, err := c.lock(ctx, "READ", "Default", "c")
	if err != nil || !ok {
		t.Fatalf("lock of another bucket: %v, %v", ok, err)
	}
	other.unlock()
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, ok, err := c.lock(ctx, "READ", "Default", "b"); ok || err == nil {
		t.Errorf("lock while held = %v, %v; want the context's error", ok, err)
	}
}

func TestIdentityHash(t *testing.T) {
	base := aws.Credentials{AccessKeyID: "AKIA1", SecretAccessKey: "secret", SessionToken: "token"}
	h := identityHash(base, "http://127.0.0.1:9000")
	if len(h) != 32 || strings.Contains(h, "AKIA1") {
		t.Errorf("identityHash = %q", h)
	}
	for _, other := range []aws.Credentials{
		{AccessKeyID: "AKIA2", SecretAccessKey: "secret", SessionToken: "token"},
		{AccessKeyID: "AKIA1", SecretAccessKey: "secret2", SessionToken: "token"},
		{AccessKeyID: "AKIA1", SecretAccessKey: "secret", SessionToken: "token2"},
		{AccessKeyID: "AKIA1", SecretAccessKey: "secrettoken"},
	} {
		if identityHash(other, "http://127.0.0.1:9000") == h {
			t.Errorf("%+v hashes like %+v", other, base)
		}
	}
	if identityHash(base, "http://127.0.0.1:9001") == h {
		t.Error("the endpoint is not part of the identity")
	}
}

func TestNormalizeTarget(t *testing.T) {
	for _, tc := range []struct{ in, target, bucket string }{
		{"s3://b", "s3://b/*", "b"},
		{"s3://b/", "s3://b/*", "b"},
		{"s3://b/*", "s3://b/*", "b"},
		{"s3://b/p/*", "s3://b/p/*", "b"},
		{"s3://b/p*", "s3://b/p*", "b"},
		{"s3://b/k.txt", "s3://b/k.txt", "b"},
		{"b/k", "", ""},
		{"s3://", "", ""},
		{"s3://b*/k", "", ""},
	} {
		target, bucket, err := normalizeTarget(tc.in)
		if target != tc.target || bucket != tc.bucket || (err != nil) != (tc.target == "") {
			t.Errorf("normalizeTarget(%q) = %q, %q, %v", tc.in, target, bucket, err)
		}
	}
}

func TestCopySourceAndJoinKey(t *testing.T) {
	if got := copySource(s3URI{"b", "dir/a b+c?.txt"}); got != "b/dir/a%20b%2Bc%3F.txt" {
		t.Errorf("copySource = %q", got)
	}
	for _, tc := range []struct{ prefix, rel, want string }{
		{"", "a", "a"}, {"p/", "a", "p/a"}, {"p", "a", "p/a"}, {"p/", "/a", "p/a"},
	} {
		if got := joinKey(tc.prefix, tc.rel); got != tc.want {
			t.Errorf("joinKey(%q, %q) = %q", tc.prefix, tc.rel, got)
		}
	}
}

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	accessgrants "github.com/s3ag/accessgrants"
)

// The on-disk credentials cache of "s3ag credentials".
//
// A credential_process helper runs once per AWS tool invocation, often
// many at once (a shell loop, a parallel job), and each run would
// otherwise call GetDataAccess. The cache keeps vended credentials between
// runs:
//
//	$S3AG_CACHE_DIR, else os.UserCacheDir()/s3ag/credentials   (0700)
//	  <identity>/                                                (0700)
//	    <entry>.json    one set of credentials                   (0600)
//	    <bucket>.lock   serializes misses                        (0600)
//
// <identity> is a hash of the caller's access key ID, secret key and
// session token and of the endpoint, so that callers never share
// credentials and no secret appears in a file name. <entry> is a hash of
// the permission, the privilege and the matched grant scope; an entry
// serves every target its scope covers (the rule of service.md), for the
// same permission and privilege. <bucket> is a hash of the permission,
// privilege and bucket: concurrent misses for one bucket wait for each
// other, since the grant the first one finds often covers the others'
// targets too, so that N runs for one target make one GetDataAccess call.
//
// Locks are flock(2) locks, which the kernel releases when a process dies:
// no stale lock can outlive its holder. Entries are written to a temporary
// file in the same directory and renamed into place, so a reader sees a
// whole entry or none. Entries within minRemaining of expiry are never
// served, and expired ones are deleted by the next miss on their bucket.

// cacheVersion is the format of entry files; entries of another version
// are ignored.
const cacheVersion = 1

// minRemaining is the least lifetime an entry must have left to be
// served: a tool given credentials that expire at once would fail.
const minRemaining = time.Minute

// lockWait bounds how long a run waits for another run's GetDataAccess
// before making its own call: a stuck process must not stall every other.
const lockWait = 45 * time.Second

// lockPoll is how often a waiting run tries the lock again.
const lockPoll = 10 * time.Millisecond

// cacheEntry is the JSON form of one cached set of credentials.
type cacheEntry struct {
	Version         int       `json:"Version"`
	Permission      string    `json:"Permission"`
	Privilege       string    `json:"Privilege"`
	Scope           string    `json:"Scope"`
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expiration      time.Time `json:"Expiration"`
	AccountID       string    `json:"AccountId,omitempty"`
}

// credentials returns the entry as aws.Credentials.
func (e *cacheEntry) credentials() aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     e.AccessKeyID,
		SecretAccessKey: e.SecretAccessKey,
		SessionToken:    e.SessionToken,
		CanExpire:       true,
		Expires:         e.Expiration,
		AccountID:       e.AccountID,
		Source:          "s3ag credentials cache",
	}
}

// diskCache is the credentials cache of one caller identity.
type diskCache struct {
	dir string // the identity's directory
	now func() time.Time
}

// defaultCacheRoot returns the cache's root directory: $S3AG_CACHE_DIR,
// else s3ag/credentials under the user's cache directory.
func defaultCacheRoot() (string, error) {
	if dir := os.Getenv("S3AG_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory (set S3AG_CACHE_DIR): %w", err)
	}
	return filepath.Join(base, "s3ag", "credentials"), nil
}

// identityHash identifies a caller by its credentials and the endpoint it
// talks to. Only a hash is kept, so the secret never reaches the disk
// through the cache's names.
func identityHash(c aws.Credentials, endpoint string) string {
	return hashParts("s3ag-identity-v1", endpoint, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

// hashParts returns a hex SHA-256 prefix (128 bits) of parts joined
// unambiguously.
func hashParts(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\x00", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// openDiskCache opens (creating) the cache of one identity under root.
// Both directories must be owner-only; a directory someone else could
// read or swap is an error rather than a place to keep credentials.
func openDiskCache(root, identity string) (*diskCache, error) {
	if err := ensurePrivateDir(root); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, identity)
	if err := ensurePrivateDir(dir); err != nil {
		return nil, err
	}
	return &diskCache{dir: dir, now: time.Now}, nil
}

// ensurePrivateDir creates dir with mode 0700 if needed, tightens the mode
// of an existing directory of the user's, and refuses a symbolic link or
// a directory of another user.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credentials cache: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("credentials cache: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("credentials cache: %s is not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("credentials cache: %s belongs to another user", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("credentials cache: %w", err)
		}
	}
	return nil
}

// entryName is the file name of the entry for a scope.
func entryName(perm, privilege, scope string) string {
	return hashParts("s3ag-entry-v1", perm, privilege, scope) + ".json"
}

// lockName is the file name of the lock for a bucket.
func lockName(perm, privilege, bucket string) string {
	return hashParts("s3ag-lock-v1", perm, privilege, bucket) + ".lock"
}

// lookup returns the most specific entry that covers target for perm and
// privilege and has at least minRemaining left, or nil. Unreadable,
// foreign, malformed and expiring entries are skipped.
func (c *diskCache) lookup(perm, privilege, target string) *cacheEntry {
	files, err := os.ReadDir(c.dir)
	if err != nil {
		return nil
	}
	now := c.now()
	var best *cacheEntry
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".json") || !f.Type().IsRegular() {
			continue
		}
		e, err := c.read(f.Name())
		if err != nil || e.Permission != perm || e.Privilege != privilege || !accessgrants.ScopeCovers(e.Scope, target) {
			continue
		}
		if e.Expiration.Sub(now) < minRemaining {
			continue
		}
		if best == nil || len(e.Scope) > len(best.Scope) {
			best = e
		}
	}
	return best
}

// read reads one entry file, checking that it is owner-only and that its
// name matches its content (a renamed or planted file is not served).
func (c *diskCache) read(name string) (*cacheEntry, error) {
	path := filepath.Join(c.dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || fi.Size() > 64<<10 {
		return nil, errors.New("not an owner-only entry file")
	}
	var e cacheEntry
	if err := json.NewDecoder(f).Decode(&e); err != nil {
		return nil, err
	}
	if e.Version != cacheVersion || entryName(e.Permission, e.Privilege, e.Scope) != name {
		return nil, errors.New("entry of another version or name")
	}
	return &e, nil
}

// store writes an entry atomically: a temporary file (mode 0600) in the
// same directory, synced and renamed over the entry's name. Entries with
// less than minRemaining left are not stored.
func (c *diskCache) store(e *cacheEntry) error {
	if e.Expiration.Sub(c.now()) < minRemaining {
		return nil
	}
	e.Version = cacheVersion
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".entry-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("credentials cache: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(c.dir, entryName(e.Permission, e.Privilege, e.Scope)))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("credentials cache: %w", err)
	}
	return nil
}

// prune deletes the entries of bucket that have expired. The caller holds
// the bucket's lock, under which every entry of the bucket is written, so
// no fresh entry can be deleted by mistake.
func (c *diskCache) prune(bucket string) {
	files, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	now := c.now()
	for _, f := range files {
		name := f.Name()
		switch {
		case strings.HasPrefix(name, ".entry-") && strings.HasSuffix(name, ".tmp"):
			// A temporary file left by a run that died between create and
			// rename; a live writer renames within milliseconds.
			if info, err := f.Info(); err == nil && now.Sub(info.ModTime()) > time.Minute {
				os.Remove(filepath.Join(c.dir, name))
			}
		case strings.HasSuffix(name, ".json"):
			e, err := c.read(name)
			if err == nil && scopeBucket(e.Scope) == bucket && !now.Before(e.Expiration) {
				os.Remove(filepath.Join(c.dir, name))
			}
		}
	}
}

// fileLock is a held flock(2) lock.
type fileLock struct{ f *os.File }

// lock takes the lock of a bucket, waiting while another run holds it, at
// most until ctx ends or lockWait passes. It returns ok=false, and no
// error, when it gave up waiting: the caller then goes on unlocked.
func (c *diskCache) lock(ctx context.Context, perm, privilege, bucket string) (l *fileLock, ok bool, err error) {
	path := filepath.Join(c.dir, lockName(perm, privilege, bucket))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("credentials cache: %w", err)
	}
	deadline := time.NewTimer(lockWait)
	defer deadline.Stop()
	tick := time.NewTicker(lockPoll)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &fileLock{f: f}, true, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, false, fmt.Errorf("credentials cache: locking: %w", err)
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			f.Close()
			return nil, false, nil
		case <-ctx.Done():
			f.Close()
			return nil, false, ctx.Err()
		}
	}
}

// unlock releases the lock. Closing the file releases it too; unlocking
// first makes the order plain.
func (l *fileLock) unlock() {
	if l == nil {
		return
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN) //nolint:errcheck // Close releases it anyway
	l.f.Close()
}

// scopeBucket returns the bucket of an s3:// scope or target.
func scopeBucket(s string) string {
	rest, _ := strings.CutPrefix(s, "s3://")
	bucket, _, _ := strings.Cut(rest, "/")
	return strings.TrimSuffix(bucket, "*")
}

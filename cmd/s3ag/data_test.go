package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// isVendedKey and the rest of the demo's helpers serve the tests too.

func TestCatLsRm(t *testing.T) {
	t.Parallel()
	w := newWorld(t)

	r := w.run("cat", "s3://data-bucket/reports/q1.csv")
	mustSucceed(t, r, "cat")
	if r.stdout != "q1\n" || r.stderr != "" {
		t.Errorf("cat: %v", r)
	}
	if c := w.lastCall("GetObject"); !isVendedKey(c.AccessKeyID) || c.GrantScope != reportsScope {
		t.Errorf("cat signed with %s for %q, want a vended key for %s", c.AccessKeyID, c.GrantScope, reportsScope)
	}

	r = w.run("ls", "s3://data-bucket/reports/")
	mustSucceed(t, r, "ls")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], " 3 q1.csv") || !strings.HasSuffix(lines[1], " 3 q2.csv") {
		t.Errorf("ls printed:\n%s", r.stdout)
	}
	if c := w.lastCall("ListObjectsV2"); !isVendedKey(c.AccessKeyID) {
		t.Errorf("ls signed with %s, want a vended key", c.AccessKeyID)
	}

	w.put(adminKey, "other-bucket", "dir/y.txt", "y\n")
	r = w.run("ls", "s3://other-bucket/")
	mustSucceed(t, r, "ls one level")
	if !strings.Contains(r.stdout, "PRE dir/") || !strings.Contains(r.stdout, " x.txt") || strings.Contains(r.stdout, "y.txt") {
		t.Errorf("ls one level printed:\n%s", r.stdout)
	}
	r = w.run("ls", "-r", "s3://other-bucket/")
	mustSucceed(t, r, "ls -r")
	if !strings.Contains(r.stdout, " dir/y.txt") || strings.Contains(r.stdout, "PRE") {
		t.Errorf("ls -r printed:\n%s", r.stdout)
	}

	// Without a grant on the whole bucket, listing it is denied.
	r = w.run("ls", "s3://data-bucket/")
	if r.code != 1 {
		t.Fatalf("ls of an ungranted bucket: %v", r)
	}
	checkOneLine(t, r, "ls s3://data-bucket/", "READ", "s3://data-bucket/*", "AccessDenied")

	// ls without an argument lists buckets with the caller's own key.
	r = w.run("ls")
	mustSucceed(t, r, "ls buckets")
	if !strings.Contains(r.stdout, " data-bucket\n") {
		t.Errorf("ls printed:\n%s", r.stdout)
	}
	if c := w.lastCall("ListBuckets"); c.AccessKeyID != appKey {
		t.Errorf("ListBuckets signed with %s, want the caller's own %s", c.AccessKeyID, appKey)
	}

	r = w.run("rm", "s3://data-bucket/work/a.txt")
	mustSucceed(t, r, "rm")
	if c := w.lastCall("DeleteObject"); !isVendedKey(c.AccessKeyID) || c.Status != 204 {
		t.Errorf("rm: DeleteObject signed with %s, status %d", c.AccessKeyID, c.Status)
	}
	r = w.run("cat", "s3://data-bucket/work/a.txt")
	if r.code != 1 {
		t.Fatalf("cat of a deleted object: %v", r)
	}
	checkOneLine(t, r, "cat s3://data-bucket/work/a.txt", "GetObject", "READ", "NoSuchKey")

	for _, k := range []string{"tmp/1", "tmp/2", "tmp/3/4"} {
		w.put(adminKey, "other-bucket", k, k)
	}
	r = w.run("rm", "-r", "s3://other-bucket/tmp/")
	mustSucceed(t, r, "rm -r")
	if strings.Count(r.stdout, "delete: ") != 3 {
		t.Errorf("rm -r printed:\n%s", r.stdout)
	}
	if c := w.lastCall("DeleteObjects"); !isVendedKey(c.AccessKeyID) {
		t.Errorf("rm -r: DeleteObjects signed with %s", c.AccessKeyID)
	}
	if r := w.run("ls", "-r", "s3://other-bucket/tmp/"); r.code != 0 || r.stdout != "" {
		t.Errorf("after rm -r, ls printed: %v", r)
	}
}

func TestCopy(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := t.TempDir()
	local := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(local, []byte("note\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Up: the key is the file's name under a prefix ending in /.
	r := w.run("cp", local, "s3://data-bucket/work/")
	mustSucceed(t, r, "cp up")
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("cp wrote output when not on a terminal: %v", r)
	}
	if got := w.get(adminKey, "data-bucket", "work/note.txt"); string(got) != "note\n" {
		t.Errorf("uploaded %q", got)
	}
	if c := w.lastCall("PutObject"); !isVendedKey(c.AccessKeyID) || c.GrantScope != "s3://data-bucket/work/*" {
		t.Errorf("PutObject signed with %s for %q", c.AccessKeyID, c.GrantScope)
	}

	// Within the bucket: READWRITE on the common prefix.
	mustSucceed(t, w.run("cp", "s3://data-bucket/work/note.txt", "s3://data-bucket/work/copy of note+1.txt"), "cp within")
	if c := w.lastCall("CopyObject"); !isVendedKey(c.AccessKeyID) || c.Status != 200 {
		t.Errorf("CopyObject signed with %s, status %d", c.AccessKeyID, c.Status)
	}
	if got := w.get(adminKey, "data-bucket", "work/copy of note+1.txt"); string(got) != "note\n" {
		t.Errorf("copied %q", got)
	}

	// Down, to a directory and to standard output.
	mustSucceed(t, w.run("cp", "s3://data-bucket/work/copy of note+1.txt", dir+"/"), "cp down")
	if got, err := os.ReadFile(filepath.Join(dir, "copy of note+1.txt")); err != nil || string(got) != "note\n" {
		t.Errorf("downloaded %q, %v", got, err)
	}
	r = w.run("cp", "s3://data-bucket/reports/q2.csv", "-")
	mustSucceed(t, r, "cp to stdout")
	if r.stdout != "q2\n" {
		t.Errorf("cp to stdout printed %q", r.stdout)
	}

	// From standard input.
	r = w.runEnv(w.env(appKey, appSecret), strings.NewReader("from stdin\n"), "cp", "-", "s3://data-bucket/work/stdin.txt")
	mustSucceed(t, r, "cp from stdin")
	if got := w.get(adminKey, "data-bucket", "work/stdin.txt"); string(got) != "from stdin\n" {
		t.Errorf("uploaded from stdin %q", got)
	}

	// Across buckets: refused by the plugin, nothing sent.
	w.srv.ResetCalls()
	r = w.run("cp", "s3://other-bucket/x.txt", "s3://data-bucket/work/x.txt")
	if r.code != 1 {
		t.Fatalf("cross-bucket cp: %v", r)
	}
	checkOneLine(t, r, "cp s3://other-bucket/x.txt s3://data-bucket/work/x.txt", "CopyObject", "same")
	if n := w.calls("CopyObject"); n != 0 {
		t.Errorf("cross-bucket CopyObject reached S3 %d times", n)
	}

	// A write the grant does not allow.
	r = w.run("cp", local, "s3://data-bucket/reports/note.txt")
	if r.code != 1 {
		t.Fatalf("cp to a READ grant: %v", r)
	}
	checkOneLine(t, r, "s3://data-bucket/reports/note.txt", "WRITE", "AccessDenied")

	// Neither side in S3.
	if r := w.run("cp", local, filepath.Join(dir, "x")); r.code != 2 {
		t.Errorf("local cp: %v", r)
	}
}

func TestCopyRecursive(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	src := t.TempDir()
	files := map[string]string{"a.txt": "a", "sub/b.txt": "b", "sub/deeper/c.txt": "c"}
	for name, body := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustSucceed(t, w.run("cp", "-r", src, "s3://data-bucket/work/tree/"), "cp -r up")
	for name, body := range files {
		if got := w.get(adminKey, "data-bucket", "work/tree/"+name); string(got) != body {
			t.Errorf("work/tree/%s = %q", name, got)
		}
	}
	mustSucceed(t, w.run("cp", "-r", "s3://data-bucket/work/tree/", "s3://data-bucket/work/copy"), "cp -r within")
	dst := t.TempDir()
	mustSucceed(t, w.run("cp", "--recursive", "s3://data-bucket/work/copy/", dst), "cp -r down")
	for name, body := range files {
		if got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name))); err != nil || string(got) != body {
			t.Errorf("%s = %q, %v", name, got, err)
		}
	}
	for _, api := range []string{"PutObject", "CopyObject", "GetObject", "ListObjectsV2"} {
		for _, c := range w.requests(api) {
			if c.AccessKeyID != adminKey && !isVendedKey(c.AccessKeyID) { // the admin checked the upload
				t.Errorf("%s of %s signed with %s, want a vended key", api, c.Key, c.AccessKeyID)
			}
		}
	}
}

// TestCopyLargeInParts sends 64 MiB up and down through the transfer
// manager: the emulator must see the multipart calls and ranged reads,
// all signed with vended keys.
func TestCopyLargeInParts(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	dir := t.TempDir()
	data := make([]byte, 64<<20)
	rand.Read(data)
	up := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(up, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := w.run("cp", up, "s3://data-bucket/work/big.bin")
	mustSucceed(t, r, "cp up")
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("cp up wrote output when not on a terminal: %q %q", r.stdout, r.stderr)
	}
	for _, api := range []string{"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} {
		reqs := w.requests(api)
		if len(reqs) == 0 {
			t.Errorf("no %s call", api)
		}
		for _, c := range reqs {
			if !isVendedKey(c.AccessKeyID) || c.Status != 200 {
				t.Errorf("%s signed with %s, status %d", api, c.AccessKeyID, c.Status)
			}
		}
	}
	if n := len(w.requests("UploadPart")); n != 8 {
		t.Errorf("%d UploadPart calls, want 8 parts of 8 MiB", n)
	}
	if n := w.calls("PutObject"); n != 0 {
		t.Errorf("%d PutObject calls, want the upload in parts only", n)
	}

	w.srv.ResetCalls()
	down := filepath.Join(dir, "down.bin")
	r = w.run("cp", "s3://data-bucket/work/big.bin", down)
	mustSucceed(t, r, "cp down")
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("cp down wrote output when not on a terminal: %q %q", r.stdout, r.stderr)
	}
	got, err := os.ReadFile(down)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes (%v), differ from the upload", len(got), err)
	}
	gets := w.requests("GetObject")
	if len(gets) != 8 {
		t.Errorf("%d GetObject calls, want 8 ranges of 8 MiB", len(gets))
	}
	for _, c := range gets {
		if !isVendedKey(c.AccessKeyID) || c.Status != 206 {
			t.Errorf("GetObject signed with %s, status %d; want vended keys and ranged (206) reads", c.AccessKeyID, c.Status)
		}
	}
	if n := w.calls("GetDataAccess"); n != 1 {
		t.Errorf("%d GetDataAccess calls for one download, want 1", n)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestFallbackFlag(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	local := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(local, []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := w.run("cp", local, "s3://data-bucket/fallback/f.txt")
	if r.code != 1 {
		t.Fatalf("cp without a grant: %v", r)
	}
	checkOneLine(t, r, "Access Grants refused WRITE on s3://data-bucket/fallback/f.txt", "AccessDenied")
	if n := w.calls("PutObject"); n != 0 {
		t.Errorf("PutObject reached S3 %d times without --fallback", n)
	}
	mustSucceed(t, w.run("cp", local, "s3://data-bucket/fallback/f.txt", "--fallback"), "cp --fallback")
	if c := w.lastCall("PutObject"); c.AccessKeyID != appKey || c.Status != 200 {
		t.Errorf("PutObject with --fallback signed with %s (status %d), want the caller's own %s", c.AccessKeyID, c.Status, appKey)
	}
	r = w.run("cat", "--fallback", "s3://data-bucket/fallback/f.txt")
	if r.code != 0 || r.stdout != "f" {
		t.Errorf("cat --fallback: %v", r)
	}
}

package emulator

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"
	bolt "go.etcd.io/bbolt"
)

// crashChildEnv, when set to a directory, makes the test binary serve an
// emulator on that data directory instead of running tests: the child
// process that TestCrashMidUpload kills with SIGKILL.
const crashChildEnv = "S3AG_EMULATOR_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(runCrashChild(dir))
	}
	os.Exit(m.Run())
}

// runCrashChild starts an emulator on dir, prints its URL on a line of its
// own and serves until its standard input closes (the parent went away)
// or it is killed.
func runCrashChild(dir string) int {
	srv, err := Start(nil, "127.0.0.1:0", WithDataDir(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(srv.URL)
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // EOF or error: stop either way
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// crashChild is an emulator in a child process.
type crashChild struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	stdin  io.WriteCloser
	exited chan struct{}
}

// startCrashChild re-executes the test binary as an emulator on dir.
func startCrashChild(t *testing.T, dir string) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	c := &crashChild{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		cmd.Wait() //nolint:errcheck // a killed child exits with an error
		close(c.exited)
	}()
	t.Cleanup(func() { c.kill(t) })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- strings.TrimSpace(s)
		io.Copy(io.Discard, stdout) //nolint:errcheck
	}()
	select {
	case c.url = <-line:
	case <-time.After(30 * time.Second):
		t.Fatalf("the child emulator did not start in 30 s: %s", c.stderr)
	}
	if !strings.HasPrefix(c.url, "http://") {
		<-c.exited
		t.Fatalf("the child emulator failed to start on %s: %q %s", dir, c.url, c.stderr)
	}
	return c
}

// kill sends SIGKILL and waits for the child to go.
func (c *crashChild) kill(t *testing.T) {
	t.Helper()
	c.cmd.Process.Kill() //nolint:errcheck // it may be gone already
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("the child emulator outlived SIGKILL by 10 s")
	}
}

// awsConfig reaches the child as the default administrator; every host,
// account-prefixed ones included, dials the child's address.
func (c *crashChild) awsConfig() aws.Config {
	u, _ := url.Parse(c.url)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, u.Host)
		},
		MaxIdleConnsPerHost: 16,
	}
	return aws.Config{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(c.url),
		Credentials:      credentials.NewStaticCredentialsProvider(DefaultAccessKeyID, DefaultSecretAccessKey, ""),
		HTTPClient:       &http.Client{Transport: tr},
		RetryMaxAttempts: 1,
	}
}

func (c *crashChild) s3() *s3.Client {
	return s3.NewFromConfig(c.awsConfig(), func(o *s3.Options) { o.UsePathStyle = true })
}

func (c *crashChild) control() *s3control.Client { return s3control.NewFromConfig(c.awsConfig()) }

// loopObject is the deterministic content of the n-th object the writers
// upload: a torn write shows as a wrong length or wrong bytes.
func loopObject(n int) []byte {
	line := fmt.Sprintf("object %06d|", n)
	return bytes.Repeat([]byte(line), (256<<10)/len(line))
}

// TestCrashMidUpload kills an emulator serving a data directory with
// SIGKILL while uploads are in flight (a slow PUT, an unfinished multipart
// upload, writers in a loop), restarts it on the same directory, and
// checks what survived: objects acknowledged before the kill and Access
// Grants state made through the API are there, whole; the interrupted
// objects are absent; no object is torn; the store opens and bbolt finds
// its file consistent.
//
// What could tear: gofakes3's bbolt backend writes an object in one bbolt
// transaction, which is atomic (copy-on-write pages, then a meta page
// switch, each fsynced); multipart parts live in gofakes3's memory until
// completion; the emulator reads a whole body before storing it; and
// state.json is replaced through a fsynced temporary file and a rename.
// The kill may still fall between a bucket change in bbolt and the state
// file: a bucket created in bbolt but not yet named is invisible and made
// again by a retried CreateBucket; a bucket deleted from bbolt but still
// named is forgotten at load (TestRestartForgetsBucketsTheStoreLost).
func TestCrashMidUpload(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	child := startCrashChild(t, dir)
	c, ctl := child.s3(), child.control()

	// Complete objects and Access Grants state, made before the kill.
	complete := bytes.Repeat([]byte("complete object\n"), 64<<10) // 1 MiB
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(DefaultBucket), Key: aws.String("complete"), Body: bytes.NewReader(complete)}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("made-by-api")}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("made-by-api"), Key: aws.String("k"), Body: strings.NewReader("v")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	acct := aws.String(DefaultAccountID)
	if _, err := ctl.CreateAccessGrantsInstance(ctx, &s3control.CreateAccessGrantsInstanceInput{AccountId: acct}); err != nil {
		t.Fatalf("CreateAccessGrantsInstance: %v", err)
	}
	loc, err := ctl.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{
		AccountId: acct, LocationScope: aws.String("s3://"), IAMRoleArn: aws.String(DefaultLocationRole),
	})
	if err != nil {
		t.Fatalf("CreateAccessGrantsLocation: %v", err)
	}
	grant, err := ctl.CreateAccessGrant(ctx, &s3control.CreateAccessGrantInput{
		AccountId:                         acct,
		AccessGrantsLocationId:            loc.AccessGrantsLocationId,
		AccessGrantsLocationConfiguration: &types.AccessGrantsLocationConfiguration{S3SubPrefix: aws.String("data-bucket/reports/*")},
		Grantee:                           &types.Grantee{GranteeType: types.GranteeTypeIam, GranteeIdentifier: aws.String("arn:aws:iam::111122223333:user/admin")},
		Permission:                        types.PermissionRead,
	})
	if err != nil {
		t.Fatalf("CreateAccessGrant: %v", err)
	}

	// A multipart upload with a part sent and never completed.
	mpu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(DefaultBucket), Key: aws.String("interrupted-mpu")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(DefaultBucket), Key: aws.String("interrupted-mpu"), UploadId: mpu.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(bytes.Repeat([]byte("p"), 5<<20)),
	})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}

	// A PUT of 8 MiB that sends 1 MiB and stalls.
	pr, pw := io.Pipe()
	slow, err := http.NewRequest("PUT", child.url+"/"+DefaultBucket+"/interrupted-put", pr)
	if err != nil {
		t.Fatal(err)
	}
	slow.ContentLength = 8 << 20
	slow.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(ctx, rbAdmin, slow, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	slowDone := make(chan error, 1)
	go func() {
		resp, err := child.awsConfig().HTTPClient.Do(slow)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d", resp.StatusCode)
			if resp.StatusCode == http.StatusOK {
				err = nil
			}
		}
		slowDone <- err
	}()
	sent := make(chan struct{})
	go func() {
		pw.Write(bytes.Repeat([]byte("s"), 1<<20)) //nolint:errcheck
		close(sent)
	}()

	// Writers upload numbered objects until the kill.
	w := startLoopWriters(c, 0)
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow PUT did not send its first MiB")
	}
	time.Sleep(300 * time.Millisecond)
	child.kill(t)
	acked := w.stop(t)
	pw.CloseWithError(errors.New("killed"))
	if err := <-slowDone; err == nil {
		t.Fatal("the interrupted PUT succeeded")
	}
	checkBolt(t, dir)

	// Restart on the same directory.
	child = startCrashChild(t, dir)
	c, ctl = child.s3(), child.control()

	if got, err := getObject(c, DefaultBucket, "complete"); err != nil || !bytes.Equal(got, complete) {
		t.Errorf("complete object after the kill: %d bytes, %v", len(got), err)
	}
	if got, err := getObject(c, "made-by-api", "k"); err != nil || string(got) != "v" {
		t.Errorf("object in a bucket made through the API: %q, %v", got, err)
	}
	g, err := ctl.GetAccessGrant(ctx, &s3control.GetAccessGrantInput{AccountId: acct, AccessGrantId: grant.AccessGrantId})
	if err != nil {
		t.Fatalf("GetAccessGrant after the kill: %v", err)
	}
	if aws.ToString(g.GrantScope) != "s3://data-bucket/reports/*" || g.Permission != types.PermissionRead {
		t.Errorf("grant after the kill: %s %s", aws.ToString(g.GrantScope), g.Permission)
	}
	if _, err := ctl.GetAccessGrantsLocation(ctx, &s3control.GetAccessGrantsLocationInput{AccountId: acct, AccessGrantsLocationId: loc.AccessGrantsLocationId}); err != nil {
		t.Errorf("GetAccessGrantsLocation after the kill: %v", err)
	}
	da, err := ctl.GetDataAccess(ctx, &s3control.GetDataAccessInput{AccountId: acct, Target: aws.String("s3://data-bucket/reports/x"), Permission: types.PermissionRead})
	if err != nil {
		t.Errorf("GetDataAccess through the surviving grant: %v", err)
	} else if aws.ToString(da.MatchedGrantTarget) != "s3://data-bucket/reports/*" {
		t.Errorf("GetDataAccess matched %s", aws.ToString(da.MatchedGrantTarget))
	}

	for _, key := range []string{"interrupted-put", "interrupted-mpu"} {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(DefaultBucket), Key: aws.String(key)})
		if status := httpStatusOf(err); status != http.StatusNotFound {
			t.Errorf("HeadObject %s after the kill: %v, want 404", key, err)
		}
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(DefaultBucket), Key: aws.String("interrupted-mpu"), UploadId: mpu.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}},
	})
	if err == nil {
		t.Error("an upload started before the kill completed after it")
	}

	verifyLoopObjects(t, c, acked)

	// More kills, with only the writers running: each is another chance
	// to land in the middle of a bbolt commit.
	for round := 1; round <= 2; round++ {
		w := startLoopWriters(c, round*100_000)
		time.Sleep(time.Duration(100+150*round) * time.Millisecond)
		child.kill(t)
		for n := range w.stop(t) {
			acked[n] = true
		}
		checkBolt(t, dir)
		child = startCrashChild(t, dir)
		c = child.s3()
		if got, err := getObject(c, DefaultBucket, "complete"); err != nil || !bytes.Equal(got, complete) {
			t.Errorf("round %d: complete object: %d bytes, %v", round, len(got), err)
		}
		verifyLoopObjects(t, c, acked)
	}
}

// loopWriters upload loopObject(n) as loop-n from four goroutines until
// stopped or until the server goes away.
type loopWriters struct {
	mu    sync.Mutex
	acked map[int]bool
	first int
	next  int
	done  chan struct{}
	wg    sync.WaitGroup
}

func startLoopWriters(c *s3.Client, first int) *loopWriters {
	w := &loopWriters{acked: map[int]bool{}, first: first, next: first, done: make(chan struct{})}
	for range 4 {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				select {
				case <-w.done:
					return
				default:
				}
				w.mu.Lock()
				n := w.next
				w.next++
				w.mu.Unlock()
				_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(DefaultBucket), Key: aws.String(fmt.Sprintf("loop-%06d", n)),
					Body: bytes.NewReader(loopObject(n)),
				})
				if err != nil {
					return // the kill
				}
				w.mu.Lock()
				w.acked[n] = true
				w.mu.Unlock()
			}
		}()
	}
	return w
}

// stop waits for the writers and returns the objects the server
// acknowledged.
func (w *loopWriters) stop(t *testing.T) map[int]bool {
	t.Helper()
	close(w.done)
	w.wg.Wait()
	if len(w.acked) == 0 {
		t.Fatal("no loop object was acknowledged before the kill; the test proves nothing")
	}
	t.Logf("killed with %d loop objects acknowledged, %d in flight", len(w.acked), w.next-w.first-len(w.acked))
	return w.acked
}

// checkBolt opens the object store of a killed emulator and runs bbolt's
// consistency check on it.
func checkBolt(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "objects.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("opening objects.db after the kill: %v", err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error { //nolint:errcheck // errors are reported on the channel
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	})
}

func getObject(c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// verifyLoopObjects checks that every acknowledged loop object is there
// and that every one there is whole.
func verifyLoopObjects(t *testing.T, c *s3.Client, acked map[int]bool) {
	t.Helper()
	listed := map[int]bool{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(DefaultBucket), Prefix: aws.String("loop-")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		for _, o := range page.Contents {
			var n int
			if _, err := fmt.Sscanf(aws.ToString(o.Key), "loop-%06d", &n); err != nil {
				t.Errorf("unexpected key %s", aws.ToString(o.Key))
			}
			listed[n] = true
		}
	}
	for n := range acked {
		if !listed[n] {
			t.Errorf("loop-%06d was acknowledged before the kill and is gone", n)
		}
	}
	for n := range listed {
		got, err := getObject(c, DefaultBucket, fmt.Sprintf("loop-%06d", n))
		if err != nil || !bytes.Equal(got, loopObject(n)) {
			t.Errorf("loop-%06d is torn: %d bytes, %v", n, len(got), err)
		}
	}
	t.Logf("after the restart: %d loop objects, all whole", len(listed))
}

// httpStatusOf is the HTTP status of an SDK error, 0 if it has none.
func httpStatusOf(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// TestConcurrentSavesKeepTheLastState: when changes are saved
// concurrently, the state file ends with all of them, not with whichever
// snapshot was written last. (A crash makes the file the truth: Close
// saves again and would hide a stale file.)
func TestConcurrentSavesKeepTheLastState(t *testing.T) {
	dir := t.TempDir()
	srv := NewServer(t, nil, WithDataDir(dir))
	const workers, each = 4, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				srv.buckets.add(bucketInfo{Name: fmt.Sprintf("b-%d-%d", w, i), Account: DefaultAccountID, Region: "us-east-1"})
				if err := srv.saveState(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	onDisk := newBucketRegistry()
	f := &stateFile{path: stateFilePath(dir)}
	if err := f.load(onDisk, newGrantsState()); err != nil {
		t.Fatal(err)
	}
	if got, want := len(onDisk.list()), len(srv.buckets.list()); got != want {
		t.Errorf("state file holds %d buckets after every save returned; memory holds %d", got, want)
	}
}

// TestRestartForgetsBucketsTheStoreLost: a crash between gofakes3
// deleting a bucket and the state file forgetting it leaves the file
// naming a bucket the object store lacks. The restart must not keep it,
// or it could never be made or deleted again.
func TestRestartForgetsBucketsTheStoreLost(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(nil, "127.0.0.1:0", WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"doomed", DefaultBucket} {
		if name != DefaultBucket {
			if err := srv.objects.createBucket(name); err != nil {
				t.Fatal(err)
			}
			srv.buckets.add(bucketInfo{Name: name, Account: DefaultAccountID, Region: "us-east-1"})
		}
		// The crash: gofakes3 deleted the bucket, the state file did not
		// hear of it.
		if err := srv.objects.backend.DeleteBucket(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Close(); err != nil { // saves the state file naming both
		t.Fatal(err)
	}

	srv = NewServer(t, nil, WithDataDir(dir))
	if _, ok := srv.buckets.get("doomed"); ok {
		t.Error("the registry still names a bucket the object store lost")
	}
	client := srv.HTTPClient()
	for _, tc := range []struct{ method, path string }{
		{"PUT", "/doomed"},                  // can be made again
		{"PUT", "/doomed/k"},                // and used
		{"PUT", "/" + DefaultBucket + "/k"}, // a configured bucket is made again
	} {
		resp, err := client.Do(rbRequest(t, srv, tc.method, tc.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s after the restart: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"
)

// Transfer sizes of cp: objects from multipartThreshold up go up in parts
// of partSize, and come down in ranges of partSize.
const (
	partSize           = 8 << 20
	multipartThreshold = 16 << 20
	transferWorkers    = 5
)

// deleteBatch is the most keys one DeleteObjects call takes.
const deleteBatch = 1000

// dataFlags are the flags the data commands share.
type dataFlags struct {
	fallback bool
}

func (f *dataFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.fallback, "fallback", false, "when Access Grants fails or denies a request, sign it with the caller's own credentials")
}

const dataCommandsNote = `
Every request goes through the Access Grants plugin: it is signed with
credentials vended by GetDataAccess for exactly the data it touches, and
fails if no grant allows it, unless --fallback is given, which then signs it
with the caller's own credentials. Requests Access Grants does not serve
(ListBuckets, say) use the caller's own credentials.`

func (a *app) lsCommand() *cobra.Command {
	var df dataFlags
	var recursive bool
	cmd := &cobra.Command{
		Use:   "ls [s3://bucket/prefix]",
		Short: "List objects under a prefix through Access Grants",
		Long: `List the objects and common prefixes under an S3 prefix, as "aws s3 ls" does;
-r lists every key under it. Without an argument, list the buckets (with the
caller's own credentials: Access Grants does not serve ListBuckets).

Listing s3://bucket/prefix needs READ on s3://bucket/prefix*; listing a whole
bucket needs READ on s3://bucket/*.
` + dataCommandsNote + `

Example:

  s3ag ls s3://my-bucket/reports/
  s3ag ls -r s3://my-bucket/reports/ --fallback`,
		Args: rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 0 || args[0] == "s3://" {
				return a.listBuckets(ctx, df)
			}
			u, err := mustS3URI(args[0])
			if err != nil {
				return err
			}
			return a.list(ctx, df, u, recursive)
		},
	}
	df.register(cmd)
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every key under the prefix, not only one level")
	return cmd
}

// listBuckets prints the caller's buckets.
func (a *app) listBuckets(ctx context.Context, df dataFlags) error {
	s, err := a.newSession(ctx, sessionOptions{fallback: df.fallback})
	if err != nil {
		return err
	}
	defer s.close()
	p := s3.NewListBucketsPaginator(s.s3, &s3.ListBucketsInput{})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fail("ls", "ListBuckets", nil, err)
		}
		for _, b := range out.Buckets {
			fmt.Fprintf(a.stdout, "%s %s\n", formatTime(b.CreationDate), aws.ToString(b.Name))
		}
	}
	return nil
}

// list prints the objects under u's prefix: one level with "PRE" lines
// for common prefixes, or every key with recursive.
func (a *app) list(ctx context.Context, df dataFlags, u s3URI, recursive bool) error {
	s, err := a.newSession(ctx, sessionOptions{fallback: df.fallback})
	if err != nil {
		return err
	}
	defer s.close()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(u.bucket)}
	if u.key != "" {
		in.Prefix = aws.String(u.key)
	}
	if !recursive {
		in.Delimiter = aws.String("/")
	}
	// "aws s3 ls" prints names relative to the last "/" of the prefix.
	base := u.key[:strings.LastIndex(u.key, "/")+1]
	p := s3.NewListObjectsV2Paginator(s.s3, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fail("ls "+u.String(), "ListObjectsV2", in, err)
		}
		for _, cp := range out.CommonPrefixes {
			fmt.Fprintf(a.stdout, "%30s %s\n", "PRE", strings.TrimPrefix(aws.ToString(cp.Prefix), base))
		}
		for _, o := range out.Contents {
			name := aws.ToString(o.Key)
			if !recursive {
				name = strings.TrimPrefix(name, base)
			}
			fmt.Fprintf(a.stdout, "%s %10d %s\n", formatTime(o.LastModified), aws.ToInt64(o.Size), name)
		}
	}
	return nil
}

// formatTime prints an S3 timestamp as "aws s3 ls" does, in local time.
func formatTime(t *time.Time) string {
	if t == nil {
		return "                   "
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func (a *app) catCommand() *cobra.Command {
	var df dataFlags
	cmd := &cobra.Command{
		Use:   "cat s3://bucket/key",
		Short: "Print an object through Access Grants",
		Long: `Write an object's content to standard output. It needs READ on the object.
` + dataCommandsNote + `

Example:

  s3ag cat s3://my-bucket/reports/q1.csv | head`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := mustS3URI(args[0])
			if err != nil {
				return err
			}
			if u.key == "" {
				return usagef("cat needs an object: s3://bucket/key")
			}
			ctx := cmd.Context()
			s, err := a.newSession(ctx, sessionOptions{fallback: df.fallback})
			if err != nil {
				return err
			}
			defer s.close()
			in := &s3.GetObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key)}
			out, err := s.s3.GetObject(ctx, in)
			if err != nil {
				return fail("cat "+u.String(), "GetObject", in, err)
			}
			defer out.Body.Close()
			if _, err := io.Copy(a.stdout, out.Body); err != nil {
				return fail("cat "+u.String(), "GetObject", in, err)
			}
			return nil
		},
	}
	df.register(cmd)
	return cmd
}

func (a *app) rmCommand() *cobra.Command {
	var df dataFlags
	var recursive bool
	cmd := &cobra.Command{
		Use:   "rm s3://bucket/key",
		Short: "Delete an object, or every object under a prefix, through Access Grants",
		Long: `Delete an object (WRITE on it), or with -r every object under a prefix: the keys
are listed (READ on the prefix) and deleted a thousand at a time with
DeleteObjects (WRITE on their longest common prefix).
` + dataCommandsNote + `

Example:

  s3ag rm s3://my-bucket/work/old.csv
  s3ag rm -r s3://my-bucket/work/tmp/`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := mustS3URI(args[0])
			if err != nil {
				return err
			}
			if u.key == "" && !recursive {
				return usagef("rm needs an object (s3://bucket/key), or -r and a prefix")
			}
			ctx := cmd.Context()
			s, err := a.newSession(ctx, sessionOptions{fallback: df.fallback})
			if err != nil {
				return err
			}
			defer s.close()
			if !recursive {
				in := &s3.DeleteObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key)}
				if _, err := s.s3.DeleteObject(ctx, in); err != nil {
					return fail("rm "+u.String(), "DeleteObject", in, err)
				}
				fmt.Fprintf(a.stdout, "delete: %s\n", u)
				return nil
			}
			return a.removeAll(ctx, s, u)
		},
	}
	df.register(cmd)
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "delete every object under the prefix")
	return cmd
}

// removeAll deletes every object under u's prefix.
func (a *app) removeAll(ctx context.Context, s *session, u s3URI) error {
	keys, err := listKeys(ctx, s.s3, u)
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), deleteBatch)
		batch := keys[:n]
		keys = keys[n:]
		objs := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			objs[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		in := &s3.DeleteObjectsInput{Bucket: aws.String(u.bucket), Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)}}
		out, err := s.s3.DeleteObjects(ctx, in)
		if err != nil {
			return fail("rm "+u.String(), "DeleteObjects", in, err)
		}
		failed := map[string]bool{}
		for _, e := range out.Errors {
			failed[aws.ToString(e.Key)] = true
			fmt.Fprintf(a.stderr, "s3ag: rm s3://%s/%s: S3 DeleteObjects: %s: %s\n", u.bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		for _, k := range batch {
			if !failed[k] {
				fmt.Fprintf(a.stdout, "delete: s3://%s/%s\n", u.bucket, k)
			}
		}
		if len(out.Errors) > 0 {
			return &failure{what: "rm " + u.String(), err: fmt.Errorf("%d object(s) not deleted", len(out.Errors))}
		}
	}
	return nil
}

// listKeys returns every key under u's prefix.
func listKeys(ctx context.Context, c *s3.Client, u s3URI) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(u.bucket)}
	if u.key != "" {
		in.Prefix = aws.String(u.key)
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fail("ls "+u.String(), "ListObjectsV2", in, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

func (a *app) cpCommand() *cobra.Command {
	var df dataFlags
	var recursive, noProgress bool
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy files to, from and within S3 through Access Grants",
		Long: `Copy a local file to S3, an object to a local file, or an object to another key
of the same bucket; - as SRC or DST is standard input or output. With -r, SRC
is a directory or an S3 prefix and everything under it is copied.

Uploads need WRITE on the destination and go up in parts of 8 MiB through the
SDK's transfer manager from 16 MiB; downloads need READ and come down in
ranges of 8 MiB; a copy within a bucket needs READWRITE on the longest common
prefix of both keys. A copy between two buckets is refused by Access Grants
(use --fallback to make it with your own credentials).

When both standard output and standard error are terminals, a progress bar
shows on standard error; otherwise nothing but errors is written.
` + dataCommandsNote + `

Example:

  s3ag cp ./big.bin s3://my-bucket/work/big.bin
  s3ag cp s3://my-bucket/work/big.bin ./copy.bin
  s3ag cp s3://my-bucket/work/a.csv s3://my-bucket/work/b.csv
  s3ag cp -r ./out s3://my-bucket/work/out/`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.copyCommand(cmd.Context(), df, args[0], args[1], recursive, noProgress)
		},
	}
	df.register(cmd)
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy a directory or an S3 prefix")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "never show the progress bar")
	return cmd
}

// copier copies between local files and S3 with one session.
type copier struct {
	a        *app
	s        *session
	tm       *transfermanager.Client
	progress bool
}

// copyCommand runs "s3ag cp".
func (a *app) copyCommand(ctx context.Context, df dataFlags, srcArg, dstArg string, recursive, noProgress bool) error {
	src, srcS3, err := parseS3URI(srcArg)
	if err != nil {
		return usageError{err}
	}
	dst, dstS3, err := parseS3URI(dstArg)
	if err != nil {
		return usageError{err}
	}
	if !srcS3 && !dstS3 {
		return usagef("cp copies to, from or within S3: SRC or DST must be an s3:// URI")
	}
	if recursive && (srcArg == "-" || dstArg == "-") {
		return usagef("cp -r cannot read standard input or write standard output")
	}
	s, err := a.newSession(ctx, sessionOptions{fallback: df.fallback})
	if err != nil {
		return err
	}
	defer s.close()
	c := &copier{
		a: a,
		s: s,
		tm: transfermanager.New(s.s3, func(o *transfermanager.Options) {
			o.PartSizeBytes = partSize
			o.MultipartUploadThreshold = multipartThreshold
			o.Concurrency = transferWorkers
			o.GetObjectType = tmtypes.GetObjectRanges
		}),
		progress: !noProgress && dstArg != "-" && a.onTerminal(),
	}
	switch {
	case srcS3 && dstS3 && recursive:
		return c.copyPrefix(ctx, src, dst)
	case srcS3 && dstS3:
		return c.copyObject(ctx, src, dst)
	case dstS3 && recursive:
		return c.uploadDir(ctx, srcArg, dst)
	case dstS3:
		return c.upload(ctx, srcArg, dst)
	case recursive:
		return c.downloadPrefix(ctx, src, dstArg)
	default:
		return c.download(ctx, src, dstArg)
	}
}

// upload copies a local file (or standard input) to S3.
func (c *copier) upload(ctx context.Context, local string, dst s3URI) error {
	var body io.Reader
	var size int64 = -1
	name := local
	if local == "-" {
		// Hide Seek: a pipe's *os.File has one that fails, and the
		// transfer manager would call it.
		body, name = struct{ io.Reader }{c.a.stdin}, "stdin"
	} else {
		f, err := os.Open(local)
		if err != nil {
			return &failure{what: "cp " + local, err: err}
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return &failure{what: "cp " + local, err: err}
		}
		if fi.IsDir() {
			return usagef("%s is a directory (use -r)", local)
		}
		body, size = f, fi.Size()
	}
	if dst.key == "" || strings.HasSuffix(dst.key, "/") {
		if local == "-" {
			return usagef("cp from standard input needs a destination key, not %s", dst)
		}
		dst.key += filepath.Base(local)
	}
	in := &transfermanager.UploadObjectInput{Bucket: aws.String(dst.bucket), Key: aws.String(dst.key), Body: body}
	if size >= 0 {
		in.ContentLength = aws.Int64(size)
	}
	bar := c.newBar("upload "+filepath.Base(name), size)
	_, err := c.tm.UploadObject(ctx, in, bar.register)
	bar.finish(err)
	if err != nil {
		return fail("cp "+name+" "+dst.String(), "PutObject", &s3.PutObjectInput{Bucket: in.Bucket, Key: in.Key}, err)
	}
	return nil
}

// download copies an object to a local file (through a temporary file
// renamed into place, so that a failed download leaves nothing behind)
// or to standard output.
func (c *copier) download(ctx context.Context, src s3URI, local string) error {
	if src.key == "" || strings.HasSuffix(src.key, "/") {
		return usagef("%s is a prefix: give an object, or -r", src)
	}
	what := "cp " + src.String() + " " + local
	get := &s3.GetObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key)}
	if local == "-" {
		out, err := c.s.s3.GetObject(ctx, get)
		if err != nil {
			return fail(what, "GetObject", get, err)
		}
		defer out.Body.Close()
		if _, err := io.Copy(c.a.stdout, out.Body); err != nil {
			return fail(what, "GetObject", get, err)
		}
		return nil
	}
	if fi, err := os.Stat(local); (err == nil && fi.IsDir()) || strings.HasSuffix(local, string(filepath.Separator)) {
		local = filepath.Join(local, path.Base(src.key))
	}
	return c.downloadTo(ctx, src, local)
}

// downloadTo downloads an object to the file local.
func (c *copier) downloadTo(ctx context.Context, src s3URI, local string) error {
	what := "cp " + src.String() + " " + local
	get := &s3.GetObjectInput{Bucket: aws.String(src.bucket), Key: aws.String(src.key)}
	dir := filepath.Dir(local)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &failure{what: what, err: err}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(local)+".s3ag-*")
	if err != nil {
		return &failure{what: what, err: err}
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	bar := c.newBar("download "+path.Base(src.key), -1)
	_, err = c.tm.DownloadObject(ctx, &transfermanager.DownloadObjectInput{
		Bucket: get.Bucket, Key: get.Key, WriterAt: tmp,
	}, bar.register)
	bar.finish(err)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		return &failure{what: what, err: cerr}
	}
	if err != nil {
		return fail(what, "GetObject", get, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return &failure{what: what, err: err}
	}
	if err := os.Rename(tmp.Name(), local); err != nil {
		return &failure{what: what, err: err}
	}
	return nil
}

// copyObject copies an object within S3.
func (c *copier) copyObject(ctx context.Context, src, dst s3URI) error {
	if src.key == "" || strings.HasSuffix(src.key, "/") {
		return usagef("%s is a prefix: give an object, or -r", src)
	}
	if dst.key == "" || strings.HasSuffix(dst.key, "/") {
		dst.key += path.Base(src.key)
	}
	in := &s3.CopyObjectInput{
		Bucket:     aws.String(dst.bucket),
		Key:        aws.String(dst.key),
		CopySource: aws.String(copySource(src)),
	}
	if _, err := c.s.s3.CopyObject(ctx, in); err != nil {
		return fail("cp "+src.String()+" "+dst.String(), "CopyObject", in, err)
	}
	return nil
}

// copySource encodes an object as CopySource: bucket/key with each path
// segment escaped, a space as %20 and a + as %2B, so that both readings
// of the header (path and form decoding) agree.
func copySource(u s3URI) string {
	segs := strings.Split(u.key, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	}
	return u.bucket + "/" + strings.Join(segs, "/")
}

// copyPrefix copies every object under src's prefix to dst's prefix.
func (c *copier) copyPrefix(ctx context.Context, src, dst s3URI) error {
	keys, err := listKeys(ctx, c.s.s3, src)
	if err != nil {
		return err
	}
	for _, k := range keys {
		to := s3URI{bucket: dst.bucket, key: joinKey(dst.key, strings.TrimPrefix(k, src.key))}
		if err := c.copyObject(ctx, s3URI{bucket: src.bucket, key: k}, to); err != nil {
			return err
		}
	}
	return nil
}

// uploadDir uploads every regular file under dir to dst's prefix.
func (c *copier) uploadDir(ctx context.Context, dir string, dst s3URI) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return &failure{what: "cp " + dir, err: err}
	}
	if !fi.IsDir() {
		return usagef("cp -r: %s is not a directory", dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return &failure{what: "cp " + p, err: err}
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return c.upload(ctx, p, s3URI{bucket: dst.bucket, key: joinKey(dst.key, filepath.ToSlash(rel))})
	})
}

// downloadPrefix downloads every object under src's prefix into dir.
func (c *copier) downloadPrefix(ctx context.Context, src s3URI, dir string) error {
	keys, err := listKeys(ctx, c.s.s3, src)
	if err != nil {
		return err
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return &failure{what: "cp " + dir, err: err}
	}
	for _, k := range keys {
		rel := strings.TrimPrefix(strings.TrimPrefix(k, src.key), "/")
		if rel == "" || strings.HasSuffix(rel, "/") {
			continue // a "directory" marker object
		}
		local := filepath.Join(root, filepath.FromSlash(rel))
		// A key like "../x" must not write outside the destination.
		if !strings.HasPrefix(local, root+string(filepath.Separator)) {
			return &failure{what: "cp s3://" + src.bucket + "/" + k, err: errors.New("the key leads outside the destination directory")}
		}
		if err := c.downloadTo(ctx, s3URI{bucket: src.bucket, key: k}, local); err != nil {
			return err
		}
	}
	return nil
}

// joinKey joins an S3 prefix and a relative key with one "/".
func joinKey(prefix, rel string) string {
	rel = strings.TrimPrefix(rel, "/")
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		return prefix + rel
	}
	return prefix + "/" + rel
}

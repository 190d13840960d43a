package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	"github.com/spf13/cobra"

	accessgrants "github.com/s3ag/accessgrants"
	"github.com/s3ag/accessgrants/emulator"
)

// The demo's world: an application role in account 111122223333 with
// grants on two buckets of its own account and on a partner account's
// bucket, and an IAM policy that lets it write one prefix with its own
// key (for the fallback step).
const (
	demoAppKey      = "AKIADEMOAPP000000001"
	demoAdminKey    = "AKIADEMOADMIN0000001"
	demoPartnerKey  = "AKIADEMOPARTNER00001"
	demoAppARN      = "arn:aws:iam::111122223333:role/app"
	demoBucket      = "demo-bucket"
	demoOtherBucket = "other-bucket"
	demoPartner     = "partner-bucket"
)

const demoConfigYAML = `
region: us-east-1
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:user/admin
        access_key_id: AKIADEMOADMIN0000001
        secret_access_key: demo-admin-secret
        allow: [{actions: ["*"], resources: ["*"]}]
      - arn: arn:aws:iam::111122223333:role/app
        access_key_id: AKIADEMOAPP000000001
        secret_access_key: demo-app-secret
        allow:
          - actions: ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix", "s3:ListCallerAccessGrants"]
            resources: ["*"]
          - actions: ["s3:PutObject"]
            resources: ["arn:aws:s3:::demo-bucket/reports/*"]
    roles:
      - arn: arn:aws:iam::111122223333:role/ag-location
        max_session_duration: 43200
  - id: "444455556666"
    principals:
      - arn: arn:aws:iam::444455556666:user/admin
        access_key_id: AKIADEMOPARTNER00001
        secret_access_key: demo-partner-secret
        allow: [{actions: ["*"], resources: ["*"]}]
    roles:
      - arn: arn:aws:iam::444455556666:role/ag-location
buckets:
  - {name: demo-bucket, account: "111122223333"}
  - {name: other-bucket, account: "111122223333"}
  - {name: partner-bucket, account: "444455556666"}
access_grants:
  - account: "111122223333"
    locations:
      - {scope: "s3://", role: "arn:aws:iam::111122223333:role/ag-location"}
    grants:
      - location: "s3://"
        sub_prefix: "demo-bucket/reports/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READ
      - location: "s3://"
        sub_prefix: "demo-bucket/work/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READWRITE
      - location: "s3://"
        sub_prefix: "other-bucket/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READ
  - account: "444455556666"
    resource_policy_accounts: ["111122223333"]
    locations:
      - {scope: "s3://partner-bucket", role: "arn:aws:iam::444455556666:role/ag-location"}
    grants:
      - location: "s3://partner-bucket"
        sub_prefix: "shared/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/app"}
        permission: READ
`

// demoObjects are written by each bucket's owner before the demo starts.
var demoObjects = []struct{ owner, bucket, key, body string }{
	{demoAdminKey, demoBucket, "reports/q1.csv", "quarter,revenue\nq1,100\n"},
	{demoAdminKey, demoBucket, "reports/q2.csv", "quarter,revenue\nq2,120\n"},
	{demoAdminKey, demoBucket, "work/draft.txt", "a draft\n"},
	{demoAdminKey, demoOtherBucket, "x.txt", "in another bucket\n"},
	{demoPartnerKey, demoPartner, "shared/prices.csv", "item,price\nwidget,3\n"},
}

// controlAPIs are the control-plane calls the plugin makes, in the order
// the transcript shows their counts.
var controlAPIs = []string{"GetDataAccess", "GetAccessGrantsInstanceForPrefix", "HeadBucket", "GetCallerIdentity"}

func (a *app) demoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Watch the Access Grants plugin at work against an embedded emulator",
		Long: `Start an emulator on a free loopback port, seed it with an application role,
its grants, buckets and objects, and walk through the Go plugin at work:

  1. a read served by a grant (one GetDataAccess call)
  2. a second read under the same grant, served by the cache (no call)
  3. a listing of the granted prefix, also from the cache
  4. a write under a READ-only grant, denied with fallback off
  5. the same write with fallback on, signed with the app's own key
  6. a copy within one bucket under a READWRITE grant
  7. a copy across buckets, refused before anything is sent
  8. a read of another account's bucket, through its instance's resource policy
  9. credentials for another tool (what s3ag credentials prints), from the cache

Each step prints what was asked, the permission and target the plugin asked
for, whether a grant, the cache or the fallback served it, and the control-plane
calls the emulator counted, and checks what the emulator saw (which key signed
each request, how many GetDataAccess calls). The exit status is 0 only if
every step behaved as the specification says. Nothing outside the emulator is
touched; --endpoint-url, --region and --profile do not apply.

Example:

  go run ./cmd/s3ag demo`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemo(cmd.Context())
		},
	}
}

// demo runs the demo's steps and keeps score.
type demo struct {
	a      *app
	w      io.Writer
	srv    *emulator.Server
	n      int
	failed []int
}

// runDemo starts the emulator, runs the steps and reports.
func (a *app) runDemo(ctx context.Context) error {
	cfg, err := emulator.ParseConfig([]byte(demoConfigYAML))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	srv, err := emulator.Start(cfg, "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer srv.Close()
	d := &demo{a: a, w: a.stdout, srv: srv}
	if err := d.seed(ctx); err != nil {
		return fmt.Errorf("demo: seeding the emulator: %w", err)
	}
	d.intro(cfg)
	if err := d.steps(ctx); err != nil {
		return err
	}
	if len(d.failed) > 0 {
		return fmt.Errorf("demo: %d of %d steps misbehaved (steps %v)", len(d.failed), d.n, d.failed)
	}
	fmt.Fprintf(d.w, "\ndemo: all %d steps behaved as the specification says.\n", d.n)
	return nil
}

// awsConfig returns the configuration of a principal, logging with --debug.
func (d *demo) awsConfig(key string) aws.Config {
	cfg := d.srv.AWSConfig(key)
	if d.a.debug {
		cfg.HTTPClient = &debugClient{next: cfg.HTTPClient, w: d.a.stderr}
		cfg.Logger = d.a.logger()
	}
	return cfg
}

// seed writes the demo's objects as their buckets' owners.
func (d *demo) seed(ctx context.Context) error {
	for _, o := range demoObjects {
		c := s3.NewFromConfig(d.awsConfig(o.owner), func(o *s3.Options) { o.UsePathStyle = true })
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(o.bucket), Key: aws.String(o.key), Body: strings.NewReader(o.body),
		}); err != nil {
			return fmt.Errorf("s3://%s/%s: %w", o.bucket, o.key, err)
		}
	}
	return nil
}

// intro prints who the caller is and what it was granted.
func (d *demo) intro(cfg *emulator.Config) {
	fmt.Fprintf(d.w, "s3ag demo: the S3 Access Grants plugin against an embedded emulator at %s\n\n", d.srv.URL)
	fmt.Fprintf(d.w, "caller  %s (key %s)\n", demoAppARN, demoAppKey)
	fmt.Fprintf(d.w, "        its IAM policy allows s3:PutObject on demo-bucket/reports/* and no other S3 action\n")
	for _, inst := range cfg.AccessGrants {
		for _, g := range inst.Grants {
			if g.Grantee.Identifier != demoAppARN {
				continue
			}
			scope := g.Location + g.SubPrefix
			if g.Location != "s3://" {
				scope = g.Location + "/" + g.SubPrefix
			}
			fmt.Fprintf(d.w, "grant   %-9s %-28s (instance of account %s)\n", g.Permission, scope, inst.Account)
		}
	}
}

// observation is what one step left behind: the emulator's counts and
// requests, and the change in the plugin's counters.
type observation struct {
	calls map[string]int
	reqs  []emulator.Call
	stats accessgrants.Stats // the step's increments
}

// last returns the last request of an API the emulator served.
func (o observation) last(api string) (emulator.Call, bool) {
	for i := len(o.reqs) - 1; i >= 0; i-- {
		if o.reqs[i].API == api {
			return o.reqs[i], true
		}
	}
	return emulator.Call{}, false
}

// step runs one step: it prints the operation and what the plugin asks
// for it, makes the call, and checks the observation. check returns the
// sentence saying how the request was served, or what went wrong.
func (d *demo) step(title, op string, input any, p *accessgrants.Plugin, call func() error, check func(observation, error) (string, error)) {
	d.n++
	fmt.Fprintf(d.w, "\n%d. %s\n", d.n, title)
	if input != nil {
		fmt.Fprintf(d.w, "   %s\n", describeRequest(op, input))
	} else {
		fmt.Fprintf(d.w, "   %s\n", op) // not an S3 operation: op says what is asked
	}
	d.srv.ResetCalls()
	before := p.Stats()
	callErr := call()
	obs := observation{calls: d.srv.Calls(), reqs: d.srv.Requests(), stats: statsDelta(before, p.Stats())}
	served, err := check(obs, callErr)
	if served != "" {
		fmt.Fprintf(d.w, "   %s\n", served)
	}
	var counts []string
	for _, api := range controlAPIs {
		counts = append(counts, fmt.Sprintf("%s %d", api, obs.calls[api]))
	}
	fmt.Fprintf(d.w, "   control plane: %s\n", strings.Join(counts, ", "))
	if err != nil {
		d.failed = append(d.failed, d.n)
		fmt.Fprintf(d.w, "   FAILED: %s\n", oneLine(err.Error()))
		return
	}
	fmt.Fprintf(d.w, "   ok\n")
}

// describeRequest says what the plugin asks Access Grants for to sign an
// operation.
func describeRequest(op string, input any) string {
	req, err := accessgrants.RequestFor(op, input)
	switch {
	case err == nil:
		return fmt.Sprintf("%s asks %s on %s", op, req.Permission, req.Target)
	case errors.Is(err, accessgrants.ErrUnsupported):
		return fmt.Sprintf("%s is not served by Access Grants", op)
	}
	return fmt.Sprintf("%s cannot be mapped to a grant: %v", op, err)
}

// steps runs every step of the demo.
func (d *demo) steps(ctx context.Context) error {
	plugin, err := accessgrants.New(d.awsConfig(demoAppKey), func(o *accessgrants.Options) { o.Logger = d.pluginLogger() })
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer plugin.Close()
	fallback, err := accessgrants.New(d.awsConfig(demoAppKey), func(o *accessgrants.Options) {
		o.FallbackEnabled = true
		o.Logger = d.pluginLogger()
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer fallback.Close()
	pathStyle := func(o *s3.Options) { o.UsePathStyle = true }
	app := s3.NewFromConfig(d.awsConfig(demoAppKey), pathStyle, plugin.Register)
	appFallback := s3.NewFromConfig(d.awsConfig(demoAppKey), pathStyle, fallback.Register)

	// 1. A read that a grant serves.
	var vendedKey string
	get1 := &s3.GetObjectInput{Bucket: aws.String(demoBucket), Key: aws.String("reports/q1.csv")}
	d.step("a read under a READ grant", "GetObject", get1, plugin, func() error {
		return readObject(ctx, app, get1)
	}, func(o observation, err error) (string, error) {
		if err != nil {
			return "", err
		}
		c, ok := o.last("GetObject")
		switch {
		case !ok || !isVendedKey(c.AccessKeyID):
			return "", fmt.Errorf("GetObject was signed with %q, not a vended ASIA key", c.AccessKeyID)
		case c.GrantScope != "s3://demo-bucket/reports/*":
			return "", fmt.Errorf("the vended key covers %q, not the grant s3://demo-bucket/reports/*", c.GrantScope)
		case o.calls["GetDataAccess"] != 1 || o.stats.Granted != 1:
			return "", fmt.Errorf("%d GetDataAccess calls, %d granted; want 1 and 1", o.calls["GetDataAccess"], o.stats.Granted)
		}
		vendedKey = c.AccessKeyID
		return fmt.Sprintf("served by a grant: GetDataAccess matched %s; S3 saw the request signed with vended key %s", c.GrantScope, shortKey(vendedKey)), nil
	})

	// 2. Another object under the same grant: the cache serves it.
	get2 := &s3.GetObjectInput{Bucket: aws.String(demoBucket), Key: aws.String("reports/q2.csv")}
	d.step("a second read under the same grant", "GetObject", get2, plugin, func() error {
		return readObject(ctx, app, get2)
	}, func(o observation, err error) (string, error) {
		if err != nil {
			return "", err
		}
		return d.checkCached(o, "GetObject", vendedKey)
	})

	// 3. A listing of the granted prefix: READ on s3://demo-bucket/reports/*.
	list := &s3.ListObjectsV2Input{Bucket: aws.String(demoBucket), Prefix: aws.String("reports/")}
	var listed int
	d.step("a listing of the granted prefix", "ListObjectsV2", list, plugin, func() error {
		out, err := app.ListObjectsV2(ctx, list)
		if err == nil {
			listed = len(out.Contents)
		}
		return err
	}, func(o observation, err error) (string, error) {
		if err != nil {
			return "", err
		}
		if listed != 2 {
			return "", fmt.Errorf("listed %d objects, want 2", listed)
		}
		served, err := d.checkCached(o, "ListObjectsV2", vendedKey)
		return served + fmt.Sprintf("; %d objects listed", listed), err
	})

	// 4. A write under a READ grant, fallback off: denied, nothing sent to S3.
	put := &s3.PutObjectInput{Bucket: aws.String(demoBucket), Key: aws.String("reports/summary.csv"), Body: strings.NewReader("summary\n")}
	d.step("a write under the READ grant, fallback off", "PutObject", put, plugin, func() error {
		_, err := app.PutObject(ctx, put)
		return err
	}, func(o observation, err error) (string, error) {
		var agErr *accessgrants.Error
		switch {
		case err == nil:
			return "", errors.New("the write succeeded; Access Grants should have denied it")
		case !errors.As(err, &agErr) || errorCode(err) != "AccessDenied":
			return "", fmt.Errorf("failed with %v, want an *accessgrants.Error with AccessDenied", err)
		case o.calls["PutObject"] != 0:
			return "", fmt.Errorf("PutObject reached S3 %d times, want 0", o.calls["PutObject"])
		case o.calls["GetDataAccess"] != 1:
			return "", fmt.Errorf("%d GetDataAccess calls, want 1", o.calls["GetDataAccess"])
		}
		return fmt.Sprintf("denied: GetDataAccess answered AccessDenied for %s %s; the request never reached S3 (error: %s)",
			agErr.Permission, agErr.Target, errorCode(err)), nil
	})

	// 5. The same write with fallback on: the app's own key signs it.
	put.Body = strings.NewReader("summary\n")
	d.step("the same write, fallback on", "PutObject", put, fallback, func() error {
		_, err := appFallback.PutObject(ctx, put)
		return err
	}, func(o observation, err error) (string, error) {
		if err != nil {
			return "", err
		}
		c, ok := o.last("PutObject")
		switch {
		case !ok || c.AccessKeyID != demoAppKey || c.Status != 200:
			return "", fmt.Errorf("PutObject was signed with %q (status %d), want the app's own %s", c.AccessKeyID, c.Status, demoAppKey)
		case o.stats.Fallback != 1:
			return "", fmt.Errorf("the plugin counted %d fallbacks, want 1", o.stats.Fallback)
		}
		return fmt.Sprintf("served by the fallback: Access Grants denied WRITE, so the app's own key %s signed it, and its IAM policy allowed it", demoAppKey), nil
	})

	// 6. A copy within one bucket under a READWRITE grant.
	cp := &s3.CopyObjectInput{Bucket: aws.String(demoBucket), Key: aws.String("work/final.txt"), CopySource: aws.String("demo-bucket/work/draft.txt")}
	d.step("a copy within one bucket, under a READWRITE grant", "CopyObject", cp, plugin, func() error {
		_, err := app.CopyObject(ctx, cp)
		return err
	}, func(o observation, err error) (string, error) {
		if err != nil {
			return "", err
		}
		c, ok := o.last("CopyObject")
		switch {
		case !ok || !isVendedKey(c.AccessKeyID) || c.GrantScope != "s3://demo-bucket/work/*":
			return "", fmt.Errorf("CopyObject was signed with %q for scope %q, want a vended key for s3://demo-bucket/work/*", c.AccessKeyID, c.GrantScope)
		case o.calls["GetDataAccess"] != 1:
			return "", fmt.Errorf("%d GetDataAccess calls, want 1", o.calls["GetDataAccess"])
		}
		return fmt.Sprintf("served by a grant: GetDataAccess matched %s; signed with vended key %s", c.GrantScope, shortKey(c.AccessKeyID)), nil
	})

	// 7. A copy across buckets: refused before anything is sent.
	cross := &s3.CopyObjectInput{Bucket: aws.String(demoBucket), Key: aws.String("work/x.txt"), CopySource: aws.String("other-bucket/x.txt")}
	d.step("a copy across buckets", "CopyObject", cross, plugin, func() error {
		_, err := app.CopyObject(ctx, cross)
		return err
	}, func(o observation, err error) (string, error) {
		var agErr *accessgrants.Error
		switch {
		case err == nil:
			return "", errors.New("the copy succeeded; the plugin should have refused it")
		case !errors.As(err, &agErr) || !strings.Contains(err.Error(), "same"):
			return "", fmt.Errorf("failed with %v, want an *accessgrants.Error about the same bucket", err)
		case len(o.reqs) != 0:
			return "", fmt.Errorf("%d requests reached the emulator, want none", len(o.reqs))
		}
		return "refused by the plugin: one grant cannot cover two buckets; no request was sent", nil
	})

	// 8. Another account's bucket, shared through its instance's resource policy.
	partner := &s3.GetObjectInput{Bucket: aws.String(demoPartner), Key: aws.String("shared/prices.csv")}
	d.step("a read of another account's bucket", "GetObject", partner, plugin, func() error {
		return readObject(ctx, app, partner)
	}, func(o observation, err error) (string, error) {
		if err != nil {
			return "", err
		}
		c, ok := o.last("GetObject")
		switch {
		case !ok || !isVendedKey(c.AccessKeyID) || c.GrantScope != "s3://partner-bucket/shared/*":
			return "", fmt.Errorf("GetObject was signed with %q for scope %q, want a vended key for s3://partner-bucket/shared/*", c.AccessKeyID, c.GrantScope)
		case o.calls["GetDataAccess"] != 1 || o.calls["GetAccessGrantsInstanceForPrefix"] != 1:
			return "", fmt.Errorf("%d GetDataAccess and %d GetAccessGrantsInstanceForPrefix calls, want 1 and 1",
				o.calls["GetDataAccess"], o.calls["GetAccessGrantsInstanceForPrefix"])
		}
		return fmt.Sprintf("served by a grant of account 444455556666: GetAccessGrantsInstanceForPrefix found its instance, GetDataAccess matched %s", c.GrantScope), nil
	})

	// 9. Credentials for a tool that is not a Go S3 client.
	var creds aws.Credentials
	d.step("credentials for another tool (what s3ag credentials prints)",
		"Plugin.Credentials asks READ on s3://demo-bucket/reports/*", nil, plugin, func() error {
			var err error
			creds, err = plugin.Credentials(ctx, "s3://demo-bucket/reports/*", accessgrants.PermissionRead)
			return err
		}, func(o observation, err error) (string, error) {
			switch {
			case err != nil:
				return "", err
			case creds.AccessKeyID != vendedKey:
				return "", fmt.Errorf("got key %s, want the cached %s of step 1", shortKey(creds.AccessKeyID), shortKey(vendedKey))
			case len(o.reqs) != 0:
				return "", fmt.Errorf("%d requests reached the emulator, want none", len(o.reqs))
			}
			return fmt.Sprintf("served by the cache: the credentials of step 1 (%s), valid until %s", shortKey(creds.AccessKeyID), creds.Expires.UTC().Format("15:04:05 MST")), nil
		})
	return nil
}

// checkCached checks that a request was signed with the cached key and
// made no control-plane call.
func (d *demo) checkCached(o observation, api, key string) (string, error) {
	c, ok := o.last(api)
	switch {
	case !ok || c.AccessKeyID != key:
		return "", fmt.Errorf("%s was signed with %q, want the cached %s", api, c.AccessKeyID, key)
	case o.calls["GetDataAccess"] != 0:
		return "", fmt.Errorf("%d GetDataAccess calls, want 0", o.calls["GetDataAccess"])
	case o.stats.Cached != 1:
		return "", fmt.Errorf("the plugin counted %d cache hits, want 1", o.stats.Cached)
	}
	return fmt.Sprintf("served by the cache: the credentials of step 1 cover it; S3 saw key %s again", shortKey(key)), nil
}

// pluginLogger is the plugin's logger: --debug's, or none.
func (d *demo) pluginLogger() logging.Logger {
	if l := d.a.logger(); l != nil {
		return l
	}
	return logging.Nop{}
}

// readObject reads a whole object.
func readObject(ctx context.Context, c *s3.Client, in *s3.GetObjectInput) error {
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return err
	}
	defer out.Body.Close()
	_, err = io.Copy(io.Discard, out.Body)
	return err
}

// statsDelta returns the counters that changed between two snapshots.
func statsDelta(before, after accessgrants.Stats) accessgrants.Stats {
	return accessgrants.Stats{
		Granted:     after.Granted - before.Granted,
		Cached:      after.Cached - before.Cached,
		Fallback:    after.Fallback - before.Fallback,
		Denied:      after.Denied - before.Denied,
		Failed:      after.Failed - before.Failed,
		Unsupported: after.Unsupported - before.Unsupported,
	}
}

// isVendedKey reports whether an access key is temporary (ASIA...), as
// the keys GetDataAccess vends are.
func isVendedKey(key string) bool { return strings.HasPrefix(key, "ASIA") }

// shortKey shortens an access key ID for the transcript.
func shortKey(key string) string {
	if len(key) > 12 {
		return key[:12] + "…"
	}
	return key
}

// errorCode returns the AWS error code under err, "" if none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

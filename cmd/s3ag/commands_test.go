package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"

	accessgrants "github.com/s3ag/accessgrants"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	r := runInProcess("demo")
	if r.code != 0 {
		t.Fatalf("demo: %v", r)
	}
	for _, want := range []string{
		"embedded emulator at http://127.0.0.1:",
		"GetObject asks READ on s3://demo-bucket/reports/q1.csv",
		"served by a grant: GetDataAccess matched s3://demo-bucket/reports/*",
		"served by the cache",
		"denied: GetDataAccess answered AccessDenied for WRITE s3://demo-bucket/reports/summary.csv",
		"served by the fallback",
		"CopyObject asks READWRITE on s3://demo-bucket/work/*",
		"refused by the plugin",
		"served by a grant of account 444455556666",
		"control plane: GetDataAccess 1, GetAccessGrantsInstanceForPrefix 1, HeadBucket 1, GetCallerIdentity 0",
		"control plane: GetDataAccess 0,",
		"demo: all 9 steps behaved as the specification says.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "FAILED") || r.stderr != "" {
		t.Errorf("demo: %v", r)
	}
	if n := strings.Count(r.stdout, "\n   ok\n"); n != 9 {
		t.Errorf("%d steps ok, want 9", n)
	}
}

func TestDemoDebug(t *testing.T) {
	t.Parallel()
	r := runInProcess("demo", "--debug")
	if r.code != 0 {
		t.Fatalf("demo --debug: %v", r)
	}
	if !strings.Contains(r.stderr, "s3ag debug: http GET") || !strings.Contains(r.stderr, "s3 access grants:") {
		t.Errorf("demo --debug logged:\n%s", r.stderr)
	}
	for _, secret := range []string{"demo-app-secret", "demo-admin-secret", tokenPrefix} {
		if strings.Contains(r.stderr, secret) {
			t.Errorf("demo --debug printed %q", secret)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"explain", "GetObject", "--bucket", "b", "--key", "reports/q1.csv"}, 0,
			[]string{"permission:  READ\n", "target:      s3://b/reports/q1.csv\n", "target type: Object"}},
		{[]string{"explain", "headobject", "--bucket", "b", "--key", "k"}, 0, []string{"operation:   HeadObject\n"}},
		{[]string{"explain", "ListObjectsV2", "--bucket", "b", "--prefix", "reports/"}, 0,
			[]string{"permission:  READ\n", "target:      s3://b/reports/*\n"}},
		{[]string{"explain", "ListObjectsV2", "--bucket", "b"}, 0, []string{"target:      s3://b/*\n"}},
		{[]string{"explain", "HeadBucket", "--bucket", "b"}, 0, []string{"target:      s3://b/*\n"}},
		{[]string{"explain", "PutObject", "--bucket", "b", "--key", "k"}, 0, []string{"permission:  WRITE\n"}},
		{[]string{"explain", "DeleteObjects", "--bucket", "b", "--delete-keys", "ABC/x,ABCD/y"}, 0,
			[]string{"permission:  WRITE\n", "target:      s3://b/ABC*\n"}},
		{[]string{"explain", "DeleteObjects", "--bucket", "b", "--delete-keys", "one"}, 0, []string{"target:      s3://b/one\n"}},
		{[]string{"explain", "CopyObject", "--bucket", "b", "--key", "work/b.txt", "--copy-source", "b/work/a%20b.txt"}, 0,
			[]string{"permission:  READWRITE\n", "target:      s3://b/work/*\n"}},
		{[]string{"explain", "--bucket", "b", "UploadPartCopy", "--key", "k2", "--copy-source", "/b/k1?versionId=3"}, 0,
			[]string{"permission:  READWRITE\n", "target:      s3://b/k*\n"}},
		// Unsupported: an answer, not an error.
		{[]string{"explain", "ListBuckets"}, 0, []string{"served:      no:", "not supported", "the client's own credentials"}},
		{[]string{"explain", "GetObject", "--bucket", "arn:aws:s3:us-east-1:111122223333:accesspoint/ap", "--key", "k"}, 0,
			[]string{"served:      no:", "ARN"}},
		{[]string{"explain", "GetObject", "--bucket", "dir--usw2-az1--x-s3", "--key", "k"}, 0, []string{"S3 Express"}},
		// Faulty requests fail, as the plugin fails them.
		{[]string{"explain", "CopyObject", "--bucket", "b", "--key", "k", "--copy-source", "other/k"}, 1, nil},
		{[]string{"explain", "GetObject", "--bucket", "b"}, 1, nil},
		{[]string{"explain", "GetObject", "--key", "k"}, 1, nil},
		// Usage.
		{[]string{"explain", "GetObject", "--bucket", "b", "--key", "k", "--prefix", "p"}, 2, nil},
		{[]string{"explain"}, 2, nil},
	} {
		r := runInProcess(tc.args...)
		if r.code != tc.code {
			t.Errorf("s3ag %v: %v; want exit %d", tc.args, r, tc.code)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("s3ag %v printed:\n%s\nwant %q", tc.args, r.stdout, want)
			}
		}
		if tc.code != 0 {
			checkOneLine(t, r)
		}
	}
	r := runInProcess("explain", "CopyObject", "--bucket", "b", "--key", "k", "--copy-source", "other/k")
	checkOneLine(t, r, "CopyObject", "same", "--fallback")
}

func TestGrants(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.run("grants")
	mustSucceed(t, r, "grants")
	want := "GRANT SCOPE                 PERMISSION  APPLICATION\n" +
		"s3://data-bucket/reports/*  READ        -\n" +
		"s3://data-bucket/work/*     READWRITE   -\n" +
		"s3://other-bucket/*         READWRITE   -\n"
	if r.stdout != want {
		t.Errorf("grants printed:\n%s\nwant:\n%s", r.stdout, want)
	}
	if n := w.calls("GetCallerIdentity"); n != 1 {
		t.Errorf("GetCallerIdentity calls = %d, want 1 (env credentials carry no account)", n)
	}
	if c := w.lastCall("ListCallerAccessGrants"); c.AccessKeyID != appKey {
		t.Errorf("ListCallerAccessGrants signed with %s", c.AccessKeyID)
	}

	// Every page is read.
	w.srv.ResetCalls()
	r = w.run("grants", "--page-size", "2")
	mustSucceed(t, r, "grants --page-size 2")
	if r.stdout != want {
		t.Errorf("grants --page-size 2 printed:\n%s", r.stdout)
	}
	if n := w.calls("ListCallerAccessGrants"); n != 2 {
		t.Errorf("ListCallerAccessGrants calls = %d, want 2 pages", n)
	}

	r = w.run("grants", "--scope", "s3://data-bucket/work/")
	mustSucceed(t, r, "grants --scope")
	if !strings.Contains(r.stdout, "s3://data-bucket/work/*") || strings.Contains(r.stdout, "reports") {
		t.Errorf("grants --scope printed:\n%s", r.stdout)
	}

	// Grants made through the API show up too, with their application.
	ctl := s3control.NewFromConfig(w.srv.AWSConfig(adminKey))
	if _, err := ctl.CreateAccessGrant(context.Background(), &s3control.CreateAccessGrantInput{
		AccountId:              aws.String("111122223333"),
		AccessGrantsLocationId: aws.String("default"),
		AccessGrantsLocationConfiguration: &types.AccessGrantsLocationConfiguration{
			S3SubPrefix: aws.String("other-bucket/app/*"),
		},
		Grantee:        &types.Grantee{GranteeType: types.GranteeTypeIam, GranteeIdentifier: aws.String("arn:aws:iam::111122223333:role/app")},
		Permission:     types.PermissionWrite,
		ApplicationArn: aws.String("arn:aws:sso::111122223333:application/ssoins-1/apl-1"),
	}); err != nil {
		t.Fatal(err)
	}
	r = w.run("grants")
	mustSucceed(t, r, "grants")
	if !strings.Contains(r.stdout, "s3://other-bucket/app/*     WRITE       arn:aws:sso::111122223333:application/ssoins-1/apl-1\n") {
		t.Errorf("grants printed:\n%s", r.stdout)
	}

	r = w.runEnv(w.env(noGrantsKey, noGrantsSec), nil, "grants")
	if r.code != 0 || r.stdout != "GRANT SCOPE  PERMISSION  APPLICATION\n" || !strings.Contains(r.stderr, "no grants") {
		t.Errorf("grants of a caller without grants: %v", r)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runInProcess("version")
	if r.code != 0 || !strings.Contains(r.stdout, "s3ag "+accessgrants.Version) || !strings.Contains(r.stdout, "github.com/s3ag/accessgrants") {
		t.Errorf("version: %v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"no-such-command"},
		{"cat"},
		{"cat", "s3://b/k", "extra"},
		{"cat", "not-a-uri"},
		{"cat", "s3:///k"},
		{"ls", "--no-such-flag"},
		{"cp", "a"},
		{"rm", "s3://bucket"},
		{"version", "extra"},
		{"grants", "--page-size", "5000"},
		{"--endpoint-url", "127.0.0.1:9000", "ls"},
	} {
		r := runInProcess(args...)
		if r.code != 2 || r.stdout != "" {
			t.Errorf("s3ag %v: %v; want exit 2", args, r)
			continue
		}
		checkOneLine(t, r)
	}
}

// TestEveryCommandHasAnExample checks the Long help of every command.
func TestEveryCommandHasAnExample(t *testing.T) {
	a := &app{}
	root := a.rootCommand()
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !strings.Contains(c.Long, "Example:") || !strings.Contains(c.Long, "s3ag "+c.Name()) {
			t.Errorf("%s: Long help lacks an example:\n%s", c.Name(), c.Long)
		}
	}
}

// TestErrorLines checks the one line s3ag prints when the service cannot
// be reached or refuses the caller.
func TestErrorLines(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.run("cat", "s3://data-bucket/reports/q1.csv", "--endpoint-url", "http://127.0.0.1:1")
	if r.code != 1 {
		t.Fatalf("cat from a closed port: %v", r)
	}
	checkOneLine(t, r, "cat s3://data-bucket/reports/q1.csv", "READ on s3://data-bucket/reports/q1.csv", "connection refused")

	r = w.runEnv(w.env(appKey, "wrong-secret"), nil, "cat", "s3://data-bucket/reports/q1.csv")
	if r.code != 1 {
		t.Fatalf("cat with a wrong secret: %v", r)
	}
	checkOneLine(t, r, "READ on s3://data-bucket/reports/q1.csv", "SignatureDoesNotMatch")

	r = w.runEnv(w.env(noGrantsKey, noGrantsSec), nil, "rm", "s3://data-bucket/work/a.txt")
	if r.code != 1 {
		t.Fatalf("rm without a grant: %v", r)
	}
	checkOneLine(t, r, "rm s3://data-bucket/work/a.txt", "Access Grants refused WRITE on s3://data-bucket/work/a.txt", "DeleteObject", "AccessDenied")

	r = w.runEnv(w.env("", ""), nil, "cat", "s3://data-bucket/reports/q1.csv")
	if r.code != 1 {
		t.Fatalf("cat without credentials: %v", r)
	}
	checkOneLine(t, r, "credentials")
}

package emulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// controlYAML has two accounts: the owner of data-bucket with an admin, an
// analyst who may only use grants, and a principal allowed nothing; and a
// partner account whose role gets grants across accounts.
const controlYAML = `
region: us-east-1
accounts:
  - id: "111122223333"
    principals:
      - arn: arn:aws:iam::111122223333:user/admin
        access_key_id: AKIAEXAMPLEADMIN0001
        secret_access_key: admin-secret
        allow: [{actions: ["*"], resources: ["*"]}]
      - arn: arn:aws:iam::111122223333:role/analyst
        access_key_id: AKIAEXAMPLEANALYST01
        secret_access_key: analyst-secret
        allow:
          - actions: ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix", "s3:ListCallerAccessGrants"]
            resources: ["*"]
      - arn: arn:aws:iam::111122223333:user/nobody
        access_key_id: AKIAEXAMPLENOBODY001
        secret_access_key: nobody-secret
        allow: [{actions: ["sts:GetCallerIdentity"], resources: ["*"]}]
    roles:
      - arn: arn:aws:iam::111122223333:role/ag-location
        max_session_duration: 43200
      - arn: arn:aws:iam::111122223333:role/short-location
        max_session_duration: 3600
  - id: "444455556666"
    principals:
      - arn: arn:aws:iam::444455556666:user/admin
        access_key_id: AKIAEXAMPLEPARTNERAD
        secret_access_key: partner-admin-secret
        allow: [{actions: ["*"], resources: ["*"]}]
      - arn: arn:aws:iam::444455556666:role/partner
        access_key_id: AKIAEXAMPLEPARTNER01
        secret_access_key: partner-secret
        allow:
          - actions: ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix", "s3:ListCallerAccessGrants"]
            resources: ["*"]
buckets:
  - {name: data-bucket, account: "111122223333"}
`

const (
	ctlOwner        = "111122223333"
	ctlPartner      = "444455556666"
	ctlAdminKey     = "AKIAEXAMPLEADMIN0001"
	ctlAnalystKey   = "AKIAEXAMPLEANALYST01"
	ctlNobodyKey    = "AKIAEXAMPLENOBODY001"
	ctlPartnerKey   = "AKIAEXAMPLEPARTNER01"
	ctlPartnerAdmin = "AKIAEXAMPLEPARTNERAD"
	ctlAnalyst      = "arn:aws:iam::111122223333:role/analyst"
	ctlPartnerRole  = "arn:aws:iam::444455556666:role/partner"
	ctlLocationRole = "arn:aws:iam::111122223333:role/ag-location"
	ctlShortRole    = "arn:aws:iam::111122223333:role/short-location"
)

func ctlServer(t *testing.T, extraYAML string, opts ...Option) *Server {
	t.Helper()
	cfg, err := ParseConfig([]byte(controlYAML + extraYAML))
	if err != nil {
		t.Fatal(err)
	}
	return NewServer(t, cfg, opts...)
}

func ctlClient(srv *Server, key string) *s3control.Client {
	return s3control.NewFromConfig(srv.AWSConfig(key))
}

// ctlWant fails unless err is an API error with that code and HTTP status.
func ctlWant(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want %s", err, code)
	}
	var re *smithyhttp.ResponseError
	got := 0
	if errors.As(err, &re) {
		got = re.HTTPStatusCode()
	}
	if ae.ErrorCode() != code || got != status {
		t.Fatalf("error = %d %s (%s), want %d %s", got, ae.ErrorCode(), ae.ErrorMessage(), status, code)
	}
}

func ctlOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ctlSetup creates the owner's instance, a default location and a
// location on data-bucket/team, and returns the admin's client and the
// team location's ID.
func ctlSetup(t *testing.T, srv *Server) (*s3control.Client, string) {
	t.Helper()
	ctx := context.Background()
	admin := ctlClient(srv, ctlAdminKey)
	_, err := admin.CreateAccessGrantsInstance(ctx, &s3control.CreateAccessGrantsInstanceInput{AccountId: aws.String(ctlOwner)})
	ctlOK(t, err)
	_, err = admin.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{
		AccountId: aws.String(ctlOwner), LocationScope: aws.String("s3://"), IAMRoleArn: aws.String(ctlLocationRole),
	})
	ctlOK(t, err)
	loc, err := admin.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{
		AccountId: aws.String(ctlOwner), LocationScope: aws.String("s3://data-bucket/team"), IAMRoleArn: aws.String(ctlLocationRole),
	})
	ctlOK(t, err)
	return admin, aws.ToString(loc.AccessGrantsLocationId)
}

func ctlGrant(t *testing.T, c *s3control.Client, locID, sub string, perm types.Permission, grantee string) *s3control.CreateAccessGrantOutput {
	t.Helper()
	out, err := c.CreateAccessGrant(context.Background(), &s3control.CreateAccessGrantInput{
		AccountId:                         aws.String(ctlOwner),
		AccessGrantsLocationId:            aws.String(locID),
		AccessGrantsLocationConfiguration: &types.AccessGrantsLocationConfiguration{S3SubPrefix: aws.String(sub)},
		Grantee:                           &types.Grantee{GranteeType: types.GranteeTypeIam, GranteeIdentifier: aws.String(grantee)},
		Permission:                        perm,
	})
	if err != nil {
		t.Fatalf("CreateAccessGrant %s %s: %v", sub, perm, err)
	}
	return out
}

// vendedS3 is an S3 client signing with GetDataAccess credentials.
func vendedS3(srv *Server, c *types.Credentials) *s3.Client {
	cfg := srv.AWSConfig(ctlAdminKey)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

var isoPattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func TestControlLifecycle(t *testing.T) {
	ctx := context.Background()
	srv := ctlServer(t, "")
	admin := ctlClient(srv, ctlAdminKey)
	acct := aws.String(ctlOwner)
	start := srv.Now().Add(-time.Second)

	inst, err := admin.CreateAccessGrantsInstance(ctx, &s3control.CreateAccessGrantsInstanceInput{AccountId: acct})
	ctlOK(t, err)
	if aws.ToString(inst.AccessGrantsInstanceId) != "default" ||
		aws.ToString(inst.AccessGrantsInstanceArn) != "arn:aws:s3:us-east-1:111122223333:access-grants/default" ||
		inst.CreatedAt == nil || inst.CreatedAt.Before(start) {
		t.Errorf("CreateAccessGrantsInstance = %+v", inst)
	}
	got, err := admin.GetAccessGrantsInstance(ctx, &s3control.GetAccessGrantsInstanceInput{AccountId: acct})
	ctlOK(t, err)
	if aws.ToString(got.AccessGrantsInstanceArn) != aws.ToString(inst.AccessGrantsInstanceArn) {
		t.Errorf("GetAccessGrantsInstance = %+v", got)
	}
	insts, err := admin.ListAccessGrantsInstances(ctx, &s3control.ListAccessGrantsInstancesInput{AccountId: acct})
	ctlOK(t, err)
	if len(insts.AccessGrantsInstancesList) != 1 || aws.ToString(insts.AccessGrantsInstancesList[0].AccessGrantsInstanceId) != "default" {
		t.Errorf("ListAccessGrantsInstances = %+v", insts.AccessGrantsInstancesList)
	}

	def, err := admin.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{
		AccountId: acct, LocationScope: aws.String("s3://"), IAMRoleArn: aws.String(ctlLocationRole),
	})
	ctlOK(t, err)
	if aws.ToString(def.AccessGrantsLocationId) != "default" ||
		aws.ToString(def.AccessGrantsLocationArn) != "arn:aws:s3:us-east-1:111122223333:access-grants/default/location/default" ||
		aws.ToString(def.LocationScope) != "s3://" || aws.ToString(def.IAMRoleArn) != ctlLocationRole {
		t.Errorf("CreateAccessGrantsLocation = %+v", def)
	}
	team, err := admin.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{
		AccountId: acct, LocationScope: aws.String("s3://data-bucket/team"), IAMRoleArn: aws.String(ctlLocationRole),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("x")}},
	})
	ctlOK(t, err)
	teamID := aws.ToString(team.AccessGrantsLocationId)
	if !agIDPattern.MatchString(teamID) || teamID == "default" {
		t.Errorf("location ID %q", teamID)
	}
	upd, err := admin.UpdateAccessGrantsLocation(ctx, &s3control.UpdateAccessGrantsLocationInput{
		AccountId: acct, AccessGrantsLocationId: aws.String(teamID), IAMRoleArn: aws.String(ctlShortRole),
	})
	ctlOK(t, err)
	if aws.ToString(upd.IAMRoleArn) != ctlShortRole || aws.ToString(upd.LocationScope) != "s3://data-bucket/team" {
		t.Errorf("UpdateAccessGrantsLocation = %+v", upd)
	}
	gl, err := admin.GetAccessGrantsLocation(ctx, &s3control.GetAccessGrantsLocationInput{AccountId: acct, AccessGrantsLocationId: aws.String(teamID)})
	ctlOK(t, err)
	if aws.ToString(gl.IAMRoleArn) != ctlShortRole || gl.CreatedAt == nil {
		t.Errorf("GetAccessGrantsLocation = %+v", gl)
	}
	locs, err := admin.ListAccessGrantsLocations(ctx, &s3control.ListAccessGrantsLocationsInput{AccountId: acct})
	ctlOK(t, err)
	if len(locs.AccessGrantsLocationsList) != 2 {
		t.Errorf("ListAccessGrantsLocations = %d entries", len(locs.AccessGrantsLocationsList))
	}
	locs, err = admin.ListAccessGrantsLocations(ctx, &s3control.ListAccessGrantsLocationsInput{AccountId: acct, LocationScope: aws.String("s3://data-bucket/team")})
	ctlOK(t, err)
	if len(locs.AccessGrantsLocationsList) != 1 || aws.ToString(locs.AccessGrantsLocationsList[0].AccessGrantsLocationId) != teamID {
		t.Errorf("ListAccessGrantsLocations by scope = %+v", locs.AccessGrantsLocationsList)
	}

	gr := ctlGrant(t, admin, "default", "data-bucket/reports/*", types.PermissionRead, ctlAnalyst)
	if aws.ToString(gr.GrantScope) != "s3://data-bucket/reports/*" || aws.ToString(gr.AccessGrantsLocationId) != "default" ||
		aws.ToString(gr.AccessGrantsLocationConfiguration.S3SubPrefix) != "data-bucket/reports/*" ||
		gr.Grantee.GranteeType != types.GranteeTypeIam || aws.ToString(gr.Grantee.GranteeIdentifier) != ctlAnalyst ||
		gr.Permission != types.PermissionRead ||
		aws.ToString(gr.AccessGrantArn) != "arn:aws:s3:us-east-1:111122223333:access-grants/default/grant/"+aws.ToString(gr.AccessGrantId) {
		t.Errorf("CreateAccessGrant = %+v", gr)
	}
	teamGrant := ctlGrant(t, admin, teamID, "", types.PermissionReadwrite, ctlAnalyst)
	if aws.ToString(teamGrant.GrantScope) != "s3://data-bucket/team/*" {
		t.Errorf("team grant scope %q", aws.ToString(teamGrant.GrantScope))
	}
	gg, err := admin.GetAccessGrant(ctx, &s3control.GetAccessGrantInput{AccountId: acct, AccessGrantId: gr.AccessGrantId})
	ctlOK(t, err)
	if aws.ToString(gg.GrantScope) != "s3://data-bucket/reports/*" || gg.CreatedAt == nil || gg.Permission != types.PermissionRead {
		t.Errorf("GetAccessGrant = %+v", gg)
	}
	lg, err := admin.ListAccessGrants(ctx, &s3control.ListAccessGrantsInput{AccountId: acct})
	ctlOK(t, err)
	if len(lg.AccessGrantsList) != 2 || aws.ToString(lg.AccessGrantsList[0].AccessGrantId) != aws.ToString(gr.AccessGrantId) ||
		aws.ToString(lg.AccessGrantsList[1].GrantScope) != "s3://data-bucket/team/*" {
		t.Errorf("ListAccessGrants = %+v", lg.AccessGrantsList)
	}
	lg, err = admin.ListAccessGrants(ctx, &s3control.ListAccessGrantsInput{AccountId: acct, Permission: types.PermissionReadwrite,
		GranteeType: types.GranteeTypeIam, GranteeIdentifier: aws.String(ctlAnalyst)})
	ctlOK(t, err)
	if len(lg.AccessGrantsList) != 1 || aws.ToString(lg.AccessGrantsList[0].AccessGrantId) != aws.ToString(teamGrant.AccessGrantId) {
		t.Errorf("ListAccessGrants filtered = %+v", lg.AccessGrantsList)
	}

	analyst := ctlClient(srv, ctlAnalystKey)
	cg, err := analyst.ListCallerAccessGrants(ctx, &s3control.ListCallerAccessGrantsInput{AccountId: acct, GrantScope: aws.String("s3://data-bucket/reports/2024/q1.csv")})
	ctlOK(t, err)
	if len(cg.CallerAccessGrantsList) != 1 || aws.ToString(cg.CallerAccessGrantsList[0].GrantScope) != "s3://data-bucket/reports/*" ||
		cg.CallerAccessGrantsList[0].Permission != types.PermissionRead {
		t.Errorf("ListCallerAccessGrants = %+v", cg.CallerAccessGrantsList)
	}

	fp, err := analyst.GetAccessGrantsInstanceForPrefix(ctx, &s3control.GetAccessGrantsInstanceForPrefixInput{AccountId: acct, S3Prefix: aws.String("s3://data-bucket/reports/q1.csv")})
	ctlOK(t, err)
	if aws.ToString(fp.AccessGrantsInstanceArn) != "arn:aws:s3:us-east-1:111122223333:access-grants/default" || aws.ToString(fp.AccessGrantsInstanceId) != "default" {
		t.Errorf("GetAccessGrantsInstanceForPrefix = %+v", fp)
	}

	put := func(key, body string) {
		t.Helper()
		_, err := s3.NewFromConfig(srv.AWSConfig(ctlAdminKey), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx,
			&s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String(key), Body: strings.NewReader(body)})
		ctlOK(t, err)
	}
	put("reports/q1.csv", "q1")
	put("private/secret.txt", "no")

	before := srv.Now()
	da, err := analyst.GetDataAccess(ctx, &s3control.GetDataAccessInput{
		AccountId: acct, Target: aws.String("s3://data-bucket/reports/q1.csv"), Permission: types.PermissionRead,
	})
	ctlOK(t, err)
	if aws.ToString(da.MatchedGrantTarget) != "s3://data-bucket/reports/*" ||
		da.Grantee.GranteeType != types.GranteeTypeIam || aws.ToString(da.Grantee.GranteeIdentifier) != ctlAnalyst {
		t.Errorf("GetDataAccess = %+v, grantee %+v", da, da.Grantee)
	}
	c := da.Credentials
	if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" {
		t.Errorf("credentials = %s", aws.ToString(c.AccessKeyId))
	}
	if exp := c.Expiration.Sub(before); exp < time.Hour-2*time.Second || exp > time.Hour+time.Second {
		t.Errorf("credentials live %v, want an hour", exp)
	}
	s3c := vendedS3(srv, c)
	if out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("reports/q1.csv")}); err != nil {
		t.Errorf("GetObject inside the grant: %v", err)
	} else {
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(body) != "q1" {
			t.Errorf("GetObject = %q", body)
		}
	}
	_, err = s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("private/secret.txt")})
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("reports/new.csv"), Body: strings.NewReader("x")})
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)

	// Minimal privilege: credentials and MatchedGrantTarget for the object
	// only; a duration within the location role's maximum (3600).
	mda, err := analyst.GetDataAccess(ctx, &s3control.GetDataAccessInput{
		AccountId: acct, Target: aws.String("s3://data-bucket/team/plan.txt"), Permission: types.PermissionWrite,
		Privilege: types.PrivilegeMinimal, TargetType: types.S3PrefixTypeObject, DurationSeconds: aws.Int32(900),
	})
	ctlOK(t, err)
	if aws.ToString(mda.MatchedGrantTarget) != "s3://data-bucket/team/plan.txt" {
		t.Errorf("Minimal MatchedGrantTarget = %q", aws.ToString(mda.MatchedGrantTarget))
	}
	if exp := mda.Credentials.Expiration.Sub(before); exp > 15*time.Minute+time.Second {
		t.Errorf("900-second credentials live %v", exp)
	}
	ms3 := vendedS3(srv, mda.Credentials)
	_, err = ms3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("team/plan.txt"), Body: strings.NewReader("p")})
	ctlOK(t, err)
	_, err = ms3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("team/other.txt"), Body: strings.NewReader("p")})
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)
	_, err = analyst.GetDataAccess(ctx, &s3control.GetDataAccessInput{
		AccountId: acct, Target: aws.String("s3://data-bucket/team/plan.txt"), Permission: types.PermissionWrite, DurationSeconds: aws.Int32(3601),
	})
	ctlWant(t, err, "InvalidRequest", http.StatusBadRequest)

	if n := srv.Calls()["GetDataAccess"]; n != 3 {
		t.Errorf("GetDataAccess served %d times, want 3", n)
	}

	// Deleting in the wrong order fails; in the right order succeeds.
	_, err = admin.DeleteAccessGrantsInstance(ctx, &s3control.DeleteAccessGrantsInstanceInput{AccountId: acct})
	ctlWant(t, err, "AccessGrantsInstanceNotEmptyError", http.StatusBadRequest)
	_, err = admin.DeleteAccessGrantsLocation(ctx, &s3control.DeleteAccessGrantsLocationInput{AccountId: acct, AccessGrantsLocationId: aws.String(teamID)})
	ctlWant(t, err, "AccessGrantsLocationNotEmptyError", http.StatusBadRequest)
	for _, id := range []*string{gr.AccessGrantId, teamGrant.AccessGrantId} {
		_, err = admin.DeleteAccessGrant(ctx, &s3control.DeleteAccessGrantInput{AccountId: acct, AccessGrantId: id})
		ctlOK(t, err)
	}
	for _, id := range []string{teamID, "default"} {
		_, err = admin.DeleteAccessGrantsLocation(ctx, &s3control.DeleteAccessGrantsLocationInput{AccountId: acct, AccessGrantsLocationId: aws.String(id)})
		ctlOK(t, err)
	}
	_, err = admin.DeleteAccessGrantsInstance(ctx, &s3control.DeleteAccessGrantsInstanceInput{AccountId: acct})
	ctlOK(t, err)
	_, err = admin.GetAccessGrantsInstance(ctx, &s3control.GetAccessGrantsInstanceInput{AccountId: acct})
	ctlWant(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
}

func TestControlErrors(t *testing.T) {
	ctx := context.Background()
	srv := ctlServer(t, "")
	acct := aws.String(ctlOwner)
	admin := ctlClient(srv, ctlAdminKey)
	analyst := ctlClient(srv, ctlAnalystKey)
	nobody := ctlClient(srv, ctlNobodyKey)
	dataAccess := func(c *s3control.Client, in s3control.GetDataAccessInput) error {
		if in.AccountId == nil {
			in.AccountId = acct
		}
		if in.Permission == "" {
			in.Permission = types.PermissionRead
		}
		_, err := c.GetDataAccess(ctx, &in)
		return err
	}

	_, err := admin.GetAccessGrantsInstance(ctx, &s3control.GetAccessGrantsInstanceInput{AccountId: acct})
	ctlWant(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
	_, err = admin.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{AccountId: acct, LocationScope: aws.String("s3://"), IAMRoleArn: aws.String(ctlLocationRole)})
	ctlWant(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
	_, err = analyst.GetAccessGrantsInstanceForPrefix(ctx, &s3control.GetAccessGrantsInstanceForPrefixInput{AccountId: acct, S3Prefix: aws.String("s3://data-bucket/x")})
	ctlWant(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
	err = dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/x")})
	ctlWant(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)

	_, teamID := ctlSetup(t, srv)
	grant := ctlGrant(t, admin, teamID, "data/*", types.PermissionRead, ctlAnalyst)

	goodGrant := func() *s3control.CreateAccessGrantInput {
		return &s3control.CreateAccessGrantInput{
			AccountId:                         acct,
			AccessGrantsLocationId:            aws.String(teamID),
			AccessGrantsLocationConfiguration: &types.AccessGrantsLocationConfiguration{S3SubPrefix: aws.String("other/*")},
			Grantee:                           &types.Grantee{GranteeType: types.GranteeTypeIam, GranteeIdentifier: aws.String(ctlAnalyst)},
			Permission:                        types.PermissionRead,
		}
	}
	createGrant := func(edit func(*s3control.CreateAccessGrantInput)) error {
		in := goodGrant()
		edit(in)
		_, err := admin.CreateAccessGrant(ctx, in)
		return err
	}
	var tags []types.Tag
	for i := range 51 {
		tags = append(tags, types.Tag{Key: aws.String(string(rune('a'+i%26)) + string(rune('a'+i/26))), Value: aws.String("v")})
	}

	tests := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"instance exists", func() error {
			_, err := admin.CreateAccessGrantsInstance(ctx, &s3control.CreateAccessGrantsInstanceInput{AccountId: acct})
			return err
		}, "AccessGrantsInstanceAlreadyExists", http.StatusConflict},
		{"location exists", func() error {
			_, err := admin.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{AccountId: acct, LocationScope: aws.String("s3://data-bucket/team"), IAMRoleArn: aws.String(ctlLocationRole)})
			return err
		}, "AccessGrantsLocationAlreadyExistsError", http.StatusConflict},
		{"grant exists", func() error {
			return createGrant(func(in *s3control.CreateAccessGrantInput) {
				in.AccessGrantsLocationConfiguration.S3SubPrefix = aws.String("data/*")
			})
		}, "AccessGrantAlreadyExists", http.StatusConflict},
		{"grant exists through the default location", func() error {
			return createGrant(func(in *s3control.CreateAccessGrantInput) {
				in.AccessGrantsLocationId = aws.String("default")
				in.AccessGrantsLocationConfiguration.S3SubPrefix = aws.String("data-bucket/team/data/*")
			})
		}, "AccessGrantAlreadyExists", http.StatusConflict},
		{"instance not empty", func() error {
			_, err := admin.DeleteAccessGrantsInstance(ctx, &s3control.DeleteAccessGrantsInstanceInput{AccountId: acct})
			return err
		}, "AccessGrantsInstanceNotEmptyError", http.StatusBadRequest},
		{"location not empty", func() error {
			_, err := admin.DeleteAccessGrantsLocation(ctx, &s3control.DeleteAccessGrantsLocationInput{AccountId: acct, AccessGrantsLocationId: aws.String(teamID)})
			return err
		}, "AccessGrantsLocationNotEmptyError", http.StatusBadRequest},
		{"no such grant", func() error {
			_, err := admin.GetAccessGrant(ctx, &s3control.GetAccessGrantInput{AccountId: acct, AccessGrantId: aws.String("00000000-0000-0000-0000-000000000000")})
			return err
		}, "NoSuchAccessGrantError", http.StatusNotFound},
		{"no such grant to delete", func() error {
			_, err := admin.DeleteAccessGrant(ctx, &s3control.DeleteAccessGrantInput{AccountId: acct, AccessGrantId: aws.String("nope")})
			return err
		}, "NoSuchAccessGrantError", http.StatusNotFound},
		{"no such location", func() error {
			_, err := admin.GetAccessGrantsLocation(ctx, &s3control.GetAccessGrantsLocationInput{AccountId: acct, AccessGrantsLocationId: aws.String("nope")})
			return err
		}, "NoSuchAccessGrantsLocationError", http.StatusNotFound},
		{"grant on no such location", func() error {
			return createGrant(func(in *s3control.CreateAccessGrantInput) { in.AccessGrantsLocationId = aws.String("nope") })
		}, "NoSuchAccessGrantsLocationError", http.StatusNotFound},
		{"bad location scope", func() error {
			_, err := admin.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{AccountId: acct, LocationScope: aws.String("data-bucket"), IAMRoleArn: aws.String(ctlLocationRole)})
			return err
		}, "InvalidRequest", http.StatusBadRequest},
		{"unknown location role", func() error {
			_, err := admin.CreateAccessGrantsLocation(ctx, &s3control.CreateAccessGrantsLocationInput{AccountId: acct, LocationScope: aws.String("s3://data-bucket/x"), IAMRoleArn: aws.String("arn:aws:iam::111122223333:role/ghost")})
			return err
		}, "InvalidRequest", http.StatusBadRequest},
		{"bad permission", func() error {
			return createGrant(func(in *s3control.CreateAccessGrantInput) { in.Permission = "ALL" })
		}, "InvalidRequest", http.StatusBadRequest},
		{"bad grantee", func() error {
			return createGrant(func(in *s3control.CreateAccessGrantInput) { in.Grantee.GranteeIdentifier = aws.String("alice") })
		}, "InvalidRequest", http.StatusBadRequest},
		{"51 tags", func() error {
			return createGrant(func(in *s3control.CreateAccessGrantInput) { in.Tags = tags })
		}, "InvalidRequest", http.StatusBadRequest},
		{"object grant with star", func() error {
			return createGrant(func(in *s3control.CreateAccessGrantInput) { in.S3PrefixType = types.S3PrefixTypeObject })
		}, "InvalidRequest", http.StatusBadRequest},
		{"bad policy", func() error {
			_, err := admin.PutAccessGrantsInstanceResourcePolicy(ctx, &s3control.PutAccessGrantsInstanceResourcePolicyInput{AccountId: acct, Policy: aws.String(`{"Statement":"no"}`)})
			return err
		}, "InvalidRequest", http.StatusBadRequest},
		{"maxResults too large", func() error {
			_, err := admin.ListAccessGrants(ctx, &s3control.ListAccessGrantsInput{AccountId: acct, MaxResults: 1001})
			return err
		}, "InvalidRequest", http.StatusBadRequest},
		{"bad next token", func() error {
			_, err := admin.ListAccessGrants(ctx, &s3control.ListAccessGrantsInput{AccountId: acct, NextToken: aws.String("forged")})
			return err
		}, "InvalidRequest", http.StatusBadRequest},
		{"account ID not 12 digits", func() error {
			_, err := admin.GetAccessGrantsInstance(ctx, &s3control.GetAccessGrantsInstanceInput{AccountId: aws.String("12345")})
			return err
		}, "InvalidRequest", http.StatusBadRequest},
		{"bad target", func() error {
			return dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("data-bucket/x")})
		}, "InvalidRequest", http.StatusBadRequest},
		{"bad data permission", func() error {
			return dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/team/data/x"), Permission: "FULL"})
		}, "InvalidRequest", http.StatusBadRequest},
		{"bad privilege", func() error {
			return dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/team/data/x"), Privilege: "Most"})
		}, "InvalidRequest", http.StatusBadRequest},
		{"duration too short", func() error {
			return dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/team/data/x"), DurationSeconds: aws.Int32(899)})
		}, "InvalidRequest", http.StatusBadRequest},
		{"duration too long", func() error {
			return dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/team/data/x"), DurationSeconds: aws.Int32(43201)})
		}, "InvalidRequest", http.StatusBadRequest},
		{"minimal object without target type", func() error {
			return dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/team/data/x"), Privilege: types.PrivilegeMinimal})
		}, "InvalidRequest", http.StatusBadRequest},
		{"no grant matches", func() error {
			return dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/team/data/x"), Permission: types.PermissionWrite})
		}, "AccessDenied", http.StatusForbidden},
		{"not allowed to manage", func() error {
			_, err := analyst.CreateAccessGrant(ctx, goodGrant())
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"not allowed to list", func() error {
			_, err := analyst.ListAccessGrants(ctx, &s3control.ListAccessGrantsInput{AccountId: acct})
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"not allowed GetDataAccess", func() error {
			return dataAccess(nobody, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/team/data/x")})
		}, "AccessDenied", http.StatusForbidden},
		{"not allowed GetAccessGrantsInstanceForPrefix", func() error {
			_, err := nobody.GetAccessGrantsInstanceForPrefix(ctx, &s3control.GetAccessGrantsInstanceForPrefixInput{AccountId: acct, S3Prefix: aws.String("s3://data-bucket/x")})
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"not allowed ListCallerAccessGrants", func() error {
			_, err := nobody.ListCallerAccessGrants(ctx, &s3control.ListCallerAccessGrantsInput{AccountId: acct})
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"managing another account's instance", func() error {
			_, err := ctlClient(srv, ctlPartnerAdmin).GetAccessGrantsInstance(ctx, &s3control.GetAccessGrantsInstanceInput{AccountId: acct})
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"prefix lookup for another account", func() error {
			_, err := analyst.GetAccessGrantsInstanceForPrefix(ctx, &s3control.GetAccessGrantsInstanceForPrefixInput{AccountId: aws.String(ctlPartner), S3Prefix: aws.String("s3://data-bucket/x")})
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"another account's instance covers the prefix but does not admit", func() error {
			_, err := ctlClient(srv, ctlPartnerKey).GetAccessGrantsInstanceForPrefix(ctx, &s3control.GetAccessGrantsInstanceForPrefixInput{AccountId: aws.String(ctlPartner), S3Prefix: aws.String("s3://data-bucket/x")})
			return err
		}, "AccessDenied", http.StatusForbidden},
		{"unknown access key", func() error {
			cfg := srv.AWSConfig(ctlAdminKey)
			cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIAEXAMPLEUNKNOWN01", "x", "")
			_, err := s3control.NewFromConfig(cfg).GetAccessGrantsInstance(ctx, &s3control.GetAccessGrantsInstanceInput{AccountId: acct})
			return err
		}, "InvalidAccessKeyId", http.StatusForbidden},
		{"wrong secret", func() error {
			cfg := srv.AWSConfig(ctlAdminKey)
			cfg.Credentials = credentials.NewStaticCredentialsProvider(ctlAdminKey, "wrong-secret", "")
			_, err := s3control.NewFromConfig(cfg).GetAccessGrantsInstance(ctx, &s3control.GetAccessGrantsInstanceInput{AccountId: acct})
			return err
		}, "SignatureDoesNotMatch", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctlWant(t, tt.call(), tt.code, tt.status)
		})
	}

	// The AccessDenied of GetDataAccess says what was asked.
	err = dataAccess(analyst, s3control.GetDataAccessInput{Target: aws.String("s3://data-bucket/x"), Permission: types.PermissionRead})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorMessage() != "You do not have READ permissions to the requested S3 Prefix: s3://data-bucket/x" {
		t.Errorf("AccessDenied message: %v", err)
	}

	// Vended credentials may not call S3 Control, and expire.
	da, err := analyst.GetDataAccess(ctx, &s3control.GetDataAccessInput{AccountId: acct, Target: aws.String("s3://data-bucket/team/data/x"), Permission: types.PermissionRead})
	ctlOK(t, err)
	cfg := srv.AWSConfig(ctlAdminKey)
	c := da.Credentials
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	vended := s3control.NewFromConfig(cfg)
	_, err = vended.GetDataAccess(ctx, &s3control.GetDataAccessInput{AccountId: acct, Target: aws.String("s3://data-bucket/team/data/x"), Permission: types.PermissionRead})
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)
	srv.AdvanceClock(2 * time.Hour)
	_, err = vended.ListCallerAccessGrants(ctx, &s3control.ListCallerAccessGrantsInput{AccountId: acct})
	ctlWant(t, err, "ExpiredToken", http.StatusBadRequest)

	// The grant still works for its grantee.
	if _, err := admin.GetAccessGrant(ctx, &s3control.GetAccessGrantInput{AccountId: acct, AccessGrantId: grant.AccessGrantId}); err != nil {
		t.Error(err)
	}
}

// ctlRaw sends a request signed by the SDK's signer for the admin and
// returns the status and the S3 Control error code.
func ctlRaw(t *testing.T, srv *Server, method, path string, body []byte, header map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: ctlAdminKey, SecretAccessKey: "admin-secret"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var doc wrappedErrorBody
	_ = xml.Unmarshal(data, &doc)
	return resp.StatusCode, doc.Error.Code, string(data)
}

func TestControlWire(t *testing.T) {
	srv := ctlServer(t, "")
	ctlSetup(t, srv)
	acctHeader := map[string]string{"x-amz-account-id": ctlOwner}

	status, code, _ := ctlRaw(t, srv, http.MethodPost, "/v20180820/accessgrantsinstance/grant", []byte("<CreateAccessGrantRequest><Permission>READ"), acctHeader)
	if status != http.StatusBadRequest || code != "MalformedXML" {
		t.Errorf("malformed XML: %d %s", status, code)
	}
	status, code, _ = ctlRaw(t, srv, http.MethodPost, "/v20180820/accessgrantsinstance/grant", nil, acctHeader)
	if status != http.StatusBadRequest || code != "InvalidRequest" {
		t.Errorf("empty body: %d %s", status, code)
	}
	status, code, _ = ctlRaw(t, srv, http.MethodGet, "/v20180820/accessgrantsinstance", nil, nil)
	if status != http.StatusBadRequest || code != "InvalidRequest" {
		t.Errorf("no account header: %d %s", status, code)
	}
	status, code, _ = ctlRaw(t, srv, http.MethodGet, "/v20180820/accessgrantsinstance/bogus", nil, acctHeader)
	if status != http.StatusNotImplemented || code != "NotImplemented" {
		t.Errorf("unknown operation: %d %s", status, code)
	}
	status, code, _ = ctlRaw(t, srv, http.MethodGet, "/v20180820/accessgrantsinstance/dataaccess?target=s3://data-bucket/team/x&permission=READ&durationSeconds=ten", nil, acctHeader)
	if status != http.StatusBadRequest || code != "InvalidRequest" {
		t.Errorf("non-numeric duration: %d %s", status, code)
	}

	// A success is a namespaced <OperationResult> with ISO-8601 times.
	status, _, body := ctlRaw(t, srv, http.MethodGet, "/v20180820/accessgrantsinstance", nil, acctHeader)
	if status != http.StatusOK || !strings.Contains(body, `<GetAccessGrantsInstanceResult xmlns="http://awss3control.amazonaws.com/doc/2018-08-20/">`) {
		t.Errorf("GetAccessGrantsInstance: %d %s", status, body)
	}
	var doc struct {
		CreatedAt string `xml:"CreatedAt"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil || !isoPattern.MatchString(doc.CreatedAt) {
		t.Errorf("CreatedAt %q (%v)", doc.CreatedAt, err)
	}
	// Errors are wrapped in <ErrorResponse> with a request ID.
	status, _, body = ctlRaw(t, srv, http.MethodGet, "/v20180820/accessgrantsinstance/grant/nope", nil, acctHeader)
	if status != http.StatusNotFound || !strings.Contains(body, "<ErrorResponse>") || !strings.Contains(body, "<RequestId>") {
		t.Errorf("error body: %d %s", status, body)
	}
}

func TestControlPaging(t *testing.T) {
	ctx := context.Background()
	srv := ctlServer(t, "")
	admin, teamID := ctlSetup(t, srv)
	var want []string
	for _, sub := range []string{"a/*", "b/*", "c/*", "d/*", "e/*"} {
		want = append(want, aws.ToString(ctlGrant(t, admin, teamID, sub, types.PermissionRead, ctlAnalyst).AccessGrantId))
	}
	var got []string
	var token *string
	pages := 0
	for {
		out, err := admin.ListAccessGrants(ctx, &s3control.ListAccessGrantsInput{AccountId: aws.String(ctlOwner), MaxResults: 2, NextToken: token})
		ctlOK(t, err)
		pages++
		if len(out.AccessGrantsList) > 2 {
			t.Fatalf("page of %d", len(out.AccessGrantsList))
		}
		for _, g := range out.AccessGrantsList {
			got = append(got, aws.ToString(g.AccessGrantId))
		}
		if out.NextToken == nil {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		token = out.NextToken
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || pages != 3 {
		t.Errorf("paged %v in %d pages, want %v in 3", got, pages, want)
	}

	// The SDK's paginator reads the same tokens.
	p := s3control.NewListCallerAccessGrantsPaginator(ctlClient(srv, ctlAnalystKey),
		&s3control.ListCallerAccessGrantsInput{AccountId: aws.String(ctlOwner), MaxResults: 2})
	var scopes []string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		ctlOK(t, err)
		for _, g := range out.CallerAccessGrantsList {
			scopes = append(scopes, aws.ToString(g.GrantScope))
		}
	}
	if strings.Join(scopes, " ") != "s3://data-bucket/team/a/* s3://data-bucket/team/b/* s3://data-bucket/team/c/* s3://data-bucket/team/d/* s3://data-bucket/team/e/*" {
		t.Errorf("caller grants %v", scopes)
	}
}

func TestControlCrossAccount(t *testing.T) {
	ctx := context.Background()
	srv := ctlServer(t, "")
	admin, teamID := ctlSetup(t, srv)
	ctlGrant(t, admin, teamID, "shared/*", types.PermissionRead, ctlPartnerRole)
	_, err := s3.NewFromConfig(srv.AWSConfig(ctlAdminKey), func(o *s3.Options) { o.UsePathStyle = true }).PutObject(ctx,
		&s3.PutObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("team/shared/doc.txt"), Body: strings.NewReader("doc")})
	ctlOK(t, err)

	partner := ctlClient(srv, ctlPartnerKey)
	const target = "s3://data-bucket/team/shared/doc.txt"
	forPrefix := func() (*s3control.GetAccessGrantsInstanceForPrefixOutput, error) {
		return partner.GetAccessGrantsInstanceForPrefix(ctx, &s3control.GetAccessGrantsInstanceForPrefixInput{
			AccountId: aws.String(ctlPartner), S3Prefix: aws.String(target),
		})
	}
	dataAccess := func() (*s3control.GetDataAccessOutput, error) {
		return partner.GetDataAccess(ctx, &s3control.GetDataAccessInput{
			AccountId: aws.String(ctlOwner), Target: aws.String(target), Permission: types.PermissionRead,
		})
	}
	listCaller := func() error {
		_, err := partner.ListCallerAccessGrants(ctx, &s3control.ListCallerAccessGrantsInput{AccountId: aws.String(ctlOwner)})
		return err
	}

	// Without a resource policy, refused.
	_, err = forPrefix()
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)
	_, err = dataAccess()
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)
	ctlWant(t, listCaller(), "AccessDenied", http.StatusForbidden)

	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},` +
		`"Action":["s3:GetDataAccess","s3:ListCallerAccessGrants","s3:GetAccessGrantsInstanceForPrefix"],` +
		`"Resource":"arn:aws:s3:us-east-1:111122223333:access-grants/default"}]}`
	put, err := admin.PutAccessGrantsInstanceResourcePolicy(ctx, &s3control.PutAccessGrantsInstanceResourcePolicyInput{
		AccountId: aws.String(ctlOwner), Policy: aws.String(policy), Organization: aws.String("o-example"),
	})
	ctlOK(t, err)
	if aws.ToString(put.Policy) != policy || aws.ToString(put.Organization) != "o-example" || put.CreatedAt == nil {
		t.Errorf("PutAccessGrantsInstanceResourcePolicy = %+v", put)
	}
	gp, err := admin.GetAccessGrantsInstanceResourcePolicy(ctx, &s3control.GetAccessGrantsInstanceResourcePolicyInput{AccountId: aws.String(ctlOwner)})
	ctlOK(t, err)
	if aws.ToString(gp.Policy) != policy {
		t.Errorf("GetAccessGrantsInstanceResourcePolicy = %q", aws.ToString(gp.Policy))
	}

	// With it, the partner finds the owner's instance and gets credentials.
	fp, err := forPrefix()
	ctlOK(t, err)
	if aws.ToString(fp.AccessGrantsInstanceArn) != "arn:aws:s3:us-east-1:111122223333:access-grants/default" {
		t.Errorf("GetAccessGrantsInstanceForPrefix = %q", aws.ToString(fp.AccessGrantsInstanceArn))
	}
	da, err := dataAccess()
	ctlOK(t, err)
	if aws.ToString(da.MatchedGrantTarget) != "s3://data-bucket/team/shared/*" || aws.ToString(da.Grantee.GranteeIdentifier) != ctlPartnerRole {
		t.Errorf("GetDataAccess = %q for %q", aws.ToString(da.MatchedGrantTarget), aws.ToString(da.Grantee.GranteeIdentifier))
	}
	out, err := vendedS3(srv, da.Credentials).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("data-bucket"), Key: aws.String("team/shared/doc.txt")})
	if err != nil {
		t.Errorf("GetObject with cross-account credentials: %v", err)
	} else {
		out.Body.Close()
	}
	ctlOK(t, listCaller())
	// The owner's analyst has no grant on it, policy or not.
	_, err = ctlClient(srv, ctlAnalystKey).GetDataAccess(ctx, &s3control.GetDataAccessInput{
		AccountId: aws.String(ctlOwner), Target: aws.String(target), Permission: types.PermissionRead,
	})
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)

	// Removing the policy refuses again.
	_, err = admin.DeleteAccessGrantsInstanceResourcePolicy(ctx, &s3control.DeleteAccessGrantsInstanceResourcePolicyInput{AccountId: aws.String(ctlOwner)})
	ctlOK(t, err)
	_, err = dataAccess()
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)
	_, err = forPrefix()
	ctlWant(t, err, "AccessDenied", http.StatusForbidden)

	// An account with no instance at all.
	_, err = partner.GetDataAccess(ctx, &s3control.GetDataAccessInput{AccountId: aws.String("999988887777"), Target: aws.String(target), Permission: types.PermissionRead})
	ctlWant(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
}

// ctlSeedYAML seeds an instance, its locations and grants, and a resource
// policy for the partner.
const ctlSeedYAML = `
access_grants:
  - account: "111122223333"
    resource_policy_accounts: ["444455556666"]
    locations:
      - {scope: "s3://", role: arn:aws:iam::111122223333:role/ag-location}
    grants:
      - location: "s3://"
        sub_prefix: "data-bucket/reports/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::111122223333:role/analyst"}
        permission: READ
      - location: "s3://"
        sub_prefix: "data-bucket/partner/*"
        grantee: {type: IAM, identifier: "arn:aws:iam::444455556666:role/partner"}
        permission: READWRITE
`

func TestControlSeededAndRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg, err := ParseConfig([]byte(controlYAML + ctlSeedYAML))
	ctlOK(t, err)
	srv, err := Start(cfg, "127.0.0.1:0", WithDataDir(dir))
	ctlOK(t, err)
	defer func() { srv.Close() }()

	da, err := ctlClient(srv, ctlAnalystKey).GetDataAccess(ctx, &s3control.GetDataAccessInput{
		AccountId: aws.String(ctlOwner), Target: aws.String("s3://data-bucket/reports/*"), Permission: types.PermissionRead,
	})
	ctlOK(t, err)
	if aws.ToString(da.MatchedGrantTarget) != "s3://data-bucket/reports/*" {
		t.Errorf("seeded grant: %q", aws.ToString(da.MatchedGrantTarget))
	}
	_, err = ctlClient(srv, ctlPartnerKey).GetDataAccess(ctx, &s3control.GetDataAccessInput{
		AccountId: aws.String(ctlOwner), Target: aws.String("s3://data-bucket/partner/x"), Permission: types.PermissionWrite,
	})
	ctlOK(t, err)

	admin := ctlClient(srv, ctlAdminKey)
	extra := ctlGrant(t, admin, "default", "data-bucket/extra/*", types.PermissionWrite, ctlAnalyst)
	ctlOK(t, srv.Close())

	// A restart on the same directory keeps the API's grant and does not
	// seed the configured ones twice.
	cfg, err = ParseConfig([]byte(controlYAML + ctlSeedYAML))
	ctlOK(t, err)
	srv = NewServer(t, cfg, WithDataDir(dir))
	admin = ctlClient(srv, ctlAdminKey)
	list, err := admin.ListAccessGrants(ctx, &s3control.ListAccessGrantsInput{AccountId: aws.String(ctlOwner)})
	ctlOK(t, err)
	if len(list.AccessGrantsList) != 3 || aws.ToString(list.AccessGrantsList[2].AccessGrantId) != aws.ToString(extra.AccessGrantId) {
		t.Errorf("after restart: %d grants", len(list.AccessGrantsList))
	}
}

package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	tAcct    = "111122223333"
	tOther   = "444455556666"
	tRegion  = "us-east-1"
	tRole    = "arn:aws:iam::111122223333:role/ag-location"
	tAlice   = "arn:aws:iam::111122223333:role/alice"
	tBob     = "arn:aws:iam::111122223333:user/bob"
	tForeign = "arn:aws:iam::444455556666:role/partner"
)

var tNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// roleLimits is the maxSession function of the tests.
func roleLimits(limits map[string]int) func(string) (int, bool) {
	return func(arn string) (int, bool) {
		l, ok := limits[arn]
		return l, ok
	}
}

var bigRole = roleLimits(map[string]int{tRole: 43200})

// wantCode fails the test unless err is an *apiError with that code and
// status.
func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if ae.Code != code || ae.Status != status {
		t.Fatalf("error = %d %s (%s), want %d %s", ae.Status, ae.Code, ae.Message, status, code)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testState is a state with one instance and the locations named, by
// scope.
type testState struct {
	*grantsState
	locs map[string]string // scope -> ID
}

func newTestState(t *testing.T, scopes ...string) *testState {
	t.Helper()
	ts := &testState{grantsState: newGrantsState(), locs: map[string]string{}}
	if _, err := ts.createInstance(tAcct, tRegion, "", nil, tNow); err != nil {
		t.Fatal(err)
	}
	for _, s := range scopes {
		loc, err := ts.createLocation(tAcct, tRegion, s, tRole, nil, tNow)
		if err != nil {
			t.Fatal(err)
		}
		ts.locs[s] = loc.ID
	}
	return ts
}

// testGrant is a grant in a table: location scope, sub-prefix,
// permission, grantee (tAlice when empty) and prefix type.
type testGrant struct {
	loc, sub, perm, grantee, prefixType string
}

func (ts *testState) grant(t *testing.T, tg testGrant) agGrant {
	t.Helper()
	grantee := tg.grantee
	if grantee == "" {
		grantee = tAlice
	}
	typ := agGranteeIAM
	if !strings.HasPrefix(grantee, "arn:") {
		typ = agGranteeDirectoryUser
	}
	gr, err := ts.createGrant(tAcct, tRegion, grantInput{
		LocationID:  ts.locs[tg.loc],
		SubPrefix:   tg.sub,
		PrefixType:  tg.prefixType,
		GranteeType: typ,
		GranteeID:   grantee,
		Permission:  tg.perm,
	}, tNow)
	if err != nil {
		t.Fatalf("creating grant %+v: %v", tg, err)
	}
	return gr
}

func TestDocumentedExamples(t *testing.T) {
	ts := newTestState(t, "s3://")
	ts.grant(t, testGrant{loc: "s3://", sub: "bb1/bob/*", perm: agRead})
	ts.grant(t, testGrant{loc: "s3://", sub: "bb1/bob/reports/*", perm: agRead})
	tests := []struct {
		target, privilege, targetType, want string
	}{
		{"s3://bb1/bob/*", agPrivilegeDefault, "", "s3://bb1/bob/*"},
		{"s3://bb1/bob/images/*", agPrivilegeMinimal, "", "s3://bb1/bob/images/*"},
		{"s3://bb1/bob/reports/file.txt", agPrivilegeDefault, "", "s3://bb1/bob/reports/*"},
		{"s3://bb1/bob/reports/file.txt", agPrivilegeMinimal, agObject, "s3://bb1/bob/reports/file.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.target+"/"+tt.privilege, func(t *testing.T) {
			res, err := ts.dataAccess(tAcct, tRegion, tAlice, dataAccessQuery{
				Target: tt.target, Permission: agRead, Privilege: tt.privilege, TargetType: tt.targetType,
			}, bigRole)
			mustOK(t, err)
			if res.Scope != tt.want {
				t.Errorf("scope = %q, want %q", res.Scope, tt.want)
			}
			if res.Bucket != "bb1" || res.RoleArn != tRole || res.Duration != time.Hour {
				t.Errorf("bucket, role, duration = %q, %q, %v", res.Bucket, res.RoleArn, res.Duration)
			}
		})
	}
}

func TestDataAccessMatching(t *testing.T) {
	tests := []struct {
		name   string
		grants []testGrant
		target string
		perm   string
		// want is the index of the matched grant in grants, or -1 for
		// AccessDenied.
		want int
	}{
		{"READWRITE satisfies READ", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agReadWrite}}, "s3://bkt/x", agRead, 0},
		{"READWRITE satisfies WRITE", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agReadWrite}}, "s3://bkt/x", agWrite, 0},
		{"READWRITE satisfies READWRITE", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agReadWrite}}, "s3://bkt/x", agReadWrite, 0},
		{"READ does not satisfy WRITE", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agRead}}, "s3://bkt/x", agWrite, -1},
		{"READ does not satisfy READWRITE", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agRead}}, "s3://bkt/x", agReadWrite, -1},
		{"WRITE does not satisfy READ", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agWrite}}, "s3://bkt/x", agRead, -1},
		{"most specific wins", []testGrant{
			{loc: "s3://", sub: "bkt/*", perm: agRead},
			{loc: "s3://", sub: "bkt/a/*", perm: agRead},
			{loc: "s3://", sub: "bkt/a/b/c/*", perm: agRead},
		}, "s3://bkt/a/x", agRead, 1},
		{"most specific wins, created later or earlier", []testGrant{
			{loc: "s3://", sub: "bkt/a/*", perm: agRead},
			{loc: "s3://", sub: "bkt/*", perm: agRead},
		}, "s3://bkt/a/x", agRead, 0},
		{"specific without the permission yields to broader", []testGrant{
			{loc: "s3://", sub: "bkt/*", perm: agReadWrite},
			{loc: "s3://", sub: "bkt/a/*", perm: agRead},
		}, "s3://bkt/a/x", agWrite, 0},
		{"tie: first created (READWRITE first)", []testGrant{
			{loc: "s3://", sub: "bkt/a/*", perm: agReadWrite},
			{loc: "s3://", sub: "bkt/a/*", perm: agRead},
		}, "s3://bkt/a/x", agRead, 0},
		{"tie: first created (READ first)", []testGrant{
			{loc: "s3://", sub: "bkt/a/*", perm: agRead},
			{loc: "s3://", sub: "bkt/a/*", perm: agReadWrite},
		}, "s3://bkt/a/x", agRead, 0},
		{"tie between object and prefix grant: first created (object)", []testGrant{
			{loc: "s3://", sub: "bkt/ab", perm: agRead, prefixType: agObject},
			{loc: "s3://", sub: "bkt/a*", perm: agRead},
		}, "s3://bkt/ab", agRead, 0},
		{"tie between object and prefix grant: first created (prefix)", []testGrant{
			{loc: "s3://", sub: "bkt/a*", perm: agRead},
			{loc: "s3://", sub: "bkt/ab", perm: agRead, prefixType: agObject},
		}, "s3://bkt/ab", agRead, 0},
		{"longer prefix beats object grant", []testGrant{
			{loc: "s3://", sub: "bkt/ab", perm: agRead, prefixType: agObject},
			{loc: "s3://", sub: "bkt/ab*", perm: agRead},
		}, "s3://bkt/ab", agRead, 1},
		{"object grant covers its object", []testGrant{{loc: "s3://", sub: "bkt/dir/f.txt", perm: agRead, prefixType: agObject}}, "s3://bkt/dir/f.txt", agRead, 0},
		{"object grant is exact (longer key)", []testGrant{{loc: "s3://", sub: "bkt/dir/f.txt", perm: agRead, prefixType: agObject}}, "s3://bkt/dir/f.txt.bak", agRead, -1},
		{"object grant is exact (under it)", []testGrant{{loc: "s3://", sub: "bkt/dir/f.txt", perm: agRead, prefixType: agObject}}, "s3://bkt/dir/f.txt/x", agRead, -1},
		{"object grant is exact (prefix target)", []testGrant{{loc: "s3://", sub: "bkt/dir/f.txt", perm: agRead, prefixType: agObject}}, "s3://bkt/dir/f.txt*", agRead, -1},
		{"p* covers pq.txt", []testGrant{{loc: "s3://bkt", sub: "p*", perm: agRead}}, "s3://bkt/pq.txt", agRead, 0},
		{"p/* covers p/x.txt", []testGrant{{loc: "s3://bkt", sub: "p/*", perm: agRead}}, "s3://bkt/p/x.txt", agRead, 0},
		{"p/* covers p/", []testGrant{{loc: "s3://bkt", sub: "p/*", perm: agRead}}, "s3://bkt/p/", agRead, 0},
		{"p/* covers p/sub/*", []testGrant{{loc: "s3://bkt", sub: "p/*", perm: agRead}}, "s3://bkt/p/sub/*", agRead, 0},
		{"p/* does not cover p", []testGrant{{loc: "s3://bkt", sub: "p/*", perm: agRead}}, "s3://bkt/p", agRead, -1},
		{"p/* does not cover pq.txt", []testGrant{{loc: "s3://bkt", sub: "p/*", perm: agRead}}, "s3://bkt/pq.txt", agRead, -1},
		{"p/* does not cover p*", []testGrant{{loc: "s3://bkt", sub: "p/*", perm: agRead}}, "s3://bkt/p*", agRead, -1},
		{"bucket grant covers list of bucket", []testGrant{{loc: "s3://bkt", sub: "", perm: agRead}}, "s3://bkt/*", agRead, 0},
		{"other bucket", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agRead}}, "s3://bkt2/x", agRead, -1},
		{"other grantee", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agRead, grantee: tBob}}, "s3://bkt/x", agRead, -1},
		{"directory grantee never matches IAM", []testGrant{{loc: "s3://", sub: "bkt/*", perm: agRead, grantee: "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}}, "s3://bkt/x", agRead, -1},
		{"keys are case-sensitive", []testGrant{{loc: "s3://", sub: "bkt/Data/*", perm: agRead}}, "s3://bkt/data/x", agRead, -1},
		{"unicode keys", []testGrant{{loc: "s3://", sub: "bkt/日本/*", perm: agRead}}, "s3://bkt/日本/ファイル", agRead, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestState(t, "s3://", "s3://bkt")
			var made []agGrant
			for _, tg := range tt.grants {
				made = append(made, ts.grant(t, tg))
			}
			q := dataAccessQuery{Target: tt.target, Permission: tt.perm}
			res, err := ts.dataAccess(tAcct, tRegion, tAlice, q, bigRole)
			if tt.want < 0 {
				wantCode(t, err, "AccessDenied", http.StatusForbidden)
				return
			}
			mustOK(t, err)
			if res.Grant.ID != made[tt.want].ID {
				t.Errorf("matched %s (%s %s), want grant %d (%s %s)", res.Grant.ID, res.Grant.Permission, res.Grant.Scope,
					tt.want, made[tt.want].Permission, made[tt.want].Scope)
			}
			if res.Scope != made[tt.want].Scope {
				t.Errorf("scope = %q, want %q", res.Scope, made[tt.want].Scope)
			}
		})
	}
}

func TestGrantScopeJoining(t *testing.T) {
	tests := []struct {
		loc, sub, prefixType, want string
	}{
		{"s3://", "bkt/reports/*", "", "s3://bkt/reports/*"},
		{"s3://", "bkt/*", "", "s3://bkt/*"},
		{"s3://", "bkt", "", "s3://bkt/*"},
		{"s3://", "bkt/k.txt", agObject, "s3://bkt/k.txt"},
		{"s3://bkt", "reports/*", "", "s3://bkt/reports/*"},
		{"s3://bkt", "", "", "s3://bkt/*"},
		{"s3://bkt", "p*", "", "s3://bkt/p*"},
		{"s3://bkt/data", "", "", "s3://bkt/data/*"},
		{"s3://bkt/data", "2024/*", "", "s3://bkt/data/2024/*"},
		{"s3://bkt/data", "k.csv", agObject, "s3://bkt/data/k.csv"},
	}
	for _, tt := range tests {
		ts := newTestState(t, tt.loc)
		gr := ts.grant(t, testGrant{loc: tt.loc, sub: tt.sub, perm: agRead, prefixType: tt.prefixType})
		if gr.Scope != tt.want {
			t.Errorf("%s + %q = %q, want %q", tt.loc, tt.sub, gr.Scope, tt.want)
		}
		if gr.LocationScope != tt.loc || !strings.HasSuffix(gr.ARN, ":access-grants/default/grant/"+gr.ID) {
			t.Errorf("location scope %q, ARN %q", gr.LocationScope, gr.ARN)
		}
	}
}

func TestDataAccessValidation(t *testing.T) {
	ts := newTestState(t, "s3://")
	ts.grant(t, testGrant{loc: "s3://", sub: "bkt/*", perm: agReadWrite})
	tests := []struct {
		name string
		q    dataAccessQuery
	}{
		{"no scheme", dataAccessQuery{Target: "bkt/x", Permission: agRead}},
		{"no bucket", dataAccessQuery{Target: "s3://", Permission: agRead}},
		{"bucket only", dataAccessQuery{Target: "s3://bkt", Permission: agRead}},
		{"bad bucket", dataAccessQuery{Target: "s3://B_b/x", Permission: agRead}},
		{"other scheme", dataAccessQuery{Target: "https://b/x", Permission: agRead}},
		{"empty permission", dataAccessQuery{Target: "s3://bkt/x"}},
		{"lower-case permission", dataAccessQuery{Target: "s3://bkt/x", Permission: "read"}},
		{"unknown privilege", dataAccessQuery{Target: "s3://bkt/x", Permission: agRead, Privilege: "Maximal"}},
		{"unknown target type", dataAccessQuery{Target: "s3://bkt/x", Permission: agRead, TargetType: "Prefix"}},
		{"minimal object without target type", dataAccessQuery{Target: "s3://bkt/x", Permission: agRead, Privilege: agPrivilegeMinimal}},
		{"object target ending in *", dataAccessQuery{Target: "s3://bkt/x*", Permission: agRead, TargetType: agObject}},
		{"duration too short", dataAccessQuery{Target: "s3://bkt/x", Permission: agRead, DurationSeconds: 899}},
		{"duration negative", dataAccessQuery{Target: "s3://bkt/x", Permission: agRead, DurationSeconds: -1}},
		{"duration too long", dataAccessQuery{Target: "s3://bkt/x", Permission: agRead, DurationSeconds: 43201}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ts.dataAccess(tAcct, tRegion, tAlice, tt.q, bigRole)
			wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
		})
	}
	_, err := ts.dataAccess(tOther, tRegion, tAlice, dataAccessQuery{Target: "s3://bkt/x", Permission: agRead}, bigRole)
	wantCode(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
}

func TestDataAccessDuration(t *testing.T) {
	ts := newTestState(t, "s3://")
	ts.grant(t, testGrant{loc: "s3://", sub: "bkt/*", perm: agRead})
	tests := []struct {
		name      string
		requested int
		limits    map[string]int
		want      time.Duration // 0: InvalidRequest
	}{
		{"default", 0, map[string]int{tRole: 43200}, time.Hour},
		{"minimum", 900, map[string]int{tRole: 43200}, 15 * time.Minute},
		{"maximum", 43200, map[string]int{tRole: 43200}, 12 * time.Hour},
		{"at the role's maximum", 7200, map[string]int{tRole: 7200}, 2 * time.Hour},
		{"above the role's maximum", 7201, map[string]int{tRole: 7200}, 0},
		{"default above the role's maximum", 0, map[string]int{tRole: 900}, 0},
		{"unknown role allows an hour", 3600, nil, time.Hour},
		{"unknown role allows no more", 3601, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ts.dataAccess(tAcct, tRegion, tAlice, dataAccessQuery{
				Target: "s3://bkt/x", Permission: agRead, DurationSeconds: tt.requested,
			}, roleLimits(tt.limits))
			if tt.want == 0 {
				wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
				return
			}
			mustOK(t, err)
			if res.Duration != tt.want {
				t.Errorf("duration = %v, want %v", res.Duration, tt.want)
			}
		})
	}
}

func TestDataAccessDeniedMessage(t *testing.T) {
	ts := newTestState(t, "s3://")
	ts.grant(t, testGrant{loc: "s3://", sub: "bkt/ok/*", perm: agRead})
	for _, perm := range []string{agRead, agWrite, agReadWrite} {
		_, err := ts.dataAccess(tAcct, tRegion, tAlice, dataAccessQuery{Target: "s3://bkt/x", Permission: perm}, bigRole)
		wantCode(t, err, "AccessDenied", http.StatusForbidden)
		want := "You do not have " + perm + " permissions to the requested S3 Prefix: s3://bkt/x"
		if msg := agMessage(err); msg != want {
			t.Errorf("message = %q, want %q", msg, want)
		}
	}
}

func TestInstanceLifecycle(t *testing.T) {
	g := newGrantsState()
	_, err := g.getInstance(tAcct, tRegion)
	wantCode(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
	wantCode(t, g.deleteInstance(tAcct, tRegion), "AccessGrantsInstanceNotExistsError", http.StatusNotFound)

	info, err := g.createInstance(tAcct, tRegion, "arn:aws:sso:::instance/ssoins-1", nil, tNow)
	mustOK(t, err)
	if info.ID != "default" || info.ARN != "arn:aws:s3:us-east-1:111122223333:access-grants/default" ||
		!info.Created.Equal(tNow) || info.IdentityCenterArn != "arn:aws:sso:::instance/ssoins-1" {
		t.Errorf("instance = %+v", info)
	}
	_, err = g.createInstance(tAcct, tRegion, "", nil, tNow)
	wantCode(t, err, "AccessGrantsInstanceAlreadyExists", http.StatusConflict)
	// Another Region is another instance.
	_, err = g.createInstance(tAcct, "eu-west-1", "", nil, tNow)
	mustOK(t, err)
	_, err = g.createInstance(tOther, tRegion, "bad-arn", nil, tNow)
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)

	list, next, err := g.listInstances(tAcct, tRegion, pageRequest{})
	mustOK(t, err)
	if len(list) != 1 || list[0].Region != tRegion || next != "" {
		t.Errorf("list = %+v, %q", list, next)
	}
	mustOK(t, g.associateIdentityCenter(tAcct, tRegion, ""))
	if info, _ := g.getInstance(tAcct, tRegion); info.IdentityCenterArn != "" {
		t.Errorf("after dissociating: %+v", info)
	}

	loc, err := g.createLocation(tAcct, tRegion, "s3://", tRole, nil, tNow)
	mustOK(t, err)
	wantCode(t, g.deleteInstance(tAcct, tRegion), "AccessGrantsInstanceNotEmptyError", http.StatusBadRequest)
	gr, err := g.createGrant(tAcct, tRegion, grantInput{LocationID: loc.ID, SubPrefix: "bkt/*", GranteeType: agGranteeIAM, GranteeID: tAlice, Permission: agRead}, tNow)
	mustOK(t, err)
	wantCode(t, g.deleteLocation(tAcct, tRegion, loc.ID), "AccessGrantsLocationNotEmptyError", http.StatusBadRequest)
	wantCode(t, g.deleteInstance(tAcct, tRegion), "AccessGrantsInstanceNotEmptyError", http.StatusBadRequest)
	mustOK(t, g.deleteGrant(tAcct, tRegion, gr.ID))
	wantCode(t, g.deleteGrant(tAcct, tRegion, gr.ID), "NoSuchAccessGrantError", http.StatusNotFound)
	wantCode(t, g.deleteInstance(tAcct, tRegion), "AccessGrantsInstanceNotEmptyError", http.StatusBadRequest)
	mustOK(t, g.deleteLocation(tAcct, tRegion, loc.ID))
	wantCode(t, g.deleteLocation(tAcct, tRegion, loc.ID), "NoSuchAccessGrantsLocationError", http.StatusNotFound)
	mustOK(t, g.deleteInstance(tAcct, tRegion))
	list, _, err = g.listInstances(tAcct, tRegion, pageRequest{})
	if err != nil || len(list) != 0 {
		t.Errorf("after delete: %v, %v", list, err)
	}
}

func TestLocations(t *testing.T) {
	ts := newTestState(t)
	def, err := ts.createLocation(tAcct, tRegion, "s3://", tRole, nil, tNow)
	mustOK(t, err)
	if def.ID != "default" || def.ARN != "arn:aws:s3:us-east-1:111122223333:access-grants/default/location/default" {
		t.Errorf("default location = %+v", def)
	}
	b, err := ts.createLocation(tAcct, tRegion, "s3://bkt/data", tRole, []agTag{{"k", "v"}}, tNow)
	mustOK(t, err)
	if !regexp.MustCompile(`^[a-zA-Z0-9-]{1,64}$`).MatchString(b.ID) || b.ID == "default" {
		t.Errorf("generated ID %q", b.ID)
	}
	if b.ARN != "arn:aws:s3:us-east-1:111122223333:access-grants/default/location/"+b.ID {
		t.Errorf("ARN %q", b.ARN)
	}
	_, err = ts.createLocation(tAcct, tRegion, "s3://bkt/data", tRole, nil, tNow)
	wantCode(t, err, "AccessGrantsLocationAlreadyExistsError", http.StatusConflict)
	_, err = ts.createLocation(tOther, tRegion, "s3://bkt", tRole, nil, tNow)
	wantCode(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
	for _, bad := range []struct{ scope, role string }{
		{"bkt", tRole},
		{"s3://bkt/*", tRole},
		{"s3://bkt/", tRole},
		{"s3://B", tRole},
		{"s3://bkt", "arn:aws:iam::111122223333:user/u"},
		{"s3://bkt", "not-an-arn"},
	} {
		_, err := ts.createLocation(tAcct, tRegion, bad.scope, bad.role, nil, tNow)
		wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	}

	const newRole = "arn:aws:iam::111122223333:role/other"
	up, err := ts.updateLocation(tAcct, tRegion, b.ID, newRole)
	mustOK(t, err)
	if up.RoleArn != newRole || up.Scope != "s3://bkt/data" {
		t.Errorf("updated = %+v", up)
	}
	got, err := ts.getLocation(tAcct, tRegion, b.ID)
	if err != nil || got.RoleArn != newRole {
		t.Errorf("get after update = %+v, %v", got, err)
	}
	_, err = ts.updateLocation(tAcct, tRegion, b.ID, "bad")
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	_, err = ts.getLocation(tAcct, tRegion, "no-such-id")
	wantCode(t, err, "NoSuchAccessGrantsLocationError", http.StatusNotFound)
	for _, bad := range []string{"", "a/b", "a_b", strings.Repeat("a", 65)} {
		_, err = ts.getLocation(tAcct, tRegion, bad)
		wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	}

	list, _, err := ts.listLocations(tAcct, tRegion, "", pageRequest{})
	if err != nil || len(list) != 2 || list[0].ID != "default" || list[1].ID != b.ID {
		t.Errorf("list = %+v, %v", list, err)
	}
	list, _, err = ts.listLocations(tAcct, tRegion, "s3://bkt/data", pageRequest{})
	if err != nil || len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("filtered list = %+v, %v", list, err)
	}
}

func TestQuotas(t *testing.T) {
	if newGrantsState().maxLocations != 1000 || newGrantsState().maxGrants != 100_000 {
		t.Fatal("quotas are not the service's")
	}
	ts := newTestState(t)
	ts.maxLocations, ts.maxGrants = 3, 5
	var last agLocation
	for i := range 3 {
		loc, err := ts.createLocation(tAcct, tRegion, fmt.Sprintf("s3://bkt/p%d", i), tRole, nil, tNow)
		mustOK(t, err)
		last = loc
	}
	_, err := ts.createLocation(tAcct, tRegion, "s3://bkt/one-more", tRole, nil, tNow)
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	gi := grantInput{LocationID: last.ID, GranteeType: agGranteeIAM, GranteeID: tAlice, Permission: agRead}
	var first agGrant
	for i := range 5 {
		gi.SubPrefix = fmt.Sprintf("g%d/*", i)
		gr, err := ts.createGrant(tAcct, tRegion, gi, tNow)
		mustOK(t, err)
		if i == 0 {
			first = gr
		}
	}
	gi.SubPrefix = "more/*"
	_, err = ts.createGrant(tAcct, tRegion, gi, tNow)
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	// Deleting makes room again.
	mustOK(t, ts.deleteGrant(tAcct, tRegion, first.ID))
	_, err = ts.createGrant(tAcct, tRegion, gi, tNow)
	mustOK(t, err)
}

func TestGrantValidation(t *testing.T) {
	ts := newTestState(t, "s3://", "s3://bkt")
	loc := ts.locs["s3://bkt"]
	valid := grantInput{LocationID: loc, SubPrefix: "x/*", GranteeType: agGranteeIAM, GranteeID: tAlice, Permission: agRead}
	tags := func(n int) []agTag {
		var out []agTag
		for i := range n {
			out = append(out, agTag{Key: fmt.Sprint("k", i), Value: "v"})
		}
		return out
	}
	tests := []struct {
		name   string
		edit   func(*grantInput)
		code   string
		status int
	}{
		{"valid", func(*grantInput) {}, "", 0},
		{"50 tags", func(g *grantInput) { g.Tags = tags(50) }, "", 0},
		{"directory user", func(g *grantInput) {
			g.GranteeType, g.GranteeID = agGranteeDirectoryUser, "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
		}, "", 0},
		{"unknown location", func(g *grantInput) { g.LocationID = "nope" }, "NoSuchAccessGrantsLocationError", http.StatusNotFound},
		{"bad location ID", func(g *grantInput) { g.LocationID = "a/b" }, "InvalidRequest", http.StatusBadRequest},
		{"51 tags", func(g *grantInput) { g.Tags = tags(51) }, "InvalidRequest", http.StatusBadRequest},
		{"duplicate tag keys", func(g *grantInput) { g.Tags = []agTag{{"k", "1"}, {"k", "2"}} }, "InvalidRequest", http.StatusBadRequest},
		{"bad permission", func(g *grantInput) { g.Permission = "ALL" }, "InvalidRequest", http.StatusBadRequest},
		{"bad grantee type", func(g *grantInput) { g.GranteeType = "USER" }, "InvalidRequest", http.StatusBadRequest},
		{"IAM grantee not an ARN", func(g *grantInput) { g.GranteeID = "alice" }, "InvalidRequest", http.StatusBadRequest},
		{"IAM grantee is a session", func(g *grantInput) { g.GranteeID = "arn:aws:sts::111122223333:assumed-role/r/s" }, "InvalidRequest", http.StatusBadRequest},
		{"empty directory grantee", func(g *grantInput) { g.GranteeType, g.GranteeID = agGranteeDirectoryGroup, "" }, "InvalidRequest", http.StatusBadRequest},
		{"star inside sub-prefix", func(g *grantInput) { g.SubPrefix = "a*/b" }, "InvalidRequest", http.StatusBadRequest},
		{"leading slash", func(g *grantInput) { g.SubPrefix = "/x/*" }, "InvalidRequest", http.StatusBadRequest},
		{"object with star", func(g *grantInput) { g.PrefixType = agObject }, "InvalidRequest", http.StatusBadRequest},
		{"object without key", func(g *grantInput) { g.PrefixType, g.SubPrefix = agObject, "" }, "InvalidRequest", http.StatusBadRequest},
		{"unknown prefix type", func(g *grantInput) { g.PrefixType = "Prefix" }, "InvalidRequest", http.StatusBadRequest},
		{"default location without bucket", func(g *grantInput) { g.LocationID, g.SubPrefix = "default", "*" }, "InvalidRequest", http.StatusBadRequest},
		{"default location object without key", func(g *grantInput) {
			g.LocationID, g.SubPrefix, g.PrefixType = "default", "bkt", agObject
		}, "InvalidRequest", http.StatusBadRequest},
		{"sub-prefix too long", func(g *grantInput) { g.SubPrefix = strings.Repeat("a", 2001) }, "InvalidRequest", http.StatusBadRequest},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gi := valid
			gi.SubPrefix = fmt.Sprintf("case%d/*", i) // distinct, so valid cases are not duplicates
			tt.edit(&gi)
			_, err := ts.createGrant(tAcct, tRegion, gi, tNow)
			if tt.code == "" {
				mustOK(t, err)
				return
			}
			wantCode(t, err, tt.code, tt.status)
		})
	}
}

func TestGrantDuplicates(t *testing.T) {
	ts := newTestState(t, "s3://", "s3://bkt")
	first := ts.grant(t, testGrant{loc: "s3://bkt", sub: "x/*", perm: agRead})
	// The same scope through another location is the same grant.
	_, err := ts.createGrant(tAcct, tRegion, grantInput{LocationID: "default", SubPrefix: "bkt/x/*", GranteeType: agGranteeIAM, GranteeID: tAlice, Permission: agRead}, tNow)
	wantCode(t, err, "AccessGrantAlreadyExists", http.StatusConflict)
	// Another permission, grantee or scope is not.
	ts.grant(t, testGrant{loc: "s3://bkt", sub: "x/*", perm: agWrite})
	ts.grant(t, testGrant{loc: "s3://bkt", sub: "x/*", perm: agRead, grantee: tBob})
	ts.grant(t, testGrant{loc: "s3://bkt", sub: "x*", perm: agRead})
	// Once deleted, it may be made again.
	mustOK(t, ts.deleteGrant(tAcct, tRegion, first.ID))
	ts.grant(t, testGrant{loc: "s3://", sub: "bkt/x/*", perm: agRead})
}

func TestGetGrant(t *testing.T) {
	ts := newTestState(t, "s3://bkt")
	gr, err := ts.createGrant(tAcct, tRegion, grantInput{
		LocationID: ts.locs["s3://bkt"], SubPrefix: "r/*", GranteeType: agGranteeIAM, GranteeID: tAlice,
		Permission: agReadWrite, ApplicationArn: "arn:aws:sso::111122223333:application/a", Tags: []agTag{{"team", "x"}},
	}, tNow)
	mustOK(t, err)
	got, err := ts.getGrant(tAcct, tRegion, gr.ID)
	mustOK(t, err)
	if got.ID != gr.ID || got.Scope != "s3://bkt/r/*" || got.SubPrefix != "r/*" || got.LocationID != ts.locs["s3://bkt"] ||
		got.Permission != agReadWrite || got.ApplicationArn == "" || !got.Created.Equal(tNow) || len(got.Tags) != 1 {
		t.Errorf("grant = %+v", got)
	}
	_, err = ts.getGrant(tAcct, tRegion, "00000000-0000-0000-0000-000000000000")
	wantCode(t, err, "NoSuchAccessGrantError", http.StatusNotFound)
	_, err = ts.getGrant(tAcct, tRegion, "bad id")
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
}

func TestListGrantsPaging(t *testing.T) {
	ts := newTestState(t, "s3://bkt")
	var ids []string
	for i := range 5 {
		perm := agRead
		if i%2 == 1 {
			perm = agWrite
		}
		ids = append(ids, ts.grant(t, testGrant{loc: "s3://bkt", sub: fmt.Sprintf("p%d/*", i), perm: perm}).ID)
	}
	collect := func(t *testing.T, f grantFilter, max int) ([]string, int) {
		t.Helper()
		var got []string
		pages, token := 0, ""
		for {
			page, next, err := ts.listGrants(tAcct, tRegion, f, pageRequest{MaxResults: max, NextToken: token})
			mustOK(t, err)
			pages++
			if len(page) > max {
				t.Fatalf("page of %d > %d", len(page), max)
			}
			for _, g := range page {
				got = append(got, g.ID)
			}
			if next == "" {
				return got, pages
			}
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			token = next
		}
	}
	got, pages := collect(t, grantFilter{}, 2)
	if strings.Join(got, ",") != strings.Join(ids, ",") || pages != 3 {
		t.Errorf("paged = %v in %d pages, want %v in 3", got, pages, ids)
	}
	got, pages = collect(t, grantFilter{}, 5)
	if len(got) != 5 || pages != 1 {
		t.Errorf("one page: %d items in %d pages", len(got), pages)
	}
	got, _ = collect(t, grantFilter{Permission: agWrite}, 1)
	if strings.Join(got, ",") != ids[1]+","+ids[3] {
		t.Errorf("WRITE grants = %v", got)
	}
	got, _ = collect(t, grantFilter{GrantScope: "s3://bkt/p2/*"}, 10)
	if len(got) != 1 || got[0] != ids[2] {
		t.Errorf("by scope = %v", got)
	}
	got, _ = collect(t, grantFilter{GranteeType: agGranteeIAM, GranteeID: tBob}, 10)
	if len(got) != 0 {
		t.Errorf("bob's = %v", got)
	}

	// Deleting an item between pages neither skips nor repeats others.
	page, next, err := ts.listGrants(tAcct, tRegion, grantFilter{}, pageRequest{MaxResults: 2})
	mustOK(t, err)
	mustOK(t, ts.deleteGrant(tAcct, tRegion, ids[2]))
	rest, _, err := ts.listGrants(tAcct, tRegion, grantFilter{}, pageRequest{MaxResults: 10, NextToken: next})
	mustOK(t, err)
	if len(page) != 2 || len(rest) != 2 || rest[0].ID != ids[3] || rest[1].ID != ids[4] {
		t.Errorf("after deleting between pages: %v then %v", page, rest)
	}

	for _, bad := range []pageRequest{{MaxResults: -1}, {MaxResults: 1001}, {NextToken: "garbage"}, {NextToken: pageToken(1) + "x"}} {
		_, _, err := ts.listGrants(tAcct, tRegion, grantFilter{}, bad)
		wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	}
	_, _, err = ts.listGrants(tAcct, tRegion, grantFilter{Permission: "X"}, pageRequest{})
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	_, _, err = ts.listGrants(tOther, tRegion, grantFilter{}, pageRequest{})
	wantCode(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
}

func TestListCallerGrants(t *testing.T) {
	ts := newTestState(t, "s3://", "s3://bkt")
	a := ts.grant(t, testGrant{loc: "s3://bkt", sub: "p/*", perm: agRead})
	b := ts.grant(t, testGrant{loc: "s3://bkt", sub: "p/q/*", perm: agWrite})
	c := ts.grant(t, testGrant{loc: "s3://", sub: "other/*", perm: agRead})
	ts.grant(t, testGrant{loc: "s3://bkt", sub: "p/*", perm: agRead, grantee: tBob})
	app, err := ts.createGrant(tAcct, tRegion, grantInput{LocationID: "default", SubPrefix: "app/*", GranteeType: agGranteeIAM,
		GranteeID: tAlice, Permission: agRead, ApplicationArn: "ALL"}, tNow)
	mustOK(t, err)
	tests := []struct {
		scope string
		byApp bool
		want  []agGrant
	}{
		{"", false, []agGrant{a, b, c, app}},
		{"", true, []agGrant{app}},
		{"s3://bkt/p/x.txt", false, []agGrant{a}},        // covered by p/*
		{"s3://bkt/p/q/x.txt", false, []agGrant{a, b}},   // covered by both
		{"s3://bkt/p", false, []agGrant{a, b}},           // both start with it
		{"s3://bkt/", false, []agGrant{a, b}},            // a bucket's grants
		{"s3://other/deep/k", false, []agGrant{c}},       // through the default location
		{"s3://nothing/", false, nil},                    // none
		{"s3://bkt/p/q/*", false, []agGrant{a, b}},       // a prefix target
		{"s3://bkt/p/q/x.txt", true, nil},                // no application grant
		{"s3://app", false, []agGrant{app}},              // fragment of a bucket name
		{"s3://bkt/p/q/r/s/t/u", false, []agGrant{a, b}}, // deep under both
	}
	for _, tt := range tests {
		got, next, err := ts.listCallerGrants(tAcct, tRegion, tAlice, tt.scope, tt.byApp, pageRequest{})
		mustOK(t, err)
		if next != "" || len(got) != len(tt.want) {
			t.Errorf("%q app=%v: got %d grants (%v), want %d", tt.scope, tt.byApp, len(got), got, len(tt.want))
			continue
		}
		for i := range got {
			if got[i].ID != tt.want[i].ID {
				t.Errorf("%q: grant %d = %s, want %s", tt.scope, i, got[i].Scope, tt.want[i].Scope)
			}
		}
	}
	got, next, err := ts.listCallerGrants(tAcct, tRegion, tAlice, "", false, pageRequest{MaxResults: 3})
	if err != nil || len(got) != 3 || next == "" {
		t.Fatalf("first page: %d, %q, %v", len(got), next, err)
	}
	got, next, err = ts.listCallerGrants(tAcct, tRegion, tAlice, "", false, pageRequest{MaxResults: 3, NextToken: next})
	if err != nil || len(got) != 1 || got[0].ID != app.ID || next != "" {
		t.Errorf("second page: %v, %q, %v", got, next, err)
	}
	got, _, err = ts.listCallerGrants(tAcct, tRegion, tForeign, "", false, pageRequest{})
	if err != nil || len(got) != 0 {
		t.Errorf("a stranger's grants: %v, %v", got, err)
	}
	_, _, err = ts.listCallerGrants(tAcct, tRegion, tAlice, "bkt/p", false, pageRequest{})
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
}

func TestResourcePolicyParsing(t *testing.T) {
	type probe struct {
		account, identity, action string
		want                      bool
	}
	tests := []struct {
		name   string
		policy string
		probes []probe
	}{
		{"account ID", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":["s3:GetDataAccess"],"Resource":"*"}]}`, []probe{
			{tOther, tForeign, "s3:GetDataAccess", true},
			{tOther, tForeign, "s3:ListCallerAccessGrants", false},
			{"999999999999", "arn:aws:iam::999999999999:role/x", "s3:GetDataAccess", false},
		}},
		{"root ARN list and single statement", `{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root","555555555555"]},"Action":"s3:*"}}`, []probe{
			{tOther, tForeign, "s3:GetDataAccess", true},
			{"555555555555", "arn:aws:iam::555555555555:user/u", "s3:ListCallerAccessGrants", true},
			{"666666666666", "arn:aws:iam::666666666666:user/u", "s3:GetDataAccess", false},
		}},
		{"star principal", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:Get*"}]}`, []probe{
			{"999999999999", "arn:aws:iam::999999999999:role/x", "s3:GetDataAccess", true},
			{"999999999999", "arn:aws:iam::999999999999:role/x", "s3:ListCallerAccessGrants", false},
		}},
		{"AWS star", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"*"}]}`, []probe{
			{"999999999999", "arn:aws:iam::999999999999:role/x", "s3:GetDataAccess", true},
		}},
		{"role principal", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/partner"},"Action":"s3:GetDataAccess"}]}`, []probe{
			{tOther, tForeign, "s3:GetDataAccess", true},
			{tOther, "arn:aws:iam::444455556666:role/someone-else", "s3:GetDataAccess", false},
		}},
		{"deny wins", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"s3:*"},{"Effect":"Deny","Principal":{"AWS":"444455556666"},"Action":"s3:GetDataAccess"}]}`, []probe{
			{tOther, tForeign, "s3:GetDataAccess", false},
			{tOther, tForeign, "s3:ListCallerAccessGrants", true},
		}},
		{"actions are case-insensitive", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"S3:getdataaccess"}]}`, []probe{
			{tOther, tForeign, "s3:GetDataAccess", true},
		}},
		{"service principal only", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666","Service":"s3.amazonaws.com"},"Action":"s3:*"}]}`, []probe{
			{tOther, tForeign, "s3:GetDataAccess", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseResourcePolicy(tt.policy)
			mustOK(t, err)
			for _, pr := range tt.probes {
				if got := p.admits(pr.account, pr.identity, pr.action); got != pr.want {
					t.Errorf("admits(%s, %s, %s) = %v, want %v", pr.account, pr.identity, pr.action, got, pr.want)
				}
			}
		})
	}
	bad := []string{
		``,
		`   `,
		`not json`,
		`[]`,
		`{}`,
		`{"Statement":[]}`,
		`{"Statement":"x"}`,
		`{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"444455556666","Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"12345"},"Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":[]},"Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"}}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"NotAction":"s3:*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:group/g"},"Action":"*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":[1]}]}`,
	}
	for _, doc := range bad {
		_, err := parseResourcePolicy(doc)
		wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	}
	var nilPolicy *resourcePolicy
	if nilPolicy.admits(tOther, tForeign, "s3:GetDataAccess") {
		t.Error("no policy admits")
	}
}

func TestResourcePolicyLifecycle(t *testing.T) {
	ts := newTestState(t)
	got, err := ts.getPolicy(tAcct, tRegion)
	if err != nil || got.Policy != "" {
		t.Fatalf("no policy yet: %+v, %v", got, err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"s3:GetDataAccess"}]}`
	put, err := ts.putPolicy(tAcct, tRegion, doc, "o-123", tNow)
	mustOK(t, err)
	if put.Policy != doc || put.Organization != "o-123" || !put.Created.Equal(tNow) {
		t.Errorf("put = %+v", put)
	}
	if exists, ok := ts.admits(tAcct, tRegion, tOther, tForeign, "s3:GetDataAccess"); !exists || !ok {
		t.Errorf("admits = %v, %v", exists, ok)
	}
	_, err = ts.putPolicy(tAcct, tRegion, `{"Statement":[]}`, "", tNow)
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	if got, _ := ts.getPolicy(tAcct, tRegion); got.Policy != doc {
		t.Error("a rejected policy replaced the old one")
	}
	mustOK(t, ts.deletePolicy(tAcct, tRegion))
	mustOK(t, ts.deletePolicy(tAcct, tRegion))
	if exists, ok := ts.admits(tAcct, tRegion, tOther, tForeign, "s3:GetDataAccess"); !exists || ok {
		t.Errorf("after delete: admits = %v, %v", exists, ok)
	}
	if exists, _ := ts.admits(tOther, tRegion, tAcct, tAlice, "s3:GetDataAccess"); exists {
		t.Error("an instance that does not exist exists")
	}
	_, err = ts.putPolicy(tOther, tRegion, doc, "", tNow)
	wantCode(t, err, "AccessGrantsInstanceNotExistsError", http.StatusNotFound)
}

func TestInstanceForPrefix(t *testing.T) {
	const third = "777788889999"
	setup := func(t *testing.T, policy string) *grantsState {
		g := newGrantsState()
		// The owner's instance has a location on shared-bucket.
		_, err := g.createInstance(tAcct, tRegion, "", nil, tNow)
		mustOK(t, err)
		_, err = g.createLocation(tAcct, tRegion, "s3://shared-bucket", tRole, nil, tNow)
		mustOK(t, err)
		if policy != "" {
			_, err = g.putPolicy(tAcct, tRegion, policy, "", tNow)
			mustOK(t, err)
		}
		// The caller's own instance covers only its own bucket.
		_, err = g.createInstance(tOther, tRegion, "", nil, tNow)
		mustOK(t, err)
		_, err = g.createLocation(tOther, tRegion, "s3://partner-bucket/data", "arn:aws:iam::444455556666:role/loc", nil, tNow)
		mustOK(t, err)
		return g
	}
	admitPartner := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":["s3:GetDataAccess"]}]}`
	admitThird := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"777788889999"},"Action":["s3:GetDataAccess"]}]}`
	tests := []struct {
		name, policy, prefix string
		wantAccount          string // "" for an error
		code                 string
	}{
		{"cross-account allowed", admitPartner, "s3://shared-bucket/x/y.txt", tAcct, ""},
		{"cross-account list prefix", admitPartner, "s3://shared-bucket/*", tAcct, ""},
		{"cross-account refused without policy", "", "s3://shared-bucket/x", "", "AccessDenied"},
		{"cross-account refused by another account's policy", admitThird, "s3://shared-bucket/x", "", "AccessDenied"},
		{"own instance", "", "s3://partner-bucket/data/k", tOther, ""},
		{"own location root", "", "s3://partner-bucket/data", tOther, ""},
		{"not under own location", admitPartner, "s3://partner-bucket/database", "", "AccessGrantsInstanceNotExistsError"},
		{"no instance covers it", admitPartner, "s3://elsewhere/x", "", "AccessGrantsInstanceNotExistsError"},
		{"bad prefix", admitPartner, "shared-bucket/x", "", "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := setup(t, tt.policy)
			info, err := g.instanceForPrefix(tOther, tForeign, tRegion, tt.prefix, "")
			if tt.wantAccount == "" {
				var ae *apiError
				if !errors.As(err, &ae) || ae.Code != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			mustOK(t, err)
			if info.Account != tt.wantAccount || info.ARN != instanceARN(tRegion, tt.wantAccount) || info.ID != "default" {
				t.Errorf("instance = %+v", info)
			}
		})
	}
	// The caller's own instance is preferred over another that covers the
	// prefix too; another Region's instances never count.
	g := setup(t, admitPartner)
	_, err := g.createLocation(tOther, tRegion, "s3://", "arn:aws:iam::444455556666:role/loc", nil, tNow)
	mustOK(t, err)
	if info, err := g.instanceForPrefix(tOther, tForeign, tRegion, "s3://shared-bucket/x", ""); err != nil || info.Account != tOther {
		t.Errorf("own default location: %+v, %v", info, err)
	}
	if _, err := g.instanceForPrefix(third, "arn:aws:iam::777788889999:user/u", "eu-west-1", "s3://shared-bucket/x", ""); err == nil {
		t.Error("found an instance in another Region")
	}
}

func testConfigInstances() []Instance {
	return []Instance{{
		Account:                tAcct,
		Region:                 tRegion,
		ResourcePolicyAccounts: []string{tOther},
		Locations: []Location{
			{Scope: "s3://", Role: tRole},
			{Scope: "s3://data-bucket/team", Role: tRole},
		},
		Grants: []Grant{
			{Location: "s3://", SubPrefix: "data-bucket/reports/*", Grantee: Grantee{Type: "IAM", Identifier: tAlice}, Permission: "READ"},
			{Location: "s3://data-bucket/team", SubPrefix: "", Grantee: Grantee{Type: "IAM", Identifier: tForeign}, Permission: "READWRITE"},
			{Location: "s3://data-bucket/team", SubPrefix: "f.txt", PrefixType: "Object", Grantee: Grantee{Type: "IAM", Identifier: tBob}, Permission: "WRITE"},
			{Location: "s3://", SubPrefix: "data-bucket/dir/*", Grantee: Grantee{Type: "DIRECTORY_GROUP", Identifier: "g-1"}, Permission: "READ"},
		},
	}}
}

func TestSeed(t *testing.T) {
	g := newGrantsState()
	mustOK(t, g.seed(testConfigInstances(), tNow))
	first, err := g.marshal()
	mustOK(t, err)
	// Seeding again, as on a restart, changes nothing.
	mustOK(t, g.seed(testConfigInstances(), tNow.Add(time.Hour)))
	again, err := g.marshal()
	mustOK(t, err)
	if !bytes.Equal(first, again) {
		t.Errorf("seeding twice changed the state:\n%s\n%s", first, again)
	}
	locs, _, _ := g.listLocations(tAcct, tRegion, "", pageRequest{})
	grants, _, _ := g.listGrants(tAcct, tRegion, grantFilter{}, pageRequest{})
	if len(locs) != 2 || locs[0].ID != "default" || len(grants) != 4 {
		t.Fatalf("seeded %d locations, %d grants", len(locs), len(grants))
	}
	if grants[1].Scope != "s3://data-bucket/team/*" || grants[2].Scope != "s3://data-bucket/team/f.txt" {
		t.Errorf("scopes %q, %q", grants[1].Scope, grants[2].Scope)
	}
	if _, ok := g.admits(tAcct, tRegion, tOther, tForeign, "s3:GetDataAccess"); !ok {
		t.Error("seeded resource policy does not admit the configured account")
	}
	res, err := g.dataAccess(tAcct, tRegion, tForeign, dataAccessQuery{Target: "s3://data-bucket/team/x", Permission: agWrite}, bigRole)
	if err != nil || res.Scope != "s3://data-bucket/team/*" {
		t.Errorf("seeded grant does not match: %+v, %v", res, err)
	}

	// A restart keeps what changed through the API and re-creates only
	// what is missing.
	mustOK(t, g.deleteGrant(tAcct, tRegion, grants[0].ID))
	extra, err := g.createGrant(tAcct, tRegion, grantInput{LocationID: "default", SubPrefix: "data-bucket/new/*", GranteeType: agGranteeIAM, GranteeID: tAlice, Permission: agRead}, tNow)
	mustOK(t, err)
	mustOK(t, g.seed(testConfigInstances(), tNow))
	grants, _, _ = g.listGrants(tAcct, tRegion, grantFilter{}, pageRequest{})
	if len(grants) != 5 {
		t.Fatalf("after re-seeding: %d grants", len(grants))
	}
	if _, err := g.getGrant(tAcct, tRegion, extra.ID); err != nil {
		t.Error("re-seeding lost a grant made through the API")
	}

	// A grant naming a location the instance lacks is an error.
	bad := testConfigInstances()
	bad[0].Grants = append(bad[0].Grants, Grant{Location: "s3://nowhere", Grantee: Grantee{Type: "IAM", Identifier: tAlice}, Permission: "READ"})
	if err := newGrantsState().seed(bad, tNow); err == nil {
		t.Error("seeding a grant on an unknown location succeeded")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	g := newGrantsState()
	mustOK(t, g.seed(testConfigInstances(), tNow))
	_, err := g.createInstance(tOther, "eu-west-1", "arn:aws:sso:::instance/ssoins-x", nil, tNow)
	mustOK(t, err)
	_, err = g.createGrant(tAcct, tRegion, grantInput{LocationID: "default", SubPrefix: "data-bucket/t/*", GranteeType: agGranteeIAM,
		GranteeID: tAlice, Permission: agReadWrite, ApplicationArn: "ALL", Tags: []agTag{{"k", "v"}}}, tNow)
	mustOK(t, err)
	data, err := g.marshal()
	mustOK(t, err)

	h := newGrantsState()
	mustOK(t, h.unmarshal(data))
	data2, err := h.marshal()
	mustOK(t, err)
	if !bytes.Equal(data, data2) {
		t.Errorf("round trip changed the state:\n%s\n%s", data, data2)
	}
	// Indexes are rebuilt: matching, duplicates and sequence numbers work.
	res, err := h.dataAccess(tAcct, tRegion, tAlice, dataAccessQuery{Target: "s3://data-bucket/reports/q1.csv", Permission: agRead}, bigRole)
	if err != nil || res.Scope != "s3://data-bucket/reports/*" {
		t.Errorf("match after reload: %+v, %v", res, err)
	}
	_, err = h.createGrant(tAcct, tRegion, grantInput{LocationID: "default", SubPrefix: "data-bucket/t/*", GranteeType: agGranteeIAM,
		GranteeID: tAlice, Permission: agReadWrite}, tNow)
	wantCode(t, err, "AccessGrantAlreadyExists", http.StatusConflict)
	newer, err := h.createGrant(tAcct, tRegion, grantInput{LocationID: "default", SubPrefix: "data-bucket/u/*", GranteeType: agGranteeIAM,
		GranteeID: tAlice, Permission: agRead}, tNow)
	mustOK(t, err)
	if newer.Seq <= g.seq {
		t.Errorf("sequence restarted: %d <= %d", newer.Seq, g.seq)
	}
	if _, ok := h.admits(tAcct, tRegion, tOther, tForeign, "s3:GetDataAccess"); !ok {
		t.Error("policy lost")
	}
	if info, _ := h.getInstance(tOther, "eu-west-1"); info.IdentityCenterArn != "arn:aws:sso:::instance/ssoins-x" {
		t.Errorf("instance = %+v", info)
	}

	for _, bad := range []string{
		`not json`,
		`{"seq":0,"instances":[{"account":"1","region":"us-east-1"}]}`,
		`{"seq":9,"instances":[{"account":"111122223333","region":"us-east-1","locations":[{"id":"default","scope":"s3://","role_arn":"x","seq":1}],"grants":[{"id":"g","location_id":"nope","grantee_type":"IAM","grantee_identifier":"` + tAlice + `","permission":"READ","seq":2}]}]}`,
		`{"seq":1,"instances":[{"account":"111122223333","region":"us-east-1","locations":[{"id":"a","scope":"s3://bkt","role_arn":"` + tRole + `","seq":5}]}]}`,
		`{"seq":9,"instances":[{"account":"111122223333","region":"us-east-1","locations":[{"id":"a","scope":"s3://bkt","role_arn":"not-a-role","seq":5}]}]}`,
		`{"seq":9,"instances":[{"account":"111122223333","region":"us-east-1","locations":[{"id":"a","scope":"s3://bkt","role_arn":"` + tRole + `","seq":5},{"id":"b","scope":"s3://bkt2","role_arn":"` + tRole + `","seq":4}]}]}`,
		`{"seq":9,"instances":[{"account":"111122223333","region":"us-east-1","policy":"nope"}]}`,
	} {
		if err := h.unmarshal([]byte(bad)); err == nil {
			t.Errorf("unmarshal(%s) succeeded", bad)
		}
	}
	// A failed unmarshal leaves the state as it was.
	if _, err := h.getGrant(tAcct, tRegion, newer.ID); err != nil {
		t.Error("failed unmarshal changed the state")
	}
	// An empty state marshals and loads.
	empty, err := newGrantsState().marshal()
	mustOK(t, err)
	mustOK(t, h.unmarshal(empty))
	if _, err := h.getInstance(tAcct, tRegion); err == nil {
		t.Error("state not replaced")
	}
}

// bruteForceMatch is the reference of GetDataAccess matching: every grant
// of the identity, in creation order, checked with scopeCovers.
func bruteForceMatch(in *agInstance, identity, target, permission string) *agGrant {
	var best *agGrant
	for _, gr := range in.grants {
		if gr.GranteeType != agGranteeIAM || gr.GranteeID != identity ||
			!permissionSatisfies(gr.Permission, permission) || !scopeCovers(gr.Scope, target) {
			continue
		}
		if best == nil || len(gr.Scope) > len(best.Scope) {
			best = gr
		}
	}
	return best
}

func FuzzGrantScopeMatch(f *testing.F) {
	f.Add("bob/*", "bob/reports/*", "p*", uint16(0x0123), "bob/reports/file.txt", uint8(0))
	f.Add("a*", "ab", "ab*", uint16(0x4567), "ab", uint8(1))
	f.Add("", "x/", "x/*", uint16(0x89ab), "x/*", uint8(2))
	f.Add("k", "k*", "k/", uint16(0xcdef), "k", uint8(3))
	f.Add("日本/*", "日*", "*", uint16(0xffff), "日本/x", uint8(4))
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, bits uint16, target string, req uint8) {
		g := newGrantsState()
		if _, err := g.createInstance(tAcct, tRegion, "", nil, tNow); err != nil {
			t.Fatal(err)
		}
		locs := []string{"s3://", "s3://fz-bucket", "s3://fz-bucket/p"}
		ids := map[string]string{}
		for _, s := range locs {
			loc, err := g.createLocation(tAcct, tRegion, s, tRole, nil, tNow)
			if err != nil {
				t.Fatal(err)
			}
			ids[s] = loc.ID
		}
		perms := []string{agRead, agWrite, agReadWrite, agReadWrite}
		grantees := []string{tAlice, tAlice, tAlice, tBob}
		var made []agGrant
		for i, sub := range []string{s1, s2, s3} {
			b := bits >> (5 * i)
			loc := locs[int(b&3)%len(locs)]
			if loc == "s3://" {
				sub = "fz-bucket/" + sub
			}
			pt := ""
			if b&16 != 0 {
				pt = agObject
			}
			gr, err := g.createGrant(tAcct, tRegion, grantInput{
				LocationID: ids[loc], SubPrefix: sub, PrefixType: pt,
				GranteeType: agGranteeIAM, GranteeID: grantees[int(b>>2)&3], Permission: perms[int(b>>2)&3],
			}, tNow)
			if err == nil {
				made = append(made, gr)
			} else if codeOfErr(err) != "InvalidRequest" && codeOfErr(err) != "AccessGrantAlreadyExists" {
				t.Fatalf("createGrant: %v", err)
			}
		}
		if bits&0x8000 != 0 && len(made) > 0 {
			// Exercise removal from the index too.
			if err := g.deleteGrant(tAcct, tRegion, made[0].ID); err != nil {
				t.Fatal(err)
			}
		}
		if !strings.HasPrefix(target, "s3://") {
			target = "s3://fz-bucket/" + target
		}
		perm := perms[int(req)%3]
		q := dataAccessQuery{Target: target, Permission: perm}
		if req&4 != 0 {
			q.Privilege = agPrivilegeMinimal
			if !strings.HasSuffix(target, "*") {
				q.TargetType = agObject
			}
		}
		res, err := g.dataAccess(tAcct, tRegion, tAlice, q, bigRole)
		in := g.instances[agKey{tAcct, tRegion}]
		if _, _, verr := parseTarget("Target", target); verr != nil {
			if codeOfErr(err) != "InvalidRequest" {
				t.Fatalf("invalid target %q: err = %v", target, err)
			}
			return
		}
		want := bruteForceMatch(in, tAlice, target, perm)
		switch {
		case want == nil:
			if codeOfErr(err) != "AccessDenied" {
				t.Fatalf("target %q %s: got %+v, %v; want AccessDenied", target, perm, res.Grant, err)
			}
		case err != nil:
			t.Fatalf("target %q %s: %v; want grant %s", target, perm, err, want.Scope)
		case res.Grant.ID != want.ID:
			t.Fatalf("target %q %s: matched %s (%s), want %s (%s)", target, perm, res.Grant.Scope, res.Grant.Permission, want.Scope, want.Permission)
		case q.Privilege == agPrivilegeMinimal && res.Scope != target:
			t.Fatalf("Minimal scope %q, want %q", res.Scope, target)
		case q.Privilege == "" && res.Scope != want.Scope:
			t.Fatalf("Default scope %q, want %q", res.Scope, want.Scope)
		}
		if err == nil && !scopeCovers(res.Grant.Scope, target) {
			t.Fatalf("matched scope %q does not cover %q", res.Grant.Scope, target)
		}
	})
}

func codeOfErr(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// BenchmarkDataAccess matches against an instance holding 100,000 grants,
// 2,000 of them the caller's, at many prefix depths.
func BenchmarkDataAccess(b *testing.B) {
	g := newGrantsState()
	if _, err := g.createInstance(tAcct, tRegion, "", nil, tNow); err != nil {
		b.Fatal(err)
	}
	loc, err := g.createLocation(tAcct, tRegion, "s3://bench-bucket", tRole, nil, tNow)
	if err != nil {
		b.Fatal(err)
	}
	in := g.instances[agKey{tAcct, tRegion}]
	for i := range maxGrantsPerInstance {
		grantee := fmt.Sprintf("arn:aws:iam::111122223333:role/r%d", i%50)
		// 14,000 grants at depths 0 to 6 under 2,000 teams; the rest apart.
		sub := fmt.Sprintf("team%d/%s*", i%2000, strings.Repeat("d/", i%7))
		if i >= 14000 {
			sub = fmt.Sprintf("other%d/*", i)
		}
		if _, err := g.createGrantLocked(in, grantInput{LocationID: loc.ID, SubPrefix: sub, GranteeType: agGranteeIAM, GranteeID: grantee, Permission: agRead}, tNow); err != nil {
			b.Fatal(err)
		}
	}
	q := dataAccessQuery{Target: "s3://bench-bucket/team1234/d/d/d/d/file.csv", Permission: agRead}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.dataAccess(tAcct, tRegion, "arn:aws:iam::111122223333:role/r34", q, bigRole); err != nil {
			b.Fatal(err)
		}
	}
}

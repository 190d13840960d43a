package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the Access Grants data model of the emulator: instances,
// their resource policies, locations and grants, and the matching of a
// GetDataAccess request to a grant. It is pure: no HTTP, no clock of its
// own (callers pass the time), no IAM. Errors are *apiError values with the
// codes and statuses service.md lists, so that the S3 Control face can
// answer with them as they are.

// Access Grants enumerations, spelled as on the wire.
const (
	agRead      = "READ"
	agWrite     = "WRITE"
	agReadWrite = "READWRITE"

	agPrivilegeDefault = "Default"
	agPrivilegeMinimal = "Minimal"

	agObject = "Object" // S3PrefixType and TargetType

	agGranteeIAM            = "IAM"
	agGranteeDirectoryUser  = "DIRECTORY_USER"
	agGranteeDirectoryGroup = "DIRECTORY_GROUP"
)

// Limits of the service.
const (
	maxLocationsPerInstance = 1000
	maxGrantsPerInstance    = 100_000
	maxTagsPerResource      = 50
	maxListResults          = 1000

	minDataAccessSeconds     = 900
	maxDataAccessSeconds     = 43_200
	defaultDataAccessSeconds = 3600
	// defaultRoleSessionSeconds bounds credentials vended through a role the
	// emulator does not know, as IAM bounds a role created without a
	// MaxSessionDuration.
	defaultRoleSessionSeconds = 3600

	// agInstanceID is the ID of every instance; agDefaultLocationID the ID
	// of the location whose scope is "s3://".
	agInstanceID        = "default"
	agDefaultLocationID = "default"
	agDefaultScope      = "s3://"

	maxSubPrefixLength = 2000
	maxIdentifierBytes = 2048
)

// agIDPattern is the form of location and grant IDs.
var agIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]{1,64}$`)

// agKey identifies an instance: one per account per Region.
type agKey struct {
	Account string
	Region  string
}

// grantsState holds every Access Grants instance the emulator serves. All
// of its methods are safe for concurrent use; they return copies, never
// pointers into the state.
type grantsState struct {
	mu        sync.RWMutex
	instances map[agKey]*agInstance
	// seq orders locations and grants by creation across the whole state.
	// Paging tokens and the "first created" tie-break rely on it.
	seq uint64
	// maxLocations and maxGrants are the per-instance quotas; tests lower
	// them.
	maxLocations, maxGrants int
}

// agInstance is one instance with its locations and grants, in creation
// order, and the indexes that keep lookups and matching fast.
type agInstance struct {
	Account           string
	Region            string
	Created           time.Time
	IdentityCenterArn string
	// Policy is the resource policy as the owner put it ("" for none);
	// policy is its parsed form.
	Policy             string
	PolicyOrganization string
	PolicyCreated      time.Time
	policy             *resourcePolicy

	locations []*agLocation // ordered by Seq
	grants    []*agGrant    // ordered by Seq

	locByID     map[string]*agLocation
	locByScope  map[string]*agLocation
	grantByID   map[string]*agGrant
	grantByKey  map[grantIdentity]*agGrant
	grantsOfLoc map[string]int
	// byGrantee indexes the IAM grants by grantee ARN for GetDataAccess.
	byGrantee map[string]*granteeIndex
}

// agLocation is a registered location.
type agLocation struct {
	ID      string    `json:"id"`
	Scope   string    `json:"scope"`
	RoleArn string    `json:"role_arn"`
	Created time.Time `json:"created"`
	Seq     uint64    `json:"seq"`
	Tags    []agTag   `json:"tags,omitempty"`
	// ARN is derived from the instance and ID.
	ARN string `json:"-"`
}

// agGrant is a grant.
type agGrant struct {
	ID             string    `json:"id"`
	LocationID     string    `json:"location_id"`
	SubPrefix      string    `json:"sub_prefix,omitempty"`
	PrefixType     string    `json:"prefix_type,omitempty"`
	GranteeType    string    `json:"grantee_type"`
	GranteeID      string    `json:"grantee_identifier"`
	Permission     string    `json:"permission"`
	ApplicationArn string    `json:"application_arn,omitempty"`
	Tags           []agTag   `json:"tags,omitempty"`
	Created        time.Time `json:"created"`
	Seq            uint64    `json:"seq"`
	// Scope (the location scope joined with SubPrefix), LocationScope and
	// ARN are derived.
	Scope         string `json:"-"`
	LocationScope string `json:"-"`
	ARN           string `json:"-"`
}

// agTag is a resource tag.
type agTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// grantIdentity is what makes two grants the same grant.
type grantIdentity struct {
	granteeType, granteeID, permission, scope string
}

func (g *agGrant) identity() grantIdentity {
	return grantIdentity{g.GranteeType, g.GranteeID, g.Permission, g.Scope}
}

// instanceInfo describes an instance.
type instanceInfo struct {
	Account           string
	Region            string
	ID                string
	ARN               string
	Created           time.Time
	IdentityCenterArn string
}

// policyInfo is an instance's resource policy.
type policyInfo struct {
	Policy       string
	Organization string
	Created      time.Time
}

// newGrantsState returns an empty state.
func newGrantsState() *grantsState {
	return &grantsState{
		instances:    map[agKey]*agInstance{},
		maxLocations: maxLocationsPerInstance,
		maxGrants:    maxGrantsPerInstance,
	}
}

func newAGInstance(account, region string, created time.Time) *agInstance {
	return &agInstance{
		Account:     account,
		Region:      region,
		Created:     created,
		locByID:     map[string]*agLocation{},
		locByScope:  map[string]*agLocation{},
		grantByID:   map[string]*agGrant{},
		grantByKey:  map[grantIdentity]*agGrant{},
		grantsOfLoc: map[string]int{},
		byGrantee:   map[string]*granteeIndex{},
	}
}

// instanceARN is the ARN of the instance of an account in a Region.
func instanceARN(region, account string) string {
	return "arn:aws:s3:" + region + ":" + account + ":access-grants/" + agInstanceID
}

func (in *agInstance) arn() string { return instanceARN(in.Region, in.Account) }

func (in *agInstance) info() instanceInfo {
	return instanceInfo{
		Account:           in.Account,
		Region:            in.Region,
		ID:                agInstanceID,
		ARN:               in.arn(),
		Created:           in.Created,
		IdentityCenterArn: in.IdentityCenterArn,
	}
}

// Error helpers. Messages name what was wrong; they never echo secrets
// (nothing here handles any).

func agInvalid(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "InvalidRequest", format, args...)
}

func errNoInstance(account, region string) *apiError {
	return errorf(http.StatusNotFound, "AccessGrantsInstanceNotExistsError",
		"Account %s has no S3 Access Grants instance in %s.", account, region)
}

func errNoLocation(id string) *apiError {
	return errorf(http.StatusNotFound, "NoSuchAccessGrantsLocationError",
		"The S3 Access Grants location %s does not exist.", id)
}

func errNoGrant(id string) *apiError {
	return errorf(http.StatusNotFound, "NoSuchAccessGrantError",
		"The access grant %s does not exist.", id)
}

// agMessage is the message of an error, without an apiError's code.
func agMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}

// errDataAccessDenied is GetDataAccess's answer when no grant matches.
func errDataAccessDenied(permission, target string) *apiError {
	return errorf(http.StatusForbidden, "AccessDenied",
		"You do not have %s permissions to the requested S3 Prefix: %s", permission, target)
}

// instance returns an existing instance; the caller holds the lock.
func (g *grantsState) instance(account, region string) (*agInstance, error) {
	in, ok := g.instances[agKey{account, region}]
	if !ok {
		return nil, errNoInstance(account, region)
	}
	return in, nil
}

func (g *grantsState) nextSeq() uint64 {
	g.seq++
	return g.seq
}

// ---- Instances ----

// createInstance creates the instance of an account in a Region.
func (g *grantsState) createInstance(account, region, identityCenterArn string, tags []agTag, now time.Time) (instanceInfo, error) {
	if err := validateIdentityCenterArn(identityCenterArn); err != nil {
		return instanceInfo{}, err
	}
	if err := validateTags(tags); err != nil {
		return instanceInfo{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	key := agKey{account, region}
	if _, ok := g.instances[key]; ok {
		return instanceInfo{}, errorf(http.StatusConflict, "AccessGrantsInstanceAlreadyExists",
			"Account %s already has an S3 Access Grants instance in %s.", account, region)
	}
	in := newAGInstance(account, region, now.UTC())
	in.IdentityCenterArn = identityCenterArn
	g.instances[key] = in
	return in.info(), nil
}

// getInstance describes the instance of an account in a Region.
func (g *grantsState) getInstance(account, region string) (instanceInfo, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, err := g.instance(account, region)
	if err != nil {
		return instanceInfo{}, err
	}
	return in.info(), nil
}

// deleteInstance deletes an instance that holds no locations and no
// grants.
func (g *grantsState) deleteInstance(account, region string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return err
	}
	if len(in.locations) > 0 || len(in.grants) > 0 {
		return errorf(http.StatusBadRequest, "AccessGrantsInstanceNotEmptyError",
			"The S3 Access Grants instance still has %d locations and %d grants; delete them first.",
			len(in.locations), len(in.grants))
	}
	delete(g.instances, agKey{account, region})
	return nil
}

// listInstances lists the instances of an account in a Region: the
// service is regional, so there is at most one.
func (g *grantsState) listInstances(account, region string, page pageRequest) ([]instanceInfo, string, error) {
	if err := page.validate(); err != nil {
		return nil, "", err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, ok := g.instances[agKey{account, region}]
	// With at most one instance no listing has a second page, so a token
	// (which only another List call can have made) continues to nothing.
	if !ok || page.NextToken != "" {
		return nil, "", nil
	}
	return []instanceInfo{in.info()}, "", nil
}

// associateIdentityCenter records the IAM Identity Center instance of an
// Access Grants instance ("" dissociates it).
func (g *grantsState) associateIdentityCenter(account, region, arn string) error {
	if err := validateIdentityCenterArn(arn); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return err
	}
	in.IdentityCenterArn = arn
	return nil
}

func validateIdentityCenterArn(arn string) error {
	if arn == "" {
		return nil
	}
	if !strings.HasPrefix(arn, "arn:aws:sso:::instance/") || len(arn) > maxIdentifierBytes {
		return agInvalid("IdentityCenterArn %q is not an IAM Identity Center instance ARN (arn:aws:sso:::instance/...).", arn)
	}
	return nil
}

// ---- Resource policies ----

// putPolicy sets the resource policy of an instance.
func (g *grantsState) putPolicy(account, region, policy, organization string, now time.Time) (policyInfo, error) {
	parsed, err := parseResourcePolicy(policy)
	if err != nil {
		return policyInfo{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return policyInfo{}, err
	}
	in.Policy, in.PolicyOrganization, in.PolicyCreated, in.policy = policy, organization, now.UTC(), parsed
	return policyInfo{Policy: in.Policy, Organization: in.PolicyOrganization, Created: in.PolicyCreated}, nil
}

// getPolicy returns the resource policy of an instance; a zero policyInfo
// when it has none (**[choice]**: an empty answer, not an error).
func (g *grantsState) getPolicy(account, region string) (policyInfo, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, err := g.instance(account, region)
	if err != nil {
		return policyInfo{}, err
	}
	return policyInfo{Policy: in.Policy, Organization: in.PolicyOrganization, Created: in.PolicyCreated}, nil
}

// deletePolicy removes the resource policy of an instance; deleting a
// policy that is not there succeeds.
func (g *grantsState) deletePolicy(account, region string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return err
	}
	in.Policy, in.PolicyOrganization, in.PolicyCreated, in.policy = "", "", time.Time{}, nil
	return nil
}

// admits reports whether the instance of account in region exists and
// whether its resource policy lets a principal of callerAccount (whose IAM
// identity is callerIdentity) perform action on it.
func (g *grantsState) admits(account, region, callerAccount, callerIdentity, action string) (exists, admitted bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, ok := g.instances[agKey{account, region}]
	if !ok {
		return false, false
	}
	return true, in.policy.admits(callerAccount, callerIdentity, action)
}

// resourcePolicy is the part of an instance resource policy the emulator
// evaluates: who (Principal) may do what (Action), with Deny statements
// overriding Allow ones. Resource and Condition are not evaluated
// (**[choice]**): the resource is the instance itself, and conditions such
// as aws:PrincipalOrgID have nothing to be checked against offline.
type resourcePolicy struct {
	statements []policyStatement
}

type policyStatement struct {
	allow        bool
	anyPrincipal bool
	accounts     map[string]bool // account IDs, also from arn:aws:iam::A:root
	principals   map[string]bool // IAM user and role ARNs
	actions      []string        // lower-case patterns with * and ?
}

// admits applies the policy; a nil policy admits nobody.
func (p *resourcePolicy) admits(account, identity, action string) bool {
	if p == nil {
		return false
	}
	allowed := false
	for _, st := range p.statements {
		if !st.matches(account, identity, action) {
			continue
		}
		if !st.allow {
			return false
		}
		allowed = true
	}
	return allowed
}

func (st *policyStatement) matches(account, identity, action string) bool {
	if !st.anyPrincipal && !st.accounts[account] && !st.principals[identity] {
		return false
	}
	action = strings.ToLower(action)
	for _, p := range st.actions {
		if wildcardMatch(p, action) {
			return true
		}
	}
	return false
}

var rootPrincipalPattern = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):root$`)

// parseResourcePolicy parses and validates a resource policy document.
// Principal is "*" or {"AWS": "..."|["...", ...]}, each an account ID,
// arn:aws:iam::ACCOUNT:root, or an IAM user or role ARN.
func parseResourcePolicy(doc string) (*resourcePolicy, error) {
	if strings.TrimSpace(doc) == "" {
		return nil, agInvalid("The resource policy is empty.")
	}
	if len(doc) > 20<<10 {
		return nil, agInvalid("The resource policy is larger than 20 KiB.")
	}
	var raw struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &raw); err != nil {
		return nil, agInvalid("The resource policy is not a JSON policy document: %v", err)
	}
	var stmts []json.RawMessage
	switch {
	case len(raw.Statement) == 0 || string(raw.Statement) == "null":
		return nil, agInvalid("The resource policy has no Statement.")
	case raw.Statement[0] == '[':
		if err := json.Unmarshal(raw.Statement, &stmts); err != nil {
			return nil, agInvalid("The resource policy's Statement is not a list of statements: %v", err)
		}
	default:
		stmts = []json.RawMessage{raw.Statement}
	}
	if len(stmts) == 0 {
		return nil, agInvalid("The resource policy has no Statement.")
	}
	p := &resourcePolicy{}
	for i, s := range stmts {
		st, err := parsePolicyStatement(s)
		if err != nil {
			return nil, agInvalid("The resource policy's statement %d: %s", i+1, err)
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parsePolicyStatement(data json.RawMessage) (policyStatement, error) {
	var raw struct {
		Effect    string          `json:"Effect"`
		Principal json.RawMessage `json:"Principal"`
		Action    json.RawMessage `json:"Action"`
		NotAction json.RawMessage `json:"NotAction"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return policyStatement{}, fmt.Errorf("not a statement object: %v", err)
	}
	st := policyStatement{accounts: map[string]bool{}, principals: map[string]bool{}}
	switch raw.Effect {
	case "Allow":
		st.allow = true
	case "Deny":
	default:
		return st, fmt.Errorf("statement Effect %q is not Allow or Deny", raw.Effect)
	}
	if len(raw.NotAction) > 0 {
		return st, errors.New("statement NotAction is not supported; list the actions in Action")
	}
	actions, err := stringOrList(raw.Action)
	if err != nil || len(actions) == 0 {
		return st, errors.New(`statement Action must be an action name or a list of them, such as "s3:GetDataAccess"`)
	}
	for _, a := range actions {
		st.actions = append(st.actions, strings.ToLower(a))
	}
	if len(raw.Principal) == 0 {
		return st, errors.New("Principal is missing")
	}
	var star string
	if json.Unmarshal(raw.Principal, &star) == nil {
		if star != "*" {
			return st, fmt.Errorf(`Principal %q must be "*" or {"AWS": ...}`, star)
		}
		st.anyPrincipal = true
		return st, nil
	}
	var byType map[string]json.RawMessage
	if err := json.Unmarshal(raw.Principal, &byType); err != nil {
		return st, errors.New(`Principal must be "*" or {"AWS": ...}`)
	}
	aws, ok := byType["AWS"]
	if !ok {
		return st, errors.New(`Principal names no "AWS" principals`)
	}
	names, err := stringOrList(aws)
	if err != nil || len(names) == 0 {
		return st, errors.New(`Principal "AWS" must be an account ID, an ARN or a list of them`)
	}
	for _, n := range names {
		switch {
		case n == "*":
			st.anyPrincipal = true
		case accountIDPattern.MatchString(n):
			st.accounts[n] = true
		case rootPrincipalPattern.MatchString(n):
			st.accounts[rootPrincipalPattern.FindStringSubmatch(n)[1]] = true
		case principalPattern.MatchString(n):
			st.principals[n] = true
		default:
			return st, fmt.Errorf("principal %q is not an account ID, arn:aws:iam::ACCOUNT:root, or an IAM user or role ARN", n)
		}
	}
	return st, nil
}

// stringOrList decodes a JSON string or list of strings.
func stringOrList(data json.RawMessage) ([]string, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return nil, err
	}
	return many, nil
}

// seedPolicy is the resource policy made for a configured instance's
// resource_policy_accounts: those accounts may use the instance.
func seedPolicy(arn string, accounts []string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": accounts},
			"Action": []string{
				"s3:GetDataAccess",
				"s3:GetAccessGrantsInstanceForPrefix",
				"s3:ListCallerAccessGrants",
			},
			"Resource": arn,
		}},
	}
	out, _ := json.Marshal(doc) // a map of strings always marshals
	return string(out)
}

// ---- Locations ----

// createLocation registers a location. role must be an IAM role ARN; that
// the role exists is for the caller to check.
func (g *grantsState) createLocation(account, region, scope, role string, tags []agTag, now time.Time) (agLocation, error) {
	if _, err := parseLocationScope(scope); err != nil {
		return agLocation{}, agInvalid("LocationScope: %s.", err)
	}
	if err := validateRoleArn(role); err != nil {
		return agLocation{}, err
	}
	if err := validateTags(tags); err != nil {
		return agLocation{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return agLocation{}, err
	}
	if _, dup := in.locByScope[scope]; dup {
		return agLocation{}, errorf(http.StatusConflict, "AccessGrantsLocationAlreadyExistsError",
			"The S3 Access Grants location %s is already registered.", scope)
	}
	if len(in.locations) >= g.maxLocations {
		return agLocation{}, agInvalid("The S3 Access Grants instance already has %d locations, the most it may have.", g.maxLocations)
	}
	id := agDefaultLocationID
	if scope != agDefaultScope {
		id = randomID()
	}
	loc := &agLocation{
		ID:      id,
		Scope:   scope,
		RoleArn: role,
		Created: now.UTC(),
		Seq:     g.nextSeq(),
		Tags:    slices.Clone(tags),
	}
	in.addLocation(loc)
	return *loc, nil
}

func (in *agInstance) addLocation(loc *agLocation) {
	loc.ARN = in.arn() + "/location/" + loc.ID
	in.locations = append(in.locations, loc)
	in.locByID[loc.ID] = loc
	in.locByScope[loc.Scope] = loc
}

func validateRoleArn(role string) error {
	m := principalPattern.FindStringSubmatch(role)
	if m == nil || m[2] != "role" {
		return agInvalid("IAMRoleArn %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME).", role)
	}
	return nil
}

func validateAGID(kind, id string) error {
	if !agIDPattern.MatchString(id) {
		return agInvalid("%s %q is not a valid ID: 1 to 64 letters, digits and hyphens.", kind, id)
	}
	return nil
}

// getLocation describes a location.
func (g *grantsState) getLocation(account, region, id string) (agLocation, error) {
	if err := validateAGID("AccessGrantsLocationId", id); err != nil {
		return agLocation{}, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, err := g.instance(account, region)
	if err != nil {
		return agLocation{}, err
	}
	loc, ok := in.locByID[id]
	if !ok {
		return agLocation{}, errNoLocation(id)
	}
	return *loc, nil
}

// updateLocation changes the role of a location, the only part of it that
// may change.
func (g *grantsState) updateLocation(account, region, id, role string) (agLocation, error) {
	if err := validateAGID("AccessGrantsLocationId", id); err != nil {
		return agLocation{}, err
	}
	if err := validateRoleArn(role); err != nil {
		return agLocation{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return agLocation{}, err
	}
	loc, ok := in.locByID[id]
	if !ok {
		return agLocation{}, errNoLocation(id)
	}
	loc.RoleArn = role
	return *loc, nil
}

// deleteLocation deletes a location that no grant uses.
func (g *grantsState) deleteLocation(account, region, id string) error {
	if err := validateAGID("AccessGrantsLocationId", id); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return err
	}
	loc, ok := in.locByID[id]
	if !ok {
		return errNoLocation(id)
	}
	if n := in.grantsOfLoc[id]; n > 0 {
		return errorf(http.StatusBadRequest, "AccessGrantsLocationNotEmptyError",
			"The S3 Access Grants location %s still has %d grants; delete them first.", id, n)
	}
	delete(in.locByID, id)
	delete(in.locByScope, loc.Scope)
	in.locations = removeBySeq(in.locations, loc.Seq, func(l *agLocation) uint64 { return l.Seq })
	return nil
}

// listLocations lists the locations of an instance in creation order,
// those whose scope is scopeFilter when it is not empty.
func (g *grantsState) listLocations(account, region, scopeFilter string, page pageRequest) ([]agLocation, string, error) {
	if err := page.validate(); err != nil {
		return nil, "", err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, err := g.instance(account, region)
	if err != nil {
		return nil, "", err
	}
	keep := func(l *agLocation) bool { return scopeFilter == "" || l.Scope == scopeFilter }
	return pageOf(in.locations, page, func(l *agLocation) uint64 { return l.Seq }, keep)
}

// ---- Grants ----

// grantInput is what CreateAccessGrant takes.
type grantInput struct {
	LocationID     string
	SubPrefix      string
	PrefixType     string // "" or "Object"
	GranteeType    string
	GranteeID      string
	Permission     string
	ApplicationArn string
	Tags           []agTag
}

// validate checks a grant's own fields, before its location is known.
func (gi *grantInput) validate() error {
	if err := validateAGID("AccessGrantsLocationId", gi.LocationID); err != nil {
		return err
	}
	if !validPermission(gi.Permission) {
		return agInvalid("Permission %q is not READ, WRITE or READWRITE.", gi.Permission)
	}
	switch gi.GranteeType {
	case agGranteeIAM:
		if !principalPattern.MatchString(gi.GranteeID) {
			return agInvalid("GranteeIdentifier %q is not an IAM user or role ARN.", gi.GranteeID)
		}
	case agGranteeDirectoryUser, agGranteeDirectoryGroup:
		if gi.GranteeID == "" || len(gi.GranteeID) > maxIdentifierBytes {
			return agInvalid("GranteeIdentifier must name the %s.", strings.ToLower(strings.ReplaceAll(gi.GranteeType, "_", " ")))
		}
	default:
		return agInvalid("GranteeType %q is not IAM, DIRECTORY_USER or DIRECTORY_GROUP.", gi.GranteeType)
	}
	if len(gi.SubPrefix) > maxSubPrefixLength {
		return agInvalid("S3SubPrefix is longer than %d characters.", maxSubPrefixLength)
	}
	switch gi.PrefixType {
	case "":
	case agObject:
		if gi.SubPrefix == "" || strings.Contains(gi.SubPrefix, "*") {
			return agInvalid("A grant with S3PrefixType Object must name one object in S3SubPrefix, without *.")
		}
	default:
		return agInvalid("S3PrefixType %q is not Object.", gi.PrefixType)
	}
	if len(gi.ApplicationArn) > maxIdentifierBytes {
		return agInvalid("ApplicationArn is too long.")
	}
	return validateTags(gi.Tags)
}

func validPermission(p string) bool {
	return p == agRead || p == agWrite || p == agReadWrite
}

// permissionSatisfies reports whether a grant's permission satisfies a
// requested one: READWRITE satisfies all three, the others only
// themselves.
func permissionSatisfies(have, want string) bool {
	return have == want || have == agReadWrite
}

func validateTags(tags []agTag) error {
	if len(tags) > maxTagsPerResource {
		return agInvalid("A resource may have at most %d tags, not %d.", maxTagsPerResource, len(tags))
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return agInvalid("Tag keys must have 1 to 128 characters and values at most 256.")
		}
		if seen[t.Key] {
			return agInvalid("Tag key %q is given twice.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// grantScopeOf joins a location scope and a grant's sub-prefix; an object
// grant on the default location must name a key after its bucket.
func grantScopeOf(locationScope string, gi *grantInput) (string, error) {
	scope, err := grantScope(locationScope, gi.SubPrefix)
	if err != nil {
		return "", agInvalid("S3SubPrefix: %s.", err)
	}
	if gi.PrefixType == agObject {
		// On the default location a sub-prefix of only a bucket name makes
		// s3://bucket/*, which names no object.
		if _, key, _ := splitS3URI(scope); key == "" || strings.HasSuffix(scope, "*") {
			return "", agInvalid("A grant with S3PrefixType Object must name an object key, not only the bucket.")
		}
	}
	return scope, nil
}

// createGrant creates a grant.
func (g *grantsState) createGrant(account, region string, gi grantInput, now time.Time) (agGrant, error) {
	if err := gi.validate(); err != nil {
		return agGrant{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return agGrant{}, err
	}
	return g.createGrantLocked(in, gi, now)
}

func (g *grantsState) createGrantLocked(in *agInstance, gi grantInput, now time.Time) (agGrant, error) {
	loc, ok := in.locByID[gi.LocationID]
	if !ok {
		return agGrant{}, errNoLocation(gi.LocationID)
	}
	scope, err := grantScopeOf(loc.Scope, &gi)
	if err != nil {
		return agGrant{}, err
	}
	gr := &agGrant{
		ID:             randomID(),
		LocationID:     loc.ID,
		SubPrefix:      gi.SubPrefix,
		PrefixType:     gi.PrefixType,
		GranteeType:    gi.GranteeType,
		GranteeID:      gi.GranteeID,
		Permission:     gi.Permission,
		ApplicationArn: gi.ApplicationArn,
		Tags:           slices.Clone(gi.Tags),
		Created:        now.UTC(),
		Scope:          scope,
	}
	if _, dup := in.grantByKey[gr.identity()]; dup {
		return agGrant{}, errorf(http.StatusConflict, "AccessGrantAlreadyExists",
			"An access grant of %s on %s to %s already exists.", gr.Permission, scope, gr.GranteeID)
	}
	if len(in.grants) >= g.maxGrants {
		return agGrant{}, agInvalid("The S3 Access Grants instance already has %d grants, the most it may have.", g.maxGrants)
	}
	gr.Seq = g.nextSeq()
	in.addGrant(gr, loc)
	return *gr, nil
}

func (in *agInstance) addGrant(gr *agGrant, loc *agLocation) {
	gr.LocationScope = loc.Scope
	gr.ARN = in.arn() + "/grant/" + gr.ID
	in.grants = append(in.grants, gr)
	in.grantByID[gr.ID] = gr
	in.grantByKey[gr.identity()] = gr
	in.grantsOfLoc[loc.ID]++
	if gr.GranteeType == agGranteeIAM {
		ix, ok := in.byGrantee[gr.GranteeID]
		if !ok {
			ix = newGranteeIndex()
			in.byGrantee[gr.GranteeID] = ix
		}
		ix.add(gr)
	}
}

// getGrant describes a grant.
func (g *grantsState) getGrant(account, region, id string) (agGrant, error) {
	if err := validateAGID("AccessGrantId", id); err != nil {
		return agGrant{}, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, err := g.instance(account, region)
	if err != nil {
		return agGrant{}, err
	}
	gr, ok := in.grantByID[id]
	if !ok {
		return agGrant{}, errNoGrant(id)
	}
	return *gr, nil
}

// deleteGrant deletes a grant.
func (g *grantsState) deleteGrant(account, region, id string) error {
	if err := validateAGID("AccessGrantId", id); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in, err := g.instance(account, region)
	if err != nil {
		return err
	}
	gr, ok := in.grantByID[id]
	if !ok {
		return errNoGrant(id)
	}
	delete(in.grantByID, id)
	delete(in.grantByKey, gr.identity())
	if in.grantsOfLoc[gr.LocationID]--; in.grantsOfLoc[gr.LocationID] <= 0 {
		delete(in.grantsOfLoc, gr.LocationID)
	}
	if ix, ok := in.byGrantee[gr.GranteeID]; ok && gr.GranteeType == agGranteeIAM {
		if ix.remove(gr) {
			delete(in.byGrantee, gr.GranteeID)
		}
	}
	in.grants = removeBySeq(in.grants, gr.Seq, func(x *agGrant) uint64 { return x.Seq })
	return nil
}

// grantFilter selects grants for ListAccessGrants; empty fields match
// everything, others must be equal.
type grantFilter struct {
	GranteeType    string
	GranteeID      string
	Permission     string
	GrantScope     string
	ApplicationArn string
}

func (f *grantFilter) validate() error {
	if f.Permission != "" && !validPermission(f.Permission) {
		return agInvalid("Permission %q is not READ, WRITE or READWRITE.", f.Permission)
	}
	switch f.GranteeType {
	case "", agGranteeIAM, agGranteeDirectoryUser, agGranteeDirectoryGroup:
	default:
		return agInvalid("GranteeType %q is not IAM, DIRECTORY_USER or DIRECTORY_GROUP.", f.GranteeType)
	}
	return nil
}

func (f *grantFilter) keep(gr *agGrant) bool {
	return (f.GranteeType == "" || gr.GranteeType == f.GranteeType) &&
		(f.GranteeID == "" || gr.GranteeID == f.GranteeID) &&
		(f.Permission == "" || gr.Permission == f.Permission) &&
		(f.GrantScope == "" || gr.Scope == f.GrantScope) &&
		(f.ApplicationArn == "" || gr.ApplicationArn == f.ApplicationArn)
}

// listGrants lists the grants of an instance in creation order.
func (g *grantsState) listGrants(account, region string, f grantFilter, page pageRequest) ([]agGrant, string, error) {
	if err := f.validate(); err != nil {
		return nil, "", err
	}
	if err := page.validate(); err != nil {
		return nil, "", err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, err := g.instance(account, region)
	if err != nil {
		return nil, "", err
	}
	return pageOf(in.grants, page, func(x *agGrant) uint64 { return x.Seq }, f.keep)
}

// listCallerGrants lists the IAM grants of an instance whose grantee is
// identity, in creation order.
//
// **[choice]** A non-empty scopeFilter ("the beginning characters of a
// path", as the API reference puts it) keeps the grants that apply to it
// or lie inside it: those whose scope covers the filter (scopeCovers, so
// s3://b/p/* for s3://b/p/x.txt) and those whose scope text starts with it
// (s3://b/p/q/* for s3://b/p). allowedByApplication keeps only grants made
// for an application (with an ApplicationArn).
func (g *grantsState) listCallerGrants(account, region, identity, scopeFilter string, allowedByApplication bool, page pageRequest) ([]agGrant, string, error) {
	if scopeFilter != "" && !strings.HasPrefix(scopeFilter, "s3://") {
		return nil, "", agInvalid("GrantScope %q does not start with s3://.", scopeFilter)
	}
	if err := page.validate(); err != nil {
		return nil, "", err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	in, err := g.instance(account, region)
	if err != nil {
		return nil, "", err
	}
	keep := func(gr *agGrant) bool {
		if gr.GranteeType != agGranteeIAM || gr.GranteeID != identity {
			return false
		}
		if allowedByApplication && gr.ApplicationArn == "" {
			return false
		}
		return scopeFilter == "" || strings.HasPrefix(gr.Scope, scopeFilter) || scopeCovers(gr.Scope, scopeFilter)
	}
	ix, ok := in.byGrantee[identity]
	if !ok {
		return nil, "", nil
	}
	return pageOf(ix.all, page, func(x *agGrant) uint64 { return x.Seq }, keep)
}

// ---- Finding the instance for a prefix ----

// locationCovers reports whether a location scope covers a prefix: the
// default location covers everything; s3://b/p covers s3://b/p itself and
// everything under s3://b/p/.
func locationCovers(scope, prefix string) bool {
	if scope == agDefaultScope {
		return true
	}
	p := strings.TrimSuffix(prefix, "*")
	return p == scope || strings.HasPrefix(p, scope+"/")
}

func (in *agInstance) coversPrefix(prefix, bucketOwner string) bool {
	if _, ok := in.locByScope[agDefaultScope]; ok && (bucketOwner == "" || bucketOwner == in.Account) {
		return true
	}
	for _, l := range in.locations {
		if l.Scope != agDefaultScope && locationCovers(l.Scope, prefix) {
			return true
		}
	}
	return false
}

// instanceForPrefix finds the instance in region one of whose locations
// covers prefix. The default location s3:// covers the buckets of its own
// account only (bucketOwner, "" when the bucket is unknown), as its role
// reaches no other account's buckets. The caller's own account's instance
// wins if it covers the prefix, else that of
// another account whose resource policy admits the caller (the first by
// account ID). When only instances that do not admit the caller cover it,
// the answer is AccessDenied; when none does, AccessGrantsInstanceNotExistsError.
func (g *grantsState) instanceForPrefix(callerAccount, callerIdentity, region, prefix, bucketOwner string) (instanceInfo, error) {
	if _, _, err := parseTarget("S3Prefix", prefix); err != nil {
		return instanceInfo{}, err
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if in, ok := g.instances[agKey{callerAccount, region}]; ok && in.coversPrefix(prefix, bucketOwner) {
		return in.info(), nil
	}
	var others []*agInstance
	for k, in := range g.instances {
		if k.Region == region && k.Account != callerAccount && in.coversPrefix(prefix, bucketOwner) {
			others = append(others, in)
		}
	}
	if len(others) == 0 {
		return instanceInfo{}, errorf(http.StatusNotFound, "AccessGrantsInstanceNotExistsError",
			"No S3 Access Grants instance in %s has a location that covers %s.", region, prefix)
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Account < others[j].Account })
	for _, in := range others {
		if in.policy.admits(callerAccount, callerIdentity, "s3:GetAccessGrantsInstanceForPrefix") ||
			in.policy.admits(callerAccount, callerIdentity, "s3:GetDataAccess") {
			return in.info(), nil
		}
	}
	return instanceInfo{}, errorf(http.StatusForbidden, "AccessDenied",
		"The S3 Access Grants instance that covers %s does not allow account %s to use it.", prefix, callerAccount)
}

// parseTarget validates an S3 URI naming at least a bucket and a "/"
// after it (s3://bucket/ or longer) and returns its bucket and key part.
func parseTarget(field, uri string) (bucket, rest string, err error) {
	bucket, rest, ok := splitS3URI(uri)
	if !ok || !strings.HasPrefix(uri, "s3://"+bucket+"/") {
		return "", "", agInvalid("%s %q is not an S3 URI of the form s3://bucket/key or s3://bucket/prefix*.", field, uri)
	}
	if !bucketPattern.MatchString(bucket) || strings.Contains(bucket, "..") {
		return "", "", agInvalid("%s %q does not name a valid bucket.", field, uri)
	}
	if len(uri) > 4096 {
		return "", "", agInvalid("%s is longer than 4096 characters.", field)
	}
	return bucket, rest, nil
}

// ---- GetDataAccess ----

// dataAccessQuery is a GetDataAccess request.
type dataAccessQuery struct {
	Target     string
	Permission string
	Privilege  string // "" means Default
	TargetType string // "" or "Object"
	// DurationSeconds is the requested lifetime; 0 means the default,
	// 3,600 seconds.
	DurationSeconds int
}

// dataAccessResult is a matched GetDataAccess request.
type dataAccessResult struct {
	// Grant is the matched grant.
	Grant agGrant
	// RoleArn is the role of the grant's location, which vends.
	RoleArn string
	// Scope is what the credentials may reach and MatchedGrantTarget: the
	// grant scope (Default) or the target (Minimal).
	Scope string
	// Bucket is the bucket of the target.
	Bucket string
	// Duration is the credentials' lifetime.
	Duration time.Duration
}

// validateDurationSeconds checks a requested DurationSeconds.
func validateDurationSeconds(d int) error {
	if d < minDataAccessSeconds || d > maxDataAccessSeconds {
		return agInvalid("DurationSeconds must be between %d and %d, not %d.", minDataAccessSeconds, maxDataAccessSeconds, d)
	}
	return nil
}

// validate checks a query and fills in its defaults.
func (q *dataAccessQuery) validate() (bucket string, err error) {
	bucket, _, err = parseTarget("Target", q.Target)
	if err != nil {
		return "", err
	}
	if !validPermission(q.Permission) {
		return "", agInvalid("Permission %q is not READ, WRITE or READWRITE.", q.Permission)
	}
	switch q.Privilege {
	case "":
		q.Privilege = agPrivilegeDefault
	case agPrivilegeDefault, agPrivilegeMinimal:
	default:
		return "", agInvalid("Privilege %q is not Default or Minimal.", q.Privilege)
	}
	switch q.TargetType {
	case "":
	case agObject:
		if strings.HasSuffix(q.Target, "*") {
			// **[choice]** An object target names one key; a trailing *
			// would make its Minimal credentials reach a prefix.
			return "", agInvalid("Target %q of TargetType Object may not end with *.", q.Target)
		}
	default:
		return "", agInvalid("TargetType %q is not Object.", q.TargetType)
	}
	if q.Privilege == agPrivilegeMinimal && q.TargetType == "" && !strings.HasSuffix(q.Target, "*") {
		return "", agInvalid("Target %q names an object: with Privilege Minimal it needs TargetType Object.", q.Target)
	}
	if q.DurationSeconds == 0 {
		q.DurationSeconds = defaultDataAccessSeconds
	}
	if err := validateDurationSeconds(q.DurationSeconds); err != nil {
		return "", err
	}
	return bucket, nil
}

// dataAccess matches a GetDataAccess request of the IAM identity against
// the grants of the instance of account in region. maxSession tells the
// maximum session duration, in seconds, of a location's role (false when
// the role is unknown, which then allows the IAM default of 3,600).
func (g *grantsState) dataAccess(account, region, identity string, q dataAccessQuery, maxSession func(roleArn string) (int, bool)) (dataAccessResult, error) {
	bucket, err := q.validate()
	if err != nil {
		return dataAccessResult{}, err
	}
	g.mu.RLock()
	in, err := g.instance(account, region)
	if err != nil {
		g.mu.RUnlock()
		return dataAccessResult{}, err
	}
	var gr *agGrant
	if ix, ok := in.byGrantee[identity]; ok {
		gr = ix.match(q.Target, q.Permission)
	}
	if gr == nil {
		g.mu.RUnlock()
		return dataAccessResult{}, errDataAccessDenied(q.Permission, q.Target)
	}
	res := dataAccessResult{Grant: *gr, RoleArn: in.locByID[gr.LocationID].RoleArn, Scope: gr.Scope, Bucket: bucket}
	g.mu.RUnlock()

	if q.Privilege == agPrivilegeMinimal {
		res.Scope = q.Target
	}
	limit := defaultRoleSessionSeconds
	if maxSession != nil {
		if l, ok := maxSession(res.RoleArn); ok {
			limit = l
		}
	}
	if q.DurationSeconds > limit {
		return dataAccessResult{}, agInvalid("DurationSeconds %d exceeds the maximum session duration (%d seconds) of the location's role %s.",
			q.DurationSeconds, limit, res.RoleArn)
	}
	res.Duration = time.Duration(q.DurationSeconds) * time.Second
	return res, nil
}

// granteeIndex indexes one IAM identity's grants so that matching a
// target costs a few map lookups, whatever the number of grants:
// wildcard grants by their scope without the trailing * (a grant covers a
// target exactly when that text is a prefix of the target), exact grants
// by their scope, and the distinct lengths of the wildcard prefixes, so
// that only prefixes of those lengths are probed.
type granteeIndex struct {
	all     []*agGrant // creation order
	exact   map[string][]*agGrant
	prefix  map[string][]*agGrant
	lengths []int       // distinct len of prefix keys, longest first
	lenUse  map[int]int // how many prefix keys have each length
}

func newGranteeIndex() *granteeIndex {
	return &granteeIndex{exact: map[string][]*agGrant{}, prefix: map[string][]*agGrant{}, lenUse: map[int]int{}}
}

// add indexes a grant newer than every indexed one.
func (ix *granteeIndex) add(gr *agGrant) {
	ix.all = append(ix.all, gr)
	base, wild := strings.CutSuffix(gr.Scope, "*")
	if !wild {
		ix.exact[gr.Scope] = append(ix.exact[gr.Scope], gr)
		return
	}
	if len(ix.prefix[base]) == 0 {
		if ix.lenUse[len(base)]++; ix.lenUse[len(base)] == 1 {
			ix.lengths = append(ix.lengths, len(base))
			sort.Sort(sort.Reverse(sort.IntSlice(ix.lengths)))
		}
	}
	ix.prefix[base] = append(ix.prefix[base], gr)
}

// remove drops a grant and reports whether the index is now empty.
func (ix *granteeIndex) remove(gr *agGrant) bool {
	seqOf := func(x *agGrant) uint64 { return x.Seq }
	ix.all = removeBySeq(ix.all, gr.Seq, seqOf)
	base, wild := strings.CutSuffix(gr.Scope, "*")
	if !wild {
		if rest := removeBySeq(ix.exact[gr.Scope], gr.Seq, seqOf); len(rest) > 0 {
			ix.exact[gr.Scope] = rest
		} else {
			delete(ix.exact, gr.Scope)
		}
		return len(ix.all) == 0
	}
	if rest := removeBySeq(ix.prefix[base], gr.Seq, seqOf); len(rest) > 0 {
		ix.prefix[base] = rest
	} else {
		delete(ix.prefix, base)
		if ix.lenUse[len(base)]--; ix.lenUse[len(base)] <= 0 {
			delete(ix.lenUse, len(base))
			ix.lengths = slices.DeleteFunc(ix.lengths, func(n int) bool { return n == len(base) })
		}
	}
	return len(ix.all) == 0
}

// match returns the grant that serves a request for target with
// permission: among the grants that cover the target (scopeCovers) with a
// permission that satisfies it, the one with the longest scope, the first
// created on a tie. nil when none does.
func (ix *granteeIndex) match(target, permission string) *agGrant {
	var best *agGrant
	better := func(gr *agGrant) bool {
		return best == nil || len(gr.Scope) > len(best.Scope) ||
			(len(gr.Scope) == len(best.Scope) && gr.Seq < best.Seq)
	}
	for _, gr := range ix.exact[target] {
		if permissionSatisfies(gr.Permission, permission) && better(gr) {
			best = gr
		}
	}
	t := strings.TrimSuffix(target, "*")
	for _, n := range ix.lengths {
		if n > len(t) {
			continue
		}
		// Grants under one prefix share their scope; they are kept in
		// creation order, so the first that satisfies is the match among
		// them, and shorter prefixes can only make shorter scopes.
		for _, gr := range ix.prefix[t[:n]] {
			if permissionSatisfies(gr.Permission, permission) {
				if better(gr) {
					best = gr
				}
				return best
			}
		}
	}
	return best
}

// ---- Paging ----

// pageRequest is the paging of a List call.
type pageRequest struct {
	// MaxResults is 1..1000; 0 means 1000.
	MaxResults int
	// NextToken continues an earlier listing; "" starts from the top.
	NextToken string
}

func (p pageRequest) validate() error {
	if p.MaxResults < 0 || p.MaxResults > maxListResults {
		return agInvalid("MaxResults must be between 1 and %d, not %d.", maxListResults, p.MaxResults)
	}
	_, err := p.start()
	return err
}

func (p pageRequest) limit() int {
	if p.MaxResults == 0 {
		return maxListResults
	}
	return p.MaxResults
}

// Paging tokens are opaque to clients: the creation sequence number of
// the first item of the next page, so that a listing continues correctly
// when items are created or deleted between its pages.
const pageTokenPrefix = "agp1:"

func pageToken(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + strconv.FormatUint(seq, 10)))
}

// start is the sequence number a page starts at.
func (p pageRequest) start() (uint64, error) {
	if p.NextToken == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.NextToken)
	if err == nil {
		if s, ok := strings.CutPrefix(string(raw), pageTokenPrefix); ok {
			if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
				return seq, nil
			}
		}
	}
	return 0, agInvalid("The NextToken is not one this service returned.")
}

// pageOf returns one page of the items (ordered by seq) that keep
// accepts, and the token of the next page ("" when this is the last).
func pageOf[T any](items []*T, p pageRequest, seq func(*T) uint64, keep func(*T) bool) ([]T, string, error) {
	from, err := p.start()
	if err != nil {
		return nil, "", err
	}
	i := sort.Search(len(items), func(i int) bool { return seq(items[i]) >= from })
	limit := p.limit()
	var out []T
	for ; i < len(items); i++ {
		if !keep(items[i]) {
			continue
		}
		if len(out) == limit {
			return out, pageToken(seq(items[i])), nil
		}
		out = append(out, *items[i])
	}
	return out, "", nil
}

// removeBySeq removes the item with sequence number s from items, which
// are ordered by it.
func removeBySeq[T any](items []*T, s uint64, seq func(*T) uint64) []*T {
	i := sort.Search(len(items), func(i int) bool { return seq(items[i]) >= s })
	if i < len(items) && seq(items[i]) == s {
		return slices.Delete(items, i, i+1)
	}
	return items
}

// ---- Seeding from the configuration ----

// seed creates the configured instances, locations, grants and resource
// policies that do not exist yet, so that it is idempotent across
// restarts on a data directory: an existing instance keeps what changed
// through the API, a location is looked up by scope, a grant by grantee,
// permission and scope. A configured resource policy is put only on an
// instance that has none.
func (g *grantsState) seed(instances []Instance, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, c := range instances {
		if !accountIDPattern.MatchString(c.Account) || c.Region == "" {
			return fmt.Errorf("access_grants[%d]: an instance needs an account ID and a Region", i)
		}
		key := agKey{c.Account, c.Region}
		in, ok := g.instances[key]
		if !ok {
			in = newAGInstance(c.Account, c.Region, now.UTC())
			g.instances[key] = in
		}
		if len(c.ResourcePolicyAccounts) > 0 && in.policy == nil {
			doc := seedPolicy(in.arn(), c.ResourcePolicyAccounts)
			p, err := parseResourcePolicy(doc)
			if err != nil {
				return fmt.Errorf("access_grants[%d]: resource_policy_accounts: %s", i, agMessage(err))
			}
			in.Policy, in.PolicyCreated, in.policy = doc, now.UTC(), p
		}
		for j, l := range c.Locations {
			if _, ok := in.locByScope[l.Scope]; ok {
				continue
			}
			if _, err := parseLocationScope(l.Scope); err != nil {
				return fmt.Errorf("access_grants[%d].locations[%d]: %w", i, j, err)
			}
			if err := validateRoleArn(l.Role); err != nil {
				return fmt.Errorf("access_grants[%d].locations[%d]: %s", i, j, agMessage(err))
			}
			if len(in.locations) >= g.maxLocations {
				return fmt.Errorf("access_grants[%d]: more than %d locations", i, g.maxLocations)
			}
			id := agDefaultLocationID
			if l.Scope != agDefaultScope {
				id = randomID()
			}
			in.addLocation(&agLocation{ID: id, Scope: l.Scope, RoleArn: l.Role, Created: now.UTC(), Seq: g.nextSeq()})
		}
		for j, cg := range c.Grants {
			where := fmt.Sprintf("access_grants[%d].grants[%d]", i, j)
			loc, ok := in.locByScope[cg.Location]
			if !ok {
				return fmt.Errorf("%s: location %q is not a location of the instance", where, cg.Location)
			}
			gi := grantInput{
				LocationID:  loc.ID,
				SubPrefix:   cg.SubPrefix,
				PrefixType:  cg.PrefixType,
				GranteeType: cg.Grantee.Type,
				GranteeID:   cg.Grantee.Identifier,
				Permission:  cg.Permission,
			}
			if err := gi.validate(); err != nil {
				return fmt.Errorf("%s: %s", where, agMessage(err))
			}
			scope, err := grantScopeOf(loc.Scope, &gi)
			if err != nil {
				return fmt.Errorf("%s: %s", where, agMessage(err))
			}
			if _, exists := in.grantByKey[grantIdentity{gi.GranteeType, gi.GranteeID, gi.Permission, scope}]; exists {
				continue
			}
			if _, err := g.createGrantLocked(in, gi, now); err != nil {
				return fmt.Errorf("%s: %s", where, agMessage(err))
			}
		}
	}
	return nil
}

// ---- Persistence ----

// grantsJSON is the persisted form of a grantsState.
type grantsJSON struct {
	Seq       uint64         `json:"seq"`
	Instances []instanceJSON `json:"instances"`
}

type instanceJSON struct {
	Account            string       `json:"account"`
	Region             string       `json:"region"`
	Created            time.Time    `json:"created"`
	IdentityCenterArn  string       `json:"identity_center_arn,omitempty"`
	Policy             string       `json:"policy,omitempty"`
	PolicyOrganization string       `json:"policy_organization,omitempty"`
	PolicyCreated      time.Time    `json:"policy_created,omitzero"`
	Locations          []agLocation `json:"locations"`
	Grants             []agGrant    `json:"grants"`
}

// marshal encodes the whole state as JSON, instances ordered by account
// and Region so that the output is stable.
func (g *grantsState) marshal() ([]byte, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	doc := grantsJSON{Seq: g.seq, Instances: []instanceJSON{}}
	for _, in := range g.instances {
		ij := instanceJSON{
			Account:            in.Account,
			Region:             in.Region,
			Created:            in.Created,
			IdentityCenterArn:  in.IdentityCenterArn,
			Policy:             in.Policy,
			PolicyOrganization: in.PolicyOrganization,
			PolicyCreated:      in.PolicyCreated,
			Locations:          make([]agLocation, 0, len(in.locations)),
			Grants:             make([]agGrant, 0, len(in.grants)),
		}
		for _, l := range in.locations {
			ij.Locations = append(ij.Locations, *l)
		}
		for _, gr := range in.grants {
			ij.Grants = append(ij.Grants, *gr)
		}
		doc.Instances = append(doc.Instances, ij)
	}
	sort.Slice(doc.Instances, func(i, j int) bool {
		a, b := doc.Instances[i], doc.Instances[j]
		return a.Account < b.Account || (a.Account == b.Account && a.Region < b.Region)
	})
	return json.Marshal(doc)
}

// unmarshal replaces the state with one that marshal encoded. It checks
// the document as it rebuilds the indexes and leaves the state unchanged
// when the document is not valid.
func (g *grantsState) unmarshal(data []byte) error {
	var doc grantsJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("access grants state: %w", err)
	}
	instances := map[agKey]*agInstance{}
	maxSeq := uint64(0)
	for i, ij := range doc.Instances {
		where := fmt.Sprintf("access grants state: instance %d (%s in %s)", i, ij.Account, ij.Region)
		if !accountIDPattern.MatchString(ij.Account) || ij.Region == "" {
			return fmt.Errorf("%s: bad account or Region", where)
		}
		key := agKey{ij.Account, ij.Region}
		if _, dup := instances[key]; dup {
			return fmt.Errorf("%s: listed twice", where)
		}
		in := newAGInstance(ij.Account, ij.Region, ij.Created)
		in.IdentityCenterArn = ij.IdentityCenterArn
		if ij.Policy != "" {
			p, err := parseResourcePolicy(ij.Policy)
			if err != nil {
				return fmt.Errorf("%s: resource policy: %s", where, agMessage(err))
			}
			in.Policy, in.PolicyOrganization, in.PolicyCreated, in.policy = ij.Policy, ij.PolicyOrganization, ij.PolicyCreated, p
		}
		last := uint64(0)
		for _, l := range ij.Locations {
			if _, err := parseLocationScope(l.Scope); err != nil {
				return fmt.Errorf("%s: location %s: %w", where, l.ID, err)
			}
			if err := validateRoleArn(l.RoleArn); err != nil {
				return fmt.Errorf("%s: location %s: %s", where, l.ID, agMessage(err))
			}
			if !agIDPattern.MatchString(l.ID) || in.locByID[l.ID] != nil || in.locByScope[l.Scope] != nil || l.Seq <= last {
				return fmt.Errorf("%s: location %q is a duplicate or out of order", where, l.ID)
			}
			last = l.Seq
			maxSeq = max(maxSeq, l.Seq)
			in.addLocation(&l)
		}
		last = 0
		for _, gr := range ij.Grants {
			loc, ok := in.locByID[gr.LocationID]
			if !ok {
				return fmt.Errorf("%s: grant %s names unknown location %q", where, gr.ID, gr.LocationID)
			}
			gi := grantInput{LocationID: gr.LocationID, SubPrefix: gr.SubPrefix, PrefixType: gr.PrefixType,
				GranteeType: gr.GranteeType, GranteeID: gr.GranteeID, Permission: gr.Permission,
				ApplicationArn: gr.ApplicationArn, Tags: gr.Tags}
			if err := gi.validate(); err != nil {
				return fmt.Errorf("%s: grant %s: %s", where, gr.ID, agMessage(err))
			}
			scope, err := grantScopeOf(loc.Scope, &gi)
			if err != nil {
				return fmt.Errorf("%s: grant %s: %s", where, gr.ID, agMessage(err))
			}
			gr.Scope = scope
			if !agIDPattern.MatchString(gr.ID) || in.grantByID[gr.ID] != nil || in.grantByKey[gr.identity()] != nil || gr.Seq <= last {
				return fmt.Errorf("%s: grant %q is a duplicate or out of order", where, gr.ID)
			}
			last = gr.Seq
			maxSeq = max(maxSeq, gr.Seq)
			in.addGrant(&gr, loc)
		}
		instances[key] = in
	}
	if doc.Seq < maxSeq {
		return fmt.Errorf("access grants state: sequence %d is behind its items (%d)", doc.Seq, maxSeq)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.instances, g.seq = instances, doc.Seq
	return nil
}

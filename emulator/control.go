package emulator

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// This file is the S3 Control face of the endpoint: the Access Grants
// calls of service.md over REST-XML. Each handler reads its input from the
// query, path and XML body, authorizes the caller, asks the model in
// grants.go, and writes the <OperationNameResult> document the SDKs parse.

// controlNamespace is the XML namespace of S3 Control documents.
const controlNamespace = "http://awss3control.amazonaws.com/doc/2018-08-20/"

// controlHeaderAccount is the header that names the account a call is
// about: the instance owner.
const controlHeaderAccount = "x-amz-account-id"

var errMalformedXML = &apiError{http.StatusBadRequest, "MalformedXML",
	"The XML you provided was not well-formed or did not validate against our published schema."}

// serveControl serves one S3 Control call, named by req.api.
func (s *Server) serveControl(req *request) error {
	handler, ok := controlHandlers[req.api]
	if !ok {
		return errorf(http.StatusNotImplemented, "NotImplemented",
			"The emulator does not implement this S3 Control operation (%s %s).", req.r.Method, req.r.URL.Path)
	}
	account := req.r.Header.Get(controlHeaderAccount)
	if account == "" {
		return errorf(http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: %s.", controlHeaderAccount)
	}
	if !accountIDPattern.MatchString(account) {
		return errorf(http.StatusBadRequest, "InvalidRequest", "The %s header %q is not a 12-digit account ID.", controlHeaderAccount, account)
	}
	region := req.region
	if region == "" {
		region = s.cfg.Region
	}
	return handler(s, &controlCall{request: req, account: account, region: region})
}

// controlCall is an S3 Control request with its account and Region.
type controlCall struct {
	*request
	// account is the x-amz-account-id header: the instance's owner.
	account string
	// region is the Region the call was signed for: the instance's.
	region string
}

// controlHandlers maps each Access Grants call to its handler.
var controlHandlers = map[string]func(*Server, *controlCall) error{
	"CreateAccessGrantsInstance":               (*Server).createAccessGrantsInstance,
	"GetAccessGrantsInstance":                  (*Server).getAccessGrantsInstance,
	"DeleteAccessGrantsInstance":               (*Server).deleteAccessGrantsInstance,
	"ListAccessGrantsInstances":                (*Server).listAccessGrantsInstances,
	"AssociateAccessGrantsIdentityCenter":      (*Server).associateAccessGrantsIdentityCenter,
	"DissociateAccessGrantsIdentityCenter":     (*Server).dissociateAccessGrantsIdentityCenter,
	"PutAccessGrantsInstanceResourcePolicy":    (*Server).putAccessGrantsInstanceResourcePolicy,
	"GetAccessGrantsInstanceResourcePolicy":    (*Server).getAccessGrantsInstanceResourcePolicy,
	"DeleteAccessGrantsInstanceResourcePolicy": (*Server).deleteAccessGrantsInstanceResourcePolicy,
	"CreateAccessGrantsLocation":               (*Server).createAccessGrantsLocation,
	"GetAccessGrantsLocation":                  (*Server).getAccessGrantsLocation,
	"UpdateAccessGrantsLocation":               (*Server).updateAccessGrantsLocation,
	"DeleteAccessGrantsLocation":               (*Server).deleteAccessGrantsLocation,
	"ListAccessGrantsLocations":                (*Server).listAccessGrantsLocations,
	"CreateAccessGrant":                        (*Server).createAccessGrant,
	"GetAccessGrant":                           (*Server).getAccessGrant,
	"DeleteAccessGrant":                        (*Server).deleteAccessGrant,
	"ListAccessGrants":                         (*Server).listAccessGrants,
	"ListCallerAccessGrants":                   (*Server).listCallerAccessGrants,
	"GetAccessGrantsInstanceForPrefix":         (*Server).getAccessGrantsInstanceForPrefix,
	"GetDataAccess":                            (*Server).getDataAccess,
}

// ---- Authorization ----

// deny is AccessDenied naming the caller, the action and the resource, as
// IAM does (no secrets: an ARN and names only).
func deny(c *caller, action, resource, why string) *apiError {
	msg := "User: " + c.ARN + " is not authorized to perform: " + action + " on resource: " + resource
	if why != "" {
		msg += " because " + why
	}
	return &apiError{Status: http.StatusForbidden, Code: "AccessDenied", Message: msg}
}

// authorizeManage checks a call that manages an instance, its policy,
// locations or grants: the caller must belong to the owning account
// (**[choice]**: no cross-account management) and be allowed the call's
// action on resource.
func (cc *controlCall) authorizeManage(resource string) error {
	action := "s3:" + cc.api
	if cc.caller.Account != cc.account {
		return deny(cc.caller, action, resource, "the account "+cc.account+" is not the caller's")
	}
	if !cc.caller.allowed(action, resource) {
		return deny(cc.caller, action, resource, "no identity-based policy allows it")
	}
	return nil
}

// authorizeUse checks a call that uses an instance (GetDataAccess,
// ListCallerAccessGrants): the caller must be allowed the action and, when
// the instance is another account's, its resource policy must admit the
// caller.
func (s *Server) authorizeUse(cc *controlCall) error {
	action := "s3:" + cc.api
	resource := instanceARN(cc.region, cc.account)
	if !cc.caller.allowed(action, resource) {
		return deny(cc.caller, action, resource, "no identity-based policy allows it")
	}
	if cc.caller.Account == cc.account {
		return nil
	}
	exists, admitted := s.grants.admits(cc.account, cc.region, cc.caller.Account, cc.caller.Identity, action)
	if !exists {
		return errNoInstance(cc.account, cc.region)
	}
	if !admitted {
		return deny(cc.caller, action, resource, "the instance's resource policy does not allow it")
	}
	return nil
}

// saved persists the state after a successful mutation.
func (s *Server) saved() error {
	if err := s.saveState(); err != nil {
		// The change is made in memory; tell the client that it may not
		// survive a restart without naming files.
		return errorf(http.StatusInternalServerError, "InternalError", "The emulator could not save its state.")
	}
	return nil
}

// ---- Reading requests ----

// decodeBody reads the XML body of a request into v. An empty body leaves
// v as it is, so that missing fields are reported by name.
func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return errMalformedXML
	}
	return nil
}

// pageParams reads maxResults and nextToken.
func pageParams(cc *controlCall) (pageRequest, error) {
	q := cc.r.URL.Query()
	p := pageRequest{NextToken: q.Get("nextToken")}
	if q.Has("maxResults") {
		n, err := strconv.Atoi(q.Get("maxResults"))
		if err != nil || n < 1 || n > maxListResults {
			return p, agInvalid("maxResults must be a number from 1 to %d.", maxListResults)
		}
		p.MaxResults = n
	}
	return p, nil
}

// pathID returns the last segment of the path: a location or grant ID.
func pathID(cc *controlCall) string {
	p := strings.TrimSuffix(cc.r.URL.Path, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

func required(name, value string) error {
	if value == "" {
		return agInvalid("%s is required.", name)
	}
	return nil
}

// ---- Writing responses ----

// isoTime formats a time as the SDKs parse it: ISO-8601 in UTC.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

func resultName(api string) xml.Name {
	return xml.Name{Space: controlNamespace, Local: api + "Result"}
}

// writeResult answers 200 with v, whose XMLName is set.
func (cc *controlCall) writeResult(v any) error {
	writeXML(cc.w, http.StatusOK, v)
	return nil
}

// writeEmpty answers 200 without a body, as the delete calls do.
func (cc *controlCall) writeEmpty() error {
	cc.w.WriteHeader(http.StatusOK)
	return nil
}

type xmlTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func agTags(tags []xmlTag) []agTag {
	var out []agTag
	for _, t := range tags {
		out = append(out, agTag(t))
	}
	return out
}

type xmlGrantee struct {
	GranteeType       string `xml:"GranteeType"`
	GranteeIdentifier string `xml:"GranteeIdentifier"`
}

type instanceXML struct {
	CreatedAt                 string `xml:"CreatedAt,omitempty"`
	AccessGrantsInstanceID    string `xml:"AccessGrantsInstanceId"`
	AccessGrantsInstanceArn   string `xml:"AccessGrantsInstanceArn"`
	IdentityCenterArn         string `xml:"IdentityCenterArn,omitempty"`
	IdentityCenterInstanceArn string `xml:"IdentityCenterInstanceArn,omitempty"`
}

func toInstanceXML(in instanceInfo) instanceXML {
	return instanceXML{
		CreatedAt:                 isoTime(in.Created),
		AccessGrantsInstanceID:    in.ID,
		AccessGrantsInstanceArn:   in.ARN,
		IdentityCenterArn:         in.IdentityCenterArn,
		IdentityCenterInstanceArn: in.IdentityCenterArn,
	}
}

type locationXML struct {
	CreatedAt               string `xml:"CreatedAt"`
	AccessGrantsLocationID  string `xml:"AccessGrantsLocationId"`
	AccessGrantsLocationArn string `xml:"AccessGrantsLocationArn"`
	LocationScope           string `xml:"LocationScope"`
	IAMRoleArn              string `xml:"IAMRoleArn"`
}

func toLocationXML(l agLocation) locationXML {
	return locationXML{
		CreatedAt:               isoTime(l.Created),
		AccessGrantsLocationID:  l.ID,
		AccessGrantsLocationArn: l.ARN,
		LocationScope:           l.Scope,
		IAMRoleArn:              l.RoleArn,
	}
}

type grantXML struct {
	CreatedAt                         string     `xml:"CreatedAt"`
	AccessGrantID                     string     `xml:"AccessGrantId"`
	AccessGrantArn                    string     `xml:"AccessGrantArn"`
	Grantee                           xmlGrantee `xml:"Grantee"`
	Permission                        string     `xml:"Permission"`
	AccessGrantsLocationID            string     `xml:"AccessGrantsLocationId"`
	AccessGrantsLocationConfiguration struct {
		S3SubPrefix string `xml:"S3SubPrefix"`
	} `xml:"AccessGrantsLocationConfiguration"`
	GrantScope     string `xml:"GrantScope"`
	ApplicationArn string `xml:"ApplicationArn,omitempty"`
}

func toGrantXML(g agGrant) grantXML {
	out := grantXML{
		CreatedAt:              isoTime(g.Created),
		AccessGrantID:          g.ID,
		AccessGrantArn:         g.ARN,
		Grantee:                xmlGrantee{g.GranteeType, g.GranteeID},
		Permission:             g.Permission,
		AccessGrantsLocationID: g.LocationID,
		GrantScope:             g.Scope,
		ApplicationArn:         g.ApplicationArn,
	}
	out.AccessGrantsLocationConfiguration.S3SubPrefix = g.SubPrefix
	return out
}

// ---- Instances ----

type instanceResult struct {
	XMLName xml.Name
	instanceXML
}

func (s *Server) createAccessGrantsInstance(cc *controlCall) error {
	var in struct {
		IdentityCenterArn string   `xml:"IdentityCenterArn"`
		Tags              []xmlTag `xml:"Tags>Tag"`
	}
	if err := decodeBody(cc.body, &in); err != nil {
		return err
	}
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	info, err := s.grants.createInstance(cc.account, cc.region, in.IdentityCenterArn, agTags(in.Tags), s.now())
	if err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeResult(instanceResult{resultName(cc.api), toInstanceXML(info)})
}

func (s *Server) getAccessGrantsInstance(cc *controlCall) error {
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	info, err := s.grants.getInstance(cc.account, cc.region)
	if err != nil {
		return err
	}
	return cc.writeResult(instanceResult{resultName(cc.api), toInstanceXML(info)})
}

func (s *Server) deleteAccessGrantsInstance(cc *controlCall) error {
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	if err := s.grants.deleteInstance(cc.account, cc.region); err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeEmpty()
}

func (s *Server) listAccessGrantsInstances(cc *controlCall) error {
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	page, err := pageParams(cc)
	if err != nil {
		return err
	}
	list, next, err := s.grants.listInstances(cc.account, cc.region, page)
	if err != nil {
		return err
	}
	out := struct {
		XMLName   xml.Name
		NextToken string        `xml:"NextToken,omitempty"`
		Instances []instanceXML `xml:"AccessGrantsInstancesList>AccessGrantsInstance"`
	}{XMLName: resultName(cc.api), NextToken: next}
	for _, in := range list {
		out.Instances = append(out.Instances, toInstanceXML(in))
	}
	return cc.writeResult(out)
}

func (s *Server) associateAccessGrantsIdentityCenter(cc *controlCall) error {
	var in struct {
		IdentityCenterArn string `xml:"IdentityCenterArn"`
	}
	if err := decodeBody(cc.body, &in); err != nil {
		return err
	}
	if err := required("IdentityCenterArn", in.IdentityCenterArn); err != nil {
		return err
	}
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	if err := s.grants.associateIdentityCenter(cc.account, cc.region, in.IdentityCenterArn); err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeEmpty()
}

func (s *Server) dissociateAccessGrantsIdentityCenter(cc *controlCall) error {
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	if err := s.grants.associateIdentityCenter(cc.account, cc.region, ""); err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeEmpty()
}

// ---- Resource policies ----

type policyResult struct {
	XMLName      xml.Name
	Policy       string `xml:"Policy,omitempty"`
	Organization string `xml:"Organization,omitempty"`
	CreatedAt    string `xml:"CreatedAt,omitempty"`
}

func (s *Server) putAccessGrantsInstanceResourcePolicy(cc *controlCall) error {
	var in struct {
		Policy       string `xml:"Policy"`
		Organization string `xml:"Organization"`
	}
	if err := decodeBody(cc.body, &in); err != nil {
		return err
	}
	if err := required("Policy", in.Policy); err != nil {
		return err
	}
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	p, err := s.grants.putPolicy(cc.account, cc.region, in.Policy, in.Organization, s.now())
	if err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeResult(policyResult{resultName(cc.api), p.Policy, p.Organization, isoTime(p.Created)})
}

func (s *Server) getAccessGrantsInstanceResourcePolicy(cc *controlCall) error {
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	p, err := s.grants.getPolicy(cc.account, cc.region)
	if err != nil {
		return err
	}
	return cc.writeResult(policyResult{resultName(cc.api), p.Policy, p.Organization, isoTime(p.Created)})
}

func (s *Server) deleteAccessGrantsInstanceResourcePolicy(cc *controlCall) error {
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	if err := s.grants.deletePolicy(cc.account, cc.region); err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeEmpty()
}

// ---- Locations ----

type locationResult struct {
	XMLName xml.Name
	locationXML
}

// knownRole checks that a location's role is one the emulator can vend
// through: a role of the configuration.
func (s *Server) knownRole(arn string) error {
	if err := validateRoleArn(arn); err != nil {
		return err
	}
	if _, ok := s.iam.role(arn); !ok {
		return agInvalid("IAMRoleArn %s is not a role of the emulator's configuration (accounts[].roles).", arn)
	}
	return nil
}

func locationARN(region, account, id string) string {
	return instanceARN(region, account) + "/location/" + id
}

func (s *Server) createAccessGrantsLocation(cc *controlCall) error {
	var in struct {
		LocationScope string   `xml:"LocationScope"`
		IAMRoleArn    string   `xml:"IAMRoleArn"`
		Tags          []xmlTag `xml:"Tags>Tag"`
	}
	if err := decodeBody(cc.body, &in); err != nil {
		return err
	}
	if err := required("LocationScope", in.LocationScope); err != nil {
		return err
	}
	if err := required("IAMRoleArn", in.IAMRoleArn); err != nil {
		return err
	}
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	if err := s.knownRole(in.IAMRoleArn); err != nil {
		return err
	}
	loc, err := s.grants.createLocation(cc.account, cc.region, in.LocationScope, in.IAMRoleArn, agTags(in.Tags), s.now())
	if err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeResult(locationResult{resultName(cc.api), toLocationXML(loc)})
}

func (s *Server) getAccessGrantsLocation(cc *controlCall) error {
	id := pathID(cc)
	if err := cc.authorizeManage(locationARN(cc.region, cc.account, id)); err != nil {
		return err
	}
	loc, err := s.grants.getLocation(cc.account, cc.region, id)
	if err != nil {
		return err
	}
	return cc.writeResult(locationResult{resultName(cc.api), toLocationXML(loc)})
}

func (s *Server) updateAccessGrantsLocation(cc *controlCall) error {
	var in struct {
		IAMRoleArn string `xml:"IAMRoleArn"`
	}
	if err := decodeBody(cc.body, &in); err != nil {
		return err
	}
	if err := required("IAMRoleArn", in.IAMRoleArn); err != nil {
		return err
	}
	id := pathID(cc)
	if err := cc.authorizeManage(locationARN(cc.region, cc.account, id)); err != nil {
		return err
	}
	if err := s.knownRole(in.IAMRoleArn); err != nil {
		return err
	}
	loc, err := s.grants.updateLocation(cc.account, cc.region, id, in.IAMRoleArn)
	if err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeResult(locationResult{resultName(cc.api), toLocationXML(loc)})
}

func (s *Server) deleteAccessGrantsLocation(cc *controlCall) error {
	id := pathID(cc)
	if err := cc.authorizeManage(locationARN(cc.region, cc.account, id)); err != nil {
		return err
	}
	if err := s.grants.deleteLocation(cc.account, cc.region, id); err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeEmpty()
}

func (s *Server) listAccessGrantsLocations(cc *controlCall) error {
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	page, err := pageParams(cc)
	if err != nil {
		return err
	}
	list, next, err := s.grants.listLocations(cc.account, cc.region, cc.r.URL.Query().Get("locationscope"), page)
	if err != nil {
		return err
	}
	out := struct {
		XMLName   xml.Name
		NextToken string        `xml:"NextToken,omitempty"`
		Locations []locationXML `xml:"AccessGrantsLocationsList>AccessGrantsLocation"`
	}{XMLName: resultName(cc.api), NextToken: next}
	for _, l := range list {
		out.Locations = append(out.Locations, toLocationXML(l))
	}
	return cc.writeResult(out)
}

// ---- Grants ----

type grantResult struct {
	XMLName xml.Name
	grantXML
}

func grantARN(region, account, id string) string {
	return instanceARN(region, account) + "/grant/" + id
}

func (s *Server) createAccessGrant(cc *controlCall) error {
	var in struct {
		AccessGrantsLocationID            string `xml:"AccessGrantsLocationId"`
		AccessGrantsLocationConfiguration struct {
			S3SubPrefix string `xml:"S3SubPrefix"`
		} `xml:"AccessGrantsLocationConfiguration"`
		Grantee        xmlGrantee `xml:"Grantee"`
		Permission     string     `xml:"Permission"`
		ApplicationArn string     `xml:"ApplicationArn"`
		S3PrefixType   string     `xml:"S3PrefixType"`
		Tags           []xmlTag   `xml:"Tags>Tag"`
	}
	if err := decodeBody(cc.body, &in); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{
		{"AccessGrantsLocationId", in.AccessGrantsLocationID},
		{"Grantee.GranteeType", in.Grantee.GranteeType},
		{"Grantee.GranteeIdentifier", in.Grantee.GranteeIdentifier},
		{"Permission", in.Permission},
	} {
		if err := required(f.name, f.value); err != nil {
			return err
		}
	}
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	gr, err := s.grants.createGrant(cc.account, cc.region, grantInput{
		LocationID:     in.AccessGrantsLocationID,
		SubPrefix:      in.AccessGrantsLocationConfiguration.S3SubPrefix,
		PrefixType:     in.S3PrefixType,
		GranteeType:    in.Grantee.GranteeType,
		GranteeID:      in.Grantee.GranteeIdentifier,
		Permission:     in.Permission,
		ApplicationArn: in.ApplicationArn,
		Tags:           agTags(in.Tags),
	}, s.now())
	if err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeResult(grantResult{resultName(cc.api), toGrantXML(gr)})
}

func (s *Server) getAccessGrant(cc *controlCall) error {
	id := pathID(cc)
	if err := cc.authorizeManage(grantARN(cc.region, cc.account, id)); err != nil {
		return err
	}
	gr, err := s.grants.getGrant(cc.account, cc.region, id)
	if err != nil {
		return err
	}
	return cc.writeResult(grantResult{resultName(cc.api), toGrantXML(gr)})
}

func (s *Server) deleteAccessGrant(cc *controlCall) error {
	id := pathID(cc)
	if err := cc.authorizeManage(grantARN(cc.region, cc.account, id)); err != nil {
		return err
	}
	if err := s.grants.deleteGrant(cc.account, cc.region, id); err != nil {
		return err
	}
	if err := s.saved(); err != nil {
		return err
	}
	return cc.writeEmpty()
}

func (s *Server) listAccessGrants(cc *controlCall) error {
	if err := cc.authorizeManage(instanceARN(cc.region, cc.account)); err != nil {
		return err
	}
	page, err := pageParams(cc)
	if err != nil {
		return err
	}
	q := cc.r.URL.Query()
	list, next, err := s.grants.listGrants(cc.account, cc.region, grantFilter{
		GranteeType:    q.Get("granteetype"),
		GranteeID:      q.Get("granteeidentifier"),
		Permission:     q.Get("permission"),
		GrantScope:     q.Get("grantscope"),
		ApplicationArn: q.Get("application_arn"),
	}, page)
	if err != nil {
		return err
	}
	out := struct {
		XMLName   xml.Name
		NextToken string     `xml:"NextToken,omitempty"`
		Grants    []grantXML `xml:"AccessGrantsList>AccessGrant"`
	}{XMLName: resultName(cc.api), NextToken: next}
	for _, g := range list {
		out.Grants = append(out.Grants, toGrantXML(g))
	}
	return cc.writeResult(out)
}

func (s *Server) listCallerAccessGrants(cc *controlCall) error {
	q := cc.r.URL.Query()
	byApp := false
	if q.Has("allowedByApplication") {
		v, err := strconv.ParseBool(q.Get("allowedByApplication"))
		if err != nil {
			return agInvalid("allowedByApplication must be true or false.")
		}
		byApp = v
	}
	page, err := pageParams(cc)
	if err != nil {
		return err
	}
	if err := s.authorizeUse(cc); err != nil {
		return err
	}
	list, next, err := s.grants.listCallerGrants(cc.account, cc.region, cc.caller.Identity, q.Get("grantscope"), byApp, page)
	if err != nil {
		return err
	}
	type entry struct {
		Permission     string `xml:"Permission"`
		GrantScope     string `xml:"GrantScope"`
		ApplicationArn string `xml:"ApplicationArn,omitempty"`
	}
	out := struct {
		XMLName   xml.Name
		NextToken string  `xml:"NextToken,omitempty"`
		Grants    []entry `xml:"CallerAccessGrantsList>AccessGrant"`
	}{XMLName: resultName(cc.api), NextToken: next}
	for _, g := range list {
		out.Grants = append(out.Grants, entry{g.Permission, g.Scope, g.ApplicationArn})
	}
	return cc.writeResult(out)
}

// ---- Using grants ----

func (s *Server) getAccessGrantsInstanceForPrefix(cc *controlCall) error {
	action := "s3:" + cc.api
	resource := instanceARN(cc.region, cc.account)
	if cc.caller.Account != cc.account {
		return deny(cc.caller, action, resource, "GetAccessGrantsInstanceForPrefix takes the caller's own account ID")
	}
	if !cc.caller.allowed(action, resource) {
		return deny(cc.caller, action, resource, "no identity-based policy allows it")
	}
	prefix := cc.r.URL.Query().Get("s3prefix")
	if err := required("S3Prefix", prefix); err != nil {
		return err
	}
	owner := ""
	if b, _, ok := splitS3URI(prefix); ok {
		if info, ok := s.buckets.get(b); ok {
			owner = info.Account
		}
	}
	info, err := s.grants.instanceForPrefix(cc.caller.Account, cc.caller.Identity, cc.region, prefix, owner)
	if err != nil {
		return err
	}
	return cc.writeResult(struct {
		XMLName                 xml.Name
		AccessGrantsInstanceArn string `xml:"AccessGrantsInstanceArn"`
		AccessGrantsInstanceID  string `xml:"AccessGrantsInstanceId"`
	}{resultName(cc.api), info.ARN, info.ID})
}

// durationPattern keeps strconv from accepting forms such as "+900".
var durationPattern = regexp.MustCompile(`^-?[0-9]{1,9}$`)

func (s *Server) getDataAccess(cc *controlCall) error {
	params := cc.r.URL.Query()
	dq := dataAccessQuery{
		Target:     params.Get("target"),
		Permission: params.Get("permission"),
		Privilege:  params.Get("privilege"),
		TargetType: params.Get("targetType"),
	}
	if err := required("Target", dq.Target); err != nil {
		return err
	}
	if err := required("Permission", dq.Permission); err != nil {
		return err
	}
	if params.Has("durationSeconds") {
		v := params.Get("durationSeconds")
		if !durationPattern.MatchString(v) {
			return agInvalid("DurationSeconds %q is not a number.", v)
		}
		n, _ := strconv.Atoi(v) // at most 9 digits
		if err := validateDurationSeconds(n); err != nil {
			return err
		}
		dq.DurationSeconds = n
	}
	if err := s.authorizeUse(cc); err != nil {
		return err
	}
	res, err := s.grants.dataAccess(cc.account, cc.region, cc.caller.Identity, dq, func(arn string) (int, bool) {
		r, ok := s.iam.role(arn)
		return r.MaxSessionDuration, ok
	})
	if err != nil {
		return err
	}
	key := s.iam.issueGrant(cc.caller, vendedGrant{Permission: dq.Permission, Scope: res.Scope, Bucket: res.Bucket},
		res.RoleArn, s.now().Add(res.Duration))
	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	return cc.writeResult(struct {
		XMLName            xml.Name
		Credentials        credentials `xml:"Credentials"`
		MatchedGrantTarget string      `xml:"MatchedGrantTarget"`
		Grantee            xmlGrantee  `xml:"Grantee"`
	}{
		XMLName:            resultName(cc.api),
		Credentials:        credentials{key.AccessKeyID, key.Secret, key.SessionToken, isoTime(key.Expires)},
		MatchedGrantTarget: res.Scope,
		Grantee:            xmlGrantee{res.Grant.GranteeType, res.Grant.GranteeID},
	})
}

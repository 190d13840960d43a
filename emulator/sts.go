package emulator

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"time"
)

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

var sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// serveSTS answers the STS query protocol: GetCallerIdentity and
// AssumeRole.
func (s *Server) serveSTS(req *request) error {
	form, err := url.ParseQuery(string(req.body))
	if err != nil {
		return errorf(http.StatusBadRequest, "MalformedQueryString", "The form body could not be parsed.")
	}
	if v := form.Get("Version"); v != "2011-06-15" {
		return errorf(http.StatusBadRequest, "InvalidParameterValue", "Version must be 2011-06-15, not %q.", v)
	}
	switch req.api {
	case "GetCallerIdentity":
		return s.getCallerIdentity(req)
	case "AssumeRole":
		return s.assumeRole(req, form)
	default:
		return errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version 2011-06-15.", req.api)
	}
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

func (s *Server) getCallerIdentity(req *request) error {
	type result struct {
		Arn     string `xml:"Arn"`
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
	}
	c := req.caller
	writeXML(req.w, http.StatusOK, struct {
		XMLName  xml.Name         `xml:"GetCallerIdentityResponse"`
		NS       string           `xml:"xmlns,attr"`
		Result   result           `xml:"GetCallerIdentityResult"`
		Metadata responseMetadata `xml:"ResponseMetadata"`
	}{NS: stsNamespace, Result: result{Arn: c.ARN, UserID: c.UserID, Account: c.Account}, Metadata: responseMetadata{req.id}})
	return nil
}

// assumeRole starts a session of a configured role. The session may do
// what the role's allow statements say, and grants match it as the role.
func (s *Server) assumeRole(req *request, form url.Values) error {
	roleARN := form.Get("RoleArn")
	sessionName := form.Get("RoleSessionName")
	if !sessionNamePattern.MatchString(sessionName) {
		return errorf(http.StatusBadRequest, "ValidationError", "RoleSessionName must be 2 to 64 characters of [\\w+=,.@-].")
	}
	role, allow, ok := s.iam.assumable(roleARN)
	if !ok {
		return errorf(http.StatusForbidden, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", req.caller.ARN, roleARN)
	}
	if !req.caller.allowed("sts:AssumeRole", roleARN) {
		return errorf(http.StatusForbidden, "AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", req.caller.ARN, roleARN)
	}
	duration := 3600
	if v := form.Get("DurationSeconds"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || d < 900 || d > 43200 {
			return errorf(http.StatusBadRequest, "ValidationError", "DurationSeconds must be between 900 and 43200.")
		}
		duration = d
	}
	if duration > role.MaxSessionDuration {
		return errorf(http.StatusBadRequest, "ValidationError",
			"The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	account := accountOfARN(roleARN)
	roleID := userID(roleARN)
	session := caller{
		Account:  account,
		ARN:      fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, path.Base(roleARN), sessionName),
		Identity: roleARN,
		UserID:   roleID + ":" + sessionName,
		allow:    allow,
	}
	key := s.iam.issue(session, s.now().Add(time.Duration(duration)*time.Second))
	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type assumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	}
	type result struct {
		Credentials     credentials     `xml:"Credentials"`
		AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
	}
	writeXML(req.w, http.StatusOK, struct {
		XMLName  xml.Name         `xml:"AssumeRoleResponse"`
		NS       string           `xml:"xmlns,attr"`
		Result   result           `xml:"AssumeRoleResult"`
		Metadata responseMetadata `xml:"ResponseMetadata"`
	}{
		NS: stsNamespace,
		Result: result{
			Credentials: credentials{
				AccessKeyID:     key.AccessKeyID,
				SecretAccessKey: key.Secret,
				SessionToken:    key.SessionToken,
				Expiration:      key.Expires.UTC().Format(time.RFC3339),
			},
			AssumedRoleUser: assumedRoleUser{AssumedRoleID: session.UserID, Arn: session.ARN},
		},
		Metadata: responseMetadata{req.id},
	})
	return nil
}

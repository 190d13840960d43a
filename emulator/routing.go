package emulator

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// face is one of the services the endpoint serves.
type face int

const (
	faceS3 face = iota
	faceControl
	faceSTS
)

func (f face) String() string {
	switch f {
	case faceControl:
		return "s3control"
	case faceSTS:
		return "sts"
	default:
		return "s3"
	}
}

// controlPrefix starts the path of every S3 Control call.
const controlPrefix = "/v20180820/"

// route tells which face serves r and the API name the call counts under
// (the SDK's operation name, e.g. "GetDataAccess", "GetObject"). It looks
// at the method, path, query, for STS the credential scope and the form
// body; never at the Host header.
func route(r *http.Request, body []byte) (face, string) {
	if strings.HasPrefix(r.URL.Path, controlPrefix) {
		return faceControl, controlAPI(r.Method, strings.TrimPrefix(r.URL.Path, controlPrefix))
	}
	if r.Method == http.MethodPost && r.URL.Path == "/" && signedForService(r) == "sts" {
		return faceSTS, stsAPI(r, body)
	}
	return faceS3, s3API(r)
}

// hostStyleBucket turns a virtual-hosted request (bucket.localhost:PORT)
// into its path-style form, leaving the raw request URI, which the
// signature covers, as it was. Hosts whose first label is all digits are
// S3 Control's account prefixes, not buckets.
func hostStyleBucket(r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	bucket, ok := strings.CutSuffix(host, ".localhost")
	if !ok || bucket == "" || strings.Contains(bucket, ".") || strings.HasPrefix(r.URL.Path, controlPrefix) {
		return
	}
	if strings.Trim(bucket, "0123456789") == "" {
		return
	}
	r.URL.Path = "/" + bucket + r.URL.Path
	if r.URL.RawPath != "" {
		r.URL.RawPath = "/" + bucket + r.URL.RawPath
	}
}

// signedForService returns the service of a request's SigV4 credential
// scope, from the Authorization header or the presigned query.
func signedForService(r *http.Request) string {
	cred := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		if i := strings.Index(auth, "Credential="); i >= 0 {
			cred = auth[i+len("Credential="):]
			if j := strings.IndexAny(cred, ", "); j >= 0 {
				cred = cred[:j]
			}
		}
	} else {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// stsAPI reads the Action of an STS query-protocol call from its form
// body, or its query string.
func stsAPI(r *http.Request, body []byte) string {
	if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
		return form.Get("Action")
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	return "UnknownSTSOperation"
}

// controlAPI names an S3 Control call from its method and path (after
// /v20180820/).
func controlAPI(method, p string) string {
	seg := strings.Split(strings.TrimSuffix(p, "/"), "/")
	switch {
	case p == "accessgrantsinstances" && method == http.MethodGet:
		return "ListAccessGrantsInstances"
	case len(seg) == 1 && seg[0] == "accessgrantsinstance":
		switch method {
		case http.MethodPost:
			return "CreateAccessGrantsInstance"
		case http.MethodGet:
			return "GetAccessGrantsInstance"
		case http.MethodDelete:
			return "DeleteAccessGrantsInstance"
		}
	case len(seg) == 2 && seg[0] == "accessgrantsinstance":
		switch seg[1] {
		case "dataaccess":
			if method == http.MethodGet {
				return "GetDataAccess"
			}
		case "prefix":
			if method == http.MethodGet {
				return "GetAccessGrantsInstanceForPrefix"
			}
		case "resourcepolicy":
			switch method {
			case http.MethodPut:
				return "PutAccessGrantsInstanceResourcePolicy"
			case http.MethodGet:
				return "GetAccessGrantsInstanceResourcePolicy"
			case http.MethodDelete:
				return "DeleteAccessGrantsInstanceResourcePolicy"
			}
		case "location":
			if method == http.MethodPost {
				return "CreateAccessGrantsLocation"
			}
		case "locations":
			if method == http.MethodGet {
				return "ListAccessGrantsLocations"
			}
		case "grant":
			if method == http.MethodPost {
				return "CreateAccessGrant"
			}
		case "grants":
			if method == http.MethodGet {
				return "ListAccessGrants"
			}
		case "identitycenter":
			switch method {
			case http.MethodPost:
				return "AssociateAccessGrantsIdentityCenter"
			case http.MethodDelete:
				return "DissociateAccessGrantsIdentityCenter"
			}
		}
	case len(seg) == 3 && seg[0] == "accessgrantsinstance":
		switch {
		case seg[1] == "location":
			switch method {
			case http.MethodGet:
				return "GetAccessGrantsLocation"
			case http.MethodPut:
				return "UpdateAccessGrantsLocation"
			case http.MethodDelete:
				return "DeleteAccessGrantsLocation"
			}
		case seg[1] == "grant":
			switch method {
			case http.MethodGet:
				return "GetAccessGrant"
			case http.MethodDelete:
				return "DeleteAccessGrant"
			}
		case seg[1] == "caller" && seg[2] == "grants" && method == http.MethodGet:
			return "ListCallerAccessGrants"
		}
	}
	return "UnknownControlOperation"
}

// s3API names an S3 call from its method, path and query, as the SDK names
// the operation.
func s3API(r *http.Request) string {
	bucket, key := s3PathParts(r)
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	copySource := r.Header.Get("X-Amz-Copy-Source") != ""
	if bucket == "" {
		if r.Method == http.MethodGet {
			return "ListBuckets"
		}
		return "UnknownOperation"
	}
	if key == "" {
		switch r.Method {
		case http.MethodHead:
			return "HeadBucket"
		case http.MethodPut:
			switch {
			case has("versioning"):
				return "PutBucketVersioning"
			case has("policy"):
				return "PutBucketPolicy"
			case has("tagging"):
				return "PutBucketTagging"
			case len(q) == 0:
				return "CreateBucket"
			}
		case http.MethodDelete:
			if len(q) == 0 {
				return "DeleteBucket"
			}
		case http.MethodPost:
			if has("delete") {
				return "DeleteObjects"
			}
		case http.MethodGet:
			switch {
			case has("location"):
				return "GetBucketLocation"
			case has("versioning"):
				return "GetBucketVersioning"
			case has("versions"):
				return "ListObjectVersions"
			case has("uploads"):
				return "ListMultipartUploads"
			case has("policy"):
				return "GetBucketPolicy"
			case has("tagging"):
				return "GetBucketTagging"
			case has("acl"):
				return "GetBucketAcl"
			case q.Get("list-type") == "2":
				return "ListObjectsV2"
			case !hasSubresource(q):
				return "ListObjects"
			}
		}
		return "UnknownOperation"
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return "ListParts"
		case has("acl"):
			return "GetObjectAcl"
		case has("attributes"):
			return "GetObjectAttributes"
		case has("tagging"):
			return "GetObjectTagging"
		case !hasSubresource(q):
			return "GetObject"
		}
	case http.MethodHead:
		return "HeadObject"
	case http.MethodPut:
		switch {
		case has("partNumber") && has("uploadId"):
			if copySource {
				return "UploadPartCopy"
			}
			return "UploadPart"
		case has("acl"):
			return "PutObjectAcl"
		case has("tagging"):
			return "PutObjectTagging"
		case !hasSubresource(q):
			if copySource {
				return "CopyObject"
			}
			return "PutObject"
		}
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		}
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return "AbortMultipartUpload"
		case has("tagging"):
			return "DeleteObjectTagging"
		case !hasSubresource(q):
			return "DeleteObject"
		}
	}
	return "UnknownOperation"
}

// hasSubresource reports whether the query names an S3 subresource other
// than the parameters of the plain object and list calls.
func hasSubresource(q url.Values) bool {
	for k := range q {
		switch k {
		case "versionId", "partNumber", "response-content-type", "response-content-language",
			"response-expires", "response-cache-control", "response-content-disposition",
			"response-content-encoding", "prefix", "delimiter", "marker", "max-keys",
			"encoding-type", "continuation-token", "fetch-owner", "start-after", "list-type",
			"x-id", "expected-bucket-owner":
			continue
		}
		if strings.HasPrefix(k, "X-Amz-") || strings.HasPrefix(k, "x-amz-") {
			continue // presigned-URL parameters
		}
		return true
	}
	return false
}

// s3PathParts splits a path-style request path into bucket and key. The
// key is the decoded path after the bucket, exactly as stored.
func s3PathParts(r *http.Request) (bucket, key string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

package emulator

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// s3Access is one permission check an S3 call needs: the Access Grants
// permission class it belongs to (READ, WRITE, or "" when Access Grants
// credentials may never do it), the IAM action, and the bucket and key
// (or list prefix) it touches.
type s3Access struct {
	perm        string
	action      string
	bucket      string
	key         string // the object key, or the list prefix when list is set
	list        bool
	bucketLevel bool // a bucket-level action: resource arn:aws:s3:::bucket
}

// implementedS3 lists the S3 calls the emulator serves. Others get 501.
var implementedS3 = map[string]bool{
	"ListBuckets": true, "CreateBucket": true, "DeleteBucket": true, "HeadBucket": true,
	"GetBucketLocation": true, "GetBucketVersioning": true, "PutBucketVersioning": true,
	"ListObjects": true, "ListObjectsV2": true, "ListObjectVersions": true, "ListMultipartUploads": true,
	"GetObject": true, "HeadObject": true, "PutObject": true, "CopyObject": true, "DeleteObject": true,
	"DeleteObjects": true, "GetObjectAcl": true, "PutObjectAcl": true, "GetObjectAttributes": true,
	"GetObjectTagging": true, "CreateMultipartUpload": true, "UploadPart": true, "UploadPartCopy": true,
	"CompleteMultipartUpload": true, "AbortMultipartUpload": true, "ListParts": true,
}

// serveS3 authorizes an S3 call and serves it, through gofakes3 for what
// it implements and by the emulator for the rest.
func (s *Server) serveS3(req *request) error {
	if !implementedS3[req.api] {
		return errorf(http.StatusNotImplemented, "NotImplemented", "The emulator does not implement this S3 operation (%s %s).", req.r.Method, req.r.URL.Path)
	}
	bucket, key := s3PathParts(req.r)
	switch req.api {
	case "ListBuckets":
		return s.listBuckets(req)
	case "CreateBucket":
		return s.createBucket(req, bucket)
	}
	info, ok := s.buckets.get(bucket)
	if !ok {
		return errorf(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
	}
	if req.api == "HeadBucket" {
		// Clients find a bucket's Region from this header, whatever the status.
		req.w.Header().Set("x-amz-bucket-region", info.Region)
	}
	if req.region != info.Region {
		req.w.Header().Set("x-amz-bucket-region", info.Region)
		return errorf(http.StatusMovedPermanently, "PermanentRedirect",
			"The bucket you are attempting to access must be addressed using the specified endpoint. The bucket is in Region %s.", info.Region)
	}
	accesses, err := s.s3Accesses(req, bucket, key)
	if err != nil {
		return err
	}
	if err := s.authorizeS3(req.caller, accesses); err != nil {
		return err
	}
	switch req.api {
	case "HeadBucket":
		req.w.WriteHeader(http.StatusOK)
		return nil
	case "GetBucketLocation":
		return s.getBucketLocation(req, info)
	case "GetObjectAcl":
		return s.getObjectACL(req, info, key)
	case "PutObjectAcl":
		return s.putObjectACL(req, bucket, key)
	case "GetObjectAttributes":
		return s.getObjectAttributes(req, bucket, key)
	case "GetObjectTagging":
		return s.getObjectTagging(req, bucket, key)
	case "UploadPartCopy":
		return s.uploadPartCopy(req, accesses[0])
	case "DeleteBucket":
		s.proxyS3(req)
		if rw, ok := req.w.(*recordingWriter); ok && rw.status() < 300 {
			s.buckets.remove(bucket)
			return s.saveState()
		}
		return nil
	}
	s.proxyS3(req)
	return nil
}

// s3Accesses lists the checks an S3 call needs.
func (s *Server) s3Accesses(req *request, bucket, key string) ([]s3Access, error) {
	obj := func(perm, action string) []s3Access {
		return []s3Access{{perm: perm, action: action, bucket: bucket, key: key}}
	}
	list := func(action string) []s3Access {
		return []s3Access{{perm: "READ", action: action, bucket: bucket, key: req.r.URL.Query().Get("prefix"), list: true, bucketLevel: true}}
	}
	bucketOnly := func(action string) []s3Access {
		return []s3Access{{action: action, bucket: bucket, bucketLevel: true}}
	}
	switch req.api {
	case "GetObject", "HeadObject":
		return obj("READ", "s3:GetObject"), nil
	case "GetObjectAcl":
		return obj("READ", "s3:GetObjectAcl"), nil
	case "GetObjectAttributes":
		return obj("READ", "s3:GetObjectAttributes"), nil
	case "ListParts":
		return obj("READ", "s3:ListMultipartUploadParts"), nil
	case "ListObjects", "ListObjectsV2":
		return list("s3:ListBucket"), nil
	case "ListObjectVersions":
		return list("s3:ListBucketVersions"), nil
	case "ListMultipartUploads":
		return list("s3:ListBucketMultipartUploads"), nil
	case "HeadBucket":
		return []s3Access{{perm: "READ", action: "s3:ListBucket", bucket: bucket, list: true, bucketLevel: true}}, nil
	case "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload":
		return obj("WRITE", "s3:PutObject"), nil
	case "PutObjectAcl":
		return obj("WRITE", "s3:PutObjectAcl"), nil
	case "DeleteObject":
		return obj("WRITE", "s3:DeleteObject"), nil
	case "AbortMultipartUpload":
		return obj("WRITE", "s3:AbortMultipartUpload"), nil
	case "GetObjectTagging":
		return obj("", "s3:GetObjectTagging"), nil
	case "DeleteObjects":
		keys, err := deleteKeys(req.body)
		if err != nil {
			return nil, err
		}
		out := make([]s3Access, len(keys))
		for i, k := range keys {
			out[i] = s3Access{perm: "WRITE", action: "s3:DeleteObject", bucket: bucket, key: k}
		}
		return out, nil
	case "CopyObject", "UploadPartCopy":
		srcBucket, srcKey, err := parseCopySource(req.r.Header.Get("X-Amz-Copy-Source"))
		if err != nil {
			return nil, err
		}
		if _, ok := s.buckets.get(srcBucket); !ok {
			return nil, errorf(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		}
		return []s3Access{
			{perm: "READ", action: "s3:GetObject", bucket: srcBucket, key: srcKey},
			{perm: "WRITE", action: "s3:PutObject", bucket: bucket, key: key},
		}, nil
	case "DeleteBucket":
		return bucketOnly("s3:DeleteBucket"), nil
	case "GetBucketLocation":
		return bucketOnly("s3:GetBucketLocation"), nil
	case "GetBucketVersioning":
		return bucketOnly("s3:GetBucketVersioning"), nil
	case "PutBucketVersioning":
		return bucketOnly("s3:PutBucketVersioning"), nil
	}
	return nil, errorf(http.StatusNotImplemented, "NotImplemented", "The emulator does not implement %s.", req.api)
}

// authorizeS3 checks every access of a call. Access Grants credentials may
// do only what their permission and scope cover; other callers need an
// allow statement and, lacking bucket policies, to own the bucket.
func (s *Server) authorizeS3(c *caller, accesses []s3Access) error {
	for _, a := range accesses {
		// Lacking bucket policies, only the bucket owner's principals and
		// role sessions (Access Grants credentials are sessions of the
		// owning instance's location role) reach a bucket.
		info, ok := s.buckets.get(a.bucket)
		if !ok || info.Account != c.Account {
			return errAccessDenied
		}
		if g := c.grant; g != nil {
			if !grantAllows(g, a) {
				return errAccessDenied
			}
			continue
		}
		resource := "arn:aws:s3:::" + a.bucket
		if !a.bucketLevel {
			resource += "/" + a.key
		}
		if !c.allowed(a.action, resource) {
			return errAccessDenied
		}
	}
	return nil
}

// grantAllows reports whether Access Grants credentials cover an access:
// same bucket, a permission that satisfies the access's class, and a
// target inside the scope (a list's prefix, or the object's key).
func grantAllows(g *vendedGrant, a s3Access) bool {
	if a.perm == "" || a.bucket != g.Bucket {
		return false
	}
	if g.Permission != a.perm && g.Permission != "READWRITE" {
		return false
	}
	target := "s3://" + a.bucket + "/" + a.key
	if a.list {
		target += "*"
	}
	return scopeCovers(g.Scope, target)
}

// deleteKeys reads the keys of a DeleteObjects body.
func deleteKeys(body []byte) ([]string, error) {
	var doc struct {
		Objects []struct {
			Key string `xml:"Key"`
		} `xml:"Object"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	if len(doc.Objects) == 0 || len(doc.Objects) > 1000 {
		return nil, errorf(http.StatusBadRequest, "MalformedXML", "A DeleteObjects request names 1 to 1000 objects.")
	}
	keys := make([]string, len(doc.Objects))
	for i, o := range doc.Objects {
		keys[i] = o.Key
	}
	return keys, nil
}

// parseCopySource reads x-amz-copy-source: "bucket/key" or "/bucket/key",
// URL-encoded, with an optional "?versionId=". The version suffix is cut
// before decoding, so that a key holding a literal "?" (sent as %3F)
// survives. It decodes as S3 (and gofakes3, which performs the copy) do:
// a literal "+" is a space.
func parseCopySource(v string) (bucket, key string, err error) {
	if i := strings.Index(v, "?versionId="); i >= 0 {
		v = v[:i]
	}
	decoded, uerr := url.QueryUnescape(strings.TrimPrefix(v, "/"))
	bucket, key, ok := strings.Cut(decoded, "/")
	if uerr != nil || !ok || bucket == "" || key == "" {
		return "", "", errorf(http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	return bucket, key, nil
}

// proxyS3 hands an authorized call to gofakes3, with the aws-chunked
// framing removed and only the headers that describe the object.
func (s *Server) proxyS3(req *request) {
	// A shallow copy: gofakes3 gets headers and a body of its own, and
	// reads the URL without changing it, so a deep Clone is wasted work.
	r2 := req.r.WithContext(req.r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(req.body))
	r2.ContentLength = int64(len(req.body))
	r2.Header = objectHeaders(req.r.Header)
	if req.r.Header.Get("Content-Length") != "" || len(req.body) > 0 {
		r2.Header.Set("Content-Length", strconv.Itoa(len(req.body)))
	}
	s.objects.handler.ServeHTTP(req.w, r2)
}

// objectHeaders keeps the request headers gofakes3 should see. gofakes3
// stores every x-amz-* header as object metadata and returns it on reads;
// signing headers (the session token among them) must never be stored.
func objectHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		switch {
		case k == "Content-Type", k == "Content-Disposition", k == "Content-Language",
			k == "Cache-Control", k == "Expires", k == "Content-Md5", k == "Range",
			k == "If-Match", k == "If-None-Match", k == "If-Modified-Since", k == "If-Unmodified-Since",
			k == "X-Amz-Storage-Class", k == "X-Amz-Metadata-Directive", k == "X-Amz-Website-Redirect-Location",
			strings.HasPrefix(k, "X-Amz-Meta-"), strings.HasPrefix(k, "X-Amz-Copy-Source"):
			out[k] = v
		case k == "Content-Encoding":
			// aws-chunked is transport framing, already removed.
			var keep []string
			for _, e := range strings.Split(strings.Join(v, ","), ",") {
				if e = strings.TrimSpace(e); e != "" && e != "aws-chunked" {
					keep = append(keep, e)
				}
			}
			if len(keep) > 0 {
				out.Set(k, strings.Join(keep, ","))
			}
		}
	}
	return out
}

type s3Owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

// ownerOf makes the canonical user of an account.
func ownerOf(account string) s3Owner {
	return s3Owner{ID: hex.EncodeToString([]byte("s3ag-emulator-" + account + "-owner"))[:64], DisplayName: "account-" + account}
}

func (s *Server) listBuckets(req *request) error {
	c := req.caller
	if !c.allowed("s3:ListAllMyBuckets", "arn:aws:s3:::*") {
		return errAccessDenied
	}
	type bucketXML struct {
		Name         string `xml:"Name"`
		CreationDate string `xml:"CreationDate"`
		BucketRegion string `xml:"BucketRegion"`
	}
	var out []bucketXML
	for _, b := range s.buckets.list() {
		if b.Account == c.Account {
			out = append(out, bucketXML{b.Name, b.Created.UTC().Format(time.RFC3339), b.Region})
		}
	}
	writeXML(req.w, http.StatusOK, struct {
		XMLName xml.Name    `xml:"ListAllMyBucketsResult"`
		NS      string      `xml:"xmlns,attr"`
		Owner   s3Owner     `xml:"Owner"`
		Buckets []bucketXML `xml:"Buckets>Bucket"`
	}{NS: s3Namespace, Owner: ownerOf(c.Account), Buckets: out})
	return nil
}

func (s *Server) createBucket(req *request, name string) error {
	c := req.caller
	if !c.allowed("s3:CreateBucket", "arn:aws:s3:::"+name) {
		return errAccessDenied
	}
	if !bucketPattern.MatchString(name) || strings.Contains(name, "..") {
		return errorf(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	}
	region := req.region
	if len(bytes.TrimSpace(req.body)) > 0 {
		var conf struct {
			LocationConstraint string `xml:"LocationConstraint"`
		}
		if err := xml.Unmarshal(req.body, &conf); err != nil {
			return errorf(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
		}
		if conf.LocationConstraint != "" {
			region = conf.LocationConstraint
		}
	}
	if !regionPattern.MatchString(region) {
		return errorf(http.StatusBadRequest, "InvalidLocationConstraint", "The specified location-constraint is not valid.")
	}
	if existing, ok := s.buckets.get(name); ok {
		if existing.Account == c.Account {
			return errorf(http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
		}
		return errorf(http.StatusConflict, "BucketAlreadyExists", "The requested bucket name is not available.")
	}
	if err := s.objects.createBucket(name); err != nil {
		return errorf(http.StatusInternalServerError, "InternalError", "Creating the bucket failed: %v", err)
	}
	if !s.buckets.add(bucketInfo{Name: name, Account: c.Account, Region: region, Created: s.now()}) {
		return errorf(http.StatusConflict, "OperationAborted", "A conflicting conditional operation is currently in progress against this resource.")
	}
	if err := s.saveState(); err != nil {
		return err
	}
	req.w.Header().Set("Location", "/"+name)
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getBucketLocation(req *request, info bucketInfo) error {
	region := info.Region
	if region == "us-east-1" {
		region = "" // S3 reports us-east-1 as an empty constraint
	}
	writeXML(req.w, http.StatusOK, struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		NS      string   `xml:"xmlns,attr"`
		Region  string   `xml:",chardata"`
	}{NS: s3Namespace, Region: region})
	return nil
}

// headObject reads an object's metadata from the backend.
func (s *Server) headObject(bucket, key string) (*gofakes3.Object, error) {
	obj, err := s.objects.backend.HeadObject(bucket, key)
	if err != nil {
		if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			return nil, errorf(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		}
		return nil, errorf(http.StatusInternalServerError, "InternalError", "Reading the object failed.")
	}
	obj.Contents.Close()
	return obj, nil
}

// objectACLs remembers canned ACLs set with PutObjectAcl, which gofakes3
// does not store.
type objectACLs struct {
	mu   sync.Mutex
	acls map[string]string // bucket + "/" + key → canned ACL
}

func (a *objectACLs) get(bucket, key string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acls[bucket+"/"+key]
}

func (a *objectACLs) set(bucket, key, acl string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.acls == nil {
		a.acls = map[string]string{}
	}
	a.acls[bucket+"/"+key] = acl
}

type aclGrantee struct {
	XMLNSXSI string `xml:"xmlns:xsi,attr"`
	Type     string `xml:"xsi:type,attr"`
	ID       string `xml:"ID,omitempty"`
	URI      string `xml:"URI,omitempty"`
}

type aclGrant struct {
	Grantee    aclGrantee `xml:"Grantee"`
	Permission string     `xml:"Permission"`
}

func (s *Server) getObjectACL(req *request, info bucketInfo, key string) error {
	if _, err := s.headObject(info.Name, key); err != nil {
		return err
	}
	owner := ownerOf(info.Account)
	const xsi = "http://www.w3.org/2001/XMLSchema-instance"
	grants := []aclGrant{{Grantee: aclGrantee{XMLNSXSI: xsi, Type: "CanonicalUser", ID: owner.ID}, Permission: "FULL_CONTROL"}}
	switch s.acls.get(info.Name, key) {
	case "public-read":
		grants = append(grants, aclGrant{Grantee: aclGrantee{XMLNSXSI: xsi, Type: "Group", URI: "http://acs.amazonaws.com/groups/global/AllUsers"}, Permission: "READ"})
	case "public-read-write":
		grants = append(grants,
			aclGrant{Grantee: aclGrantee{XMLNSXSI: xsi, Type: "Group", URI: "http://acs.amazonaws.com/groups/global/AllUsers"}, Permission: "READ"},
			aclGrant{Grantee: aclGrantee{XMLNSXSI: xsi, Type: "Group", URI: "http://acs.amazonaws.com/groups/global/AllUsers"}, Permission: "WRITE"})
	}
	writeXML(req.w, http.StatusOK, struct {
		XMLName xml.Name   `xml:"AccessControlPolicy"`
		NS      string     `xml:"xmlns,attr"`
		Owner   s3Owner    `xml:"Owner"`
		Grants  []aclGrant `xml:"AccessControlList>Grant"`
	}{NS: s3Namespace, Owner: owner, Grants: grants})
	return nil
}

var cannedACLs = map[string]bool{
	"private": true, "public-read": true, "public-read-write": true, "authenticated-read": true,
	"aws-exec-read": true, "bucket-owner-read": true, "bucket-owner-full-control": true,
}

func (s *Server) putObjectACL(req *request, bucket, key string) error {
	if _, err := s.headObject(bucket, key); err != nil {
		return err
	}
	acl := req.r.Header.Get("X-Amz-Acl")
	switch {
	case acl != "":
		if !cannedACLs[acl] {
			return errorf(http.StatusBadRequest, "InvalidArgument", "The canned ACL %q is not valid.", acl)
		}
	case len(bytes.TrimSpace(req.body)) > 0:
		var doc struct {
			XMLName xml.Name `xml:"AccessControlPolicy"`
		}
		if err := xml.Unmarshal(req.body, &doc); err != nil {
			return errorf(http.StatusBadRequest, "MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema.")
		}
		acl = "private" // explicit grant lists are accepted and read back as the owner's
	default:
		return errorf(http.StatusBadRequest, "MissingSecurityHeader", "Your request was missing a required header: x-amz-acl or an AccessControlPolicy body.")
	}
	s.acls.set(bucket, key, acl)
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getObjectAttributes(req *request, bucket, key string) error {
	obj, err := s.headObject(bucket, key)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, a := range strings.Split(strings.Join(req.r.Header.Values("X-Amz-Object-Attributes"), ","), ",") {
		if a = strings.TrimSpace(a); a != "" {
			want[a] = true
		}
	}
	if len(want) == 0 {
		return errorf(http.StatusBadRequest, "InvalidArgument", "x-amz-object-attributes must name at least one attribute.")
	}
	type result struct {
		XMLName      xml.Name `xml:"GetObjectAttributesResponse"`
		NS           string   `xml:"xmlns,attr"`
		ETag         string   `xml:"ETag,omitempty"`
		StorageClass string   `xml:"StorageClass,omitempty"`
		ObjectSize   *int64   `xml:"ObjectSize,omitempty"`
	}
	out := result{NS: s3Namespace}
	if want["ETag"] {
		out.ETag = hex.EncodeToString(obj.Hash)
	}
	if want["StorageClass"] {
		out.StorageClass = "STANDARD"
	}
	if want["ObjectSize"] {
		size := obj.Size
		out.ObjectSize = &size
	}
	if lm, ok := obj.Metadata["Last-Modified"]; ok {
		req.w.Header().Set("Last-Modified", lm)
	}
	writeXML(req.w, http.StatusOK, out)
	return nil
}

func (s *Server) getObjectTagging(req *request, bucket, key string) error {
	if _, err := s.headObject(bucket, key); err != nil {
		return err
	}
	writeXML(req.w, http.StatusOK, struct {
		XMLName xml.Name `xml:"Tagging"`
		NS      string   `xml:"xmlns,attr"`
		TagSet  string   `xml:"TagSet"`
	}{NS: s3Namespace})
	return nil
}

// uploadPartCopy copies a range of an object into a part of a multipart
// upload: the emulator reads the source and hands gofakes3 an UploadPart.
func (s *Server) uploadPartCopy(req *request, src s3Access) error {
	var rng *gofakes3.ObjectRangeRequest
	if v := req.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		var first, last int64
		if _, err := fmt.Sscanf(v, "bytes=%d-%d", &first, &last); err != nil || first < 0 || last < first {
			return errorf(http.StatusBadRequest, "InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last.")
		}
		rng = &gofakes3.ObjectRangeRequest{Start: first, End: last}
	}
	obj, err := s.objects.backend.GetObject(src.bucket, src.key, rng)
	if err != nil {
		if gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
			return errorf(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		}
		return errorf(http.StatusBadRequest, "InvalidRange", "The requested range is not satisfiable.")
	}
	data, err := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	if err != nil {
		return errorf(http.StatusInternalServerError, "InternalError", "Reading the copy source failed.")
	}
	part := req.r.Clone(req.r.Context())
	part.Header = http.Header{"Content-Length": {strconv.Itoa(len(data))}}
	part.Body = io.NopCloser(bytes.NewReader(data))
	part.ContentLength = int64(len(data))
	rec := httptest.NewRecorder()
	s.objects.handler.ServeHTTP(rec, part)
	if rec.Code >= 300 {
		for k, v := range rec.Header() {
			req.w.Header()[k] = v
		}
		req.w.WriteHeader(rec.Code)
		req.w.Write(rec.Body.Bytes()) //nolint:errcheck
		return nil
	}
	writeXML(req.w, http.StatusOK, struct {
		XMLName      xml.Name `xml:"CopyPartResult"`
		NS           string   `xml:"xmlns,attr"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{NS: s3Namespace, LastModified: s.now().UTC().Format(time.RFC3339), ETag: rec.Header().Get("ETag")})
	return nil
}

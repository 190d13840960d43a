package emulator

import (
	"encoding/xml"
	"fmt"
	"net/http"
)

// apiError is an error the emulator answers a request with: an HTTP status
// and an AWS error code, rendered in the wire format of the API that failed
// (S3's <Error>, S3 Control's and STS's <ErrorResponse>).
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// errorf builds an apiError with a formatted message. Messages must never
// contain a secret, a session token or a signature.
func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Errors shared by every face of the endpoint.
var (
	errAccessDenied       = &apiError{http.StatusForbidden, "AccessDenied", "Access Denied"}
	errInvalidAccessKeyID = &apiError{http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."}
	errSignatureMismatch  = &apiError{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	errExpiredToken       = &apiError{http.StatusBadRequest, "ExpiredToken", "The provided token has expired."}
	errInvalidToken       = &apiError{http.StatusBadRequest, "InvalidToken", "The provided token is malformed or otherwise invalid."}
	errMissingAuth        = &apiError{http.StatusForbidden, "AccessDenied", "Anonymous access is not allowed; sign the request with AWS Signature Version 4."}
)

// s3ErrorBody is S3's error document.
type s3ErrorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}

// wrappedErrorBody is the <ErrorResponse> document of S3 Control and STS.
type wrappedErrorBody struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Error   struct {
		Type    string `xml:"Type,omitempty"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

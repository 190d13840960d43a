package emulator

import (
	"encoding/xml"
	"errors"
	"io"
	"log"
	"net/http"
	"time"
)

// sweepEvery is how many temporary keys are issued between sweeps of the
// long-expired ones.
const sweepEvery = 4096

// authenticate verifies r's SigV4 signature and returns the caller, the
// Region the request is addressed to and the payload with any aws-chunked
// framing removed. The caller is returned with some errors too (an expired
// key), so that the request log can name the key.
func (s *Server) authenticate(r *http.Request, body []byte, fc face) (*caller, string, []byte, error) {
	// Every face signs its raw path as sent: S3's SDKs disable double
	// encoding, and so do S3 Control's endpoint rules.
	info, payload, _, err := verifySigV4(r, body, s.iam.lookup, verifyOptions{
		Wall: time.Now(),
		Now:  s.now(),
		Keys: s.sigKeys,
	})
	if err != nil {
		return nil, "", nil, err
	}
	want := "s3"
	if fc == faceSTS {
		want = "sts"
	}
	if info.Service != want {
		return nil, "", nil, errorf(http.StatusBadRequest, "AuthorizationHeaderMalformed",
			"Credential should be scoped to correct service: '%s'.", want)
	}
	c, ok := s.iam.caller(info.AccessKeyID)
	if !ok {
		return nil, "", nil, errInvalidAccessKeyID
	}
	if !c.expires.IsZero() && !s.now().Before(c.expires) {
		return c, info.Region, nil, errExpiredToken
	}
	return c, info.Region, payload, nil
}

// writeError answers a failed request in the error format of its face.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, fc face, err error, id string) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	}
	switch fc {
	case faceControl:
		writeWrappedError(w, ae, "", id)
	case faceSTS:
		writeWrappedError(w, stsError(ae), stsErrorType(ae), id)
	default:
		writeS3Error(w, r, ae, id)
	}
}

// stsError translates S3's authentication codes into STS's.
func stsError(ae *apiError) *apiError {
	switch ae.Code {
	case "InvalidAccessKeyId":
		return &apiError{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	case "ExpiredToken":
		return &apiError{Status: http.StatusBadRequest, Code: "ExpiredToken", Message: "The security token included in the request is expired"}
	case "RequestTimeTooSkewed":
		return &apiError{Status: http.StatusBadRequest, Code: "RequestExpired", Message: ae.Message}
	}
	return ae
}

func stsErrorType(ae *apiError) string {
	if ae.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

func writeWrappedError(w http.ResponseWriter, ae *apiError, typ, id string) {
	var body wrappedErrorBody
	body.Error.Type = typ
	body.Error.Code = ae.Code
	body.Error.Message = ae.Message
	body.RequestID = id
	writeXML(w, ae.Status, body)
}

func writeS3Error(w http.ResponseWriter, r *http.Request, ae *apiError, id string) {
	if r.Method == http.MethodHead {
		// HEAD answers carry no body; the SDK reads the status alone.
		w.WriteHeader(ae.Status)
		return
	}
	writeXML(w, ae.Status, s3ErrorBody{Code: ae.Code, Message: ae.Message, Resource: r.URL.Path, RequestID: id})
}

// writeXML writes v as an XML document with status.
func writeXML(w http.ResponseWriter, status int, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, xml.Header) //nolint:errcheck // the client went away
	w.Write(out)                  //nolint:errcheck
}

// discardLogger silences net/http's own error log (TLS handshakes from
// clients that do not trust the certificate, and the like).
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

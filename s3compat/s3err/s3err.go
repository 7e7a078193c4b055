// Package s3err is the one table of S3 error responses and the one function
// that writes them.
//
// Handlers and protocol code return errors; the server turns any error into
// a response with [Write]. An [*Error] carries an S3 error code, its HTTP
// status and a human-readable message. Errors of other types are reported as
// InternalError, so a wrapped Go error never leaks its text to a client.
//
// # Using the table
//
// Return a table entry as it is, or with a more specific message:
//
//	return s3err.ErrNoSuchKey
//	return s3err.ErrInvalidArgument.WithMessage("part number must be 1..10000")
//
// Callers branch with errors.Is, which compares codes:
//
//	if errors.Is(err, s3err.ErrNoSuchKey) { ... }
package s3err

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Error is an S3 error: a code, its HTTP status, and a message for the
// client. Messages must never contain secrets or plaintext object data.
type Error struct {
	Code       string
	Message    string
	HTTPStatus int
	// cause is an optional underlying error kept for logs and errors.Is; it
	// is never sent to the client.
	cause error
}

// Error returns "Code: Message".
func (e *Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Message + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrNoSuchKey) matches any NoSuchKey error however its
// message was customised.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithMessage returns a copy of e with message msg.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// WithMessagef returns a copy of e with a formatted message.
func (e *Error) WithMessagef(format string, args ...any) *Error {
	return e.WithMessage(fmt.Sprintf(format, args...))
}

// WithCause returns a copy of e that wraps cause. The cause appears in
// Error() (for logs) but never in the response body.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

func newErr(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, HTTPStatus: status}
}

// The table of S3 errors Cloak returns. Codes, statuses and default
// messages follow Amazon S3's documented error responses.
var (
	ErrAccessDenied = newErr("AccessDenied", http.StatusForbidden,
		"Access Denied.")
	ErrAccountProblem = newErr("AccountProblem", http.StatusForbidden,
		"There is a problem with your account that prevents the operation from completing.")
	ErrAuthorizationHeaderMalformed = newErr("AuthorizationHeaderMalformed", http.StatusBadRequest,
		"The authorization header is malformed.")
	ErrAuthorizationQueryParametersError = newErr("AuthorizationQueryParametersError",
		http.StatusBadRequest, "Error parsing the X-Amz-Credential parameter.")
	ErrBadDigest = newErr("BadDigest", http.StatusBadRequest,
		"The Content-MD5 or checksum value that you specified did not match what was received.")
	ErrBucketAlreadyExists = newErr("BucketAlreadyExists", http.StatusConflict,
		"The requested bucket name is not available.")
	ErrBucketAlreadyOwnedByYou = newErr("BucketAlreadyOwnedByYou", http.StatusConflict,
		"Your previous request to create the named bucket succeeded and you already own it.")
	ErrBucketNotEmpty = newErr("BucketNotEmpty", http.StatusConflict,
		"The bucket you tried to delete is not empty.")
	ErrEntityTooLarge = newErr("EntityTooLarge", http.StatusBadRequest,
		"Your proposed upload exceeds the maximum allowed object size.")
	ErrEntityTooSmall = newErr("EntityTooSmall", http.StatusBadRequest,
		"Your proposed upload is smaller than the minimum allowed object size.")
	ErrExpiredToken = newErr("ExpiredToken", http.StatusBadRequest,
		"The provided token has expired.")
	ErrIncompleteBody = newErr("IncompleteBody", http.StatusBadRequest,
		"You did not provide the number of bytes specified by the Content-Length HTTP header.")
	// ErrInsufficientStorage has no counterpart in S3, whose storage
	// does not fill up; Cloak's store can. 507 is a server error that
	// SDKs report at once instead of retrying for minutes.
	ErrInsufficientStorage = newErr("InsufficientStorage", http.StatusInsufficientStorage,
		"The storage backend has no space left for this object. Objects already stored are intact.")
	ErrInternalError = newErr("InternalError", http.StatusInternalServerError,
		"We encountered an internal error. Please try again.")
	ErrInvalidAccessKeyID = newErr("InvalidAccessKeyId", http.StatusForbidden,
		"The AWS access key ID you provided does not exist in our records.")
	ErrInvalidArgument = newErr("InvalidArgument", http.StatusBadRequest,
		"Invalid Argument.")
	ErrInvalidBucketName = newErr("InvalidBucketName", http.StatusBadRequest,
		"The specified bucket is not valid.")
	ErrInvalidDigest = newErr("InvalidDigest", http.StatusBadRequest,
		"The Content-MD5 or checksum value that you specified is not valid.")
	ErrInvalidEncryptionAlgorithm = newErr("InvalidEncryptionAlgorithmError", http.StatusBadRequest,
		"The encryption request that you specified is not valid.")
	ErrInvalidLocationConstraint = newErr("InvalidLocationConstraint", http.StatusBadRequest,
		"The specified location-constraint is not valid.")
	ErrInvalidObjectState = newErr("InvalidObjectState", http.StatusForbidden,
		"The operation is not valid for the current state of the object.")
	ErrInvalidPart = newErr("InvalidPart", http.StatusBadRequest,
		"One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.")
	ErrInvalidPartOrder = newErr("InvalidPartOrder", http.StatusBadRequest,
		"The list of parts was not in ascending order. The parts list must be specified in order by part number.")
	ErrInvalidRange = newErr("InvalidRange", http.StatusRequestedRangeNotSatisfiable,
		"The requested range is not satisfiable.")
	ErrInvalidRequest = newErr("InvalidRequest", http.StatusBadRequest,
		"Invalid Request.")
	ErrInvalidStorageClass = newErr("InvalidStorageClass", http.StatusBadRequest,
		"The storage class you specified is not valid.")
	ErrInvalidURI = newErr("InvalidURI", http.StatusBadRequest,
		"Couldn't parse the specified URI.")
	ErrKeyTooLong = newErr("KeyTooLongError", http.StatusBadRequest,
		"Your key is too long.")
	ErrMalformedXML = newErr("MalformedXML", http.StatusBadRequest,
		"The XML you provided was not well-formed or did not validate against our published schema.")
	ErrMaxMessageLengthExceeded = newErr("MaxMessageLengthExceeded", http.StatusBadRequest,
		"Your request was too big.")
	ErrMetadataTooLarge = newErr("MetadataTooLarge", http.StatusBadRequest,
		"Your metadata headers exceed the maximum allowed metadata size.")
	ErrMethodNotAllowed = newErr("MethodNotAllowed", http.StatusMethodNotAllowed,
		"The specified method is not allowed against this resource.")
	ErrMissingContentLength = newErr("MissingContentLength", http.StatusLengthRequired,
		"You must provide the Content-Length HTTP header.")
	ErrMissingSecurityHeader = newErr("MissingSecurityHeader", http.StatusBadRequest,
		"Your request was missing a required header.")
	ErrNoSuchBucket = newErr("NoSuchBucket", http.StatusNotFound,
		"The specified bucket does not exist.")
	ErrNoSuchKey = newErr("NoSuchKey", http.StatusNotFound,
		"The specified key does not exist.")
	ErrNoSuchUpload = newErr("NoSuchUpload", http.StatusNotFound,
		"The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.")
	ErrNotImplemented = newErr("NotImplemented", http.StatusNotImplemented,
		"A header you provided implies functionality that is not implemented.")
	ErrPreconditionFailed = newErr("PreconditionFailed", http.StatusPreconditionFailed,
		"At least one of the preconditions you specified did not hold.")
	ErrRequestHeaderSectionTooLarge = newErr("RequestHeaderSectionTooLarge", http.StatusBadRequest,
		"Your request header section exceeds the maximum allowed size.")
	ErrRequestTimeout = newErr("RequestTimeout", http.StatusBadRequest,
		"Your socket connection to the server was not read from or written to within the timeout period.")
	ErrRequestTimeTooSkewed = newErr("RequestTimeTooSkewed", http.StatusForbidden,
		"The difference between the request time and the server's time is too large.")
	ErrServiceUnavailable = newErr("ServiceUnavailable", http.StatusServiceUnavailable,
		"Please reduce your request rate.")
	ErrSignatureDoesNotMatch = newErr("SignatureDoesNotMatch", http.StatusForbidden,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	ErrSlowDown = newErr("SlowDown", http.StatusServiceUnavailable,
		"Please reduce your request rate.")
	ErrXAmzContentSHA256Mismatch = newErr("XAmzContentSHA256Mismatch", http.StatusBadRequest,
		"The provided 'x-amz-content-sha256' header does not match what was computed.")
	ErrInvalidChunkSize = newErr("InvalidChunkSizeError", http.StatusForbidden,
		"Only the last chunk is allowed to have a size less than 8192 bytes.")
	ErrMalformedTrailer = newErr("MalformedTrailerError", http.StatusBadRequest,
		"The request contained trailing data that was not well-formed or did not conform to our published schema.")
	// ErrNotModified is not an error to the client but is written the same
	// way: status 304 with no body.
	ErrNotModified = newErr("NotModified", http.StatusNotModified, "Not Modified.")
)

// errorBody is the XML document S3 sends with every error.
type errorBody struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	Resource   string   `xml:"Resource"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId,omitempty"`
}

// Context names the request an error response belongs to.
type Context struct {
	RequestID string // sent as x-amz-request-id and <RequestId>
	HostID    string // sent as x-amz-id-2 and <HostId>, when set
	Bucket    string
	Key       string
	// Resource is the request path; when empty, Write uses r.URL.Path.
	Resource string
}

// From returns the *Error that err carries, or ErrInternalError (with err
// as its cause) when err is not an S3 error.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternalError.WithCause(err)
}

// Write sends err to the client as an S3 error response: the status, the
// x-amz-request-id header, and (except for HEAD requests and 304s) the XML
// error document. It returns the *Error that was written so callers can
// log and audit the code that the client saw.
func Write(w http.ResponseWriter, r *http.Request, err error, ctx Context) *Error {
	e := From(err)
	h := w.Header()
	if ctx.RequestID != "" {
		h.Set("X-Amz-Request-Id", ctx.RequestID)
	}
	if ctx.HostID != "" {
		h.Set("X-Amz-Id-2", ctx.HostID)
	}
	if (r != nil && r.Method == http.MethodHead) || e.HTTPStatus == http.StatusNotModified {
		w.WriteHeader(e.HTTPStatus)
		return e
	}
	resource := ctx.Resource
	if resource == "" && r != nil && r.URL != nil {
		resource = r.URL.Path
	}
	body, mErr := xml.Marshal(errorBody{
		Code:       e.Code,
		Message:    e.Message,
		BucketName: ctx.Bucket,
		Key:        ctx.Key,
		Resource:   resource,
		RequestID:  ctx.RequestID,
		HostID:     ctx.HostID,
	})
	if mErr != nil { // cannot happen for strings; keep the response valid
		body = []byte("<Error><Code>InternalError</Code></Error>")
	}
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.WriteHeader(e.HTTPStatus)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
	return e
}

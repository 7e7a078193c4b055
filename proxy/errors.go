package proxy

import (
	"context"
	"errors"
	"io"
	"net/url"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// errNotImplemented marks operations or object kinds this version does not
// serve yet.
var errNotImplemented = errors.New("not implemented")

// Errors of the proxy's own making.
var (
	// errIntegrity is what a client sees when a stored object fails
	// authentication: S3 has no code for it, so it is an InternalError
	// with a message of its own.
	errIntegrity = s3err.ErrInternalError.WithMessage(
		"The stored object failed an integrity check and was not returned.")
	// errKeyDestroyed is a 403, not a 500: clients retry 500s, and no
	// retry brings a destroyed key back.
	errKeyDestroyed = s3err.ErrInvalidObjectState.WithMessage(
		"The master key of this object or bucket was destroyed or disabled (retired or crypto-shredded).")
	errPlaintextRefused = s3err.ErrInvalidObjectState.WithMessage(
		"The stored object is not encrypted by Cloak and this bucket is not being migrated.")
	// errUnavailable is what a client sees when the store (or a key
	// service reached over HTTP) cannot be reached: 503, which S3
	// clients retry with backoff, and which tells an operator that a
	// service behind Cloak is down rather than Cloak failing.
	errUnavailable = s3err.ErrServiceUnavailable.WithMessage(
		"The storage backend or key service is unavailable. Please try again.")
	// errNotRecorded refuses a request that the audit log could not
	// record (audit.required): 503, so clients retry later.
	errNotRecorded = s3err.ErrServiceUnavailable.WithMessage(
		"The audit log is unavailable, so requests are refused. Please try again.")
)

// backendErrors maps the store's sentinels to S3 errors.
var backendErrors = []struct {
	sentinel error
	s3       *s3err.Error
}{
	{backend.ErrNoSuchBucket, s3err.ErrNoSuchBucket},
	{backend.ErrNoSuchKey, s3err.ErrNoSuchKey},
	{backend.ErrNoSuchUpload, s3err.ErrNoSuchUpload},
	{backend.ErrBucketExists, s3err.ErrBucketAlreadyOwnedByYou},
	{backend.ErrBucketNotEmpty, s3err.ErrBucketNotEmpty},
	{backend.ErrInvalidBucketName, s3err.ErrInvalidBucketName},
	{backend.ErrInvalidKey, s3err.ErrInvalidArgument.WithMessage("The object key cannot be stored by the backend.")},
	{backend.ErrPreconditionFailed, s3err.ErrPreconditionFailed},
	{backend.ErrInvalidRange, s3err.ErrInvalidRange},
	{backend.ErrInvalidPart, s3err.ErrInvalidPart},
	{backend.ErrInvalidPartOrder, s3err.ErrInvalidPartOrder},
	{backend.ErrEntityTooSmall, s3err.ErrEntityTooSmall},
	{backend.ErrMetadataTooLarge, s3err.ErrMetadataTooLarge},
	{backend.ErrInvalidArgument, s3err.ErrInvalidArgument},
	{backend.ErrIncompleteBody, s3err.ErrIncompleteBody},
	{backend.ErrInsufficientStorage, s3err.ErrInsufficientStorage},
}

// toS3 turns any error into the S3 error the client should see. Errors
// that already are S3 errors pass unchanged; the cause is kept for logs.
func toS3(err error) *s3err.Error {
	var e *s3err.Error
	if errors.As(err, &e) {
		return e
	}
	for _, m := range backendErrors {
		if errors.Is(err, m.sentinel) {
			return m.s3.WithCause(err)
		}
	}
	switch {
	case errors.Is(err, crypto.ErrAuthentication), errors.Is(err, crypto.ErrUnsupportedVersion):
		return errIntegrity.WithCause(err)
	case errors.Is(err, errNotEncrypted):
		return errPlaintextRefused.WithCause(err)
	case errors.Is(err, errNotImplemented):
		return s3err.ErrNotImplemented.WithMessage("This operation is not implemented yet.").WithCause(err)
	case errors.Is(err, crypto.ErrKeyDestroyed):
		return errKeyDestroyed.WithCause(err)
	case errors.Is(err, crypto.ErrUnknownKey):
		return s3err.ErrInternalError.WithMessage("The object's master key is not available.").WithCause(err)
	case errors.Is(err, context.Canceled):
		return s3err.ErrRequestTimeout.WithCause(err)
	case isUnavailable(err):
		return errUnavailable.WithCause(err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return s3err.ErrIncompleteBody.WithCause(err)
	}
	return s3err.ErrInternalError.WithCause(err)
}

// isTampering reports whether err means stored data failed authentication,
// or an object without an envelope was found where every object must have
// one (planted, or its envelope stripped): either is logged as possible
// tampering.
func isTampering(err error) bool {
	return errors.Is(err, crypto.ErrAuthentication) || errors.Is(err, errNotEncrypted)
}

// isUnavailable reports whether err is a transport failure of a request
// the proxy sent (to the store or a key service): connection refused or
// reset, a server gone mid-request, a timeout. Only http.Client returns
// *url.Error, so a failure of the client's own connection never counts.
func isUnavailable(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

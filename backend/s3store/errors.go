package s3store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
)

// codeErrors maps S3 error codes (and the codes minio-go gives its own
// argument checks) to the backend's sentinels.
var codeErrors = map[string]error{
	"NoSuchBucket":            backend.ErrNoSuchBucket,
	"NoSuchKey":               backend.ErrNoSuchKey,
	"NoSuchUpload":            backend.ErrNoSuchUpload,
	"BucketAlreadyExists":     backend.ErrBucketExists,
	"BucketAlreadyOwnedByYou": backend.ErrBucketExists,
	"BucketNotEmpty":          backend.ErrBucketNotEmpty,
	"InvalidBucketName":       backend.ErrInvalidBucketName,
	"PreconditionFailed":      backend.ErrPreconditionFailed,
	"InvalidRange":            backend.ErrInvalidRange,
	"InvalidPart":             backend.ErrInvalidPart,
	"InvalidPartOrder":        backend.ErrInvalidPartOrder,
	"EntityTooSmall":          backend.ErrEntityTooSmall,
	"MetadataTooLarge":        backend.ErrMetadataTooLarge,
	"XMinioInvalidObjectName": backend.ErrInvalidKey,
	// MinIO's answer to "." and ".." key segments.
	"XMinioInvalidResourceName": backend.ErrInvalidKey,
	"KeyTooLongError":           backend.ErrInvalidKey,
	"InvalidObjectName":         backend.ErrInvalidKey,
	"InvalidArgument":           backend.ErrInvalidArgument,
	"IncompleteBody":            backend.ErrIncompleteBody,
	"XMinioStorageFull":         backend.ErrInsufficientStorage,
}

// mapErr turns a minio-go error into one that wraps the matching
// sentinel and keeps the server's code and message (which never hold our
// credentials). Errors that are not S3 error responses, such as network
// failures, are returned unchanged.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return err
	}
	if s, ok := codeErrors[resp.Code]; ok {
		return fmt.Errorf("%w (%s: %s)", s, resp.Code, resp.Message)
	}
	if resp.StatusCode == 412 {
		return fmt.Errorf("%w (%s)", backend.ErrPreconditionFailed, resp.Code)
	}
	if resp.StatusCode >= 500 && strings.Contains(resp.Message, "no space left on device") {
		// MinIO reports a drive that filled up before its free-space
		// threshold tripped as an InternalError naming the cause.
		return fmt.Errorf("%w (%s: %s)", backend.ErrInsufficientStorage, resp.Code, resp.Message)
	}
	return fmt.Errorf("s3 error %s (HTTP %d): %s", resp.Code, resp.StatusCode, resp.Message)
}

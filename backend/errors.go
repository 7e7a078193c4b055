package backend

import "errors"

// Sentinel errors. Stores wrap them with context, so callers test with
// errors.Is; the proxy maps each to its S3 error. Their text never holds
// credentials or object data.
var (
	// ErrNoSuchBucket: the bucket does not exist.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrNoSuchKey: the object does not exist.
	ErrNoSuchKey = errors.New("no such key")
	// ErrNoSuchUpload: the multipart upload does not exist (it was never
	// created, or was completed or aborted), or belongs to another key.
	ErrNoSuchUpload = errors.New("no such upload")
	// ErrBucketExists: CreateBucket of an existing bucket.
	ErrBucketExists = errors.New("bucket already exists")
	// ErrBucketNotEmpty: DeleteBucket of a bucket holding objects or
	// uploads.
	ErrBucketNotEmpty = errors.New("bucket not empty")
	// ErrInvalidBucketName: the name breaks the S3 bucket naming rules.
	ErrInvalidBucketName = errors.New("invalid bucket name")
	// ErrInvalidKey: the key is empty, longer than 1024 bytes, not valid
	// UTF-8, or contains a NUL byte.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrPreconditionFailed: a condition (IfMatch, IfNoneMatch) of a
	// read or write did not hold.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrInvalidRange: the requested range starts at or past the end.
	ErrInvalidRange = errors.New("invalid range")
	// ErrInvalidPart: a completed part was never uploaded or its ETag
	// does not match.
	ErrInvalidPart = errors.New("invalid part")
	// ErrInvalidPartOrder: completed parts are not in ascending order.
	ErrInvalidPartOrder = errors.New("invalid part order")
	// ErrEntityTooSmall: a part other than the last is smaller than the
	// store's minimum part size.
	ErrEntityTooSmall = errors.New("entity too small")
	// ErrInvalidArgument: another argument is out of range, for example a
	// part number, a size or a metadata name.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrMetadataTooLarge: user metadata exceeds MaxMetadataSize.
	ErrMetadataTooLarge = errors.New("metadata too large")
	// ErrIncompleteBody: the body ended before size bytes were read.
	ErrIncompleteBody = errors.New("incomplete body")
	// ErrInsufficientStorage: the store has no space left for the write
	// (a full disk or quota, MinIO's XMinioStorageFull). Nothing was
	// written; what was stored before is intact.
	ErrInsufficientStorage = errors.New("insufficient storage")
)

package backend

import (
	"context"
	"io"
	"time"
)

// Store is an object store holding the proxy's ciphertext. Implementations
// are safe for concurrent use by multiple goroutines.
//
// Every method returns nil or an error that wraps one of the sentinel
// errors of this package when the cause is one the caller can act on (see
// errors.go); other failures (I/O, network) are returned wrapped with
// context and map to an internal error in the proxy.
type Store interface {
	// CreateBucket creates an empty bucket. It returns ErrBucketExists if
	// the bucket already exists and ErrInvalidBucketName if name breaks
	// the S3 naming rules (see ValidateBucketName).
	CreateBucket(ctx context.Context, bucket string) error
	// DeleteBucket removes a bucket without objects. It returns
	// ErrNoSuchBucket or ErrBucketNotEmpty. Multipart uploads in progress
	// do not keep a bucket from deletion; they are discarded with it (as
	// MinIO does).
	DeleteBucket(ctx context.Context, bucket string) error
	// HeadBucket returns nil if the bucket exists, else ErrNoSuchBucket.
	HeadBucket(ctx context.Context, bucket string) error
	// ListBuckets returns all buckets sorted by name.
	ListBuckets(ctx context.Context) ([]BucketInfo, error)

	// PutObject stores body under key, replacing any object there. size
	// is the exact length of body, or -1 when unknown; an unknown size is
	// streamed in bounded memory (see the implementation for how much).
	// The new object becomes visible atomically, data and metadata
	// together, and only after body has been read to EOF without error; a
	// failed put leaves the previous object, if any, unchanged. Reading
	// fewer or more than size bytes from body is an error. PutObject does
	// not close body. Conditional writes (opts.IfMatch, opts.IfNoneMatch)
	// fail with ErrPreconditionFailed; IfMatch on a missing key fails too.
	// The result's LastModified is zero when the store does not report it
	// on a write (S3 does not); HeadObject has it.
	PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64,
		opts PutOptions) (ObjectInfo, error)
	// GetObject opens the stored bytes [offset, offset+length) of key;
	// length -1 means to the end, and a range that runs past the end is
	// cut at the end. offset must be below the object's size (any offset
	// but 0 is ErrInvalidRange on an empty object). The returned
	// ObjectInfo describes the whole object (Size is the full size, not
	// the range's). The caller must close the reader. It returns
	// ErrNoSuchBucket, ErrNoSuchKey, ErrInvalidRange, or
	// ErrPreconditionFailed when opts.IfMatch does not match.
	GetObject(ctx context.Context, bucket, key string, offset, length int64,
		opts GetOptions) (io.ReadCloser, ObjectInfo, error)
	// HeadObject returns the object's info with its metadata, or
	// ErrNoSuchBucket or ErrNoSuchKey.
	HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// DeleteObject removes key. Deleting a key that does not exist is not
	// an error (as in S3); a missing bucket is ErrNoSuchBucket.
	DeleteObject(ctx context.Context, bucket, key string) error
	// ListObjects lists a bucket's objects in byte order of their keys,
	// one page at a time (see ListOptions). Listed objects carry Key,
	// Size, ETag and LastModified, and Metadata only when asked for with
	// ListOptions.WithMetadata and the store can list it.
	ListObjects(ctx context.Context, bucket string, opts ListOptions) (ListResult, error)
	// CopyObject copies the stored bytes of src to dst inside the store
	// and gives dst the metadata opts.Metadata (never the source's).
	// opts.IfMatch is a condition on the source's ETag (S3's
	// x-amz-copy-source-if-match); for a copy onto itself, as in a key
	// rewrap, it is the destination too. opts.IfNoneMatch is not
	// supported (ErrInvalidArgument): MinIO ignores it on copies. It
	// returns ErrNoSuchBucket or ErrNoSuchKey for a missing source or
	// destination bucket, ErrPreconditionFailed if the source changed.
	CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string,
		opts PutOptions) (ObjectInfo, error)

	// CreateMultipartUpload starts an upload whose object gets
	// opts.Metadata when completed. Conditions belong to
	// CompleteMultipartUpload (where S3 checks them); setting them here
	// is ErrInvalidArgument.
	CreateMultipartUpload(ctx context.Context, bucket, key string,
		opts PutOptions) (uploadID string, err error)
	// UploadPart stores part partNumber (1..10000) of an upload, replacing
	// any earlier part with that number. size is the exact length of
	// body (no -1). It does not close body. It returns ErrNoSuchUpload if
	// the upload does not exist (or belongs to another key) and
	// ErrInvalidArgument for a bad part number or size.
	UploadPart(ctx context.Context, bucket, key, uploadID string, partNumber int,
		body io.Reader, size int64) (PartInfo, error)
	// CompleteMultipartUpload makes the object from the listed parts,
	// which must be in strictly ascending part order (else
	// ErrInvalidPartOrder) and name uploaded parts with their current
	// ETags (else ErrInvalidPart). Every part but the last must be at
	// least the store's minimum part size (else ErrEntityTooSmall).
	// Parts not listed are discarded. The object appears atomically and
	// the upload ends; its ETag is the S3 multipart form "hex-N". If
	// opts' conditions do not hold it returns ErrPreconditionFailed and
	// the upload stays open.
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string,
		parts []CompletePart, opts CompleteOptions) (ObjectInfo, error)
	// AbortMultipartUpload ends an upload and discards its parts. It
	// returns ErrNoSuchUpload if there is no such upload.
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	// ListParts lists an upload's parts in ascending part number order,
	// one page at a time. It returns ErrNoSuchUpload.
	ListParts(ctx context.Context, bucket, key, uploadID string,
		opts ListPartsOptions) (ListPartsResult, error)
	// ListMultipartUploads lists uploads in progress in a bucket, ordered
	// by key and then by initiation, one page at a time.
	ListMultipartUploads(ctx context.Context, bucket string,
		opts ListUploadsOptions) (ListUploadsResult, error)
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key  string
	Size int64
	// ETag is the store's entity tag without quotes: the hex MD5 of the
	// bytes for a single put, "hex-N" for an object of N parts.
	ETag         string
	LastModified time.Time
	// Metadata is the user metadata, names in lower case without the
	// "x-amz-meta-" prefix. Nil in listings.
	Metadata map[string]string
	// PartsCount is the number of parts of a multipart object when the
	// store reports it, else 0.
	PartsCount int
	// ContentType is the Content-Type the store keeps for the object, on
	// HeadObject and GetObject of stores that keep one (S3); Cloak's own
	// objects carry theirs sealed instead. It matters for objects written
	// before Cloak, which migration encrypts with their Content-Type.
	ContentType string
}

// PutOptions are the options of a write.
type PutOptions struct {
	// Metadata is the user metadata to store; see ValidateMetadata for
	// the rules on names and values. Names are stored in lower case.
	Metadata map[string]string
	// IfMatch, when set, makes the write succeed only if the key exists
	// with this ETag (without quotes).
	IfMatch string
	// IfNoneMatch, when "*", makes the write succeed only if the key does
	// not exist. No other value is supported.
	IfNoneMatch string
}

// CompleteOptions are the conditions of completing a multipart upload,
// with the meaning they have in PutOptions.
type CompleteOptions struct {
	IfMatch     string
	IfNoneMatch string
}

// GetOptions are the options of a read.
type GetOptions struct {
	// IfMatch, when set, makes the read fail with ErrPreconditionFailed
	// unless the object has this ETag, so that several range reads can
	// pin one version of an object.
	IfMatch string
}

// MaxListKeys is the largest page a listing returns.
const MaxListKeys = 1000

// ListOptions select one page of a listing.
type ListOptions struct {
	// Prefix restricts the listing to keys that start with it.
	Prefix string
	// Delimiter, when not empty, rolls keys that contain it after Prefix
	// up into CommonPrefixes (the key up to and including the delimiter).
	Delimiter string
	// StartAfter lists only keys (and common prefixes) after it in byte
	// order. Ignored when ContinuationToken is set.
	StartAfter string
	// ContinuationToken is a ListResult.NextToken from an earlier call
	// with the same Prefix and Delimiter. It is opaque to the caller.
	ContinuationToken string
	// MaxKeys bounds Objects plus CommonPrefixes; 0 or more than
	// MaxListKeys means MaxListKeys.
	MaxKeys int
	// WithMetadata asks for each listed object's user metadata. Stores
	// that can list it (the local store, MinIO) fill ObjectInfo.Metadata;
	// others (plain S3) leave it nil, and the caller must HEAD.
	WithMetadata bool
}

// ListResult is one page of a listing.
type ListResult struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	// IsTruncated reports whether more entries follow; pass NextToken as
	// ListOptions.ContinuationToken to get them.
	IsTruncated bool
	NextToken   string
}

// PartInfo describes an uploaded part.
type PartInfo struct {
	PartNumber   int
	ETag         string
	Size         int64
	LastModified time.Time
}

// CompletePart names a part to assemble by number and ETag (quotes are
// ignored).
type CompletePart struct {
	PartNumber int
	ETag       string
}

// MaxParts is the largest part number of a multipart upload.
const MaxParts = 10000

// ListPartsOptions select one page of ListParts.
type ListPartsOptions struct {
	// PartNumberMarker lists only parts with a greater number.
	PartNumberMarker int
	// MaxParts bounds the page; 0 or more than 1000 means 1000.
	MaxParts int
}

// ListPartsResult is one page of ListParts.
type ListPartsResult struct {
	Parts []PartInfo
	// IsTruncated reports whether more parts follow, from
	// NextPartNumberMarker on.
	IsTruncated          bool
	NextPartNumberMarker int
}

// ListUploadsOptions select one page of ListMultipartUploads.
type ListUploadsOptions struct {
	Prefix string
	// KeyMarker and UploadIDMarker continue a truncated listing: uploads
	// of keys after KeyMarker, or of KeyMarker itself after the upload
	// UploadIDMarker.
	KeyMarker      string
	UploadIDMarker string
	// MaxUploads bounds the page; 0 or more than 1000 means 1000.
	MaxUploads int
}

// UploadInfo describes a multipart upload in progress.
type UploadInfo struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// ListUploadsResult is one page of ListMultipartUploads.
type ListUploadsResult struct {
	Uploads            []UploadInfo
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

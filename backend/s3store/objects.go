package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
)

// PutObject stores body: one streamed PUT for a known size up to 5 GiB,
// else a multipart upload holding one part in memory (see the package
// doc). The result's LastModified is zero: S3 does not report it on a
// put (HeadObject does).
func (s *Store) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	info, err := s.putObject(ctx, bucket, key, body, size, opts)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return info, nil
}

func (s *Store) putObject(ctx context.Context, bucket, key string, body io.Reader, size int64,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	md, err := checkPut(key, opts)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	switch {
	case size < -1:
		return backend.ObjectInfo{}, fmt.Errorf("size %d: %w", size, backend.ErrInvalidArgument)
	case size >= 0 && size <= maxSinglePut:
		er := &exactReader{r: body, left: size}
		defer er.detach()
		return s.putSingle(ctx, bucket, key, er, size, md, opts)
	case size > maxSinglePut:
		er := &exactReader{r: body, left: size}
		defer er.detach()
		body = er
	}
	return s.putStream(ctx, bucket, key, body, md, opts)
}

// checkPut validates a key and write options and returns the normalised
// metadata.
func checkPut(key string, opts backend.PutOptions) (map[string]string, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if opts.IfNoneMatch != "" && opts.IfNoneMatch != "*" {
		return nil, fmt.Errorf("IfNoneMatch must be \"*\": %w", backend.ErrInvalidArgument)
	}
	return backend.NormalizeMetadata(opts.Metadata)
}

// putOptions are the minio-go options of a write: our metadata and
// conditions, and none of minio-go's own checksums (the proxy verifies
// the plaintext itself and authenticates the ciphertext).
func putOptions(md map[string]string, opts backend.PutOptions) minio.PutObjectOptions {
	po := minio.PutObjectOptions{
		UserMetadata:         encodeMetadata(md),
		SendContentMd5:       false,
		DisableContentSha256: true,
	}
	if opts.IfMatch != "" {
		po.SetMatchETag(trimETag(opts.IfMatch))
	}
	if opts.IfNoneMatch == "*" {
		po.SetMatchETagExcept("*")
	}
	return po
}

// putSingle sends body in one PUT request.
func (s *Store) putSingle(ctx context.Context, bucket, key string, body io.Reader, size int64,
	md map[string]string, opts backend.PutOptions) (backend.ObjectInfo, error) {
	up, err := s.core.PutObject(ctx, bucket, key, body, size, "", "", putOptions(md, opts))
	if err != nil {
		return backend.ObjectInfo{}, mapErr(err)
	}
	return backend.ObjectInfo{Key: key, Size: size, ETag: trimETag(up.ETag), Metadata: md}, nil
}

// GetObject sends a GET with a Range header for a partial read and
// returns the response body.
func (s *Store) GetObject(ctx context.Context, bucket, key string, offset, length int64,
	opts backend.GetOptions) (io.ReadCloser, backend.ObjectInfo, error) {
	rc, info, err := s.getObject(ctx, bucket, key, offset, length, opts)
	if err != nil {
		return nil, backend.ObjectInfo{}, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return rc, info, nil
}

func (s *Store) getObject(ctx context.Context, bucket, key string, offset, length int64,
	opts backend.GetOptions) (io.ReadCloser, backend.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, backend.ObjectInfo{}, err
	}
	if offset < 0 || length < -1 || length == 0 {
		return nil, backend.ObjectInfo{}, fmt.Errorf("range %d+%d: %w", offset, length,
			backend.ErrInvalidArgument)
	}
	rc, info, err := s.get(ctx, bucket, key, offset, length, opts)
	if offset == 0 && length > 0 && err != nil && isInvalidRange(err) {
		// Only an empty object refuses a range from 0: read it whole.
		rc, info, err = s.get(ctx, bucket, key, 0, -1, opts)
	}
	return rc, info, err
}

func isInvalidRange(err error) bool { return errors.Is(err, backend.ErrInvalidRange) }

func (s *Store) get(ctx context.Context, bucket, key string, offset, length int64,
	opts backend.GetOptions) (io.ReadCloser, backend.ObjectInfo, error) {
	var g minio.GetObjectOptions
	if offset > 0 || length > 0 {
		end := int64(0) // "bytes=offset-"
		if length > 0 {
			end = offset + length - 1
		}
		if err := g.SetRange(offset, end); err != nil {
			return nil, backend.ObjectInfo{}, mapErr(err)
		}
	}
	if opts.IfMatch != "" {
		g.SetMatchETag(trimETag(opts.IfMatch))
	}
	rc, oi, hdr, err := s.core.GetObject(ctx, bucket, key, g)
	if err != nil {
		return nil, backend.ObjectInfo{}, s.disambiguate(ctx, bucket, mapErr(err))
	}
	info := objectInfo(oi)
	if total, ok := rangeTotal(hdr); ok {
		info.Size = total
	}
	return rc, info, nil
}

// rangeTotal reads the whole size from a Content-Range header
// "bytes a-b/total".
func rangeTotal(h http.Header) (int64, bool) {
	cr := h.Get("Content-Range")
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(cr[i+1:], 10, 64)
	return n, err == nil
}

// objectInfo converts minio-go's object info.
func objectInfo(oi minio.ObjectInfo) backend.ObjectInfo {
	etag := trimETag(oi.ETag)
	return backend.ObjectInfo{
		Key: oi.Key, Size: oi.Size, ETag: etag, LastModified: oi.LastModified,
		Metadata: decodeMetadata(oi.UserMetadata), PartsCount: partsFromETag(etag),
		ContentType: oi.ContentType,
	}
}

// partsFromETag returns N of a multipart ETag "hex-N", else 0.
func partsFromETag(etag string) int {
	i := strings.LastIndexByte(etag, '-')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(etag[i+1:])
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// disambiguate turns a NoSuchKey into NoSuchBucket when the bucket is
// missing: a HEAD response has no body, so S3 cannot say which is gone.
func (s *Store) disambiguate(ctx context.Context, bucket string, err error) error {
	if !errors.Is(err, backend.ErrNoSuchKey) {
		return err
	}
	if ok, berr := s.core.BucketExists(ctx, bucket); berr == nil && !ok {
		return backend.ErrNoSuchBucket
	}
	return err
}

// HeadObject sends a HEAD request.
func (s *Store) HeadObject(ctx context.Context, bucket, key string) (backend.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("head %s/%s: %w", bucket, key, err)
	}
	oi, err := s.core.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("head %s/%s: %w", bucket, key,
			s.disambiguate(ctx, bucket, mapErr(err)))
	}
	return objectInfo(oi), nil
}

// DeleteObject sends a DELETE request; S3 answers success for a missing
// key.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	err := s.core.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, mapErr(err))
	}
	return nil
}

// CopyObject sends one server-side copy with the REPLACE metadata
// directive and opts.IfMatch as x-amz-copy-source-if-match. AWS S3
// refuses such a copy of a source over 5 GiB.
func (s *Store) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	info, err := s.copyObject(ctx, srcBucket, srcKey, dstBucket, dstKey, opts)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("copy %s/%s to %s/%s: %w",
			srcBucket, srcKey, dstBucket, dstKey, err)
	}
	return info, nil
}

func (s *Store) copyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	if err := checkKey(srcKey); err != nil {
		return backend.ObjectInfo{}, err
	}
	if opts.IfNoneMatch != "" {
		return backend.ObjectInfo{}, fmt.Errorf("IfNoneMatch on a copy: %w",
			backend.ErrInvalidArgument)
	}
	md, err := checkPut(dstKey, opts)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	headers := encodeMetadata(md)
	if headers == nil {
		headers = map[string]string{}
	}
	headers["x-amz-metadata-directive"] = "REPLACE"
	if opts.IfMatch != "" {
		headers["x-amz-copy-source-if-match"] = `"` + trimETag(opts.IfMatch) + `"`
	}
	oi, err := s.core.CopyObject(ctx, srcBucket, srcKey, dstBucket, dstKey, headers,
		minio.CopySrcOptions{}, minio.PutObjectOptions{})
	if err != nil {
		return backend.ObjectInfo{}, mapErr(err)
	}
	// The copy response has no size: take it, and the metadata as
	// stored, from a HEAD (a racing writer may show through).
	head, err := s.HeadObject(ctx, dstBucket, dstKey)
	if err != nil {
		// The copy succeeded; report what the copy response told.
		return backend.ObjectInfo{Key: dstKey, ETag: trimETag(oi.ETag),
			LastModified: oi.LastModified, Metadata: md}, nil
	}
	return head, nil
}

// checkKey validates a key. Beyond backend.ValidateKey it refuses a
// leading "/": MinIO silently takes "/a" and "//a" for "a", so a read,
// write or delete of "/a" would act on another object.
func checkKey(key string) error {
	if err := backend.ValidateKey(key); err != nil {
		return err
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("key with a leading slash: %w", backend.ErrInvalidKey)
	}
	return nil
}

// trimETag removes the quotes around an ETag.
func trimETag(etag string) string {
	return strings.TrimSuffix(strings.TrimPrefix(etag, `"`), `"`)
}

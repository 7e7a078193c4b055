package s3store

import (
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
)

// CreateMultipartUpload starts an upload with the metadata of opts.
func (s *Store) CreateMultipartUpload(ctx context.Context, bucket, key string,
	opts backend.PutOptions) (string, error) {
	if opts.IfMatch != "" || opts.IfNoneMatch != "" {
		return "", fmt.Errorf("create multipart upload %s/%s: conditions belong to completion: %w",
			bucket, key, backend.ErrInvalidArgument)
	}
	md, err := checkPut(key, opts)
	if err != nil {
		return "", fmt.Errorf("create multipart upload %s/%s: %w", bucket, key, err)
	}
	id, err := s.core.NewMultipartUpload(ctx, bucket, key, putOptions(md, opts))
	if err != nil {
		return "", fmt.Errorf("create multipart upload %s/%s: %w", bucket, key, mapErr(err))
	}
	return id, nil
}

// UploadPart streams one part (no buffering; the request is not retried,
// as body cannot be rewound).
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, partNumber int,
	body io.Reader, size int64) (backend.PartInfo, error) {
	if partNumber < 1 || partNumber > backend.MaxParts || size < 0 {
		return backend.PartInfo{}, fmt.Errorf("upload part %d of %s/%s, size %d: %w",
			partNumber, bucket, key, size, backend.ErrInvalidArgument)
	}
	if err := checkKey(key); err != nil {
		return backend.PartInfo{}, fmt.Errorf("upload part of %s/%s: %w", bucket, key, err)
	}
	er := &exactReader{r: body, left: size}
	defer er.detach()
	p, err := s.core.PutObjectPart(ctx, bucket, key, uploadID, partNumber, er, size,
		minio.PutObjectPartOptions{DisableContentSha256: true})
	if err != nil {
		return backend.PartInfo{}, fmt.Errorf("upload part %d of %s/%s: %w", partNumber,
			bucket, key, mapErr(err))
	}
	return backend.PartInfo{PartNumber: partNumber, ETag: trimETag(p.ETag), Size: size,
		LastModified: p.LastModified}, nil
}

// CompleteMultipartUpload sends the part list with the conditions of
// opts.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string,
	parts []backend.CompletePart, opts backend.CompleteOptions) (backend.ObjectInfo, error) {
	info, err := s.complete(ctx, bucket, key, uploadID, parts, opts)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("complete multipart upload %s/%s: %w",
			bucket, key, err)
	}
	return info, nil
}

func (s *Store) complete(ctx context.Context, bucket, key, id string,
	parts []backend.CompletePart, opts backend.CompleteOptions) (backend.ObjectInfo, error) {
	if opts.IfNoneMatch != "" && opts.IfNoneMatch != "*" {
		return backend.ObjectInfo{}, fmt.Errorf("IfNoneMatch must be \"*\": %w",
			backend.ErrInvalidArgument)
	}
	if err := checkKey(key); err != nil {
		return backend.ObjectInfo{}, err
	}
	if len(parts) == 0 {
		return backend.ObjectInfo{}, fmt.Errorf("no parts: %w", backend.ErrInvalidArgument)
	}
	mp := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		mp[i] = minio.CompletePart{PartNumber: p.PartNumber, ETag: trimETag(p.ETag)}
	}
	cond := backend.PutOptions{IfMatch: opts.IfMatch, IfNoneMatch: opts.IfNoneMatch}
	if _, err := s.core.CompleteMultipartUpload(ctx, bucket, key, id, mp,
		completeOptions(cond)); err != nil {
		return backend.ObjectInfo{}, mapErr(err)
	}
	// The response has neither size nor metadata: take them from a HEAD.
	return s.HeadObject(ctx, bucket, key)
}

// AbortMultipartUpload aborts an upload.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if err := s.core.AbortMultipartUpload(ctx, bucket, key, uploadID); err != nil {
		return fmt.Errorf("abort multipart upload %s/%s: %w", bucket, key, mapErr(err))
	}
	return nil
}

// ListParts sends one ListParts request.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string,
	opts backend.ListPartsOptions) (backend.ListPartsResult, error) {
	max := opts.MaxParts
	if max <= 0 || max > 1000 {
		max = 1000
	}
	res, err := s.core.ListObjectParts(ctx, bucket, key, uploadID, opts.PartNumberMarker, max)
	if err != nil {
		return backend.ListPartsResult{}, fmt.Errorf("list parts of %s/%s: %w", bucket, key,
			mapErr(err))
	}
	out := backend.ListPartsResult{IsTruncated: res.IsTruncated,
		NextPartNumberMarker: res.NextPartNumberMarker}
	for _, p := range res.ObjectParts {
		out.Parts = append(out.Parts, backend.PartInfo{PartNumber: p.PartNumber,
			ETag: trimETag(p.ETag), Size: p.Size, LastModified: p.LastModified})
	}
	return out, nil
}

// ListMultipartUploads sends one ListMultipartUploads request.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string,
	opts backend.ListUploadsOptions) (backend.ListUploadsResult, error) {
	max := opts.MaxUploads
	if max <= 0 || max > 1000 {
		max = 1000
	}
	res, err := s.core.ListMultipartUploads(ctx, bucket, opts.Prefix, opts.KeyMarker,
		opts.UploadIDMarker, "", max)
	if err != nil {
		return backend.ListUploadsResult{}, fmt.Errorf("list multipart uploads of %s: %w",
			bucket, mapErr(err))
	}
	out := backend.ListUploadsResult{IsTruncated: res.IsTruncated,
		NextKeyMarker: res.NextKeyMarker, NextUploadIDMarker: res.NextUploadIDMarker}
	for _, u := range res.Uploads {
		out.Uploads = append(out.Uploads, backend.UploadInfo{Key: u.Key, UploadID: u.UploadID,
			Initiated: u.Initiated})
	}
	return out, nil
}

package s3store

import (
	"context"
	"fmt"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
)

// ListObjects sends one ListObjectsV2 request. The server's continuation
// token is passed through as NextToken. minio-go's call takes no
// context, so ctx is checked only before sending.
func (s *Store) ListObjects(ctx context.Context, bucket string,
	opts backend.ListOptions) (backend.ListResult, error) {
	if err := ctx.Err(); err != nil {
		return backend.ListResult{}, fmt.Errorf("list %s: %w", bucket, err)
	}
	max := opts.MaxKeys
	if max < 0 {
		return backend.ListResult{}, fmt.Errorf("list %s: max keys %d: %w", bucket, max,
			backend.ErrInvalidArgument)
	}
	if max == 0 || max > backend.MaxListKeys {
		max = backend.MaxListKeys
	}
	startAfter := opts.StartAfter
	if opts.ContinuationToken != "" {
		startAfter = ""
	}
	var res minio.ListBucketV2Result
	var err error
	if opts.WithMetadata && s.lister != nil {
		res, err = s.lister.list(ctx, bucket, opts, max)
	} else {
		res, err = s.core.ListObjectsV2(bucket, opts.Prefix, startAfter, opts.ContinuationToken,
			opts.Delimiter, max)
	}
	if err != nil {
		return backend.ListResult{}, fmt.Errorf("list %s: %w", bucket, mapErr(err))
	}
	if res.IsTruncated && (res.NextContinuationToken == "" ||
		res.NextContinuationToken == opts.ContinuationToken) {
		// Passing this on would make the caller loop forever.
		return backend.ListResult{}, fmt.Errorf("list %s: server made no progress "+
			"(prefix %q, delimiter %q)", bucket, opts.Prefix, opts.Delimiter)
	}
	out := backend.ListResult{IsTruncated: res.IsTruncated, NextToken: res.NextContinuationToken,
		Objects: make([]backend.ObjectInfo, 0, len(res.Contents))}
	for _, o := range res.Contents {
		info := backend.ObjectInfo{Key: o.Key, Size: o.Size, ETag: trimETag(o.ETag),
			LastModified: o.LastModified}
		if opts.WithMetadata && o.UserMetadata != nil {
			info.Metadata = listedMetadata(o.UserMetadata)
		}
		out.Objects = append(out.Objects, info)
	}
	for _, p := range res.CommonPrefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, p.Prefix)
	}
	return out, nil
}

package s3store

import (
	"context"
	"fmt"
	"sort"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
)

// CreateBucket checks the name against the S3 rules and creates the
// bucket in the configured region.
func (s *Store) CreateBucket(ctx context.Context, bucket string) error {
	if err := backend.ValidateBucketName(bucket); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if err := s.core.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, mapErr(err))
	}
	return nil
}

// DeleteBucket deletes an empty bucket.
func (s *Store) DeleteBucket(ctx context.Context, bucket string) error {
	if err := s.core.RemoveBucket(ctx, bucket); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucket, mapErr(err))
	}
	return nil
}

// HeadBucket sends a HEAD request for the bucket.
func (s *Store) HeadBucket(ctx context.Context, bucket string) error {
	ok, err := s.core.BucketExists(ctx, bucket)
	if err != nil {
		return fmt.Errorf("head bucket %s: %w", bucket, mapErr(err))
	}
	if !ok {
		return fmt.Errorf("head bucket %s: %w", bucket, backend.ErrNoSuchBucket)
	}
	return nil
}

// ListBuckets lists the buckets the credentials own, sorted by name.
func (s *Store) ListBuckets(ctx context.Context) ([]backend.BucketInfo, error) {
	bs, err := s.core.ListBuckets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", mapErr(err))
	}
	out := make([]backend.BucketInfo, len(bs))
	for i, b := range bs {
		out[i] = backend.BucketInfo{Name: b.Name, Created: b.CreationDate}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

package localstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// bucketMarker is the file whose presence makes a bucket exist.
const bucketMarker = "_bucket.json"

type bucketMeta struct {
	Created time.Time `json:"created"`
}

func markerPath(bucket string) string { return bucketPath(bucket) + "/" + bucketMarker }

// CreateBucket creates the bucket directory and its marker.
func (s *Store) CreateBucket(ctx context.Context, bucket string) error {
	if err := backend.ValidateBucketName(bucket); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	s.bucketMu.Lock()
	defer s.bucketMu.Unlock()
	if _, err := s.root.Stat(markerPath(bucket)); err == nil {
		return fmt.Errorf("create bucket %s: %w", bucket, backend.ErrBucketExists)
	}
	js, err := json.Marshal(bucketMeta{Created: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	t, err := s.createTemp()
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	if _, err := t.f.Write(js); err != nil {
		t.discard(s)
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	if err := t.f.Sync(); err != nil {
		t.discard(s)
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	t.f.Close()
	if err := s.commit(t, markerPath(bucket)); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return s.syncDir(bucketsDir)
}

// checkBucket returns nil if bucket exists, else an error wrapping
// ErrNoSuchBucket or ErrInvalidBucketName.
func (s *Store) checkBucket(bucket string) error {
	if err := backend.ValidateBucketName(bucket); err != nil {
		return err
	}
	if _, err := s.root.Stat(markerPath(bucket)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("bucket %s: %w", bucket, backend.ErrNoSuchBucket)
		}
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return nil
}

// HeadBucket reports whether the bucket exists.
func (s *Store) HeadBucket(ctx context.Context, bucket string) error {
	if err := s.checkBucket(bucket); err != nil {
		return fmt.Errorf("head bucket: %w", err)
	}
	return nil
}

// DeleteBucket removes an empty bucket. Multipart uploads in progress in
// the bucket are discarded with it (as MinIO does).
func (s *Store) DeleteBucket(ctx context.Context, bucket string) error {
	s.bucketMu.Lock()
	defer s.bucketMu.Unlock()
	if err := s.checkBucket(bucket); err != nil {
		return fmt.Errorf("delete bucket: %w", err)
	}
	empty, err := s.bucketEmpty(bucket)
	if err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucket, err)
	}
	if !empty {
		return fmt.Errorf("delete bucket %s: %w", bucket, backend.ErrBucketNotEmpty)
	}
	// The marker goes first: once it is gone the bucket does not exist,
	// whatever a crash leaves of the rest.
	if err := s.root.Remove(markerPath(bucket)); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucket, err)
	}
	if err := s.root.RemoveAll(uploadsDir + "/" + bucket); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucket, err)
	}
	if err := s.root.RemoveAll(bucketPath(bucket)); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucket, err)
	}
	return nil
}

// bucketEmpty reports whether the bucket holds no object file (empty
// directories left behind by deletes do not count).
func (s *Store) bucketEmpty(bucket string) (bool, error) {
	errFound := errors.New("found")
	err := fs.WalkDir(s.root.FS(), bucketPath(bucket), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() != bucketMarker {
			return errFound
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return false, nil
	}
	return err == nil, err
}

// ListBuckets returns every bucket, sorted by name.
func (s *Store) ListBuckets(ctx context.Context) ([]backend.BucketInfo, error) {
	entries, err := fs.ReadDir(s.root.FS(), bucketsDir)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	var out []backend.BucketInfo
	for _, e := range entries {
		js, err := s.root.ReadFile(markerPath(e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted, or half created
		}
		if err != nil {
			return nil, fmt.Errorf("list buckets: %w", err)
		}
		var m bucketMeta
		if err := json.Unmarshal(js, &m); err != nil {
			return nil, fmt.Errorf("list buckets: %s: %w", e.Name(), err)
		}
		out = append(out, backend.BucketInfo{Name: e.Name(), Created: m.Created})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

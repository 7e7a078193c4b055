package localstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/cloakproxy/cloak/backend"
)

// PutObject writes body to a temp file and renames it into place; see
// the package doc for atomicity. Memory use is one copy buffer.
func (s *Store) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	info, err := s.putObject(ctx, bucket, key, body, size, opts)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", bucket, key, noSpace(err))
	}
	return info, nil
}

func (s *Store) putObject(ctx context.Context, bucket, key string, body io.Reader, size int64,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	md, err := checkPut(key, opts)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	if size < -1 {
		return backend.ObjectInfo{}, fmt.Errorf("size %d: %w", size, backend.ErrInvalidArgument)
	}
	if err := s.checkBucket(bucket); err != nil {
		return backend.ObjectInfo{}, err
	}
	t, err := s.createTemp()
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	n, sum, err := t.writeData(ctxReader{ctx, body}, size)
	if err != nil {
		t.discard(s)
		return backend.ObjectInfo{}, err
	}
	tr := trailer{Size: n, ETag: hex.EncodeToString(sum), ModNanos: s.now().UnixNano(), Metadata: md}
	return s.finishAndInstall(t, tr, bucket, key, opts)
}

// finishAndInstall completes the temp file with tr and installs it as
// bucket/key under opts' conditions.
func (s *Store) finishAndInstall(t *tempFile, tr trailer, bucket, key string,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	if err := t.finish(tr, !s.noSync); err != nil {
		s.root.Remove(t.name)
		return backend.ObjectInfo{}, err
	}
	if err := s.install(t, bucket, key, opts); err != nil {
		return backend.ObjectInfo{}, err
	}
	return tr.info(key), nil
}

// checkPut validates a key and write options and returns the normalised
// metadata.
func checkPut(key string, opts backend.PutOptions) (map[string]string, error) {
	if err := backend.ValidateKey(key); err != nil {
		return nil, err
	}
	if opts.IfNoneMatch != "" && opts.IfNoneMatch != "*" {
		return nil, fmt.Errorf("IfNoneMatch must be \"*\": %w", backend.ErrInvalidArgument)
	}
	return backend.NormalizeMetadata(opts.Metadata)
}

// install renames a finished temp file onto bucket/key if the bucket
// still exists and opts' conditions hold; otherwise it removes the file.
func (s *Store) install(t *tempFile, bucket, key string, opts backend.PutOptions) error {
	s.bucketMu.RLock()
	defer s.bucketMu.RUnlock()
	unlock := s.lockKey(bucket, key)
	defer unlock()
	err := s.checkBucket(bucket)
	if err == nil {
		err = s.checkConditions(bucket, key, opts)
	}
	if err != nil {
		s.root.Remove(t.name)
		return err
	}
	return s.commit(t, objectPath(bucket, key))
}

// checkConditions evaluates IfMatch and IfNoneMatch against the current
// object. The caller holds the key's lock.
func (s *Store) checkConditions(bucket, key string, opts backend.PutOptions) error {
	if opts.IfMatch == "" && opts.IfNoneMatch == "" {
		return nil
	}
	tr, err := s.statData(objectPath(bucket, key))
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if opts.IfNoneMatch == "*" && exists {
		return fmt.Errorf("object exists: %w", backend.ErrPreconditionFailed)
	}
	if opts.IfMatch != "" && (!exists || tr.ETag != trimETag(opts.IfMatch)) {
		return fmt.Errorf("etag does not match: %w", backend.ErrPreconditionFailed)
	}
	return nil
}

// GetObject opens the object file and returns a reader of the range.
func (s *Store) GetObject(ctx context.Context, bucket, key string, offset, length int64,
	opts backend.GetOptions) (io.ReadCloser, backend.ObjectInfo, error) {
	rc, info, err := s.getObject(bucket, key, offset, length, opts)
	if err != nil {
		return nil, backend.ObjectInfo{}, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return rc, info, nil
}

func (s *Store) getObject(bucket, key string, offset, length int64,
	opts backend.GetOptions) (io.ReadCloser, backend.ObjectInfo, error) {
	if offset < 0 || length < -1 || length == 0 {
		return nil, backend.ObjectInfo{}, fmt.Errorf("range %d+%d: %w", offset, length,
			backend.ErrInvalidArgument)
	}
	f, tr, err := s.openObject(bucket, key)
	if err != nil {
		return nil, backend.ObjectInfo{}, err
	}
	if opts.IfMatch != "" && trimETag(opts.IfMatch) != tr.ETag {
		f.Close()
		return nil, backend.ObjectInfo{}, fmt.Errorf("etag does not match: %w",
			backend.ErrPreconditionFailed)
	}
	n, err := rangeLength(tr.Size, offset, length)
	if err != nil {
		f.Close()
		return nil, backend.ObjectInfo{}, err
	}
	return &fileRange{SectionReader: io.NewSectionReader(f, offset, n), f: f}, tr.info(key), nil
}

// rangeLength returns how many bytes of an object of size the range
// [offset, offset+length) holds, length -1 meaning to the end.
func rangeLength(size, offset, length int64) (int64, error) {
	if offset >= size && !(offset == 0 && size == 0) {
		return 0, fmt.Errorf("offset %d of %d bytes: %w", offset, size, backend.ErrInvalidRange)
	}
	if length == -1 || length > size-offset {
		return size - offset, nil
	}
	return length, nil
}

// fileRange reads a section of an object file and closes the file.
type fileRange struct {
	*io.SectionReader
	f *os.File
}

func (r *fileRange) Close() error { return r.f.Close() }

// openObject opens bucket/key and reads its trailer. The caller closes
// the file.
func (s *Store) openObject(bucket, key string) (*os.File, trailer, error) {
	if err := backend.ValidateKey(key); err != nil {
		return nil, trailer{}, err
	}
	if err := s.checkBucket(bucket); err != nil {
		return nil, trailer{}, err
	}
	f, tr, err := s.openData(objectPath(bucket, key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, trailer{}, backend.ErrNoSuchKey
	}
	return f, tr, err
}

// HeadObject reads the object's trailer.
func (s *Store) HeadObject(ctx context.Context, bucket, key string) (backend.ObjectInfo, error) {
	f, tr, err := s.openObject(bucket, key)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("head %s/%s: %w", bucket, key, err)
	}
	f.Close()
	return tr.info(key), nil
}

// DeleteObject removes the object file and then any directories the
// removal left empty.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string) error {
	if err := backend.ValidateKey(key); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	if err := s.checkBucket(bucket); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	p := objectPath(bucket, key)
	unlock := s.lockKey(bucket, key)
	err := s.root.Remove(p)
	unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	s.pruneDirs(path.Dir(p), bucketPath(bucket))
	return nil
}

// pruneDirs removes dir and its parents up to (not including) stop while
// they are empty; the first failure (a directory is not empty) ends it.
// After the first removal it opens the ancestors top-down, each relative
// to its parent, so a deep key costs one open and one remove per level.
func (s *Store) pruneDirs(dir, stop string) {
	if dir == stop || s.root.Remove(dir) != nil || path.Dir(dir) == stop {
		return
	}
	comps := strings.Split(strings.TrimPrefix(path.Dir(dir), stop+"/"), "/")
	roots := make([]*os.Root, 0, len(comps))
	defer func() {
		for _, r := range roots {
			r.Close()
		}
	}()
	r, err := s.root.OpenRoot(stop)
	for i := 0; err == nil; i++ {
		roots = append(roots, r)
		if i == len(comps)-1 {
			break
		}
		r, err = r.OpenRoot(comps[i])
	}
	if err != nil {
		return
	}
	for i := len(comps) - 1; i >= 0; i-- {
		if roots[i].Remove(comps[i]) != nil {
			return
		}
	}
}

// CopyObject streams the source's data into a new object with
// opts.Metadata; opts.IfMatch is checked against the source.
func (s *Store) CopyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	info, err := s.copyObject(ctx, srcBucket, srcKey, dstBucket, dstKey, opts)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("copy %s/%s to %s/%s: %w",
			srcBucket, srcKey, dstBucket, dstKey, noSpace(err))
	}
	return info, nil
}

func (s *Store) copyObject(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string,
	opts backend.PutOptions) (backend.ObjectInfo, error) {
	if opts.IfNoneMatch != "" {
		return backend.ObjectInfo{}, fmt.Errorf("IfNoneMatch on a copy: %w",
			backend.ErrInvalidArgument)
	}
	md, err := checkPut(dstKey, opts)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	if err := s.checkBucket(dstBucket); err != nil {
		return backend.ObjectInfo{}, err
	}
	src, tr, err := s.openObject(srcBucket, srcKey)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	defer src.Close()
	// The open file is the version whose trailer was read, whatever
	// renames follow, so the check and the data agree.
	if opts.IfMatch != "" && tr.ETag != trimETag(opts.IfMatch) {
		return backend.ObjectInfo{}, fmt.Errorf("source etag does not match: %w",
			backend.ErrPreconditionFailed)
	}
	t, err := s.createTemp()
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	body := ctxReader{ctx, io.NewSectionReader(src, 0, tr.Size)}
	n, sum, err := t.writeData(body, tr.Size)
	if err != nil {
		t.discard(s)
		return backend.ObjectInfo{}, err
	}
	out := trailer{Size: n, ETag: hex.EncodeToString(sum), ModNanos: s.now().UnixNano(), Metadata: md}
	return s.finishAndInstall(t, out, dstBucket, dstKey, backend.PutOptions{})
}

// ctxReader fails reads once its context is done, so a long copy stops
// when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// trimETag removes the quotes a client may keep around an ETag.
func trimETag(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag[1 : len(etag)-1]
	}
	return etag
}

// Package localstore is a [backend.Store] in a local directory: the
// embedded store behind Cloak's zero-configuration start.
//
// # Layout
//
// Below the store directory:
//
//	buckets/<bucket>/_bucket.json   marks the bucket, holds its creation time
//	buckets/<bucket>/<key path>     one file per object (see below)
//	uploads/<bucket>/<id>/upload.json   a multipart upload in progress
//	uploads/<bucket>/<id>/p00001    its parts
//	tmp/                            files being written
//
// Keys map to paths by an escaping scheme (see keyPath) that is one to
// one and never leaves the bucket directory; every file access also goes
// through an [os.Root], so no path can escape the store directory.
//
// # Atomicity
//
// An object file holds the data followed by a JSON trailer (size, ETag,
// modification time, metadata), so data and metadata appear together. A
// put writes a temp file in tmp/ (same file system), syncs it, renames it
// into place and syncs the directory: readers and a crash see the old
// object or the new one, never a torn one. Renames onto one key are
// serialised, which makes conditional writes atomic; otherwise the last
// writer wins. Multipart parts are written the same way; completing an
// upload streams the parts into one temp file and renames it.
//
// # Limits
//
// The store assumes one process owns the directory. Listing walks the
// bucket directory below the prefix and sorts the keys in memory on each
// call, reading the trailers of the returned page only: fine for the
// tens of thousands of objects of a local setup, not for millions. Keys
// are stored escaped, so a key costs up to three times its length in path
// bytes; a key of 1024 non-ASCII bytes still fits the 4096-byte Linux
// path limit when the store directory's path is short (under ~900 bytes).
package localstore

import (
	"fmt"
	"hash/maphash"
	"os"
	"sync"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// Internal directories below the store root.
const (
	bucketsDir = "buckets"
	uploadsDir = "uploads"
	tmpDir     = "tmp"
)

// DefaultMinPartSize is the S3 minimum size of every part but the last.
const DefaultMinPartSize = 5 << 20

// Store is a backend.Store in a local directory. Create it with New.
type Store struct {
	// MinPartSize is the smallest size of every part but the last of a
	// multipart upload; New sets DefaultMinPartSize. Tests may lower it
	// before using the store.
	MinPartSize int64

	root *os.Root
	// bucketMu is held for writing while buckets are created or deleted,
	// and for reading while objects and uploads are committed, so a
	// commit never recreates a deleted bucket's directory.
	bucketMu sync.RWMutex
	// keyLocks serialise commits onto one key, uploadLocks the changes
	// of one upload; both are striped by a hash of the name. Completing
	// an upload holds its upload lock, then a key lock: never the other
	// way round, and never two locks of one array.
	keyLocks    [64]sync.Mutex
	uploadLocks [64]sync.Mutex
	seed        maphash.Seed
	now         func() time.Time
	// noSync skips fsync; for tests only.
	noSync bool
}

// New opens the store in dir, creating dir and the internal directories
// if needed. Temp files left by a crash more than a day ago are removed.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create store directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open store directory: %w", err)
	}
	for _, d := range []string{bucketsDir, uploadsDir, tmpDir} {
		if err := root.MkdirAll(d, 0o700); err != nil {
			root.Close()
			return nil, fmt.Errorf("create %s directory: %w", d, err)
		}
	}
	s := &Store{
		MinPartSize: DefaultMinPartSize, root: root,
		seed: maphash.MakeSeed(), now: time.Now,
	}
	s.removeStaleTemps(24 * time.Hour)
	return s, nil
}

// Close releases the store directory. The store must not be used after.
func (s *Store) Close() error { return s.root.Close() }

// removeStaleTemps deletes temp files older than age, best effort.
func (s *Store) removeStaleTemps(age time.Duration) {
	d, err := s.root.Open(tmpDir)
	if err != nil {
		return
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && s.now().Sub(info.ModTime()) > age {
			s.root.Remove(tmpDir + "/" + e.Name())
		}
	}
}

// lockKey locks the stripe of bucket/key and returns its unlock function.
func (s *Store) lockKey(bucket, key string) func() {
	return lockStripe(&s.keyLocks, s.seed, bucket+"/"+key)
}

// lockUpload locks the stripe of an upload ID.
func (s *Store) lockUpload(id string) func() {
	return lockStripe(&s.uploadLocks, s.seed, id)
}

func lockStripe(locks *[64]sync.Mutex, seed maphash.Seed, name string) func() {
	mu := &locks[maphash.String(seed, name)%uint64(len(locks))]
	mu.Lock()
	return mu.Unlock
}

func bucketPath(bucket string) string { return bucketsDir + "/" + bucket }

func objectPath(bucket, key string) string {
	return bucketPath(bucket) + "/" + keyPath(key)
}

var _ backend.Store = (*Store)(nil)

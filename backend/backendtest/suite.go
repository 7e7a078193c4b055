// Package backendtest is the conformance suite every [backend.Store]
// must pass. A store's tests call [Run] with a constructor; the same
// named subtests then run against the local store and a real MinIO, so
// the two cannot drift apart.
package backendtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// Config describes the store under test.
type Config struct {
	// NewStore returns the store for one subtest. Stores may be shared
	// between subtests (as one MinIO server is): the suite gives every
	// bucket it creates a unique name and deletes it afterwards.
	NewStore func(t *testing.T) backend.Store
	// PartSize is the size the multipart tests give every part but the
	// last; it must be at least the store's minimum part size. Keep it
	// small where the store allows (the local store's minimum can be
	// lowered); MinIO needs 5 MiB.
	PartSize int64
	// UnknownSizeBytes is the size of the streamed put of unknown length;
	// it should exceed the store's buffer (for the S3 store, several
	// parts' worth). At least 1 MiB.
	UnknownSizeBytes int64
	// AllKeys requires the store to hold every valid key. Without it a
	// store may refuse keys it cannot represent (MinIO refuses "a//b",
	// "." and ".." segments and segments over 255 bytes), but only with
	// ErrInvalidKey, and must hold the others exactly.
	AllKeys bool
	// ListUploadsByPrefix requires ListMultipartUploads to filter by any
	// key prefix. Without it only a complete key is tested as the prefix
	// (MinIO lists uploads of one key only).
	ListUploadsByPrefix bool
	// ListsNestedKeys requires listings to show an object "a/b" or "a/"
	// next to keys below "a/b/" or "a/". MinIO (single drive) stores and
	// reads such keys but lists them wrongly: it leaves out keys below an
	// object, and ends a delimited listing early at a "dir/" object.
	ListsNestedKeys bool
	// ListsMetadata requires ListOptions.WithMetadata to return each
	// object's user metadata (the local store and MinIO can; plain S3
	// cannot, and must then leave Metadata nil).
	ListsMetadata bool
	// ListsAnyDelimiter requires delimiters other than "/" to work with
	// small pages. MinIO repeats one page forever for such a delimiter.
	ListsAnyDelimiter bool
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, cfg Config) {
	if cfg.NewStore == nil || cfg.PartSize <= 0 || cfg.UnknownSizeBytes < 1<<20 {
		t.Fatal("backendtest: Config needs NewStore, PartSize and UnknownSizeBytes >= 1 MiB")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, cfg Config)
	}{
		{"Buckets", testBuckets},
		{"BucketNotEmpty", testBucketNotEmpty},
		{"InvalidBucketName", testInvalidBucketName},
		{"PutGetHead", testPutGetHead},
		{"EmptyObject", testEmptyObject},
		{"Overwrite", testOverwrite},
		{"Metadata", testMetadata},
		{"InvalidMetadata", testInvalidMetadata},
		{"Ranges", testRanges},
		{"GetIfMatch", testGetIfMatch},
		{"UnknownSizeStreams", testUnknownSize},
		{"SizeMismatch", testSizeMismatch},
		{"FailedPutKeepsOldObject", testFailedPut},
		{"Delete", testDelete},
		{"AwkwardKeys", testAwkwardKeys},
		{"NestedKeys", testNestedKeys},
		{"InvalidKeys", testInvalidKeys},
		{"ListPagination", testListPagination},
		{"ListErrors", testListErrors},
		{"ListMetadata", testListMetadata},
		{"Copy", testCopy},
		{"CopyOntoItself", testCopyOntoItself},
		{"ConditionalPut", testConditionalPut},
		{"Multipart", testMultipart},
		{"MultipartSubset", testMultipartSubset},
		{"MultipartErrors", testMultipartErrors},
		{"MultipartAbort", testMultipartAbort},
		{"MultipartConditional", testMultipartConditional},
		{"ListParts", testListParts},
		{"ListMultipartUploads", testListUploads},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentParts", testConcurrentParts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, cfg) })
	}
}

// ctx returns a context that ends with the test, bounded in time.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// newBucket creates a uniquely named bucket and removes it, with
// everything in it, when the test ends.
func newBucket(t *testing.T, st backend.Store) string {
	t.Helper()
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "ct-" + hex.EncodeToString(rnd[:])
	if err := st.CreateBucket(ctx(t), name); err != nil {
		t.Fatalf("CreateBucket(%s): %v", name, err)
	}
	t.Cleanup(func() { removeBucket(t, st, name) })
	return name
}

// removeBucket empties and deletes a bucket, best effort, so that a
// shared server does not fill up.
func removeBucket(t *testing.T, st backend.Store, bucket string) {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 100 {
		up, err := st.ListMultipartUploads(c, bucket, backend.ListUploadsOptions{})
		if err != nil || len(up.Uploads) == 0 {
			break
		}
		for _, u := range up.Uploads {
			st.AbortMultipartUpload(c, bucket, u.Key, u.UploadID)
		}
	}
	for range 100 {
		res, err := st.ListObjects(c, bucket, backend.ListOptions{})
		if err != nil || len(res.Objects) == 0 {
			break
		}
		for _, o := range res.Objects {
			st.DeleteObject(c, bucket, o.Key)
		}
	}
	if err := st.DeleteBucket(c, bucket); err != nil && !errors.Is(err, backend.ErrNoSuchBucket) {
		t.Logf("cleanup: delete bucket %s: %v", bucket, err)
	}
}

// data returns n deterministic pseudo-random bytes for seed.
func data(seed uint64, n int64) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	r.Read(b)
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// put stores b under key and fails the test on error.
func put(t *testing.T, st backend.Store, bucket, key string, b []byte,
	md map[string]string) backend.ObjectInfo {
	t.Helper()
	info, err := st.PutObject(ctx(t), bucket, key, bytes.NewReader(b), int64(len(b)),
		backend.PutOptions{Metadata: md})
	if err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
	return info
}

// get reads [off, off+n) of key and fails the test on error.
func get(t *testing.T, st backend.Store, bucket, key string,
	off, n int64) ([]byte, backend.ObjectInfo) {
	t.Helper()
	rc, info, err := st.GetObject(ctx(t), bucket, key, off, n, backend.GetOptions{})
	if err != nil {
		t.Fatalf("GetObject(%q, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("GetObject(%q): read: %v", key, err)
	}
	return b, info
}

// wantErr fails unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// headMissing fails unless key does not exist.
func headMissing(t *testing.T, st backend.Store, bucket, key string) {
	t.Helper()
	_, err := st.HeadObject(ctx(t), bucket, key)
	wantErr(t, "HeadObject("+key+")", err, backend.ErrNoSuchKey)
}

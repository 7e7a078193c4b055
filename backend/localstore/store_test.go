package localstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

func TestKeysStayInsideTheStore(t *testing.T) {
	outer := t.TempDir()
	s, err := New(filepath.Join(outer, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := context.Background()
	if err := s.CreateBucket(c, "b"+"kt"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"../../escaped", "../../../../tmp/x", "..", "/etc/passwd",
		"a/../../../b", "_bucket.json", "..\\..\\win"} {
		body := []byte("data of " + k)
		if _, err := s.PutObject(c, "bkt", k, bytes.NewReader(body), int64(len(body)),
			backend.PutOptions{}); err != nil {
			t.Fatalf("PutObject(%q): %v", k, err)
		}
	}
	entries, _ := os.ReadDir(outer)
	if len(entries) != 1 || entries[0].Name() != "store" {
		t.Errorf("files outside the store directory: %v", entries)
	}
	if err := s.HeadBucket(c, "bkt"); err != nil {
		t.Errorf("bucket marker damaged by key _bucket.json: %v", err)
	}
	for _, bad := range []string{"..", "../x", "a/b", "bkt/../bkt"} {
		if err := s.CreateBucket(c, bad); !errors.Is(err, backend.ErrInvalidBucketName) {
			t.Errorf("CreateBucket(%q) = %v", bad, err)
		}
		if _, err := s.HeadObject(c, bad, "k"); err == nil {
			t.Errorf("HeadObject in bucket %q succeeded", bad)
		}
	}
}

// TestListManyObjects checks that a page of a 10,000-object bucket lists
// quickly: the walk and sort are in memory, only the page's trailers are
// read.
func TestListManyObjects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := context.Background()
	if err := s.CreateBucket(c, "many"); err != nil {
		t.Fatal(err)
	}
	const n = 10_000
	// Written directly, by two workers: 10,000 puts with fsync are slow.
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < n; i += 2 {
				err := writeObjectFile(dir, "many", fmt.Sprintf("dir%02d/obj-%05d", i%20, i),
					[]byte("x"))
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	start := time.Now()
	res, err := s.ListObjects(c, "many", backend.ListOptions{})
	page := time.Since(start)
	if err != nil || len(res.Objects) != 1000 || !res.IsTruncated {
		t.Fatalf("first page: %d objects, truncated %v, %v", len(res.Objects), res.IsTruncated, err)
	}
	total, pages := 0, 0
	opts := backend.ListOptions{}
	start = time.Now()
	for pages < 20 {
		res, err := s.ListObjects(c, "many", opts)
		if err != nil {
			t.Fatal(err)
		}
		total, pages = total+len(res.Objects), pages+1
		if !res.IsTruncated {
			break
		}
		opts.ContinuationToken = res.NextToken
	}
	all := time.Since(start)
	t.Logf("10,000 objects: first page of 1000 in %v; all %d pages in %v", page, pages, all)
	if total != n {
		t.Errorf("listed %d objects, want %d", total, n)
	}
	if page > time.Second {
		t.Errorf("a page of a 10,000-object bucket took %v, want well under a second", page)
	}
}

func TestCrashLeftoversInvisible(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := context.Background()
	s.CreateBucket(c, "bkt")
	// A crash mid-put leaves a temp file; an old one is swept on open.
	stale := filepath.Join(dir, tmpDir, "tstale")
	fresh := filepath.Join(dir, tmpDir, "tfresh")
	os.WriteFile(stale, []byte("half an object"), 0o600)
	os.WriteFile(fresh, []byte("another half"), 0o600)
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(stale, old, old)
	res, err := s.ListObjects(c, "bkt", backend.ListOptions{})
	if err != nil || len(res.Objects) != 0 {
		t.Errorf("temp files visible as objects: %+v, %v", res.Objects, err)
	}
	s.Close()
	s, err = New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file not removed: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("recent temp file removed (it may belong to a put in progress): %v", err)
	}
}

func TestCorruptObjectFile(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := context.Background()
	s.CreateBucket(c, "bkt")
	_, err = s.PutObject(c, "bkt", "k", strings.NewReader("hello"), 5, backend.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, filepath.FromSlash(objectPath("bkt", "k")))
	for _, size := range []int64{0, 3, 10, 20} {
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		_, err := s.HeadObject(c, "bkt", "k")
		if err == nil || errors.Is(err, backend.ErrNoSuchKey) {
			t.Errorf("truncated to %d bytes: HeadObject = %v, want a corruption error", size, err)
		}
	}
}

// writeObjectFile writes an object file in the store's format without
// the put path's temp file and fsyncs.
func writeObjectFile(dir, bucket, key string, data []byte) error {
	p := filepath.Join(dir, filepath.FromSlash(objectPath(bucket, key)))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	tr, err := encodeTrailer(trailer{Size: int64(len(data)), ETag: "etag",
		ModNanos: time.Now().UnixNano()})
	if err != nil {
		return err
	}
	return os.WriteFile(p, append(append([]byte(nil), data...), tr...), 0o600)
}

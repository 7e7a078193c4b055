package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/proxy"
)

// meteredStore counts the requests a store serves and the body bytes its
// GetObject readers return, so that tests and benchmarks can see what one
// client request costs the backend.
type meteredStore struct {
	backend.Store
	heads, gets atomic.Int64
	getBytes    atomic.Int64
}

func (c *meteredStore) HeadObject(ctx context.Context, bucket, key string) (backend.ObjectInfo, error) {
	c.heads.Add(1)
	return c.Store.HeadObject(ctx, bucket, key)
}

func (c *meteredStore) GetObject(ctx context.Context, bucket, key string, off, n int64,
	opts backend.GetOptions) (io.ReadCloser, backend.ObjectInfo, error) {
	c.gets.Add(1)
	rc, info, err := c.Store.GetObject(ctx, bucket, key, off, n, opts)
	if err != nil {
		return nil, info, err
	}
	return &meteredReader{ReadCloser: rc, n: &c.getBytes}, info, nil
}

func (c *meteredStore) reset() {
	c.heads.Store(0)
	c.gets.Store(0)
	c.getBytes.Store(0)
}

type meteredReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *meteredReader) Read(p []byte) (int, error) {
	k, err := r.ReadCloser.Read(p)
	r.n.Add(int64(k))
	return k, err
}

// newMeteredEnv is a Cloak over a counting local store with one bucket.
func newMeteredEnv(tb testing.TB) (*env, *meteredStore) {
	tb.Helper()
	local, err := localstore.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	cs := &meteredStore{Store: local}
	e := newEnv(tb, cs, proxy.Options{})
	if err := e.minio.MakeBucket(context.Background(), "perf", minio.MakeBucketOptions{}); err != nil {
		tb.Fatal(err)
	}
	return e, cs
}

// putGen stores size bytes of generated data under key, as a multipart
// upload of partSize parts when size exceeds partSize.
func putGen(tb testing.TB, e *env, key string, size, partSize int64) {
	tb.Helper()
	_, err := e.minio.PutObject(context.Background(), "perf", key, newGenData(key, size), size,
		minio.PutObjectOptions{PartSize: uint64(partSize), DisableContentSha256: true})
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

// getRange reads n bytes of key at off through Cloak and checks them; a
// range of the whole object is a GET without a Range header.
func getRange(tb testing.TB, e *env, key string, size, off, n int64) {
	tb.Helper()
	var opts minio.GetObjectOptions
	if off > 0 || n < size {
		if err := opts.SetRange(off, off+n-1); err != nil {
			tb.Fatal(err)
		}
	}
	obj, err := e.minio.GetObject(context.Background(), "perf", key, opts)
	if err != nil {
		tb.Fatal(err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil {
		tb.Fatalf("range %d+%d of %s: %v", off, n, key, err)
	}
	want := make([]byte, n)
	if _, err := newGenData(key, size).ReadAt(want, off); err != nil && err != io.EOF {
		tb.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		tb.Fatalf("range %d+%d of %s: wrong bytes", off, n, key)
	}
}

// TestRangeRead_FetchesLittleMoreThanTheRange reads 1 MiB ranges of a
// 64 MiB multipart object (inside a part, across a part boundary, at the
// end) and checks that the store returned at most the range plus the
// framing of the chunks that cover it: two chunks at the ends, a tag per
// chunk, a header and a trailer per segment touched. A repeated range
// read of an object costs one store request (the ciphertext, no HEAD):
// the object's info, its manifest and the segment header are cached.
func TestRangeRead_FetchesLittleMoreThanTheRange(t *testing.T) {
	e, cs := newMeteredEnv(t)
	const size, part, n = 64 << 20, 16 << 20, 1 << 20
	putGen(t, e, "big", size, part)
	for _, off := range []int64{5<<20 + 12345, part - n/2, size - n} {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			getRange(t, e, "big", size, off, n) // warms the caches
			cs.reset()
			getRange(t, e, "big", size, off, n)
			const chunk, framing = 64 << 10, 2 * (76 + 144)
			limit := int64(n + 2*chunk + (n/chunk+2)*16 + framing)
			if got := cs.getBytes.Load(); got > limit || got < n {
				t.Errorf("store returned %d bytes for a %d-byte range; want %d..%d", got, n, n, limit)
			}
			if cs.heads.Load() != 0 || cs.gets.Load() != 1 {
				t.Errorf("%d HEAD and %d GET, want one GET", cs.heads.Load(), cs.gets.Load())
			}
			t.Logf("range %d+%d: %d bytes from the store (%.3fx), %d HEAD, %d GET", off, n,
				cs.getBytes.Load(), float64(cs.getBytes.Load())/n, cs.heads.Load(), cs.gets.Load())
		})
	}
}

// The benchmarks below measure what one client request costs Cloak and
// its store, in process over a local store: time and allocations per
// operation, and the store requests and bytes behind it. bench/run.sh
// measures end to end against MinIO.
func benchGet(b *testing.B, size int64, ranged bool) {
	e, cs := newMeteredEnv(b)
	putGen(b, e, "obj", size, 16<<20)
	const n = 1 << 20
	b.SetBytes(min(size, n))
	if !ranged {
		b.SetBytes(size)
	}
	cs.reset()
	b.ResetTimer()
	i := int64(0)
	for b.Loop() {
		if ranged {
			getRange(b, e, "obj", size, (i*7919*4096)%(size-n), n)
		} else {
			getRange(b, e, "obj", size, 0, size)
		}
		i++
	}
	b.ReportMetric(float64(cs.heads.Load()+cs.gets.Load())/float64(i), "store-reqs/op")
	b.ReportMetric(float64(cs.getBytes.Load())/float64(i), "store-bytes/op")
}

func BenchmarkGet4KiB(b *testing.B)          { benchGet(b, 4<<10, false) }
func BenchmarkGet1MiB(b *testing.B)          { benchGet(b, 1<<20, false) }
func BenchmarkGet64MiB(b *testing.B)         { benchGet(b, 64<<20, false) }
func BenchmarkGetRange1MiBOf64(b *testing.B) { benchGet(b, 64<<20, true) }

func benchPut(b *testing.B, size int64) {
	e, _ := newMeteredEnv(b)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		_, err := e.minio.PutObject(context.Background(), "perf", "obj", newGenData("obj", size), size,
			minio.PutObjectOptions{PartSize: 1 << 30, DisableContentSha256: true})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut4KiB(b *testing.B)  { benchPut(b, 4<<10) }
func BenchmarkPut64MiB(b *testing.B) { benchPut(b, 64<<20) }

// replacingStore calls replace after every other HeadObject, before
// returning: the object is replaced between a read's HEAD and its GET.
type replacingStore struct {
	backend.Store
	heads   atomic.Int64
	replace func()
}

func (r *replacingStore) HeadObject(ctx context.Context, bucket, key string) (backend.ObjectInfo, error) {
	info, err := r.Store.HeadObject(ctx, bucket, key)
	if r.heads.Add(1)%2 == 1 && r.replace != nil {
		r.replace()
	}
	return info, err
}

// TestGet_ReplacedBetweenHeadAndGet reads an object by ranges while it is
// replaced between each read's HEAD and its GET: the read must return one
// version's bytes, and must not fail with a precondition the client did
// not set (the range is pinned to the version the HEAD saw, and the read
// starts over when that version is gone). Whole-object GETs take one
// request and cannot see such a race.
func TestGet_ReplacedBetweenHeadAndGet(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rs := &replacingStore{Store: local}
	e := newEnv(t, rs, proxy.Options{})
	ctx := context.Background()
	if err := e.minio.MakeBucket(ctx, "perf", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	const size = 300 << 10 // several chunks
	versions := [][]byte{randomBytes(size), randomBytes(size)}
	put := func(v int) error {
		_, err := e.minio.PutObject(ctx, "perf", "hot", bytes.NewReader(versions[v]),
			size, minio.PutObjectOptions{DisableContentSha256: true})
		return err
	}
	if err := put(0); err != nil {
		t.Fatal(err)
	}
	next := 1
	rs.replace = func() {
		if err := put(next); err != nil {
			t.Error(err)
		}
		next = 1 - next
	}
	for i := range 10 {
		off, n := int64(i*9973), int64(70000)
		var opts minio.GetObjectOptions
		_ = opts.SetRange(off, off+n-1)
		obj, err := e.minio.GetObject(ctx, "perf", "hot", opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatalf("read %d (range %d+%d): %v", i, off, n, err)
		}
		if !bytes.Equal(got, versions[0][off:off+n]) && !bytes.Equal(got, versions[1][off:off+n]) {
			t.Fatalf("read %d (range %d+%d): bytes of neither version", i, off, n)
		}
	}
}

package backendtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

func testPutGetHead(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	body := data(1, 100_000)
	start := time.Now().Add(-time.Minute)
	info := put(t, st, b, "obj", body, map[string]string{"k": "v"})
	if info.ETag != md5hex(body) || info.Size != int64(len(body)) || info.Key != "obj" {
		t.Errorf("PutObject info = %+v, want key obj, size %d, etag %s", info, len(body), md5hex(body))
	}
	head, err := st.HeadObject(ctx(t), b, "obj")
	if err != nil {
		t.Fatal(err)
	}
	if head.ETag != info.ETag || head.Size != info.Size || head.Metadata["k"] != "v" {
		t.Errorf("HeadObject = %+v, want etag %s size %d meta k=v", head, info.ETag, info.Size)
	}
	if head.LastModified.Before(start) || head.LastModified.After(time.Now().Add(time.Minute)) {
		t.Errorf("LastModified %v, want about now", head.LastModified)
	}
	rc, gi, err := st.GetObject(ctx(t), b, "obj", 0, -1, backend.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := iotest.TestReader(rc, body); err != nil {
		t.Errorf("GetObject reader: %v", err)
	}
	if gi.ETag != info.ETag || gi.Size != info.Size || gi.Metadata["k"] != "v" {
		t.Errorf("GetObject info = %+v, want etag %s size %d meta k=v", gi, info.ETag, info.Size)
	}
	_, _, err = st.GetObject(ctx(t), b, "nope", 0, -1, backend.GetOptions{})
	wantErr(t, "GetObject of a missing key", err, backend.ErrNoSuchKey)
	headMissing(t, st, b, "nope")
}

func testEmptyObject(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	info := put(t, st, b, "empty", nil, nil)
	if info.Size != 0 || info.ETag != md5hex(nil) {
		t.Errorf("empty object info = %+v", info)
	}
	got, gi := get(t, st, b, "empty", 0, -1)
	if len(got) != 0 || gi.Size != 0 {
		t.Errorf("empty object read %d bytes, size %d", len(got), gi.Size)
	}
	_, _, err := st.GetObject(ctx(t), b, "empty", 1, -1, backend.GetOptions{})
	wantErr(t, "GetObject(empty, offset 1)", err, backend.ErrInvalidRange)
}

func testOverwrite(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	put(t, st, b, "k", []byte("first"), map[string]string{"a": "1"})
	put(t, st, b, "k", []byte("second!"), map[string]string{"b": "2"})
	got, info := get(t, st, b, "k", 0, -1)
	if string(got) != "second!" || info.Metadata["b"] != "2" || info.Metadata["a"] != "" {
		t.Errorf("after overwrite: %q meta %v", got, info.Metadata)
	}
}

// metadataCases are the user metadata the proxy may store: an envelope
// of about 1.5 KiB and values a careless encoding would mangle.
func metadataCases() map[string]string {
	return map[string]string{
		"cloak-envelope": strings.Repeat("QUJDREVGR0hJSktMTU5PUA", 70), // 1540 bytes
		"unicode":        "Grüße, 世界 — ✓",
		"mime-lookalike": "=?UTF-8?B?SGVsbG8=?=",
		"spaces":         "  padded value  ",
		"empty":          "",
		"punct":          `a"b'c;d,e=f+g/h?i%j&k<l>`,
	}
}

func testMetadata(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	want := metadataCases()
	in := map[string]string{}
	for k, v := range want {
		in[strings.ToUpper(k[:1])+k[1:]] = v // names come back lower-case
	}
	put(t, st, b, "meta", []byte("x"), in)
	head, err := st.HeadObject(ctx(t), b, "meta")
	if err != nil {
		t.Fatal(err)
	}
	checkMetadata(t, "HeadObject", head.Metadata, want)
	_, gi := get(t, st, b, "meta", 0, -1)
	checkMetadata(t, "GetObject", gi.Metadata, want)
}

func checkMetadata(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		if v == "" && !ok {
			// S3 servers may drop a header with an empty value.
			continue
		}
		if g != v {
			t.Errorf("%s: metadata %q = %q, want %q", what, k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected metadata %q=%q", what, k, got[k])
		}
	}
}

func testInvalidMetadata(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	cases := []struct {
		name string
		md   map[string]string
		want error
	}{
		{"space in name", map[string]string{"a b": "v"}, backend.ErrInvalidArgument},
		{"colon in name", map[string]string{"a:b": "v"}, backend.ErrInvalidArgument},
		{"newline in value", map[string]string{"a": "x\ny"}, backend.ErrInvalidArgument},
		{"invalid UTF-8", map[string]string{"a": "\xff"}, backend.ErrInvalidArgument},
		{"too large", map[string]string{"a": strings.Repeat("x", backend.MaxMetadataSize)},
			backend.ErrMetadataTooLarge},
	}
	for _, tc := range cases {
		_, err := st.PutObject(ctx(t), b, "k", strings.NewReader("x"), 1,
			backend.PutOptions{Metadata: tc.md})
		wantErr(t, tc.name, err, tc.want)
	}
	headMissing(t, st, b, "k")
}

func testRanges(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	body := data(2, 10_000)
	put(t, st, b, "r", body, nil)
	size := int64(len(body))
	cases := []struct {
		name      string
		off, n    int64
		wantStart int64
		wantEnd   int64
	}{
		{"first byte", 0, 1, 0, 1},
		{"whole", 0, -1, 0, size},
		{"middle", 1234, 4321, 1234, 1234 + 4321},
		{"last byte", size - 1, 1, size - 1, size},
		{"tail", 9000, -1, 9000, size},
		{"past end is cut", 9990, 100, 9990, size},
		{"exactly to end", 5000, 5000, 5000, size},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc, info, err := st.GetObject(ctx(t), b, "r", tc.off, tc.n, backend.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if info.Size != size {
				t.Errorf("info.Size = %d, want the whole size %d", info.Size, size)
			}
			if err := iotest.TestReader(rc, body[tc.wantStart:tc.wantEnd]); err != nil {
				t.Error(err)
			}
		})
	}
	for _, off := range []int64{size, size + 1, 1 << 40} {
		_, _, err := st.GetObject(ctx(t), b, "r", off, -1, backend.GetOptions{})
		wantErr(t, fmt.Sprintf("GetObject at offset %d", off), err, backend.ErrInvalidRange)
	}
}

func testGetIfMatch(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	info := put(t, st, b, "k", []byte("version one"), nil)
	got, _ := get(t, st, b, "k", 0, -1)
	if string(got) != "version one" {
		t.Fatalf("got %q", got)
	}
	for _, etag := range []string{info.ETag, `"` + info.ETag + `"`} {
		rc, _, err := st.GetObject(ctx(t), b, "k", 8, -1, backend.GetOptions{IfMatch: etag})
		if err != nil {
			t.Fatalf("GetObject with matching IfMatch %s: %v", etag, err)
		}
		rest, _ := io.ReadAll(rc)
		rc.Close()
		if string(rest) != "one" {
			t.Errorf("range read %q, want %q", rest, "one")
		}
	}
	put(t, st, b, "k", []byte("version two"), nil)
	_, _, err := st.GetObject(ctx(t), b, "k", 8, -1, backend.GetOptions{IfMatch: info.ETag})
	wantErr(t, "GetObject with a stale IfMatch", err, backend.ErrPreconditionFailed)
}

// genReader yields n deterministic bytes without holding them, so a
// store that buffers the whole body shows up in the allocation count.
type genReader struct {
	left int64
	x    byte
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		g.x = g.x*31 + 7
		p[i] = g.x
	}
	g.left -= int64(len(p))
	return len(p), nil
}

func testUnknownSize(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	n := cfg.UnknownSizeBytes
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	info, err := st.PutObject(ctx(t), b, "stream", &genReader{left: n}, -1, backend.PutOptions{
		Metadata: map[string]string{"m": "v"}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("PutObject of unknown size: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc >= uint64(n) {
		t.Errorf("put of %d bytes allocated %d bytes: the body was buffered", n, alloc)
	}
	want, _ := io.ReadAll(&genReader{left: n})
	got, gi := get(t, st, b, "stream", 0, -1)
	if !bytes.Equal(got, want) || gi.Size != n || info.Size != n || gi.Metadata["m"] != "v" {
		t.Errorf("read back %d bytes (equal %v), info size %d/%d, meta %v",
			len(got), bytes.Equal(got, want), gi.Size, info.Size, gi.Metadata)
	}
	if info.ETag != gi.ETag {
		t.Errorf("put returned etag %q, get %q", info.ETag, gi.ETag)
	}
}

func testSizeMismatch(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	_, err := st.PutObject(ctx(t), b, "short", strings.NewReader("12345"), 10, backend.PutOptions{})
	if err == nil {
		t.Error("PutObject with a body shorter than size succeeded")
	}
	headMissing(t, st, b, "short")
	_, err = st.PutObject(ctx(t), b, "long", strings.NewReader("1234567890"), 5, backend.PutOptions{})
	if err == nil {
		t.Error("PutObject with a body longer than size succeeded")
	}
	headMissing(t, st, b, "long")
}

// failingReader returns n bytes and then an error.
type failingReader struct{ n int }

var errInjected = errors.New("injected read failure")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errInjected
	}
	p = p[:min(len(p), f.n)]
	for i := range p {
		p[i] = 'z'
	}
	f.n -= len(p)
	return len(p), nil
}

func testFailedPut(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	put(t, st, b, "k", []byte("old"), map[string]string{"v": "old"})
	for _, size := range []int64{100_000, -1} {
		_, err := st.PutObject(ctx(t), b, "k", &failingReader{n: 50_000}, size, backend.PutOptions{
			Metadata: map[string]string{"v": "new"}})
		if err == nil {
			t.Fatalf("PutObject(size %d) with a failing body succeeded", size)
		}
		got, info := get(t, st, b, "k", 0, -1)
		if string(got) != "old" || info.Metadata["v"] != "old" {
			t.Errorf("after a failed put of size %d: %q meta %v, want the old object",
				size, got, info.Metadata)
		}
		_, err = st.PutObject(ctx(t), b, "fresh", &failingReader{n: 10}, size, backend.PutOptions{})
		if err == nil {
			t.Fatal("PutObject with a failing body succeeded")
		}
		headMissing(t, st, b, "fresh")
	}
}

func testDelete(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	c := ctx(t)
	b := newBucket(t, st)
	put(t, st, b, "a/b/c", []byte("x"), nil)
	put(t, st, b, "a/b", []byte("y"), nil)
	if err := st.DeleteObject(c, b, "a/b/c"); err != nil {
		t.Fatal(err)
	}
	headMissing(t, st, b, "a/b/c")
	if got, _ := get(t, st, b, "a/b", 0, -1); string(got) != "y" {
		t.Errorf("a/b = %q after deleting a/b/c", got)
	}
	if err := st.DeleteObject(c, b, "a/b/c"); err != nil {
		t.Errorf("deleting a missing key: %v, want nil", err)
	}
	if err := st.DeleteObject(c, b, "never/was"); err != nil {
		t.Errorf("deleting a never-existing key: %v, want nil", err)
	}
	wantErr(t, "DeleteObject in a missing bucket", st.DeleteObject(c, "ct-missing-bucket", "k"),
		backend.ErrNoSuchBucket)
}

package backendtest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/backend"
)

func testConditionalPut(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	putIf := func(body string, opts backend.PutOptions) (backend.ObjectInfo, error) {
		return st.PutObject(ctx(t), b, "c", strings.NewReader(body), int64(len(body)), opts)
	}
	first, err := putIf("one", backend.PutOptions{IfNoneMatch: "*"})
	if err != nil {
		t.Fatalf("IfNoneMatch * on a missing key: %v", err)
	}
	_, err = putIf("two", backend.PutOptions{IfNoneMatch: "*"})
	wantErr(t, "IfNoneMatch * on an existing key", err, backend.ErrPreconditionFailed)
	_, err = putIf("two", backend.PutOptions{IfMatch: md5hex([]byte("other"))})
	wantErr(t, "IfMatch with a wrong ETag", err, backend.ErrPreconditionFailed)
	if got, _ := get(t, st, b, "c", 0, -1); string(got) != "one" {
		t.Fatalf("after failed conditional puts: %q, want %q", got, "one")
	}
	if _, err := putIf("three", backend.PutOptions{IfMatch: first.ETag}); err != nil {
		t.Fatalf("IfMatch with the current ETag: %v", err)
	}
	if got, _ := get(t, st, b, "c", 0, -1); string(got) != "three" {
		t.Errorf("after IfMatch put: %q, want %q", got, "three")
	}
	_, err = st.PutObject(ctx(t), b, "absent", strings.NewReader("x"), 1,
		backend.PutOptions{IfMatch: first.ETag})
	if err == nil {
		t.Error("IfMatch on a missing key succeeded")
	}
	headMissing(t, st, b, "absent")
	_, err = st.PutObject(ctx(t), b, "stream", &genReader{left: 1000}, -1,
		backend.PutOptions{IfNoneMatch: "*"})
	if err != nil {
		t.Fatalf("IfNoneMatch * with unknown size: %v", err)
	}
	_, err = st.PutObject(ctx(t), b, "stream", &genReader{left: 1000}, -1,
		backend.PutOptions{IfNoneMatch: "*"})
	wantErr(t, "IfNoneMatch * with unknown size on an existing key", err,
		backend.ErrPreconditionFailed)
}

func testMultipartConditional(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	existing := put(t, st, b, "k", []byte("existing"), nil)
	complete := func(cond backend.CompleteOptions) error {
		id := createUpload(t, st, b, "k", nil)
		p := uploadPart(t, st, b, "k", id, 1, []byte("new"))
		_, err := st.CompleteMultipartUpload(ctx(t), b, "k", id,
			[]backend.CompletePart{{PartNumber: 1, ETag: p.ETag}}, cond)
		if err != nil {
			st.AbortMultipartUpload(ctx(t), b, "k", id)
		}
		return err
	}
	wantErr(t, "multipart IfNoneMatch * on an existing key",
		complete(backend.CompleteOptions{IfNoneMatch: "*"}), backend.ErrPreconditionFailed)
	wantErr(t, "multipart IfMatch with a wrong ETag",
		complete(backend.CompleteOptions{IfMatch: md5hex(nil)}), backend.ErrPreconditionFailed)
	if got, _ := get(t, st, b, "k", 0, -1); string(got) != "existing" {
		t.Fatalf("after failed conditional completes: %q", got)
	}
	if err := complete(backend.CompleteOptions{IfMatch: existing.ETag}); err != nil {
		t.Fatalf("multipart IfMatch with the current ETag: %v", err)
	}
	if got, _ := get(t, st, b, "k", 0, -1); string(got) != "new" {
		t.Errorf("after conditional complete: %q, want %q", got, "new")
	}
	_, err := st.CreateMultipartUpload(ctx(t), b, "k", backend.PutOptions{IfNoneMatch: "*"})
	wantErr(t, "CreateMultipartUpload with a condition", err, backend.ErrInvalidArgument)
}

func testCopy(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	c := ctx(t)
	b, b2 := newBucket(t, st), newBucket(t, st)
	body := data(40, 300_000)
	put(t, st, b, "src", body, map[string]string{"old": "1", "keep": "no"})
	md := map[string]string{"new": "2", "unicode": "ñ"}
	info, err := st.CopyObject(c, b, "src", b2, "dst/copy", backend.PutOptions{Metadata: md})
	if err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	got, gi := get(t, st, b2, "dst/copy", 0, -1)
	if !bytes.Equal(got, body) {
		t.Error("copy differs from its source")
	}
	checkMetadata(t, "copy", gi.Metadata, md)
	if info.ETag != gi.ETag || info.Size != int64(len(body)) {
		t.Errorf("CopyObject = %+v, object has etag %s size %d", info, gi.ETag, gi.Size)
	}
	_, err = st.CopyObject(c, b, "missing", b, "x", backend.PutOptions{})
	wantErr(t, "copy of a missing key", err, backend.ErrNoSuchKey)
	_, err = st.CopyObject(c, b, "src", "ct-missing-bucket", "x", backend.PutOptions{})
	wantErr(t, "copy to a missing bucket", err, backend.ErrNoSuchBucket)
	_, err = st.CopyObject(c, b, "src", b2, "dst/copy", backend.PutOptions{IfNoneMatch: "*"})
	wantErr(t, "copy with IfNoneMatch", err, backend.ErrInvalidArgument)
	_, err = st.CopyObject(c, b, "src", b2, "dst/other", backend.PutOptions{IfMatch: md5hex(nil)})
	wantErr(t, "copy with a wrong source IfMatch", err, backend.ErrPreconditionFailed)
	headMissing(t, st, b2, "dst/other")
}

// testCopyOntoItself is the proxy's key rotation: rewrite an object's
// metadata in place without moving its data.
func testCopyOntoItself(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	body := data(41, 5000)
	old := put(t, st, b, "obj", body, map[string]string{"wrapped-key": "v1"})
	md := map[string]string{"wrapped-key": "v2"}
	if _, err := st.CopyObject(ctx(t), b, "obj", b, "obj",
		backend.PutOptions{Metadata: md, IfMatch: old.ETag}); err != nil {
		t.Fatalf("CopyObject onto itself: %v", err)
	}
	got, gi := get(t, st, b, "obj", 0, -1)
	if !bytes.Equal(got, body) {
		t.Error("data changed by a metadata rewrite")
	}
	checkMetadata(t, "rewritten object", gi.Metadata, md)
	// A rewrite that raced with a new upload must not apply the old
	// object's key to the new data.
	put(t, st, b, "obj", []byte("replaced meanwhile"), map[string]string{"wrapped-key": "v9"})
	_, err := st.CopyObject(ctx(t), b, "obj", b, "obj",
		backend.PutOptions{Metadata: map[string]string{"wrapped-key": "v3"}, IfMatch: old.ETag})
	wantErr(t, "rewrite of a replaced object", err, backend.ErrPreconditionFailed)
	if _, gi := get(t, st, b, "obj", 0, -1); gi.Metadata["wrapped-key"] != "v9" {
		t.Errorf("replaced object's metadata = %v, want v9", gi.Metadata)
	}
}

package backendtest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/cloakproxy/cloak/backend"
)

// uploadPart uploads b as part n and fails the test on error.
func uploadPart(t *testing.T, st backend.Store, bucket, key, id string, n int,
	b []byte) backend.PartInfo {
	t.Helper()
	p, err := st.UploadPart(ctx(t), bucket, key, id, n, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("UploadPart(%d): %v", n, err)
	}
	if p.ETag != md5hex(b) || p.Size != int64(len(b)) || p.PartNumber != n {
		t.Errorf("UploadPart(%d) = %+v, want etag %s size %d", n, p, md5hex(b), len(b))
	}
	return p
}

func createUpload(t *testing.T, st backend.Store, bucket, key string, md map[string]string) string {
	t.Helper()
	id, err := st.CreateMultipartUpload(ctx(t), bucket, key, backend.PutOptions{Metadata: md})
	if err != nil || id == "" {
		t.Fatalf("CreateMultipartUpload(%s): %q, %v", key, id, err)
	}
	return id
}

// completeParts completes an upload with no conditions; pairs holds
// part numbers and ETags.
func completeParts(t *testing.T, st backend.Store, bucket, key, id string,
	pairs ...any) (backend.ObjectInfo, error) {
	var parts []backend.CompletePart
	for i := 0; i+1 < len(pairs); i += 2 {
		parts = append(parts, backend.CompletePart{PartNumber: pairs[i].(int),
			ETag: pairs[i+1].(string)})
	}
	return st.CompleteMultipartUpload(ctx(t), bucket, key, id, parts, backend.CompleteOptions{})
}

// multipartETag is the S3 ETag of an object made of parts with these
// bodies.
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts))
}

func testMultipart(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	md := map[string]string{"envelope": "abc", "unicode": "ключ"}
	id := createUpload(t, st, b, "mp", md)
	p1, p2 := data(10, cfg.PartSize), data(11, 1000)
	p1b := data(12, cfg.PartSize)
	uploadPart(t, st, b, "mp", id, 2, p2) // out of order
	first := uploadPart(t, st, b, "mp", id, 1, p1)
	second := uploadPart(t, st, b, "mp", id, 1, p1b) // replaces the first
	if first.ETag == second.ETag {
		t.Fatal("test parts should differ")
	}
	_, err := completeParts(t, st, b, "mp", id, 1, first.ETag, 2, md5hex(p2))
	wantErr(t, "Complete with the replaced part's ETag", err, backend.ErrInvalidPart)
	info, err := completeParts(t, st, b, "mp", id, 1, `"`+second.ETag+`"`, 2, md5hex(p2))
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	want := append(append([]byte(nil), p1b...), p2...)
	if info.ETag != multipartETag(p1b, p2) || info.Size != int64(len(want)) {
		t.Errorf("Complete = %+v, want etag %s size %d", info, multipartETag(p1b, p2), len(want))
	}
	got, gi := get(t, st, b, "mp", 0, -1)
	if !bytes.Equal(got, want) {
		t.Errorf("multipart object differs from its parts (%d bytes, want %d)", len(got), len(want))
	}
	checkMetadata(t, "multipart object", gi.Metadata, md)
	if gi.ETag != info.ETag || gi.PartsCount != 0 && gi.PartsCount != 2 {
		t.Errorf("GetObject info %+v, want etag %s and 2 parts if counted", gi, info.ETag)
	}
	tail, _ := get(t, st, b, "mp", cfg.PartSize-10, 20) // across the part boundary
	if !bytes.Equal(tail, want[cfg.PartSize-10:cfg.PartSize+10]) {
		t.Error("range across the part boundary differs")
	}
	_, err = st.UploadPart(ctx(t), b, "mp", id, 3, bytes.NewReader(p2), int64(len(p2)))
	wantErr(t, "UploadPart after Complete", err, backend.ErrNoSuchUpload)
}

func testMultipartSubset(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	id := createUpload(t, st, b, "sub", nil)
	p1, p2, p3 := data(20, cfg.PartSize), data(21, cfg.PartSize), data(22, 777)
	e1 := uploadPart(t, st, b, "sub", id, 1, p1).ETag
	uploadPart(t, st, b, "sub", id, 2, p2)
	e3 := uploadPart(t, st, b, "sub", id, 3, p3).ETag
	info, err := completeParts(t, st, b, "sub", id, 1, e1, 3, e3)
	if err != nil {
		t.Fatalf("Complete with parts 1 and 3: %v", err)
	}
	got, _ := get(t, st, b, "sub", 0, -1)
	want := append(append([]byte(nil), p1...), p3...)
	if !bytes.Equal(got, want) || info.ETag != multipartETag(p1, p3) {
		t.Errorf("subset object: %d bytes, etag %s", len(got), info.ETag)
	}
	up, err := st.ListMultipartUploads(ctx(t), b, backend.ListUploadsOptions{Prefix: "sub"})
	if err != nil || len(up.Uploads) != 0 {
		t.Errorf("uploads after Complete: %+v, %v", up.Uploads, err)
	}
}

func testMultipartErrors(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	id := createUpload(t, st, b, "err", nil)
	small1, small2 := data(30, 1000), data(31, 1000)
	e1 := uploadPart(t, st, b, "err", id, 1, small1).ETag
	e2 := uploadPart(t, st, b, "err", id, 2, small2).ETag
	complete := func(parts ...backend.CompletePart) error {
		_, err := st.CompleteMultipartUpload(ctx(t), b, "err", id, parts, backend.CompleteOptions{})
		return err
	}
	wantErr(t, "wrong ETag", complete(backend.CompletePart{PartNumber: 1, ETag: md5hex(nil)}),
		backend.ErrInvalidPart)
	wantErr(t, "missing part", complete(backend.CompletePart{PartNumber: 1, ETag: e1},
		backend.CompletePart{PartNumber: 5, ETag: e2}), backend.ErrInvalidPart)
	wantErr(t, "descending order", complete(backend.CompletePart{PartNumber: 2, ETag: e2},
		backend.CompletePart{PartNumber: 1, ETag: e1}), backend.ErrInvalidPartOrder)
	wantErr(t, "part too small", complete(backend.CompletePart{PartNumber: 1, ETag: e1},
		backend.CompletePart{PartNumber: 2, ETag: e2}), backend.ErrEntityTooSmall)
	headMissing(t, st, b, "err")
	// A single small part is a valid (last) part; the upload survived the
	// failed attempts.
	if err := complete(backend.CompletePart{PartNumber: 2, ETag: e2}); err != nil {
		t.Fatalf("Complete after failed attempts: %v", err)
	}
	got, _ := get(t, st, b, "err", 0, -1)
	if !bytes.Equal(got, small2) {
		t.Error("object differs from its one part")
	}
	for _, bad := range []int{0, -1, backend.MaxParts + 1} {
		id2 := createUpload(t, st, b, "err2", nil)
		_, err := st.UploadPart(ctx(t), b, "err2", id2, bad, bytes.NewReader(small1), 1000)
		wantErr(t, fmt.Sprintf("UploadPart(%d)", bad), err, backend.ErrInvalidArgument)
	}
}

func testMultipartAbort(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	c := ctx(t)
	b := newBucket(t, st)
	id := createUpload(t, st, b, "ab", nil)
	e1 := uploadPart(t, st, b, "ab", id, 1, []byte("part")).ETag
	if err := st.AbortMultipartUpload(c, b, "ab", id); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	_, err := st.UploadPart(c, b, "ab", id, 2, bytes.NewReader([]byte("x")), 1)
	wantErr(t, "UploadPart after Abort", err, backend.ErrNoSuchUpload)
	_, err = completeParts(t, st, b, "ab", id, 1, e1)
	wantErr(t, "Complete after Abort", err, backend.ErrNoSuchUpload)
	_, err = st.ListParts(c, b, "ab", id, backend.ListPartsOptions{})
	wantErr(t, "ListParts after Abort", err, backend.ErrNoSuchUpload)
	headMissing(t, st, b, "ab")
	for _, bogus := range []string{"nonexistent", id + "x"} {
		_, err = st.UploadPart(c, b, "ab", bogus, 1, bytes.NewReader([]byte("x")), 1)
		wantErr(t, "UploadPart with upload ID "+bogus, err, backend.ErrNoSuchUpload)
	}
	other := createUpload(t, st, b, "other-key", nil)
	_, err = st.UploadPart(c, b, "ab", other, 1, bytes.NewReader([]byte("x")), 1)
	wantErr(t, "UploadPart with another key's upload ID", err, backend.ErrNoSuchUpload)
}

func testListParts(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	id := createUpload(t, st, b, "lp", nil)
	bodies := map[int][]byte{3: []byte("three"), 1: []byte("one"), 7: []byte("seven")}
	for _, n := range []int{3, 1, 7} {
		uploadPart(t, st, b, "lp", id, n, bodies[n])
	}
	uploadPart(t, st, b, "lp", id, 3, []byte("three again"))
	bodies[3] = []byte("three again")
	var got []int
	opts := backend.ListPartsOptions{MaxParts: 2}
	for range 10 {
		res, err := st.ListParts(ctx(t), b, "lp", id, opts)
		if err != nil {
			t.Fatalf("ListParts: %v", err)
		}
		for _, p := range res.Parts {
			got = append(got, p.PartNumber)
			if p.ETag != md5hex(bodies[p.PartNumber]) || p.Size != int64(len(bodies[p.PartNumber])) {
				t.Errorf("part %+v, want etag %s", p, md5hex(bodies[p.PartNumber]))
			}
		}
		if !res.IsTruncated {
			break
		}
		opts.PartNumberMarker = res.NextPartNumberMarker
	}
	if fmt.Sprint(got) != "[1 3 7]" {
		t.Errorf("listed parts %v, want [1 3 7]", got)
	}
}

func testListUploads(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	want := map[string]string{}
	for _, k := range []string{"u/a", "u/b", "u/b", "v/c"} {
		want[createUpload(t, st, b, k, nil)] = k
	}
	// Every store lists the uploads of one key given as the prefix.
	seen := listUploads(t, st, b, "u/b")
	if len(seen) != 2 {
		t.Errorf("listed %d uploads of u/b, want 2: %v", len(seen), seen)
	}
	if !cfg.ListUploadsByPrefix {
		return
	}
	seen = listUploads(t, st, b, "u/")
	for id, k := range want {
		if k != "v/c" && seen[id] != k {
			t.Errorf("upload %s of %s not listed", id, k)
		}
	}
	if len(seen) != 3 {
		t.Errorf("listed %d uploads with prefix u/, want 3: %v", len(seen), seen)
	}
}

// listUploads pages through the uploads with prefix, one per page, and
// returns them by ID.
func listUploads(t *testing.T, st backend.Store, bucket, prefix string) map[string]string {
	t.Helper()
	seen := map[string]string{}
	opts := backend.ListUploadsOptions{Prefix: prefix, MaxUploads: 1}
	var last string
	for range 10 {
		res, err := st.ListMultipartUploads(ctx(t), bucket, opts)
		if err != nil {
			t.Fatalf("ListMultipartUploads: %v", err)
		}
		for _, u := range res.Uploads {
			if u.Key < last {
				t.Errorf("uploads out of key order: %q after %q", u.Key, last)
			}
			last = u.Key
			if u.Initiated.IsZero() {
				t.Errorf("upload %s without initiation time", u.UploadID)
			}
			if _, dup := seen[u.UploadID]; dup {
				t.Errorf("upload %s listed twice", u.UploadID)
			}
			seen[u.UploadID] = u.Key
		}
		if !res.IsTruncated {
			break
		}
		opts.KeyMarker, opts.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
	return seen
}

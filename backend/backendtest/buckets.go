package backendtest

import (
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

func testBuckets(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	c := ctx(t)
	before := time.Now().Add(-time.Minute)
	b := newBucket(t, st)
	if err := st.HeadBucket(c, b); err != nil {
		t.Fatalf("HeadBucket of a new bucket: %v", err)
	}
	wantErr(t, "CreateBucket again", st.CreateBucket(c, b), backend.ErrBucketExists)
	list, err := st.ListBuckets(c)
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	found := false
	for i, bi := range list {
		if i > 0 && list[i-1].Name >= bi.Name {
			t.Errorf("ListBuckets not sorted: %q before %q", list[i-1].Name, bi.Name)
		}
		if bi.Name == b {
			found = true
			if bi.Created.Before(before) || bi.Created.After(time.Now().Add(time.Minute)) {
				t.Errorf("bucket created at %v, want about now", bi.Created)
			}
		}
	}
	if !found {
		t.Errorf("ListBuckets does not list %s", b)
	}
	if err := st.DeleteBucket(c, b); err != nil {
		t.Fatalf("DeleteBucket of an empty bucket: %v", err)
	}
	wantErr(t, "HeadBucket after delete", st.HeadBucket(c, b), backend.ErrNoSuchBucket)
	wantErr(t, "DeleteBucket again", st.DeleteBucket(c, b), backend.ErrNoSuchBucket)
	_, err = st.HeadObject(c, b, "k")
	wantErr(t, "HeadObject in a missing bucket", err, backend.ErrNoSuchBucket)
}

func testBucketNotEmpty(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	c := ctx(t)
	b := newBucket(t, st)
	put(t, st, b, "dir/obj", []byte("x"), nil)
	wantErr(t, "DeleteBucket with an object", st.DeleteBucket(c, b), backend.ErrBucketNotEmpty)
	if err := st.DeleteObject(c, b, "dir/obj"); err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateMultipartUpload(c, b, "pending", backend.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteBucket(c, b); err != nil {
		t.Fatalf("DeleteBucket with only an upload in progress: %v", err)
	}
	_, err = st.ListParts(c, b, "pending", id, backend.ListPartsOptions{})
	if err == nil {
		t.Error("upload survived the deletion of its bucket")
	}
}

func testInvalidBucketName(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	for _, name := range []string{"", "ab", "Upper", "under_score", "-lead", "trail-",
		"a..b", "192.168.1.1", "../etc", "a/b", string(make([]byte, 64))} {
		err := st.CreateBucket(ctx(t), name)
		wantErr(t, "CreateBucket("+name+")", err, backend.ErrInvalidBucketName)
	}
}

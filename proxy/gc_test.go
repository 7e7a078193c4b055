package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
)

// gcStore wraps a store to act like plain S3 (listings without
// metadata, so the collector must HEAD) and to fail chosen HEADs.
type gcStore struct {
	backend.Store
	noListMetadata bool
	failHead       string
	heads          atomic.Int64 // HEADs run concurrently
}

func (s *gcStore) ListObjects(ctx context.Context, bucket string,
	opts backend.ListOptions) (backend.ListResult, error) {
	if s.noListMetadata {
		opts.WithMetadata = false
	}
	return s.Store.ListObjects(ctx, bucket, opts)
}

func (s *gcStore) HeadObject(ctx context.Context, bucket, key string) (backend.ObjectInfo, error) {
	s.heads.Add(1)
	if key == s.failHead {
		return backend.ObjectInfo{}, errors.New("store unavailable")
	}
	return s.Store.HeadObject(ctx, bucket, key)
}

// gcFixture lays out, by hand, the internal state of a bucket with one of
// every kind of leftover and of state in use. It returns the keys that
// must survive a collection and those that must go.
func gcFixture(t *testing.T, st backend.Store) (keep, gone []string) {
	t.Helper()
	ctx := context.Background()
	const b = "bkt"
	if err := st.CreateBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte, meta map[string]string) {
		t.Helper()
		if _, err := st.PutObject(ctx, b, key, bytes.NewReader(body), int64(len(body)),
			backend.PutOptions{Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	state := func(dir string, s uploadState) {
		t.Helper()
		j, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		put(dir+"state", j, nil)
	}
	// Client objects: a multipart object naming its manifest, a single
	// PUT, and an object that is not Cloak's at all.
	put("docs/big", []byte("sealed"), map[string]string{metaEnvelope: "e", metaManifest: "aaaa"})
	put("docs/small", []byte("sealed"), map[string]string{metaEnvelope: "e"})
	put("legacy/plain", []byte("plaintext"), nil)
	keep = append(keep, manifestKey("aaaa"))
	put(manifestKey("aaaa"), []byte("m"), nil)
	// A manifest nobody names, and one named only by a live upload.
	gone = append(gone, manifestKey("bbbb"))
	put(manifestKey("bbbb"), []byte("m"), nil)
	keep = append(keep, manifestKey("cccc"))
	put(manifestKey("cccc"), []byte("m"), nil)

	// An upload in progress, with one part record.
	live, err := st.CreateMultipartUpload(ctx, b, "docs/live", backend.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := uploadDir("docs/live", live)
	state(dir, uploadState{Envelope: "e", Token: "cccc", Key: "docs/live", UploadID: live})
	put(dir+"p1.x.y", nil, nil)
	keep = append(keep, dir+"state", dir+"p1.x.y")

	// An upload aborted on the store, behind Cloak's back.
	ended, err := st.CreateMultipartUpload(ctx, b, "docs/ended", backend.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AbortMultipartUpload(ctx, b, "docs/ended", ended); err != nil {
		t.Fatal(err)
	}
	dir = uploadDir("docs/ended", ended)
	state(dir, uploadState{Envelope: "e", Token: "dddd", Key: "docs/ended", UploadID: ended})
	put(dir+"p1.x.y", nil, nil)
	put(dir+"p2.x.y", nil, nil)
	gone = append(gone, dir+"state", dir+"p1.x.y", dir+"p2.x.y")

	// Part records whose state is gone: an interrupted clean-up.
	dir = uploadDir("docs/orphan", "u1")
	put(dir+"p3.x.y", nil, nil)
	gone = append(gone, dir+"p3.x.y")

	// A state that does not name its upload, and one whose name does
	// not match its directory: Cloak cannot tell whether they live.
	dir = uploadDir("docs/old", "u2")
	state(dir, uploadState{Envelope: "e", Token: "eeee"})
	keep = append(keep, dir+"state", manifestKey("eeee"))
	put(manifestKey("eeee"), []byte("m"), nil)
	dir = uploadDir("docs/moved", "u3")
	state(dir, uploadState{Envelope: "e", Token: "ffff", Key: "docs/other", UploadID: "u3"})
	keep = append(keep, dir+"state")
	return keep, gone
}

func internalKeys(t *testing.T, st backend.Store) []string {
	t.Helper()
	res, err := st.ListObjects(context.Background(), "bkt",
		backend.ListOptions{Prefix: internalPrefix})
	if err != nil || res.IsTruncated {
		t.Fatalf("list: %v (truncated %v)", err, res.IsTruncated)
	}
	var keys []string
	for _, o := range res.Objects {
		keys = append(keys, o.Key)
	}
	return keys
}

func TestCollectGarbage(t *testing.T) {
	for _, tc := range []struct {
		name           string
		noListMetadata bool
	}{
		{"listing-with-metadata", false},
		{"listing-without-metadata", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, err := localstore.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			st := &gcStore{Store: local, noListMetadata: tc.noListMetadata}
			keep, gone := gcFixture(t, local)
			before := internalKeys(t, local)

			// A dry run counts and removes nothing.
			dry, err := CollectGarbage(context.Background(), st, "bkt", GCOptions{DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			if after := internalKeys(t, local); !slices.Equal(after, before) {
				t.Fatalf("dry run removed %v", diff(before, after))
			}
			// Everything younger than an hour stays.
			young, err := CollectGarbage(context.Background(), st, "bkt",
				GCOptions{MinAge: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if after := internalKeys(t, local); !slices.Equal(after, before) {
				t.Fatalf("min-age 1h removed %v", diff(before, after))
			}
			if young.Manifests+young.Uploads != 0 || young.Young != 9 {
				t.Fatalf("min-age 1h: %+v, want 9 young and nothing removed", young)
			}

			st.heads.Store(0)
			r, err := CollectGarbage(context.Background(), st, "bkt", GCOptions{})
			if err != nil {
				t.Fatal(err)
			}
			after := internalKeys(t, local)
			for _, k := range keep {
				if !slices.Contains(after, k) {
					t.Errorf("removed %s, which is in use or undecidable", k)
				}
			}
			for _, k := range gone {
				if slices.Contains(after, k) {
					t.Errorf("kept leftover %s", k)
				}
			}
			want := GCReport{Objects: 3, Manifests: 1, Uploads: 2, StateObjects: 4,
				LiveUploads: 1, Unknown: 2}
			if r != want {
				t.Errorf("report %+v, want %+v", r, want)
			}
			if dry != want {
				t.Errorf("dry run reported %+v, want %+v", dry, want)
			}
			// With metadata in the listing only the object that is not
			// Cloak's needs a HEAD; without, every client object.
			wantHeads := int64(1)
			if tc.noListMetadata {
				wantHeads = 3
			}
			if n := st.heads.Load(); n != wantHeads {
				t.Errorf("%d HEADs, want %d", n, wantHeads)
			}
			// A second collection finds nothing more.
			again, err := CollectGarbage(context.Background(), st, "bkt", GCOptions{})
			if err != nil || again.Manifests+again.Uploads != 0 {
				t.Errorf("second run: %+v, %v", again, err)
			}
		})
	}
}

func TestCollectGarbage_KeepsManifestsWhenAnObjectCannotBeRead(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &gcStore{Store: local, noListMetadata: true, failHead: "docs/small"}
	gcFixture(t, local)
	_, err = CollectGarbage(context.Background(), st, "bkt", GCOptions{})
	if err == nil || !strings.Contains(err.Error(), "store unavailable") {
		t.Fatalf("err = %v, want the HEAD failure", err)
	}
	// The unnamed manifest could be named by the object that failed: it
	// must stay.
	if !slices.Contains(internalKeys(t, local), manifestKey("bbbb")) {
		t.Fatal("a manifest was removed although an object was not accounted for")
	}
}

func diff(before, after []string) []string {
	var out []string
	for _, k := range before {
		if !slices.Contains(after, k) {
			out = append(out, k)
		}
	}
	return out
}

func TestCollectGarbage_AbortsOldUploads(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gcFixture(t, local)
	ctx := context.Background()
	r, err := CollectGarbage(ctx, local, "bkt", GCOptions{AbortAfter: time.Hour})
	if err != nil || r.LiveUploads != 1 || r.Aborted != 0 {
		t.Fatalf("an upload younger than AbortAfter: %+v, %v", r, err)
	}
	dry, err := CollectGarbage(ctx, local, "bkt",
		GCOptions{AbortAfter: time.Nanosecond, DryRun: true})
	if err != nil || dry.Aborted != 1 || dry.LiveUploads != 0 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	uploads, err := local.ListMultipartUploads(ctx, "bkt", backend.ListUploadsOptions{})
	if err != nil || len(uploads.Uploads) != 1 {
		t.Fatalf("the dry run aborted the upload: %+v, %v", uploads, err)
	}
	r, err = CollectGarbage(ctx, local, "bkt", GCOptions{AbortAfter: time.Nanosecond})
	// The aborted upload's state (state and one part record) goes, and
	// the manifest token only it named.
	want := GCReport{Objects: 3, Manifests: 1, StateObjects: 2, Aborted: 1, Unknown: 2}
	if err != nil || r != want {
		t.Fatalf("report %+v, %v; want %+v", r, err, want)
	}
	id := uploads.Uploads[0].UploadID
	_, err = local.ListParts(ctx, "bkt", "docs/live", id, backend.ListPartsOptions{})
	if !errors.Is(err, backend.ErrNoSuchUpload) {
		t.Fatalf("the upload is still there: %v", err)
	}
	keys := internalKeys(t, local)
	for _, k := range []string{uploadDir("docs/live", id) + "state", manifestKey("cccc")} {
		if slices.Contains(keys, k) {
			t.Errorf("%s kept after the abort", k)
		}
	}
}

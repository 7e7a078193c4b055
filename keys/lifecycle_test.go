package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/crypto"
)

var bg = context.Background()

func newRing(t *testing.T, opts Options) *Ring {
	t.Helper()
	opts.Create = true
	r, created, err := Open(filepath.Join(t.TempDir(), "keyring"), opts)
	if err != nil || !created {
		t.Fatalf("open: %v created=%v", err, created)
	}
	t.Cleanup(r.Close)
	return r
}

// wrapped wraps a fresh recognisable data key for bucket/key.
func wrapped(t *testing.T, r crypto.KeyWrapper, bucket, key string) ([]byte, crypto.WrappedKey) {
	t.Helper()
	dk := bytes.Repeat([]byte{byte(len(bucket) + len(key))}, 32)
	wk, err := r.Wrap(bg, dk, crypto.WrapContext{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatalf("wrap %s/%s: %v", bucket, key, err)
	}
	return dk, wk
}

func mustUnwrap(t *testing.T, r crypto.KeyWrapper, wk crypto.WrappedKey, bucket, key string, want []byte) {
	t.Helper()
	got, err := r.Unwrap(bg, wk, crypto.WrapContext{Bucket: bucket, Key: key})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("unwrap %s/%s (%s v%d): %v", bucket, key, wk.KeyID, wk.KeyVersion, err)
	}
}

func TestRotate_NewVersionForNewWritesOldStillOpens(t *testing.T) {
	r := newRing(t, Options{})
	dk1, wk1 := wrapped(t, r, "b", "old")
	if wk1.KeyID != DefaultKeyID || wk1.KeyVersion != 1 {
		t.Fatalf("first wrap under %s v%d", wk1.KeyID, wk1.KeyVersion)
	}
	// A second process (an instance sharing the file) opens the ring.
	other, _, err := OpenRing(r.Path(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	ki, err := r.Rotate("")
	if err != nil || ki.Version != 2 || ki.State != StateActive {
		t.Fatalf("rotate: %+v %v", ki, err)
	}
	_, wk2 := wrapped(t, r, "b", "new")
	if wk2.KeyVersion != 2 {
		t.Fatalf("wrap after rotate used v%d", wk2.KeyVersion)
	}
	mustUnwrap(t, r, wk1, "b", "old", dk1)

	// The other instance keeps v1 until it rereads the file.
	if _, wk := wrapped(t, other, "b", "x"); wk.KeyVersion != 1 {
		t.Fatalf("other instance changed before reload: v%d", wk.KeyVersion)
	}
	changed, err := other.Reload()
	if err != nil || !changed {
		t.Fatalf("reload: changed=%v %v", changed, err)
	}
	if _, wk := wrapped(t, other, "b", "x"); wk.KeyVersion != 2 {
		t.Fatalf("other instance after reload wraps under v%d", wk.KeyVersion)
	}
	if changed, err := other.Reload(); err != nil || changed {
		t.Fatalf("second reload: changed=%v %v", changed, err)
	}
	states := map[uint32]State{}
	for _, k := range r.Keys() {
		states[k.Version] = k.State
	}
	if states[1] != StateDecryptOnly || states[2] != StateActive {
		t.Fatalf("states %v", states)
	}
}

func TestWatch_PicksUpRotationWithinInterval(t *testing.T) {
	r := newRing(t, Options{})
	other, _, err := OpenRing(r.Path(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	changed := make(chan struct{}, 4)
	go other.Watch(ctx, 20*time.Millisecond, func() { changed <- struct{}{} },
		func(err error) { t.Errorf("watch: %v", err) })
	if _, err := r.Rotate(""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("the watching ring never noticed the rotation")
	}
	if id, v, _ := other.Active(context.Background(), ""); id != DefaultKeyID || v != 2 {
		t.Fatalf("active after watch: %s v%d", id, v)
	}
}

func TestRetire_DestroysMaterialAndSaysSo(t *testing.T) {
	r := newRing(t, Options{})
	_, wk1 := wrapped(t, r, "b", "k")
	if err := r.Retire(DefaultKeyID, 1); err == nil {
		t.Fatal("retired the active version")
	}
	if _, err := r.Rotate(""); err != nil {
		t.Fatal(err)
	}
	if err := r.Retire(DefaultKeyID, 1); err != nil {
		t.Fatal(err)
	}
	_, err := r.Unwrap(bg, wk1, crypto.WrapContext{Bucket: "b", Key: "k"})
	if !errors.Is(err, ErrRetired) || !errors.Is(err, crypto.ErrUnknownKey) {
		t.Fatalf("unwrap under retired key: %v", err)
	}
	if err := r.Retire(DefaultKeyID, 1); err == nil {
		t.Fatal("retired twice")
	}
	var f ringFile
	b, _ := os.ReadFile(r.Path())
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, k := range f.Keys {
		if k.Version == 1 && (len(k.Key) != 0 || k.State != StateRetired || k.Destroyed == nil) {
			t.Fatalf("retired key on disk: %+v", k)
		}
	}
	// A fresh process reads the retired record and still refuses clearly.
	again, _, err := OpenRing(r.Path(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if _, err := again.Unwrap(bg, wk1, crypto.WrapContext{Bucket: "b", Key: "k"}); !errors.Is(err, ErrRetired) {
		t.Fatalf("reopened: %v", err)
	}
}

func TestBucketKey_IsolatedAndShredded(t *testing.T) {
	r := newRing(t, Options{})
	dkOld, wkOld := wrapped(t, r, "matter", "before") // default key
	if _, err := r.CreateBucketKey("matter"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateBucketKey("matter"); err == nil {
		t.Fatal("a second key for the same bucket")
	}
	dkM, wkM := wrapped(t, r, "matter", "doc")
	if wkM.KeyID != "bucket/matter" {
		t.Fatalf("bucket object wrapped under %s", wkM.KeyID)
	}
	dkO, wkO := wrapped(t, r, "other", "doc")
	if wkO.KeyID != DefaultKeyID {
		t.Fatalf("other bucket wrapped under %s", wkO.KeyID)
	}
	// The bucket's key really differs from the default one.
	forged := wkM
	forged.KeyID, forged.KeyVersion = DefaultKeyID, 1
	if _, err := r.Unwrap(bg, forged, crypto.WrapContext{Bucket: "matter", Key: "doc"}); err == nil {
		t.Fatal("the default key opens a bucket key's wrap")
	}
	if _, err := r.Shred(""); err == nil {
		t.Fatal("shredded the default key")
	}
	if _, err := r.Shred("other"); err == nil {
		t.Fatal("shredded a bucket without its own key")
	}
	gone, err := r.Shred("matter")
	if err != nil || len(gone) != 1 {
		t.Fatalf("shred: %v %v", gone, err)
	}
	if _, err := r.Unwrap(bg, wkM, crypto.WrapContext{Bucket: "matter", Key: "doc"}); !errors.Is(err, ErrShredded) {
		t.Fatalf("unwrap after shred: %v", err)
	}
	if _, err := r.Wrap(bg, dkM, crypto.WrapContext{Bucket: "matter", Key: "new"}); !errors.Is(err, ErrShredded) {
		t.Fatalf("write to a shredded bucket: %v", err)
	}
	if _, err := r.Rotate("matter"); !errors.Is(err, ErrShredded) {
		t.Fatalf("rotate a shredded key: %v", err)
	}
	mustUnwrap(t, r, wkO, "other", "doc", dkO)
	// Objects the bucket held under the default key are not shredded:
	// the docs tell operators to rewrap before shredding.
	mustUnwrap(t, r, wkOld, "matter", "before", dkOld)

	ki, err := r.CreateBucketKey("matter")
	if err != nil || ki.Version != 2 {
		t.Fatalf("new key after shred: %+v %v", ki, err)
	}
	if _, wk := wrapped(t, r, "matter", "fresh"); wk.KeyVersion != 2 {
		t.Fatalf("fresh write under v%d", wk.KeyVersion)
	}
	if _, err := r.Unwrap(bg, wkM, crypto.WrapContext{Bucket: "matter", Key: "doc"}); !errors.Is(err, ErrShredded) {
		t.Fatalf("shredded object readable again: %v", err)
	}
	raw, _ := os.ReadFile(r.Path())
	if bytes.Contains(raw, dkM) {
		t.Fatal("data key on disk")
	}
}

func TestPassphrase_SealsTheFile(t *testing.T) {
	pass := []byte("correct horse battery staple")
	r := newRing(t, Options{Passphrase: pass})
	dk, wk := wrapped(t, r, "b", "k")
	raw, _ := os.ReadFile(r.Path())
	if !bytes.Contains(raw, []byte(formatSealed)) || bytes.Contains(raw, []byte(DefaultKeyID)) {
		t.Fatalf("file not sealed:\n%s", raw)
	}
	for name, p := range map[string][]byte{"none": nil, "wrong": []byte("Correct horse battery staple")} {
		if _, _, err := Open(r.Path(), Options{Passphrase: p}); !errors.Is(err, ErrPassphrase) {
			t.Errorf("%s passphrase: %v", name, err)
		} else if strings.Contains(err.Error(), string(pass)) {
			t.Errorf("passphrase in error %q", err)
		}
	}
	again, _, err := Open(r.Path(), Options{Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	mustUnwrap(t, again, wk, "b", "k", dk)
	// Operations keep the seal.
	if _, err := again.Rotate(""); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(r.Path())
	if !bytes.Contains(raw, []byte(formatSealed)) {
		t.Fatal("rotation unsealed the file")
	}
}

func TestPassphrase_SealsAClearRingOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	r, _, err := OpenRing(path, true)
	if err != nil {
		t.Fatal(err)
	}
	dk, wk := wrapped(t, r, "b", "k")
	r.Close()
	sealed, _, err := Open(path, Options{Passphrase: []byte("p4ss")})
	if err != nil {
		t.Fatal(err)
	}
	defer sealed.Close()
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(formatSealed)) {
		t.Fatal("not sealed")
	}
	mustUnwrap(t, sealed, wk, "b", "k", dk)
}

func TestReadsVersion1Files(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	key := bytes.Repeat([]byte{9}, 32)
	v1 := ringFile{Format: formatV1, Active: &keyRef{DefaultKeyID, 1},
		Keys: []fileKey{{ID: DefaultKeyID, Version: 1, Key: key}}}
	b, _ := json.Marshal(v1)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r, _, err := OpenRing(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mem := crypto.NewMemoryKeyRing(nil)
	mem.Add(DefaultKeyID, 1, key)
	dk, wk := wrapped(t, mem, "b", "k")
	mustUnwrap(t, r, wk, "b", "k", dk)
	if _, err := r.Rotate(""); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(formatV2)) {
		t.Fatal("rotation did not write version 2")
	}
	mustUnwrap(t, r, wk, "b", "k", dk)
}

func TestExportImport(t *testing.T) {
	r := newRing(t, Options{})
	dk1, wk1 := wrapped(t, r, "b", "one")
	if _, err := r.Rotate(""); err != nil {
		t.Fatal(err)
	}
	dk2, wk2 := wrapped(t, r, "b", "two")
	if err := r.Export(&bytes.Buffer{}, nil); err == nil {
		t.Fatal("exported without a passphrase")
	}
	var backup bytes.Buffer
	bpass := []byte("backup pass")
	if err := r.Export(&backup, bpass); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(backup.Bytes(), []byte(DefaultKeyID)) {
		t.Fatal("backup not sealed")
	}

	// Disaster: the ring is lost. Restore it from the backup.
	restored := filepath.Join(t.TempDir(), "keyring")
	if _, err := Import(restored, bytes.NewReader(backup.Bytes()), []byte("nope"), Options{}); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("import with a wrong passphrase: %v", err)
	}
	res, err := Import(restored, bytes.NewReader(backup.Bytes()), bpass, Options{})
	if err != nil || !res.Created {
		t.Fatalf("restore: %+v %v", res, err)
	}
	back, _, err := OpenRing(restored, false)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	mustUnwrap(t, back, wk1, "b", "one", dk1)
	mustUnwrap(t, back, wk2, "b", "two", dk2)

	// Merge into a different ring: its own default key conflicts.
	foreign := newRing(t, Options{})
	if _, err := Import(foreign.Path(), bytes.NewReader(backup.Bytes()), bpass, Options{}); err == nil {
		t.Fatal("imported a conflicting key")
	}
	// Merge into a ring that retired v1 since: v1 stays destroyed.
	if err := back.Retire(DefaultKeyID, 1); err != nil {
		t.Fatal(err)
	}
	res, err = Import(restored, bytes.NewReader(backup.Bytes()), bpass, Options{})
	if err != nil || res.Added != 0 {
		t.Fatalf("merge: %+v %v", res, err)
	}
	if _, err := back.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := back.Unwrap(bg, wk1, crypto.WrapContext{Bucket: "b", Key: "one"}); !errors.Is(err, ErrRetired) {
		t.Fatalf("import revived a retired key: %v", err)
	}
}

func TestCache_HitsPurgesAndZeroes(t *testing.T) {
	r := newRing(t, Options{})
	c := NewCache(r, 2, time.Minute)
	dk, wk := wrapped(t, c, "b", "k") // Wrap fills the cache
	for range 3 {
		mustUnwrap(t, c, wk, "b", "k", dk)
	}
	if h, m := c.Stats(); h != 3 || m != 0 {
		t.Fatalf("hits %d misses %d", h, m)
	}
	// The context is part of the cache key: another object misses and
	// fails to unwrap.
	if _, err := c.Unwrap(bg, wk, crypto.WrapContext{Bucket: "b", Key: "other"}); err == nil {
		t.Fatal("cached key served for another object")
	}
	got, _ := c.Unwrap(bg, wk, crypto.WrapContext{Bucket: "b", Key: "k"})
	clear(got) // callers clear what they get; the cache keeps its copy
	mustUnwrap(t, c, wk, "b", "k", dk)

	// Eviction zeroes the cached copy.
	id := cacheKey(wk, crypto.WrapContext{Bucket: "b", Key: "k"})
	entry, _ := c.lru.Peek(id)
	wrapped(t, c, "b", "x1")
	wrapped(t, c, "b", "x2")
	entry.mu.RLock()
	if !entry.dead || !bytes.Equal(entry.key, make([]byte, 32)) {
		t.Fatal("evicted key not zeroed")
	}
	entry.mu.RUnlock()

	// After a shred and a purge the cache no longer answers.
	if _, err := r.CreateBucketKey("m"); err != nil {
		t.Fatal(err)
	}
	dkM, wkM := wrapped(t, c, "m", "doc")
	mustUnwrap(t, c, wkM, "m", "doc", dkM)
	if _, err := r.Shred("m"); err != nil {
		t.Fatal(err)
	}
	c.Purge()
	if _, err := c.Unwrap(bg, wkM, crypto.WrapContext{Bucket: "m", Key: "doc"}); !errors.Is(err, ErrShredded) {
		t.Fatalf("cache served a shredded key: %v", err)
	}
}

func TestCache_Concurrent(t *testing.T) {
	r := newRing(t, Options{})
	c := NewCache(r, 8, 50*time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				key := string(rune('a' + (g+i)%16))
				dk, wk := wrapped(t, c, "b", key)
				got, err := c.Unwrap(bg, wk, crypto.WrapContext{Bucket: "b", Key: key})
				if err != nil || !bytes.Equal(got, dk) {
					t.Errorf("unwrap: %v", err)
					return
				}
				if i%50 == 0 {
					c.Purge()
				}
			}
		}()
	}
	wg.Wait()
}

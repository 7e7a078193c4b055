package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/backend/s3store"
	"github.com/cloakproxy/cloak/bulk"
	"github.com/cloakproxy/cloak/cmd"
	"github.com/cloakproxy/cloak/integration/miniotest"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// keyStore is a store for the key lifecycle tests with the flags that
// point "cloak keys" at it.
type keyStore struct {
	name  string
	store backend.Store
	args  []string
}

// keyStores opens each kind of store for a key test. The MinIO store's
// credentials go to the CLI through the environment (t.Setenv), as an
// operator would give them.
func keyStores(t *testing.T) []func(t *testing.T) keyStore {
	return []func(t *testing.T) keyStore{
		func(t *testing.T) keyStore {
			dir := t.TempDir()
			st, err := localstore.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			return keyStore{"local", st, []string{"--backend-type", "local", "--backend-local-dir", dir}}
		},
		func(t *testing.T) keyStore {
			m := miniotest.Start(t)
			st, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey,
				SecretKey: m.SecretKey, Lookup: "path", Region: "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv("CLOAK_BACKEND_S3_ACCESS_KEY", m.AccessKey)
			t.Setenv("CLOAK_BACKEND_S3_SECRET_KEY", m.SecretKey)
			return keyStore{"minio", st, []string{"--backend-type", "s3", "--backend-s3-endpoint",
				m.Endpoint, "--backend-s3-lookup", "path", "--backend-s3-region", "us-east-1"}}
		},
	}
}

// keysEnv is Cloak over a store with a key ring file that the CLI shares,
// behind the data key cache, watched as "cloak serve" watches it.
type keysEnv struct {
	*env
	ring    *keys.Ring
	cache   *keys.Cache
	data    string
	cliArgs []string
}

func newKeysEnv(t *testing.T, ks keyStore) *keysEnv {
	t.Helper()
	data := t.TempDir()
	ringPath := filepath.Join(data, "keyring")
	ring, _, err := keys.Open(ringPath, keys.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ring.Close)
	cache := keys.NewCache(ring, 1000, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go ring.Watch(ctx, 100*time.Millisecond, cache.Purge, func(err error) { t.Errorf("ring reload: %v", err) })
	e := newEnv(t, ks.store, proxy.Options{Keys: cache})
	args := append([]string{"--data", data, "--keyring", ringPath, "--keys-reload-interval", "100ms"}, ks.args...)
	return &keysEnv{env: e, ring: ring, cache: cache, data: data, cliArgs: args}
}

// cloak runs "cloak keys SUB ARGS..." with the env's flags and returns
// its output and exit code.
func (k *keysEnv) cloak(t *testing.T, sub string, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"keys", sub}, append(append([]string{}, k.cliArgs...), args...)...)
	code := cmd.Main(all, &out, &errOut)
	return out.String() + errOut.String(), code
}

// mustCloak is cloak that fails the test unless the command succeeds.
func (k *keysEnv) mustCloak(t *testing.T, sub string, args ...string) string {
	t.Helper()
	out, code := k.cloak(t, sub, args...)
	if code != 0 {
		t.Fatalf("cloak keys %s %v: exit %d\n%s", sub, args, code, out)
	}
	return out
}

// waitActive waits until the env's ring wraps bucket's new objects under
// version v of id.
func (k *keysEnv) waitActive(t *testing.T, bucket, id string, v uint32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		gid, gv, err := k.ring.Active(context.Background(), bucket)
		if err == nil && gid == id && gv == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still wraps %s under %s v%d (%v), want %s v%d", bucket, gid, gv, err, id, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storedKey reads the master key of bucket/key straight from the store.
func storedKey(t *testing.T, st backend.Store, bucket, key string) proxy.KeyRef {
	t.Helper()
	head, err := st.HeadObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("head %s/%s: %v", bucket, key, err)
	}
	ref, _, ok, err := proxy.StoredKey(head.Metadata)
	if err != nil || !ok {
		t.Fatalf("%s/%s has no readable envelope: %v", bucket, key, err)
	}
	return ref
}

// keyObjects is what a key test writes and reads back.
type keyObjects map[string][]byte

func (k *keysEnv) putAll(t *testing.T, bucket string, objs keyObjects) {
	t.Helper()
	ctx := context.Background()
	for key, data := range objs {
		if strings.HasPrefix(key, "mp/") {
			third := len(data) / 3
			uploadParts(t, k.env, bucket, key, [][]byte{data[:third], data[third : 2*third], data[2*third:]})
			continue
		}
		if _, err := k.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
}

// readAll reads every object back whole and in a range across the middle.
func (k *keysEnv) readAll(t *testing.T, bucket string, objs keyObjects) error {
	t.Helper()
	ctx := context.Background()
	for key, data := range objs {
		out, err := k.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return fmt.Errorf("get %s: %w", key, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, data) {
			return fmt.Errorf("get %s: %d bytes back, %v", key, len(got), err)
		}
		if len(data) > 2 {
			a, b := len(data)/2-1, len(data)/2+1
			out, err := k.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
				Range: aws.String(fmt.Sprintf("bytes=%d-%d", a, b))})
			if err != nil {
				return fmt.Errorf("range of %s: %w", key, err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, data[a:b+1]) {
				return fmt.Errorf("range of %s: wrong bytes, %v", key, err)
			}
		}
	}
	return nil
}

func makeKeyObjects(prefix string, n int) keyObjects {
	objs := keyObjects{}
	for i := range n {
		objs[fmt.Sprintf("%s/obj-%03d", prefix, i)] = randomBytes(1 + i*997)
	}
	return objs
}

// TestKeys_RotateRewrapRetire is the rotation scenario: objects written
// under v1, a rotation, new objects under v2, a rewrap that moves every
// object to v2 without changing its data, a retire of v1 that is refused
// while anything (even an upload in progress) uses it, and then every
// object still readable, also by a fresh server whose ring has no v1.
func TestKeys_RotateRewrapRetire(t *testing.T) {
	for _, open := range keyStores(t) {
		ks := open(t)
		t.Run(ks.name, func(t *testing.T) {
			k := newKeysEnv(t, ks)
			ctx := context.Background()
			k.mkBucket(t, "rot")
			k.mkBucket(t, "other")
			old := makeKeyObjects("v1", 12)
			old["v1/streamed"] = randomBytes(17 << 20) // above the buffering limit
			old["mp/v1"] = randomBytes(16 << 20)
			k.putAll(t, "rot", old)
			others := makeKeyObjects("o", 3)
			k.putAll(t, "other", others)
			// An upload in progress under v1, completed only after the rewrap.
			up, err := k.aws.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
				Bucket: aws.String("rot"), Key: aws.String("mp/pending")})
			if err != nil {
				t.Fatal(err)
			}
			pending := randomBytes(1 << 20)
			part, err := k.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("rot"),
				Key: aws.String("mp/pending"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
				Body: bytes.NewReader(pending), ContentLength: aws.Int64(int64(len(pending)))})
			if err != nil {
				t.Fatal(err)
			}
			for key := range old {
				if ref := storedKey(t, ks.store, "rot", key); ref != (proxy.KeyRef{ID: keys.DefaultKeyID, Version: 1}) {
					t.Fatalf("%s under %+v before any rotation", key, ref)
				}
			}

			out := k.mustCloak(t, "rotate")
			if !strings.Contains(out, "cloak-master version 2 is now active") {
				t.Fatalf("rotate said:\n%s", out)
			}
			k.waitActive(t, "rot", keys.DefaultKeyID, 2)
			fresh := makeKeyObjects("v2", 4)
			k.putAll(t, "rot", fresh)
			for key := range fresh {
				if ref := storedKey(t, ks.store, "rot", key); ref.Version != 2 {
					t.Fatalf("%s written after the rotation under v%d", key, ref.Version)
				}
			}

			// v1 is still in use: retiring it is refused, and says why.
			out, code := k.cloak(t, "retire", "1")
			if code == 0 || !strings.Contains(out, "still wraps") {
				t.Fatalf("retire of a version in use: exit %d\n%s", code, out)
			}
			sizes := map[string]int64{}
			for key := range old {
				head, _ := ks.store.HeadObject(ctx, "rot", key)
				sizes[key] = head.Size
			}

			out = k.mustCloak(t, "rewrap")
			want := fmt.Sprintf("%d changed", len(old)+len(others))
			if !strings.Contains(out, want) {
				t.Fatalf("rewrap said (want %q):\n%s", want, out)
			}
			for key := range old {
				if ref := storedKey(t, ks.store, "rot", key); ref.Version != 2 {
					t.Fatalf("%s still under v%d after the rewrap", key, ref.Version)
				}
				head, _ := ks.store.HeadObject(ctx, "rot", key)
				if head.Size != sizes[key] {
					t.Fatalf("%s changed size in the rewrap", key)
				}
			}
			if err := k.readAll(t, "rot", old); err != nil {
				t.Fatal(err)
			}
			// A second rewrap has nothing to do.
			if out := k.mustCloak(t, "rewrap"); !strings.Contains(out, " 0 changed") {
				t.Fatalf("second rewrap:\n%s", out)
			}

			// The upload in progress still holds v1.
			out, code = k.cloak(t, "retire", "1")
			if code == 0 || !strings.Contains(out, "1 uploads in progress") {
				t.Fatalf("retire with an upload under v1: exit %d\n%s", code, out)
			}
			if _, err := k.aws.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
				Bucket: aws.String("rot"), Key: aws.String("mp/pending"), UploadId: up.UploadId,
				MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{
					{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
				t.Fatal(err)
			}
			k.mustCloak(t, "rewrap", "--bucket", "rot")
			k.mustCloak(t, "retire", "1")
			list := k.mustCloak(t, "list", "--scan")
			if !hasRow(list, keys.DefaultKeyID, "1", "retired") || !hasRow(list, keys.DefaultKeyID, "2", "active") {
				t.Fatalf("list after retire:\n%s", list)
			}

			all := keyObjects{"mp/pending": pending}
			for _, m := range []keyObjects{old, fresh} {
				for key, v := range m {
					all[key] = v
				}
			}
			k.waitPurged(t)
			if err := k.readAll(t, "rot", all); err != nil {
				t.Fatal(err)
			}
			if err := k.readAll(t, "other", others); err != nil {
				t.Fatal(err)
			}
			// A new server over the same store, whose ring no longer holds
			// v1's material, reads everything.
			ring2, _, err := keys.Open(k.ring.Path(), keys.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ring2.Close()
			k2 := &keysEnv{env: newEnv(t, ks.store, proxy.Options{Keys: ring2})}
			if err := k2.readAll(t, "rot", all); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// waitPurged waits for the watch to have reloaded the ring after the
// last CLI change, so that no cached data key hides it.
func (k *keysEnv) waitPurged(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		changed, err := k.ring.Reload()
		if err == nil && !changed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ring did not settle: %v", err)
		}
		k.cache.Purge()
	}
}

// TestKeys_RewrapInterruptedAndResumed stops a rewrap midway while a
// reader keeps reading every object through Cloak, then resumes it:
// every object ends under the new version, and no read ever failed.
func TestKeys_RewrapInterruptedAndResumed(t *testing.T) {
	for _, open := range keyStores(t) {
		ks := open(t)
		t.Run(ks.name, func(t *testing.T) {
			k := newKeysEnv(t, ks)
			k.mkBucket(t, "resume")
			objs := makeKeyObjects("r", 60)
			k.putAll(t, "resume", objs)
			if _, err := k.ring.Rotate(""); err != nil {
				t.Fatal(err)
			}
			k.waitActive(t, "resume", keys.DefaultKeyID, 2)

			var reads, failures atomic.Int64
			var firstFailure atomic.Value
			stopReader := make(chan struct{})
			var readerDone sync.WaitGroup
			readerDone.Add(1)
			go func() {
				defer readerDone.Done()
				for round := 0; round < 1000; round++ {
					select {
					case <-stopReader:
						return
					default:
					}
					if err := k.readAll(t, "resume", objs); err != nil {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, err.Error())
					}
					reads.Add(1)
				}
			}()

			srv, err := proxy.New(proxy.Options{Store: ks.store, Keys: k.ring, Credentials: sigv4.StaticCredentials{}})
			if err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(k.data, "rewrap.state")
			opts := bulk.Options{Op: "rewrap", Store: ks.store, Buckets: []string{"resume"},
				Jobs: 4, WithMetadata: true, State: state}
			target := proxy.RewrapOptions{Target: proxy.KeyRef{ID: keys.DefaultKeyID, Version: 2}}
			// One worker for the run that is stopped: with several, the
			// first object can still be in flight after 24 others are done
			// (one slow call on a loaded machine), and the state then
			// rightly records no progress at all.
			first := opts
			first.Jobs = 1
			ctx, cancel := context.WithCancel(context.Background())
			var done atomic.Int64
			sum1, err := bulk.Run(ctx, first, func(ctx context.Context, b string, o backend.ObjectInfo) (bool, error) {
				if done.Add(1) == 25 {
					cancel()
				}
				return srv.Rewrap(ctx, b, o, target)
			})
			if !errors.Is(err, context.Canceled) || sum1.Complete || sum1.Changed == 0 {
				t.Fatalf("interrupted rewrap: %v, %+v", err, sum1)
			}
			moved := 0
			for key := range objs {
				if storedKey(t, ks.store, "resume", key).Version == 2 {
					moved++
				}
			}
			if moved == 0 || moved == len(objs) {
				t.Fatalf("%d of %d objects moved before the interruption", moved, len(objs))
			}
			sum2, err := bulk.Run(context.Background(), opts, func(ctx context.Context, b string, o backend.ObjectInfo) (bool, error) {
				return srv.Rewrap(ctx, b, o, target)
			})
			if err != nil || !sum2.Complete || !sum2.Resumed || sum2.Failed != 0 {
				t.Fatalf("resumed rewrap: %v, %+v", err, sum2)
			}
			if sum2.Objects >= int64(len(objs)) {
				t.Fatalf("the resumed rewrap went over all %d objects again", sum2.Objects)
			}
			close(stopReader)
			readerDone.Wait()
			for key := range objs {
				if ref := storedKey(t, ks.store, "resume", key); ref.Version != 2 {
					t.Fatalf("%s under v%d after the resumed rewrap", key, ref.Version)
				}
			}
			if failures.Load() != 0 {
				t.Fatalf("%d of %d read rounds failed during the rewrap; first: %v",
					failures.Load(), reads.Load(), firstFailure.Load())
			}
			if reads.Load() == 0 {
				t.Fatal("the reader never completed a round")
			}
			if err := k.readAll(t, "resume", objs); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestKeys_ShredOneBucket gives one matter its own key, shreds it, and
// checks that its objects then fail with a clear error while every other
// bucket reads as before, and that new writes to it are refused.
func TestKeys_ShredOneBucket(t *testing.T) {
	for _, open := range keyStores(t) {
		ks := open(t)
		t.Run(ks.name, func(t *testing.T) {
			k := newKeysEnv(t, ks)
			ctx := context.Background()
			k.mkBucket(t, "matter-42")
			k.mkBucket(t, "matter-43")
			k.mustCloak(t, "create", "--bucket", "matter-42")
			k.waitActive(t, "matter-42", "bucket/matter-42", 1)
			doomed := makeKeyObjects("case", 5)
			doomed["mp/evidence"] = randomBytes(16 << 20)
			k.putAll(t, "matter-42", doomed)
			kept := makeKeyObjects("case", 5)
			k.putAll(t, "matter-43", kept)
			if err := k.readAll(t, "matter-42", doomed); err != nil {
				t.Fatal(err) // and the data keys are now cached
			}

			out, code := k.cloak(t, "shred", "--bucket", "matter-42", "--confirm", "matter-41")
			if code == 0 || !strings.Contains(out, "nothing was destroyed") {
				t.Fatalf("shred with a wrong confirmation: exit %d\n%s", code, out)
			}
			out = k.mustCloak(t, "shred", "--bucket", "matter-42", "--confirm", "matter-42")
			if !strings.Contains(out, "destroyed bucket/matter-42 version 1") {
				t.Fatalf("shred said:\n%s", out)
			}
			k.waitPurged(t)
			for key := range doomed {
				_, err := k.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("matter-42"), Key: aws.String(key)})
				assertS3Code(t, err, "InvalidObjectState")
				assertHTTPStatus(t, err, 403)
			}
			_, err := k.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("matter-42"),
				Key: aws.String("after"), Body: strings.NewReader("x")})
			assertS3Code(t, err, "InvalidObjectState")
			if err := k.readAll(t, "matter-43", kept); err != nil {
				t.Fatal(err)
			}
			list := k.mustCloak(t, "list")
			if !strings.Contains(list, "shredded") {
				t.Fatalf("list after shred:\n%s", list)
			}
		})
	}
}

// hasRow reports whether the table text has a line starting with fields.
func hasRow(table string, fields ...string) bool {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(fields) && slices.Equal(f[:len(fields)], fields) {
			return true
		}
	}
	return false
}

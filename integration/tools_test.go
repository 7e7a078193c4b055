package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/cmd"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// plainObject is an object written to the store before Cloak.
type plainObject struct {
	data        []byte
	contentType string
	meta        map[string]string
	etag        string // as the store gave it
}

// toolStore is a store for the tool tests, with a way to write plaintext
// objects into it as a pre-Cloak application would.
type toolStore struct {
	keyStore
	// putPlain writes a plaintext object straight to the store and
	// returns its ETag; partSize > 0 makes it a multipart upload (MinIO).
	putPlain func(t *testing.T, bucket, key string, o plainObject, partSize int64) string
}

func toolStores(t *testing.T) []func(t *testing.T) toolStore {
	opens := keyStores(t)
	return []func(t *testing.T) toolStore{
		func(t *testing.T) toolStore {
			ks := opens[0](t)
			return toolStore{ks, func(t *testing.T, bucket, key string, o plainObject, _ int64) string {
				info, err := ks.store.PutObject(context.Background(), bucket, key, bytes.NewReader(o.data),
					int64(len(o.data)), backend.PutOptions{Metadata: o.meta})
				if err != nil {
					t.Fatal(err)
				}
				return info.ETag
			}}
		},
		func(t *testing.T) toolStore {
			ks := opens[1](t)
			endpoint := strings.TrimPrefix(ks.args[3], "http://")
			mc, err := minio.New(endpoint, &minio.Options{Region: "us-east-1",
				Creds: mcreds.NewStaticV4(os.Getenv("CLOAK_BACKEND_S3_ACCESS_KEY"),
					os.Getenv("CLOAK_BACKEND_S3_SECRET_KEY"), "")})
			if err != nil {
				t.Fatal(err)
			}
			return toolStore{ks, func(t *testing.T, bucket, key string, o plainObject, partSize int64) string {
				opts := minio.PutObjectOptions{ContentType: o.contentType, UserMetadata: o.meta,
					DisableContentSha256: true}
				size := int64(len(o.data))
				if partSize > 0 {
					opts.PartSize = uint64(partSize)
					size = -1 // unknown size: minio-go uploads in parts
				}
				info, err := mc.PutObject(context.Background(), bucket, key, bytes.NewReader(o.data), size, opts)
				if err != nil {
					t.Fatal(err)
				}
				return info.ETag
			}}
		},
	}
}

// TestTools_MigrateVerifyDecrypt encrypts a bucket of objects written
// before Cloak in place, checks that clients see the same bytes, ETags,
// types and metadata afterwards and the store only ciphertext, verifies
// the bucket (and catches tampering), and recovers objects offline with
// nothing but a key ring backup.
func TestTools_MigrateVerifyDecrypt(t *testing.T) {
	for _, open := range toolStores(t) {
		ts := open(t)
		t.Run(ts.name, func(t *testing.T) {
			k := newKeysEnv(t, ts.keyStore)
			// The server treats "legacy" as migrating while it is encrypted.
			e := newEnv(t, ts.store, proxy.Options{Keys: k.cache,
				Migrating: func(b, _ string) bool { return b == "legacy" }})
			k.env = e
			k.mkBucket(t, "legacy")
			plain := map[string]*plainObject{}
			for i := range 25 {
				o := &plainObject{data: randomBytes(500 + i*4093), contentType: "application/pdf",
					meta: map[string]string{"matter": fmt.Sprintf("matter %d of Acme", i)}}
				plain[fmt.Sprintf("case/%02d.pdf", i)] = o
			}
			plain["big/scan.tiff"] = &plainObject{data: randomBytes(12 << 20), contentType: "image/tiff"}
			for key, o := range plain {
				partSize := int64(0)
				if key == "big/scan.tiff" {
					partSize = 5 << 20
				}
				o.etag = ts.putPlain(t, "legacy", key, *o, partSize)
			}
			before := clientView(t, e, "legacy", plain)

			out := k.mustCloakTool(t, "migrate", "--bucket", "legacy", "--dry-run")
			if !strings.Contains(out, "dry run: 26 of 26 objects") {
				t.Fatalf("dry run said:\n%s", out)
			}
			if ref, _, ok, _ := proxy.StoredKey(headMeta(t, ts.store, "legacy", "case/00.pdf")); ok {
				t.Fatalf("the dry run encrypted an object (%+v)", ref)
			}
			out = k.mustCloakTool(t, "migrate", "--bucket", "legacy")
			if !strings.Contains(out, "26 encrypted, 0 already encrypted") {
				t.Fatalf("migrate said:\n%s", out)
			}
			for key, o := range plain {
				raw, meta := e.raw(t, "legacy", key)
				if _, _, ok, err := proxy.StoredKey(meta); !ok || err != nil {
					t.Fatalf("%s is not encrypted after the migration", key)
				}
				assertNoPlaintext(t, key, raw, meta, o)
			}
			if after := clientView(t, e, "legacy", plain); after != before {
				t.Fatalf("clients see a different bucket after the migration:\nbefore %s\nafter  %s", before, after)
			}
			// A second run finds nothing to do.
			if out := k.mustCloakTool(t, "migrate", "--bucket", "legacy"); !strings.Contains(out, "0 encrypted, 26 already") {
				t.Fatalf("second migrate said:\n%s", out)
			}

			if out := k.mustCloakTool(t, "verify", "--bucket", "legacy"); !strings.Contains(out, "26 authentic, 0 failed") {
				t.Fatalf("verify said:\n%s", out)
			}
			// Tampering: a flipped byte deep in one object, another
			// object's wrapped key on a second.
			raw, meta := e.raw(t, "legacy", "big/scan.tiff")
			raw[len(raw)/2] ^= 0x40
			mustPutRaw(t, ts.store, "legacy", "big/scan.tiff", raw, meta)
			_, meta3 := e.raw(t, "legacy", "case/03.pdf")
			raw4, meta4 := e.raw(t, "legacy", "case/04.pdf")
			meta4["cloak-env"] = meta3["cloak-env"]
			mustPutRaw(t, ts.store, "legacy", "case/04.pdf", raw4, meta4)
			out, code := k.cloakTool(t, "verify", "--bucket", "legacy")
			if code == 0 || !strings.Contains(out, "24 authentic, 2 failed") ||
				!strings.Contains(out, "legacy/big/scan.tiff: authentication failed") ||
				!strings.Contains(out, "legacy/case/04.pdf: authentication failed") {
				t.Fatalf("verify of a tampered bucket: exit %d\n%s", code, out)
			}
			out, code = k.cloakTool(t, "verify", "--bucket", "legacy", "--quick")
			if code == 0 || !strings.Contains(out, "1 failed") || !strings.Contains(out, "case/04.pdf") {
				t.Fatalf("quick verify (catches the moved key, not the deep flip): exit %d\n%s", code, out)
			}

			// Offline recovery with a key ring backup only.
			t.Setenv("CLOAK_KEYS_BACKUP_PASSPHRASE", "recovery drill passphrase")
			backup := filepath.Join(t.TempDir(), "ring.backup")
			k.mustCloakTool(t, "keys", "export", "--out", backup)
			dir := t.TempDir()
			noRing := []string{"--key-backup", backup, "--keyring", filepath.Join(dir, "absent")}
			outFile := filepath.Join(dir, "01.pdf")
			k.mustCloakTool(t, append([]string{"decrypt", "--bucket", "legacy", "--key", "case/01.pdf",
				"--out", outFile}, noRing...)...)
			if got, _ := os.ReadFile(outFile); !bytes.Equal(got, plain["case/01.pdf"].data) {
				t.Fatal("decrypt from the store returned other bytes")
			}
			out, code = k.cloakTool(t, append([]string{"decrypt", "--bucket", "legacy", "--key", "big/scan.tiff",
				"--out", filepath.Join(dir, "scan.tiff")}, noRing...)...)
			if code == 0 {
				t.Fatalf("decrypt of a tampered object succeeded:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(dir, "scan.tiff")); !os.IsNotExist(err) {
				t.Fatal("a failed decrypt left an output file")
			}
			whole := filepath.Join(dir, "bucket")
			out, code = k.cloakTool(t, append([]string{"decrypt", "--bucket", "legacy", "--out-dir", whole}, noRing...)...)
			if code == 0 || !strings.Contains(out, "decrypted 24 objects") {
				t.Fatalf("decrypt of the bucket: exit %d\n%s", code, out)
			}
			for key, o := range plain {
				got, err := os.ReadFile(filepath.Join(whole, filepath.FromSlash(key)))
				damaged := key == "big/scan.tiff" || key == "case/04.pdf"
				if damaged != (err != nil) || (!damaged && !bytes.Equal(got, o.data)) {
					t.Fatalf("%s in the recovered bucket: %v", key, err)
				}
			}
			// From raw files alone, as copied off the store by other tools,
			// with a configured store that does not even exist.
			rawObj, rawMeta := e.raw(t, "legacy", "case/07.pdf")
			objFile, metaFile := filepath.Join(dir, "raw.bin"), filepath.Join(dir, "raw.json")
			os.WriteFile(objFile, rawObj, 0o600)
			mj, _ := json.Marshal(map[string]any{"Metadata": rawMeta})
			os.WriteFile(metaFile, mj, 0o600)
			offline := filepath.Join(dir, "07.pdf")
			args := append([]string{"decrypt", "--bucket", "legacy", "--key", "case/07.pdf", "--object", objFile,
				"--metadata", metaFile, "--out", offline, "--backend-type", "s3",
				"--backend-s3-endpoint", "http://127.0.0.1:9"}, noRing...)
			k.mustCloakTool(t, args...)
			if got, _ := os.ReadFile(offline); !bytes.Equal(got, plain["case/07.pdf"].data) {
				t.Fatal("offline decrypt of a raw file returned other bytes")
			}
		})
	}
}

// TestTools_MigrateIntoAnotherBucketAndRaces migrates into a second
// bucket, and checks that an object a client rewrites during a migration
// is never overwritten with its stale plaintext.
func TestTools_MigrateIntoAnotherBucketAndRaces(t *testing.T) {
	for _, open := range toolStores(t) {
		ts := open(t)
		t.Run(ts.name, func(t *testing.T) {
			ctx := context.Background()
			k := newKeysEnv(t, ts.keyStore)
			k.mkBucket(t, "src")
			k.mkBucket(t, "dst")
			objs := map[string]*plainObject{}
			for i := range 6 {
				o := &plainObject{data: randomBytes(1000 + i), meta: map[string]string{"n": fmt.Sprint(i)}}
				o.etag = ts.putPlain(t, "src", fmt.Sprintf("o%d", i), *o, 0)
				objs[fmt.Sprintf("o%d", i)] = o
			}
			// dst/o1 was already written through Cloak: it must stay.
			newer := randomBytes(777)
			if _, err := k.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dst"), Key: aws.String("o1"),
				Body: bytes.NewReader(newer)}); err != nil {
				t.Fatal(err)
			}
			out := k.mustCloakTool(t, "migrate", "--bucket", "src", "--to-bucket", "dst")
			if !strings.Contains(out, "5 encrypted, 1 already encrypted") {
				t.Fatalf("migrate to another bucket said:\n%s", out)
			}
			for key, o := range objs {
				if _, _, ok, _ := proxy.StoredKey(headMeta(t, ts.store, "src", key)); ok {
					t.Fatalf("the source %s was changed", key)
				}
				want := o.data
				if key == "o1" {
					want = newer
				}
				expectContent(t, k.env, "dst", key, want)
			}

			// A client rewrites the object between the migration's read
			// and its write: the write's condition fails, the object is
			// read again, and the client's version is what ends encrypted.
			racy := &racingStore{Store: ts.store}
			srv, err := proxy.New(proxy.Options{Store: racy, Keys: k.ring, Credentials: sigv4.StaticCredentials{}})
			if err != nil {
				t.Fatal(err)
			}
			fresh := randomBytes(4321)
			racy.onGet = func() {
				if _, err := ts.store.PutObject(ctx, "src", "o2", bytes.NewReader(fresh), int64(len(fresh)),
					backend.PutOptions{}); err != nil {
					t.Error(err)
				}
			}
			wrote, err := srv.Migrate(ctx, "src", backend.ObjectInfo{Key: "o2"}, proxy.MigrateOptions{})
			if err != nil || !wrote {
				t.Fatalf("migrate with a racing writer: %v, wrote %v", err, wrote)
			}
			if racy.gets < 2 {
				t.Fatalf("the object was read %d times: the stale copy was written", racy.gets)
			}
			expectContent(t, k.env, "src", "o2", fresh)
		})
	}
}

// racingStore runs onGet once, the first time an object is read, as a
// client writing at that moment would.
type racingStore struct {
	backend.Store
	onGet func()
	gets  int
}

func (r *racingStore) GetObject(ctx context.Context, bucket, key string, off, n int64,
	opts backend.GetOptions) (io.ReadCloser, backend.ObjectInfo, error) {
	r.gets++
	if r.gets == 1 && r.onGet != nil {
		r.onGet()
	}
	return r.Store.GetObject(ctx, bucket, key, off, n, opts)
}

// clientView describes what a client sees of the objects: bytes, ETag,
// type and metadata, one line each, sorted.
func clientView(t *testing.T, e *env, bucket string, objs map[string]*plainObject) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	for key, o := range objs {
		out, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, o.data) {
			t.Fatalf("get %s: wrong bytes (%v)", key, err)
		}
		sum := md5.Sum(got)
		lines = append(lines, fmt.Sprintf("%s etag=%s type=%s meta=%v md5=%s", key,
			aws.ToString(out.ETag), aws.ToString(out.ContentType), out.Metadata, hex.EncodeToString(sum[:])))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func assertNoPlaintext(t *testing.T, key string, raw []byte, meta map[string]string, o *plainObject) {
	t.Helper()
	if containsWindow(raw, o.data) {
		t.Fatalf("%s: plaintext found in the stored object", key)
	}
	sum := md5.Sum(o.data)
	for name, v := range meta {
		for _, secret := range append([]string{hex.EncodeToString(sum[:]), o.contentType}, values(o.meta)...) {
			if secret != "" && strings.Contains(v, secret) {
				t.Fatalf("%s: stored metadata %s holds %q in the clear", key, name, secret)
			}
		}
	}
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func headMeta(t *testing.T, st backend.Store, bucket, key string) map[string]string {
	t.Helper()
	h, err := st.HeadObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	return h.Metadata
}

func mustPutRaw(t *testing.T, st backend.Store, bucket, key string, raw []byte, meta map[string]string) {
	t.Helper()
	if _, err := st.PutObject(context.Background(), bucket, key, bytes.NewReader(raw), int64(len(raw)),
		backend.PutOptions{Metadata: meta}); err != nil {
		t.Fatal(err)
	}
}

// cloakTool runs "cloak ARGS..." (a top-level command) with the env's
// configuration flags.
func (k *keysEnv) cloakTool(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := []string{args[0]}
	rest := args[1:]
	if args[0] == "keys" {
		all, rest = append(all, args[1]), args[2:]
	}
	all = append(append(all, k.cliArgs...), rest...)
	code := cmd.Main(all, &out, &errOut)
	return out.String() + errOut.String(), code
}

func (k *keysEnv) mustCloakTool(t *testing.T, args ...string) string {
	t.Helper()
	out, code := k.cloakTool(t, args...)
	if code != 0 {
		t.Fatalf("cloak %v: exit %d\n%s", args, code, out)
	}
	return out
}

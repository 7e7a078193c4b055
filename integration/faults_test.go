package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/backend/s3store"
	"github.com/cloakproxy/cloak/integration/miniotest"
	"github.com/cloakproxy/cloak/keys/awskms"
	"github.com/cloakproxy/cloak/keys/awskms/kmstest"
	"github.com/cloakproxy/cloak/proxy"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it when the test ends. It skips the test when the kernel
// refuses the mount (not root, or no mount namespace rights), saying so.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).
		CombinedOutput()
	if err != nil {
		t.Skipf("disk-full test skipped: the kernel refused to mount a tmpfs (%v: %s); "+
			"it needs root or CAP_SYS_ADMIN", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestFaults_DiskFull runs the embedded store on an 8 MiB file system, and
// MinIO on a 64 MiB one, and fills it: writes that do not fit fail with
// 507 InsufficientStorage (a server error that clients report at once
// rather than retry for minutes, see docs/OPERATIONS.md), leave no partial
// object (and, in the embedded store, no temp file), and every object
// written before stays readable; once space is freed, writes succeed
// again.
func TestFaults_DiskFull(t *testing.T) {
	stores := []struct {
		name string
		// open returns the env, the local store's temp dir, and MinIO's
		// trash dir (where it moves deleted data until it purges it).
		open func(t *testing.T) (*env, string, string)
	}{
		{"local", func(t *testing.T) (*env, string, string) {
			dir := mountTmpfs(t, "8m")
			st, err := localstore.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() }) // before the unmount
			return newEnv(t, st, proxy.Options{SmallObjectLimit: smallLimit}), dir + "/tmp", ""
		}},
		{"minio", func(t *testing.T) (*env, string, string) {
			dir := mountTmpfs(t, "64m")
			m := miniotest.StartIn(t, dir)
			st, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey,
				SecretKey: m.SecretKey, Lookup: "path", Region: "us-east-1", MaxRetries: 2})
			if err != nil {
				t.Fatal(err)
			}
			return newEnv(t, st, proxy.Options{SmallObjectLimit: smallLimit}), "",
				filepath.Join(m.DataDir, ".minio.sys", "tmp", ".trash")
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e, tmpDir, trashDir := st.open(t)
			fillTheDisk(t, e, tmpDir, trashDir)
		})
	}
}

func fillTheDisk(t *testing.T, e *env, tmpDir, trashDir string) {
	ctx := context.Background()
	client := e.noRetries()
	e.mkBucket(t, "full")
	kept := map[string][]byte{"small": randomBytes(100_000), "streamed": randomBytes(smallLimit + 1000)}
	for k, v := range kept {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("full"), Key: aws.String(k),
			Body: bytes.NewReader(v)}); err != nil {
			t.Fatal(err)
		}
	}
	// Fill the disk: buffered PUTs, a streamed PUT, an overwrite of a kept
	// object and a part, each larger than what is left.
	var filled []string
	for i := 0; ; i++ {
		key := fmt.Sprintf("filler-%03d", i)
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("full"), Key: aws.String(key),
			Body: bytes.NewReader(randomBytes(1 << 20))})
		if err != nil {
			assertS3Code(t, err, "InsufficientStorage")
			assertHTTPStatus(t, err, 507)
			break
		}
		filled = append(filled, key)
		if i > 100 {
			t.Fatal("the file system took 100 MiB")
		}
	}
	attempts := []struct {
		name string
		do   func() error
	}{
		{"streamed PUT", func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("full"),
				Key: aws.String("big"), Body: bytes.NewReader(randomBytes(smallLimit + 2<<20))})
			return err
		}},
		{"overwrite", func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("full"),
				Key: aws.String("streamed"), Body: bytes.NewReader(randomBytes(smallLimit + 2<<20))})
			return err
		}},
		{"UploadPart", func() error {
			cr, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
				Bucket: aws.String("full"), Key: aws.String("mpu")})
			if err != nil {
				return err
			}
			_, err = client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("full"),
				Key: aws.String("mpu"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
				Body: bytes.NewReader(randomBytes(6 << 20))})
			return err
		}},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			err := a.do()
			assertS3Code(t, err, "InsufficientStorage")
			assertHTTPStatus(t, err, 507)
		})
	}
	for k, v := range kept {
		expectContent(t, e, "full", k, v)
	}
	if tmp, _ := os.ReadDir(tmpDir); tmpDir != "" && len(tmp) != 0 {
		t.Errorf("%d temp files left behind", len(tmp))
	}
	l, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("full")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != len(kept)+len(filled) {
		t.Errorf("listing shows %d objects, want %d", len(l.Contents), len(kept)+len(filled))
	}
	// Free space: writes work again.
	var objs []s3types.ObjectIdentifier
	for _, k := range filled {
		objs = append(objs, s3types.ObjectIdentifier{Key: aws.String(k)})
	}
	del, err := e.aws.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("full"),
		Delete: &s3types.Delete{Objects: objs}})
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range del.Errors {
		t.Errorf("delete %s: %s %s", aws.ToString(de.Key), aws.ToString(de.Code), aws.ToString(de.Message))
	}
	// MinIO moves deleted data to its trash and frees the space in the
	// background, minutes later at times: empty the trash as an operator
	// of a full disk would, and poll until a write fits.
	again := randomBytes(1 << 20)
	deadline := time.Now().Add(time.Minute)
	for {
		if trashDir != "" {
			emptyDir(t, trashDir)
		}
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("full"),
			Key: aws.String("again"), Body: bytes.NewReader(again)})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			where := ""
			if trashDir != "" {
				where = "; space held under MinIO's directory: " + usage(filepath.Dir(filepath.Dir(filepath.Dir(trashDir))))
			}
			t.Fatalf("PUT after space was freed: %v%s", err, where)
		}
		time.Sleep(200 * time.Millisecond) // polling for the store to reclaim space
	}
	expectContent(t, e, "full", "again", again)
}

// TestFaults_KeyServiceDown stops the KMS that holds the master key
// (local-kms, killed) while Cloak runs without a data key cache: every
// request that needs a key fails with 503 ServiceUnavailable, which
// clients retry; nothing is written to the store, encrypted or not; and
// service resumes by itself when the KMS comes back.
func TestFaults_KeyServiceDown(t *testing.T) {
	kmsSrv := kmstest.Start(t)
	keyID := kmsSrv.CreateKey(t)
	kw, err := awskms.New(context.Background(), awskms.Config{Endpoint: kmsSrv.Endpoint,
		Region: kmsSrv.Region, AccessKey: kmsSrv.AccessKey, SecretKey: kmsSrv.SecretKey, KeyID: keyID,
		MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	e, dir := newLocalEnv(t, proxy.Options{Keys: kw, SmallObjectLimit: smallLimit})
	ctx := context.Background()
	client := e.noRetries()
	e.mkBucket(t, "kms")
	before := randomBytes(50_000)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kms"), Key: aws.String("before"),
		Body: bytes.NewReader(before)}); err != nil {
		t.Fatal(err)
	}
	cr, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("kms"),
		Key: aws.String("mpu")})
	if err != nil {
		t.Fatal(err)
	}
	filesBefore := filesUnder(t, dir)

	kmsSrv.Kill()
	small, large := randomBytes(10_000), randomBytes(smallLimit+10_000)
	attempts := []struct {
		name string
		do   func() error
	}{
		{"GET", func() error {
			_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("kms"),
				Key: aws.String("before")})
			return err
		}},
		{"small PUT", func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kms"),
				Key: aws.String("during"), Body: bytes.NewReader(small)})
			return err
		}},
		{"streamed PUT", func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kms"),
				Key: aws.String("during-large"), Body: bytes.NewReader(large)})
			return err
		}},
		{"CreateMultipartUpload", func() error {
			_, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
				Bucket: aws.String("kms"), Key: aws.String("during-mpu")})
			return err
		}},
		{"UploadPart", func() error {
			_, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("kms"),
				Key: aws.String("mpu"), UploadId: cr.UploadId, PartNumber: aws.Int32(1),
				Body: bytes.NewReader(small)})
			return err
		}},
		{"CopyObject", func() error {
			_, err := client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("kms"),
				Key: aws.String("during-copy"), CopySource: aws.String("kms/before")})
			return err
		}},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			err := a.do()
			assertS3Code(t, err, "ServiceUnavailable")
			assertHTTPStatus(t, err, 503)
		})
	}
	after := filesUnder(t, dir)
	for p := range after {
		if _, ok := filesBefore[p]; !ok {
			t.Errorf("the store gained %s while the key service was down", p)
		}
	}
	for p, b := range after {
		for _, v := range [][]byte{small, large} {
			if containsWindow(b, v) {
				t.Errorf("plaintext written to %s", p)
			}
		}
	}

	kmsSrv.Restart(t)
	expectContent(t, e, "kms", "before", before)
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kms"), Key: aws.String("during"),
		Body: bytes.NewReader(small)}); err != nil {
		t.Fatalf("PUT once the KMS is back: %v", err)
	}
	expectContent(t, e, "kms", "during", small)
}

// emptyDir removes everything inside dir, which may not exist.
// usage sums the sizes of the regular files under each entry of dir, and
// under each entry of its .minio.sys, to say where a full disk's space
// went.
func usage(dir string) string {
	var out []string
	sum := func(root string) int64 {
		var n int64
		filepath.WalkDir(root, func(_ string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					n += info.Size()
				}
			}
			return nil
		})
		return n
	}
	for _, d := range []string{dir, filepath.Join(dir, ".minio.sys")} {
		entries, _ := os.ReadDir(d)
		for _, en := range entries {
			out = append(out, fmt.Sprintf("%s %d", filepath.Join(filepath.Base(d), en.Name()), sum(filepath.Join(d, en.Name()))))
		}
	}
	return strings.Join(out, ", ")
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, en := range entries {
		if err := os.RemoveAll(filepath.Join(dir, en.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cloakproxy/cloak/backend"
)

// TestGC_RemovesLeftoversAndKeepsWhatIsInUse leaves the two kinds of
// garbage Cloak's state can leave in a real store (the manifest of a
// multipart object replaced by a single PUT, the state of an upload
// aborted on the store behind Cloak's back) next to state in use (a
// multipart object, an upload in progress), and runs "cloak gc" over it:
// younger than --min-age and in a dry run nothing goes; then the garbage
// goes, and every object reads back and the upload completes.
func TestGC_RemovesLeftoversAndKeepsWhatIsInUse(t *testing.T) {
	for _, open := range keyStores(t) {
		ks := open(t)
		t.Run(ks.name, func(t *testing.T) { testGC(t, ks) })
	}
}

func testGC(t *testing.T, ks keyStore) {
	ctx := context.Background()
	k := newKeysEnv(t, ks)
	const b = "matters"
	k.mkBucket(t, b)

	kept := [][]byte{randomBytes(5 * mib), randomBytes(1000)}
	uploadParts(t, k.env, b, "kept.tar", kept)
	uploadParts(t, k.env, b, "replaced.tar", [][]byte{randomBytes(5 * mib), randomBytes(10)})
	small := randomBytes(3000)
	if err := put(k.aws, b, "replaced.tar", small); err != nil {
		t.Fatal(err)
	}
	keptHead, err := k.store.HeadObject(ctx, b, "kept.tar")
	if err != nil {
		t.Fatal(err)
	}
	keptManifest := ".cloak/manifests/" + keptHead.Metadata["cloak-mpu"]

	// An upload aborted on the store: its state stays behind.
	abandoned := startUpload(t, k.aws, b, "abandoned.tar")
	uploadPart(t, k.aws, b, "abandoned.tar", abandoned, 1, randomBytes(1000))
	if err := k.store.AbortMultipartUpload(ctx, b, "abandoned.tar", abandoned); err != nil {
		t.Fatal(err)
	}
	// An upload in progress.
	live := startUpload(t, k.aws, b, "live.tar")
	liveParts := [][]byte{randomBytes(5 * mib), randomBytes(77)}
	etag1 := uploadPart(t, k.aws, b, "live.tar", live, 1, liveParts[0])

	before := storeKeys(t, k.store, b, ".cloak/")
	if len(before) != 6 {
		t.Fatalf("internal state before gc: %v, want 2 manifests and 2 uploads' state and part",
			before)
	}

	out := k.mustCloakTool(t, "gc", "--bucket", b, "--min-age", "1h")
	if !strings.Contains(out, "removed 0 unused manifests and the state of 0 ended uploads") ||
		!strings.Contains(out, "4 younger than 1h0m0s") {
		t.Fatalf("gc --min-age 1h said:\n%s", out)
	}
	out = k.mustCloakTool(t, "gc", "--bucket", b, "--min-age", "0s", "--force", "--dry-run")
	if !strings.Contains(out,
		"would remove 1 unused manifests and the state of 1 ended uploads (2 objects)") {
		t.Fatalf("gc --dry-run said:\n%s", out)
	}
	if now := storeKeys(t, k.store, b, ".cloak/"); !slices.Equal(now, before) {
		t.Fatalf("min-age and dry run changed the state:\nbefore %v\nafter  %v", before, now)
	}

	out = k.mustCloakTool(t, "gc", "--min-age", "0s", "--force") // every bucket
	if !strings.Contains(out, "gc matters: removed 1 unused manifests and the state of 1 ended "+
		"uploads (2 objects); kept 1 uploads in progress") {
		t.Fatalf("gc said:\n%s", out)
	}
	after := storeKeys(t, k.store, b, ".cloak/")
	if len(after) != 3 || !slices.Contains(after, keptManifest) {
		t.Fatalf("after gc: %v, want %s and the live upload's state and part", after, keptManifest)
	}
	for _, key := range after {
		if strings.HasPrefix(key, ".cloak/manifests/") && key != keptManifest {
			t.Fatalf("the replaced object's manifest %s is still there", key)
		}
	}

	// Everything in use still works.
	got, err := get(k.aws, b, "kept.tar")
	if err != nil || !bytes.Equal(got, bytes.Join(kept, nil)) {
		t.Fatalf("multipart object after gc: %d bytes, %v", len(got), err)
	}
	if got, err = get(k.aws, b, "replaced.tar"); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("replaced object after gc: %d bytes, %v", len(got), err)
	}
	etag2 := uploadPart(t, k.aws, b, "live.tar", live, 2, liveParts[1])
	if _, err := k.aws.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(b), Key: aws.String("live.tar"), UploadId: aws.String(live),
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: aws.String(etag1)},
			{PartNumber: aws.Int32(2), ETag: aws.String(etag2)}}}}); err != nil {
		t.Fatalf("complete the live upload after gc: %v", err)
	}
	got, err = get(k.aws, b, "live.tar")
	if err != nil || !bytes.Equal(got, bytes.Join(liveParts, nil)) {
		t.Fatalf("live upload after gc: %d bytes, %v", len(got), err)
	}
	// An upload that stalls is aborted once it is old enough: its parts
	// leave the store with its state.
	stalled := startUpload(t, k.aws, b, "stalled.tar")
	uploadPart(t, k.aws, b, "stalled.tar", stalled, 1, randomBytes(5*mib))
	out = k.mustCloakTool(t, "gc", "--bucket", b, "--min-age", "0s", "--force",
		"--abort-uploads-older-than", "1h")
	if !strings.Contains(out, "kept 1 uploads in progress") ||
		!strings.Contains(out, "aborted 0 uploads started over 1h0m0s ago") {
		t.Fatalf("gc --abort-uploads-older-than 1h said:\n%s", out)
	}
	out = k.mustCloakTool(t, "gc", "--bucket", b, "--min-age", "0s", "--force",
		"--abort-uploads-older-than", "1ns")
	if !strings.Contains(out, "aborted 1 uploads started over 1ns ago") {
		t.Fatalf("gc --abort-uploads-older-than 1ns said:\n%s", out)
	}
	_, err = k.store.ListParts(ctx, b, "stalled.tar", stalled, backend.ListPartsOptions{})
	if !errors.Is(err, backend.ErrNoSuchUpload) {
		t.Fatalf("the stalled upload is still in the store: %v", err)
	}
	_, err = k.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(b),
		Key: aws.String("stalled.tar"), UploadId: aws.String(stalled), PartNumber: aws.Int32(2),
		Body: bytes.NewReader([]byte("late"))})
	wantCode(t, "a part for the aborted upload", err, "NoSuchUpload")
	for _, key := range storeKeys(t, k.store, b, ".cloak/") {
		if strings.HasPrefix(key, ".cloak/uploads/") {
			t.Fatalf("upload state left after the abort: %s", key)
		}
	}

	for _, age := range []string{"-1s", "59m"} {
		if out, code := k.cloakTool(t, "gc", "--min-age", age); code != 2 {
			t.Fatalf("--min-age %s without --force: exit %d, want 2\n%s", age, code, out)
		}
	}
	if out, code := k.cloakTool(t, "gc", "--abort-uploads-older-than", "10m"); code != 2 {
		t.Fatalf("--abort-uploads-older-than 10m without --force: exit %d, want 2\n%s", code, out)
	}
}

func startUpload(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("create upload %s: %v", key, err)
	}
	return aws.ToString(out.UploadId)
}

// uploadPart uploads one part and checks that its ETag is its MD5.
func uploadPart(t *testing.T, c *s3.Client, bucket, key, id string, n int32, data []byte) string {
	t.Helper()
	out, err := c.UploadPart(context.Background(), &s3.UploadPartInput{Bucket: aws.String(bucket),
		Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(n),
		Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("upload part %d of %s: %v", n, key, err)
	}
	sum := md5.Sum(data)
	if et := aws.ToString(out.ETag); et != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Fatalf("part %d of %s: ETag %s is not its MD5", n, key, et)
	}
	return aws.ToString(out.ETag)
}

// storeKeys lists the keys under prefix in the store itself.
func storeKeys(t *testing.T, st backend.Store, bucket, prefix string) []string {
	t.Helper()
	res, err := st.ListObjects(context.Background(), bucket, backend.ListOptions{Prefix: prefix})
	if err != nil || res.IsTruncated {
		t.Fatalf("list %s: %v (truncated %v)", prefix, err, res.IsTruncated)
	}
	var keys []string
	for _, o := range res.Objects {
		keys = append(keys, o.Key)
	}
	return keys
}

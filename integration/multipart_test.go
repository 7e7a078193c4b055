package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
)

const mib = 1 << 20

// multipartETag is S3's ETag of an object made of parts.
func multipartETag(parts [][]byte) string {
	all := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		all.Write(s[:])
	}
	return fmt.Sprintf(`"%x-%d"`, all.Sum(nil), len(parts))
}

// uploadParts runs a multipart upload with the AWS SDK: parts in parallel
// and in reverse order, part 2 uploaded twice (as SDK retries do).
func uploadParts(t *testing.T, e *env, bucket, key string, parts [][]byte) *s3.CompleteMultipartUploadOutput {
	t.Helper()
	ctx := context.Background()
	cr, err := e.aws.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket),
		Key: aws.String(key), ContentType: aws.String("application/x-backup"),
		Metadata: map[string]string{"snapshot": "monday"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	etags := make([]string, len(parts))
	var wg sync.WaitGroup
	errs := make(chan error, len(parts)+1)
	upload := func(i int, data []byte) {
		defer wg.Done()
		out, err := e.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
			UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data)})
		if err != nil {
			errs <- fmt.Errorf("part %d: %w", i+1, err)
			return
		}
		etags[i] = aws.ToString(out.ETag)
	}
	if len(parts) > 1 {
		wg.Add(1)
		upload(1, randomBytes(len(parts[1]))) // replaced by the retry below
	}
	for i := len(parts) - 1; i >= 0; i-- {
		wg.Add(1)
		go upload(i, parts[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var done []s3types.CompletedPart
	for i, et := range etags {
		sum := md5.Sum(parts[i])
		if et != `"`+hex.EncodeToString(sum[:])+`"` {
			t.Fatalf("part %d ETag %s is not its plaintext MD5", i+1, et)
		}
		done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: aws.String(et)})
	}
	out, err := e.aws.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket),
		Key: aws.String(key), UploadId: cr.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	return out
}

func TestMultipart_UploadReadListAndRanges(t *testing.T) {
	forEachBackend(t, proxy.Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "multi")
		parts := [][]byte{randomBytes(5 * mib), randomBytes(5*mib + 1), randomBytes(7)}
		whole := bytes.Join(parts, nil)
		out := uploadParts(t, e, "multi", "backup/snap.tar", parts)
		if aws.ToString(out.ETag) != multipartETag(parts) {
			t.Errorf("complete ETag %s, want %s", aws.ToString(out.ETag), multipartETag(parts))
		}
		head, err := e.aws.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("multi"), Key: aws.String("backup/snap.tar")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt64(head.ContentLength) != int64(len(whole)) || aws.ToString(head.ETag) != multipartETag(parts) ||
			head.Metadata["snapshot"] != "monday" || aws.ToString(head.ContentType) != "application/x-backup" {
			t.Fatalf("head: %d %s %v %s", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), head.Metadata,
				aws.ToString(head.ContentType))
		}
		expectContent(t, e, "multi", "backup/snap.tar", whole)

		// Ranges across chunk and part boundaries.
		p1 := 5 * mib
		for _, r := range [][2]int{{p1 - 10, p1 + 10}, {p1 - crypto.ChunkSize, p1 + 3*crypto.ChunkSize},
			{len(whole) - 20, len(whole) - 1}, {0, len(whole) - 1}, {2*p1 - 5, 2*p1 + 3}} {
			g, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("multi"),
				Key: aws.String("backup/snap.tar"), Range: aws.String(fmt.Sprintf("bytes=%d-%d", r[0], r[1]))})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(g.Body)
			g.Body.Close()
			if !bytes.Equal(got, whole[r[0]:r[1]+1]) {
				t.Errorf("range %v: wrong bytes", r)
			}
		}
		// partNumber reads one part.
		g, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("multi"), Key: aws.String("backup/snap.tar"),
			PartNumber: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(g.Body)
		g.Body.Close()
		if !bytes.Equal(got, parts[1]) || aws.ToInt32(g.PartsCount) != 3 {
			t.Errorf("partNumber=2: %d bytes, parts count %d", len(got), aws.ToInt32(g.PartsCount))
		}

		// Listings show the plaintext size and the same ETag, and hide
		// Cloak's own objects.
		l, err := e.aws.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("multi")})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Contents) != 1 || aws.ToInt64(l.Contents[0].Size) != int64(len(whole)) ||
			aws.ToString(l.Contents[0].ETag) != multipartETag(parts) {
			t.Fatalf("listing: %+v", l.Contents)
		}
		ld, _ := e.aws.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("multi"), Delimiter: aws.String("/")})
		for _, p := range ld.CommonPrefixes {
			if strings.HasPrefix(aws.ToString(p.Prefix), ".cloak") {
				t.Fatal("internal prefix listed")
			}
		}
		raw, _ := e.raw(t, "multi", "backup/snap.tar")
		if containsWindow(raw, whole) {
			t.Fatal("plaintext found in the stored object")
		}
		_, err = e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("multi"), Key: aws.String(".cloak/x")})
		assertS3Code(t, err, "AccessDenied")

		// Deleting the object deletes its manifest; then the bucket can go.
		if _, err := e.aws.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("multi"),
			Key: aws.String("backup/snap.tar")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.aws.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("multi")}); err != nil {
			t.Fatalf("delete bucket after the object: %v", err)
		}
	})
}

func TestMultipart_MinioGoAndErrors(t *testing.T) {
	forEachBackend(t, proxy.Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "mcli")
		// minio-go splits anything over its part size into a multipart
		// upload on its own.
		data := randomBytes(21 * mib)
		if _, err := e.minio.PutObject(ctx, "mcli", "big", bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{PartSize: 5 * mib}); err != nil {
			t.Fatal(err)
		}
		expectContent(t, e, "mcli", "big", data)
		st, err := e.minio.StatObject(ctx, "mcli", "big", minio.StatObjectOptions{})
		if err != nil || st.Size != int64(len(data)) {
			t.Fatalf("stat: %v %d", err, st.Size)
		}

		cr, err := e.aws.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mcli"), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		small, _ := e.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mcli"), Key: aws.String("k"),
			UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(randomBytes(100))})
		last, _ := e.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mcli"), Key: aws.String("k"),
			UploadId: cr.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(randomBytes(100))})
		lp, err := e.aws.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("mcli"), Key: aws.String("k"), UploadId: cr.UploadId})
		if err != nil || len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[0].Size) != 100 ||
			aws.ToString(lp.Parts[1].ETag) != aws.ToString(last.ETag) {
			t.Fatalf("list parts: %v %+v", err, lp)
		}
		complete := func(parts ...s3types.CompletedPart) error {
			_, err := e.aws.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mcli"),
				Key: aws.String("k"), UploadId: cr.UploadId,
				MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
			return err
		}
		err = complete(s3types.CompletedPart{PartNumber: aws.Int32(1), ETag: aws.String(`"00000000000000000000000000000000"`)})
		assertS3Code(t, err, "InvalidPart")
		err = complete(s3types.CompletedPart{PartNumber: aws.Int32(1), ETag: small.ETag},
			s3types.CompletedPart{PartNumber: aws.Int32(2), ETag: last.ETag})
		assertS3Code(t, err, "EntityTooSmall")
		ups, err := e.aws.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mcli")})
		if err != nil || len(ups.Uploads) != 1 {
			t.Fatalf("list uploads: %v %d", err, len(ups.Uploads))
		}
		if _, err := e.aws.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mcli"),
			Key: aws.String("k"), UploadId: cr.UploadId}); err != nil {
			t.Fatal(err)
		}
		_, err = e.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("mcli"), Key: aws.String("k"),
			UploadId: cr.UploadId, PartNumber: aws.Int32(3), Body: bytes.NewReader([]byte("late"))})
		assertS3Code(t, err, "NoSuchUpload")
		left, err := e.store.ListObjects(ctx, "mcli", backend.ListOptions{Prefix: ".cloak/uploads/"})
		if err != nil || len(left.Objects) != 0 {
			t.Fatalf("upload state left after abort: %v %d", err, len(left.Objects))
		}
	})
}

func TestMultipart_TamperingIsDetected(t *testing.T) {
	forEachBackend(t, proxy.Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "mtamper")
		parts := [][]byte{randomBytes(5 * mib), randomBytes(1000)}
		uploadParts(t, e, "mtamper", "obj", parts)
		head, err := e.store.HeadObject(ctx, "mtamper", "obj")
		if err != nil {
			t.Fatal(err)
		}
		manifest := ".cloak/manifests/" + head.Metadata["cloak-mpu"]
		// Without its manifest the object cannot be read.
		body, meta := e.raw(t, "mtamper", manifest)
		if err := e.store.DeleteObject(ctx, "mtamper", manifest); err != nil {
			t.Fatal(err)
		}
		_, err = e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mtamper"), Key: aws.String("obj")})
		assertS3Code(t, err, "InternalError")
		e.store.PutObject(ctx, "mtamper", manifest, bytes.NewReader(body), int64(len(body)), backend.PutOptions{Metadata: meta})

		// Dropping the last part (rewriting the object without it) is
		// detected against the manifest.
		raw, md := e.raw(t, "mtamper", "obj")
		cut := raw[:crypto.SegmentCiphertextSize(5*mib)]
		if _, err := e.store.PutObject(ctx, "mtamper", "obj", bytes.NewReader(cut), int64(len(cut)),
			backend.PutOptions{Metadata: md}); err != nil {
			t.Fatal(err)
		}
		_, err = e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mtamper"), Key: aws.String("obj")})
		assertS3Code(t, err, "InternalError")
	})
}

package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
)

const smallLimit = 256 << 10 // buffered below, streamed above

// objectSizes straddle the chunk size and the small-object limit.
var objectSizes = []int{
	0, 1, crypto.ChunkSize - 1, crypto.ChunkSize, crypto.ChunkSize + 1,
	smallLimit, smallLimit + 1, 3<<20 + 17,
}

func TestObjects_PutGetRoundTrip(t *testing.T) {
	forEachBackend(t, proxy.Options{SmallObjectLimit: smallLimit}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "round-trip")
		for _, size := range objectSizes {
			t.Run(fmt.Sprint(size), func(t *testing.T) {
				key := fmt.Sprintf("dir/obj %d+ü", size)
				data := randomBytes(size)
				put, err := e.aws.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String("round-trip"), Key: aws.String(key), Body: bytes.NewReader(data),
					ContentType: aws.String("application/x-test"),
					Metadata:    map[string]string{"client-matter": "Acme v. Smith"},
				})
				if err != nil {
					t.Fatalf("put: %v", err)
				}
				get, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("round-trip"), Key: aws.String(key)})
				if err != nil {
					t.Fatalf("get: %v", err)
				}
				got, err := io.ReadAll(get.Body)
				get.Body.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read back %d bytes (%v), want %d identical", len(got), err, size)
				}
				if aws.ToInt64(get.ContentLength) != int64(size) || aws.ToString(get.ContentType) != "application/x-test" ||
					get.Metadata["client-matter"] != "Acme v. Smith" {
					t.Fatalf("headers: length %d type %q meta %v", aws.ToInt64(get.ContentLength),
						aws.ToString(get.ContentType), get.Metadata)
				}
				sum := md5.Sum(data)
				wantETag := `"` + hex.EncodeToString(sum[:]) + `"`
				if size <= smallLimit && aws.ToString(put.ETag) != wantETag {
					t.Errorf("small object ETag %s, want the plaintext MD5 %s", aws.ToString(put.ETag), wantETag)
				}
				if size > smallLimit && !strings.Contains(aws.ToString(put.ETag), "-") {
					t.Errorf("streamed object ETag %s must not look like an MD5", aws.ToString(put.ETag))
				}
				head, err := e.aws.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("round-trip"), Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToString(head.ETag) != aws.ToString(put.ETag) || aws.ToString(get.ETag) != aws.ToString(put.ETag) ||
					aws.ToInt64(head.ContentLength) != int64(size) {
					t.Errorf("ETag or size differ: put %s get %s head %s (%d)", aws.ToString(put.ETag),
						aws.ToString(get.ETag), aws.ToString(head.ETag), aws.ToInt64(head.ContentLength))
				}
				assertNothingInTheClear(t, e, "round-trip", key, data, sum[:], "Acme v. Smith")
			})
		}
	})
}

// assertNothingInTheClear reads the backend directly: neither the body,
// nor its MD5 (raw, hex or base64), nor the user metadata value may be
// stored.
func assertNothingInTheClear(t *testing.T, e *env, bucket, key string, data, sum []byte, metaValue string) {
	t.Helper()
	body, meta := e.raw(t, bucket, key)
	if containsWindow(body, data) {
		t.Error("plaintext found in the stored body")
	}
	stored := string(body)
	for _, v := range meta {
		stored += "\n" + v
	}
	for _, secret := range []string{string(sum), hex.EncodeToString(sum), base64.StdEncoding.EncodeToString(sum), metaValue} {
		if strings.Contains(stored, secret) {
			t.Errorf("plaintext MD5 or metadata %q found in the store", secret)
		}
	}
	for k := range meta {
		if strings.Contains(k, "matter") {
			t.Errorf("user metadata name %q stored in the clear", k)
		}
	}
}

func TestObjects_RangeReads(t *testing.T) {
	forEachBackend(t, proxy.Options{SmallObjectLimit: smallLimit}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "ranges")
		const size = 5*crypto.ChunkSize + 100
		data := randomBytes(size)
		for _, key := range []string{"buffered", "streamed"} {
			opts := minio.PutObjectOptions{}
			if key == "buffered" {
				// Both keys hold the same data; the limit decides the path.
				if _, err := e.minio.PutObject(ctx, "ranges", key, bytes.NewReader(data), size, opts); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ranges"), Key: aws.String(key),
				Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
		}
		C := crypto.ChunkSize
		cases := []struct {
			header     string
			start, end int // inclusive
		}{
			{"bytes=0-0", 0, 0},
			{fmt.Sprintf("bytes=%d-%d", C-1, C), C - 1, C},
			{fmt.Sprintf("bytes=%d-%d", C, 3*C), C, 3 * C},
			{fmt.Sprintf("bytes=%d-", size-10), size - 10, size - 1},
			{"bytes=-7", size - 7, size - 1},
			{fmt.Sprintf("bytes=100-%d", size+5000), 100, size - 1},
		}
		for _, key := range []string{"buffered", "streamed"} {
			for _, c := range cases {
				out, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String(key),
					Range: aws.String(c.header)})
				if err != nil {
					t.Fatalf("%s %s: %v", key, c.header, err)
				}
				got, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if !bytes.Equal(got, data[c.start:c.end+1]) {
					t.Errorf("%s %s: wrong bytes (%d)", key, c.header, len(got))
				}
				want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size)
				if aws.ToString(out.ContentRange) != want {
					t.Errorf("%s %s: Content-Range %q, want %q", key, c.header, aws.ToString(out.ContentRange), want)
				}
			}
			_, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ranges"), Key: aws.String(key),
				Range: aws.String(fmt.Sprintf("bytes=%d-", size))})
			assertS3Code(t, err, "InvalidRange")
		}
	})
}

func TestObjects_ListShowsPlaintextSizesAndETags(t *testing.T) {
	forEachBackend(t, proxy.Options{SmallObjectLimit: smallLimit}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "listing")
		want := map[string]int{"a/1": 0, "a/2": 10, "b": smallLimit + 5, "c d+e": crypto.ChunkSize}
		for k, n := range want {
			if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("listing"), Key: aws.String(k),
				Body: bytes.NewReader(randomBytes(n))}); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		p := s3.NewListObjectsV2Paginator(e.aws, &s3.ListObjectsV2Input{Bucket: aws.String("listing"), MaxKeys: aws.Int32(2)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				k := aws.ToString(o.Key)
				seen[k] = true
				if aws.ToInt64(o.Size) != int64(want[k]) {
					t.Errorf("%s listed with size %d, want %d", k, aws.ToInt64(o.Size), want[k])
				}
				head, err := e.aws.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("listing"), Key: o.Key})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToString(head.ETag) != aws.ToString(o.ETag) {
					t.Errorf("%s: listed ETag %s, HEAD ETag %s", k, aws.ToString(o.ETag), aws.ToString(head.ETag))
				}
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("listed %v, want %v", seen, want)
		}
		out, err := e.aws.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("listing"), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "a/" || len(out.Contents) != 2 {
			t.Errorf("delimiter listing: %d prefixes, %d objects", len(out.CommonPrefixes), len(out.Contents))
		}
		v1, err := e.aws.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("listing"), Prefix: aws.String("a/")})
		if err != nil || len(v1.Contents) != 2 {
			t.Fatalf("list v1: %v", err)
		}
	})
}

func TestObjects_DeleteAndBuckets(t *testing.T) {
	forEachBackend(t, proxy.Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "deletes")
		for _, k := range []string{"x", "y", "z"} {
			e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("deletes"), Key: aws.String(k), Body: strings.NewReader(k)})
		}
		_, err := e.aws.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("deletes")})
		assertS3Code(t, err, "BucketNotEmpty")
		if _, err := e.aws.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("deletes"), Key: aws.String("x")}); err != nil {
			t.Fatal(err)
		}
		_, err = e.aws.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("deletes"), Key: aws.String("x")})
		assertHTTPStatus(t, err, http.StatusNotFound)
		// DeleteObjects through minio-go (which sends Content-MD5) and the
		// AWS SDK (which sends a flexible checksum).
		errs := e.minio.RemoveObjects(ctx, "deletes", objectsChan("y"), minio.RemoveObjectsOptions{})
		for r := range errs {
			t.Errorf("remove %s: %v", r.ObjectName, r.Err)
		}
		del, err := e.aws.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("deletes"),
			Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String("z")}, {Key: aws.String("missing")}}}})
		if err != nil || len(del.Deleted) != 2 {
			t.Fatalf("delete objects: %v", err)
		}
		if _, err := e.aws.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("deletes")}); err != nil {
			t.Fatalf("delete empty bucket: %v", err)
		}
		// MinIO may answer HEAD from a bucket cache for a moment after the
		// delete; wait, within a bound, for the bucket to be gone.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_, err = e.aws.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("deletes")})
			if err != nil || time.Now().After(deadline) {
				break
			}
		}
		assertHTTPStatus(t, err, http.StatusNotFound)
		_, err = e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nope"), Key: aws.String("k")})
		assertS3Code(t, err, "NoSuchBucket")
		buckets, err := e.aws.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range buckets.Buckets {
			if aws.ToString(b.Name) == "deletes" {
				t.Error("deleted bucket still listed")
			}
		}
	})
}

func objectsChan(keys ...string) <-chan minio.ObjectInfo {
	ch := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		ch <- minio.ObjectInfo{Key: k}
	}
	close(ch)
	return ch
}

func assertS3Code(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want S3 error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("S3 error %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

func assertHTTPStatus(t *testing.T, err error, status int) {
	t.Helper()
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("err = %v, want HTTP %d", err, status)
	}
}

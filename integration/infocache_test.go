package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
)

// TestRangeRead_CachedInfoNeverServesAStaleObject: instance A serves range
// reads from the object info it cached, while instance B, over the same
// store, replaces, rewrites the metadata of, shrinks and deletes the
// object. Every read through A must answer as the store is now: new bytes,
// new headers, the new size's range errors, NoSuchKey; and conditions are
// evaluated against the current ETag, not the cached one.
func TestRangeRead_CachedInfoNeverServesAStaleObject(t *testing.T) {
	for _, st := range backends {
		t.Run(st.name, func(t *testing.T) { testCachedInfo(t, st.open(t)) })
	}
}

func testCachedInfo(t *testing.T, store backend.Store) {
	ring := crypto.NewMemoryKeyRing(nil)
	kek := make([]byte, 32)
	rand.Read(kek)
	if err := ring.Add("test-master", 1, kek); err != nil {
		t.Fatal(err)
	}
	ms := &meteredStore{Store: store}
	a := newEnv(t, ms, proxy.Options{Keys: ring})
	b := newEnv(t, store, proxy.Options{Keys: ring})
	ctx := context.Background()
	const bucket, key = "cache", "obj"
	a.mkBucket(t, bucket)

	put := func(data []byte, contentType string) {
		t.Helper()
		if _, err := b.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(data), ContentType: aws.String(contentType)}); err != nil {
			t.Fatal(err)
		}
	}
	// read reads bytes [off, off+n) through A, with If-None-Match when
	// notETag is set.
	read := func(off, n int64, notETag string) (*s3.GetObjectOutput, []byte, error) {
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))}
		if notETag != "" {
			in.IfNoneMatch = aws.String(notETag)
		}
		out, err := a.aws.GetObject(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		defer out.Body.Close()
		got, err := io.ReadAll(out.Body)
		return out, got, err
	}
	check := func(what string, off, n int64, want []byte, wantType string) *s3.GetObjectOutput {
		t.Helper()
		out, got, err := read(off, n, "")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(got, want[off:off+n]) {
			t.Fatalf("%s: stale or wrong bytes", what)
		}
		if aws.ToString(out.ContentType) != wantType {
			t.Fatalf("%s: Content-Type %q, want %q", what, aws.ToString(out.ContentType), wantType)
		}
		return out
	}
	code := func(err error) string {
		var api smithy.APIError
		if errors.As(err, &api) {
			return api.ErrorCode()
		}
		return fmt.Sprint(err)
	}

	v1 := randomBytes(300 << 10)
	put(v1, "text/one")
	check("first read", 70000, 1000, v1, "text/one")
	ms.reset()
	first := check("repeated read", 1000, 70000, v1, "text/one")
	if ms.heads.Load() != 0 || ms.gets.Load() != 1 {
		t.Fatalf("a repeated range read cost %d HEAD and %d GET, want one GET", ms.heads.Load(), ms.gets.Load())
	}

	// Replaced through B, same size: A's pinned GET fails and it starts over.
	v2 := randomBytes(len(v1))
	put(v2, "text/two")
	out := check("after a replacement", 1000, 70000, v2, "text/two")
	if aws.ToString(out.ETag) == aws.ToString(first.ETag) {
		t.Fatal("the ETag did not change with the object")
	}
	// The old ETag no longer matches: no 304 from the cached one.
	if _, got, err := read(5, 10, aws.ToString(first.ETag)); err != nil || !bytes.Equal(got, v2[5:15]) {
		t.Fatalf("If-None-Match with the old ETag: %v", err)
	}
	// And the current one gives 304 Not Modified.
	if _, _, err := read(5, 10, aws.ToString(out.ETag)); code(err) != "NotModified" {
		t.Fatalf("If-None-Match with the current ETag: %v, want NotModified", err)
	}

	// Metadata rewritten in place through B: the store's ETag of the
	// ciphertext stays, the headers change.
	if _, err := b.aws.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		CopySource: aws.String(bucket + "/" + key), MetadataDirective: s3types.MetadataDirectiveReplace,
		ContentType: aws.String("text/three")}); err != nil {
		t.Fatal(err)
	}
	check("after a metadata rewrite", 1000, 70000, v2, "text/three")

	// Shrunk through B: a range past the new end is unsatisfiable.
	v4 := randomBytes(1000)
	put(v4, "text/four")
	if _, _, err := read(70000, 10, ""); code(err) != "InvalidRange" {
		t.Fatalf("a range past the new end: %v, want InvalidRange", err)
	}
	check("after shrinking", 10, 900, v4, "text/four")

	// Deleted through B.
	if _, err := b.aws.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket),
		Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := read(10, 10, ""); code(err) != "NoSuchKey" {
		t.Fatalf("a range of a deleted object: %v, want NoSuchKey", err)
	}
}

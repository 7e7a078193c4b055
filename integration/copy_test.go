package integration

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/proxy"
)

func TestCopy_ObjectsAndParts(t *testing.T) {
	migrating := func(bucket, key string) bool { return bucket == "copysrc" && key == "legacy" }
	forEachBackend(t, proxy.Options{SmallObjectLimit: smallLimit, Migrating: migrating}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "copysrc")
		e.mkBucket(t, "copydst")
		small, large := randomBytes(1000), randomBytes(smallLimit+10)
		for k, v := range map[string][]byte{"small": small, "large": large} {
			if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("copysrc"), Key: aws.String(k),
				Body: bytes.NewReader(v), ContentType: aws.String("text/x-" + k),
				Metadata: map[string]string{"origin": k}}); err != nil {
				t.Fatal(err)
			}
		}
		parts := [][]byte{randomBytes(5 * mib), randomBytes(300)}
		uploadParts(t, e, "copysrc", "multi", parts)
		legacy := []byte("a plaintext object from before Cloak")
		e.store.PutObject(ctx, "copysrc", "legacy", bytes.NewReader(legacy), int64(len(legacy)), backend.PutOptions{})

		copyTo := func(src, dst, directive string, meta map[string]string) *s3.CopyObjectOutput {
			in := &s3.CopyObjectInput{Bucket: aws.String("copydst"), Key: aws.String(dst),
				CopySource: aws.String("copysrc/" + src), Metadata: meta}
			if directive != "" {
				in.MetadataDirective = s3types.MetadataDirective(directive)
			}
			out, err := e.aws.CopyObject(ctx, in)
			if err != nil {
				t.Fatalf("copy %s: %v", src, err)
			}
			return out
		}
		for name, want := range map[string][]byte{"small": small, "large": large} {
			srcHead, _ := e.aws.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("copysrc"), Key: aws.String(name)})
			out := copyTo(name, name+"-copy", "", nil)
			expectContent(t, e, "copydst", name+"-copy", want)
			h, err := e.aws.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("copydst"), Key: aws.String(name + "-copy")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(h.ETag) != aws.ToString(srcHead.ETag) || aws.ToString(out.CopyObjectResult.ETag) != aws.ToString(h.ETag) ||
				h.Metadata["origin"] != name || aws.ToString(h.ContentType) != "text/x-"+name {
				t.Errorf("%s: copy head %s %v %s, source ETag %s", name, aws.ToString(h.ETag), h.Metadata,
					aws.ToString(h.ContentType), aws.ToString(srcHead.ETag))
			}
			copyTo(name, name+"-replaced", "REPLACE", map[string]string{"origin": "replaced"})
			h, _ = e.aws.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("copydst"), Key: aws.String(name + "-replaced")})
			if h.Metadata["origin"] != "replaced" {
				t.Errorf("%s: REPLACE kept metadata %v", name, h.Metadata)
			}
		}
		copyTo("multi", "multi-copy", "", nil)
		if _, err := e.aws.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("copysrc"), Key: aws.String("multi")}); err != nil {
			t.Fatal(err)
		}
		expectContent(t, e, "copydst", "multi-copy", bytes.Join(parts, nil))
		copyTo("legacy", "legacy-encrypted", "", nil)
		expectContent(t, e, "copydst", "legacy-encrypted", legacy)
		if raw, _ := e.raw(t, "copydst", "legacy-encrypted"); bytes.Contains(raw, legacy) {
			t.Error("a copied plaintext object was stored in the clear")
		}

		// Building an object from ranges of others with UploadPartCopy.
		cr, err := e.aws.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("copydst"),
			Key: aws.String("assembled")})
		if err != nil {
			t.Fatal(err)
		}
		p1, err := e.aws.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("copydst"), Key: aws.String("assembled"),
			UploadId: cr.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String("copydst/multi-copy"),
			CopySourceRange: aws.String("bytes=0-5242879")})
		if err != nil {
			t.Fatal(err)
		}
		p2, err := e.aws.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("copydst"), Key: aws.String("assembled"),
			UploadId: cr.UploadId, PartNumber: aws.Int32(2), CopySource: aws.String("copysrc/small")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.aws.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("copydst"),
			Key: aws.String("assembled"), UploadId: cr.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{
				Parts: []s3types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p1.CopyPartResult.ETag},
					{PartNumber: aws.Int32(2), ETag: p2.CopyPartResult.ETag}}}}); err != nil {
			t.Fatal(err)
		}
		expectContent(t, e, "copydst", "assembled", append(bytes.Clone(parts[0]), small...))

		// Copying an object onto itself changes its metadata only.
		if _, err := e.aws.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("copysrc"), Key: aws.String("small"),
			CopySource: aws.String("copysrc/small"), MetadataDirective: s3types.MetadataDirectiveReplace,
			Metadata: map[string]string{"origin": "renamed"}}); err != nil {
			t.Fatal(err)
		}
		out, _ := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("copysrc"), Key: aws.String("small")})
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, small) || out.Metadata["origin"] != "renamed" {
			t.Errorf("self-copy: %d bytes, metadata %v", len(got), out.Metadata)
		}
	})
}

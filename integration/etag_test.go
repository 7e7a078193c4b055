package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/cloakproxy/cloak/proxy"
)

// crc32B64 is the x-amz-checksum-crc32 value of data.
func crc32B64(data []byte) string {
	var b [4]byte
	v := crc32.ChecksumIEEE(data)
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	return base64.StdEncoding.EncodeToString(b[:])
}

func md5Quoted(data []byte) string {
	s := md5.Sum(data)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

// TestETags_ChecksumClients checks which ETags Cloak answers. A client that
// sends Content-MD5, or no flexible checksum, gets the plaintext MD5 as
// the ETag of a small PUT and of every part (s3cmd compares them). A
// client that verifies through x-amz-checksum-* and sends no Content-MD5
// gets ETags that are not MD5s, as on AWS for SSE-KMS objects, and Cloak
// computes no MD5 for it; its checksums still come back on GET.
func TestETags_ChecksumClients(t *testing.T) {
	forEachBackend(t, proxy.Options{SmallObjectLimit: smallLimit}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "etags")
		data := randomBytes(100<<10 + 7)
		get := func(t *testing.T, key string) *s3.GetObjectOutput {
			t.Helper()
			out, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("etags"), Key: aws.String(key),
				ChecksumMode: s3types.ChecksumModeEnabled})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes (%v), want %d identical", len(got), err, len(data))
			}
			return out
		}
		cases := []struct {
			name    string
			in      s3.PutObjectInput
			wantMD5 bool
			wantCRC bool // GET with checksum mode returns the CRC32
		}{
			{name: "no checksum", wantMD5: true},
			{name: "content-md5", in: s3.PutObjectInput{ContentMD5: aws.String(b64MD5(data))}, wantMD5: true},
			{name: "crc32 header", in: s3.PutObjectInput{ChecksumCRC32: aws.String(crc32B64(data))}, wantCRC: true},
			{name: "crc32 computed by the SDK", in: s3.PutObjectInput{ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32},
				wantCRC: true},
			{name: "crc32 and content-md5", in: s3.PutObjectInput{ChecksumCRC32: aws.String(crc32B64(data)),
				ContentMD5: aws.String(b64MD5(data))}, wantMD5: true, wantCRC: true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := c.in
				in.Bucket, in.Key, in.Body = aws.String("etags"), aws.String(c.name), bytes.NewReader(data)
				put, err := e.aws.PutObject(ctx, &in)
				if err != nil {
					t.Fatalf("put: %v", err)
				}
				etag := aws.ToString(put.ETag)
				if c.wantMD5 != (etag == md5Quoted(data)) {
					t.Errorf("ETag %s; want the plaintext MD5: %v", etag, c.wantMD5)
				}
				if !c.wantMD5 && !strings.Contains(etag, "-") {
					t.Errorf("ETag %s is not an MD5 and must not look like one", etag)
				}
				out := get(t, c.name)
				if aws.ToString(out.ETag) != etag {
					t.Errorf("GET ETag %s, PUT ETag %s", aws.ToString(out.ETag), etag)
				}
				if got := aws.ToString(out.ChecksumCRC32); c.wantCRC && got != crc32B64(data) {
					t.Errorf("GET checksum %q, want %q", got, crc32B64(data))
				}
				// A range carries no checksum: the whole object's would not
				// match it, and clients that validate (the SDK here, the aws
				// cli) would fail the read.
				rg, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("etags"),
					Key: aws.String(c.name), Range: aws.String("bytes=100-70099"),
					ChecksumMode: s3types.ChecksumModeEnabled})
				if err != nil {
					t.Fatalf("range get: %v", err)
				}
				got, err := io.ReadAll(rg.Body)
				rg.Body.Close()
				if err != nil || !bytes.Equal(got, data[100:70100]) {
					t.Fatalf("range read back %d bytes: %v", len(got), err)
				}
				if rg.ChecksumCRC32 != nil {
					t.Errorf("range GET carries the object's checksum %q", aws.ToString(rg.ChecksumCRC32))
				}
			})
		}

		t.Run("multipart", func(t *testing.T) {
			for _, withMD5 := range []bool{false, true} {
				key := "mpu-md5-" + map[bool]string{false: "no", true: "yes"}[withMD5]
				parts := [][]byte{randomBytes(5 << 20), randomBytes(1<<20 + 3)}
				cr, err := e.aws.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("etags"),
					Key: aws.String(key), ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32})
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				var done []s3types.CompletedPart
				var mismatched []s3types.CompletedPart // the parts named by their MD5s
				for i, p := range parts {
					in := &s3.UploadPartInput{Bucket: aws.String("etags"), Key: aws.String(key), UploadId: cr.UploadId,
						PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p),
						ChecksumCRC32: aws.String(crc32B64(p))}
					if withMD5 {
						in.ContentMD5 = aws.String(b64MD5(p))
					}
					out, err := e.aws.UploadPart(ctx, in)
					if err != nil {
						t.Fatalf("part %d: %v", i+1, err)
					}
					etag := aws.ToString(out.ETag)
					if withMD5 != (etag == md5Quoted(p)) {
						t.Errorf("part %d ETag %s; want the plaintext MD5: %v", i+1, etag, withMD5)
					}
					if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
						t.Errorf("part %d ETag %s is not 32 hex digits", i+1, etag)
					}
					if aws.ToString(out.ChecksumCRC32) != crc32B64(p) {
						t.Errorf("part %d checksum %q", i+1, aws.ToString(out.ChecksumCRC32))
					}
					done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag,
						ChecksumCRC32: out.ChecksumCRC32})
					mismatched = append(mismatched, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)),
						ETag: aws.String(md5Quoted(p))})
				}
				lp, err := e.aws.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("etags"), Key: aws.String(key),
					UploadId: cr.UploadId})
				if err != nil || len(lp.Parts) != len(parts) {
					t.Fatalf("list parts: %v", err)
				}
				for i, p := range lp.Parts {
					if aws.ToString(p.ETag) != aws.ToString(done[i].ETag) {
						t.Errorf("listed part %d ETag %s, uploaded %s", i+1, aws.ToString(p.ETag), aws.ToString(done[i].ETag))
					}
				}
				complete := func(ps []s3types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
					return e.aws.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("etags"),
						Key: aws.String(key), UploadId: cr.UploadId,
						MultipartUpload: &s3types.CompletedMultipartUpload{Parts: ps}})
				}
				if !withMD5 {
					// The ETags Cloak gave are the parts' names: the MD5s are not.
					_, err := complete(mismatched)
					var api smithy.APIError
					if !errors.As(err, &api) || api.ErrorCode() != "InvalidPart" {
						t.Fatalf("complete with the MD5s instead of the ETags: %v, want InvalidPart", err)
					}
				}
				out, err := complete(done)
				if err != nil {
					t.Fatalf("complete: %v", err)
				}
				all := md5.New()
				for _, p := range done {
					raw, _ := hex.DecodeString(strings.Trim(aws.ToString(p.ETag), `"`))
					all.Write(raw)
				}
				if want := `"` + hex.EncodeToString(all.Sum(nil)) + `-2"`; aws.ToString(out.ETag) != want {
					t.Errorf("object ETag %s, want %s", aws.ToString(out.ETag), want)
				}
				g, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("etags"), Key: aws.String(key)})
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(g.Body)
				g.Body.Close()
				if err != nil || !bytes.Equal(got, append(append([]byte{}, parts[0]...), parts[1]...)) {
					t.Fatalf("read back %d bytes (%v)", len(got), err)
				}
				if aws.ToString(g.ETag) != aws.ToString(out.ETag) {
					t.Errorf("GET ETag %s, complete ETag %s", aws.ToString(g.ETag), aws.ToString(out.ETag))
				}
			}
		})
	})
}

func b64MD5(data []byte) string {
	s := md5.Sum(data)
	return base64.StdEncoding.EncodeToString(s[:])
}

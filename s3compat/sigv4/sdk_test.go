package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7/pkg/signer"
)

var awsCreds = aws.Credentials{AccessKeyID: testCred.AccessKey,
	SecretAccessKey: testCred.SecretKey}

func s3Escaping(o *awsv4.SignerOptions) { o.DisableURIPathEscaping = true }

// TestAWSSDKSigner verifies requests signed by aws-sdk-go-v2's v4 signer.
func TestAWSSDKSigner(t *testing.T) {
	body := []byte("signed by aws-sdk-go-v2")
	for _, method := range []string{"GET", "PUT", "HEAD", "DELETE", "POST"} {
		t.Run(method, func(t *testing.T) {
			r := newRequest(method, "/bucket/dir/a%20b%2Bc?uploadId=x%2Fy&max-keys=5", body)
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex(body))
			r.Header.Set("X-Amz-Meta-Name", "  spaced   value ")
			err := awsv4.NewSigner().SignHTTP(context.Background(), awsCreds, r,
				sha256Hex(body), "s3", testRegion, testTime, s3Escaping)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := readBody(verifierAt(testTime), r)
			wantS3(t, err, nil)
			if !bytes.Equal(got, body) {
				t.Fatalf("body %q", got)
			}
			r.Header.Set("X-Amz-Meta-Name", "other")
			_, err = verifierAt(testTime).Verify(r)
			if err == nil {
				t.Fatal("changed header accepted")
			}
		})
	}
}

func TestAWSSDKPresign(t *testing.T) {
	for _, method := range []string{"GET", "PUT"} {
		t.Run(method, func(t *testing.T) {
			// The S3 presign client puts X-Amz-Expires in the query first.
			r := newRequest(method,
				"http://bucket.example.com:9000/bucket/k%20ey?versionId=1&X-Amz-Expires=900", nil)
			u, hdr, err := awsv4.NewSigner().PresignHTTP(context.Background(), awsCreds, r,
				UnsignedPayload, "s3", testRegion, testTime, s3Escaping)
			if err != nil {
				t.Fatal(err)
			}
			req := newRequest(method, u, []byte("data"))
			req.Host = "bucket.example.com:9000"
			for k, v := range hdr {
				if !strings.EqualFold(k, "Host") {
					req.Header[k] = v
				}
			}
			_, _, err = readBody(verifierAt(testTime.Add(5*time.Minute)), req)
			wantS3(t, err, nil)
			req.URL.RawQuery = strings.Replace(req.URL.RawQuery, "versionId=1", "versionId=2", 1)
			if _, err := verifierAt(testTime).Verify(req); err == nil {
				t.Fatal("changed query accepted")
			}
		})
	}
}

// TestMinioSigner verifies minio-go's SignV4 (which signs at time.Now).
func TestMinioSigner(t *testing.T) {
	body := []byte("signed by minio-go")
	for _, method := range []string{"GET", "PUT", "HEAD", "DELETE", "POST"} {
		r := newRequest(method, "http://bucket.example.com:9000/bucket/a%20b%2Bc?uploads=", body)
		r.Header.Set("X-Amz-Content-Sha256", sha256Hex(body))
		signed := signer.SignV4(*r, testCred.AccessKey, testCred.SecretKey, "", testRegion)
		v := NewVerifier(testStore, Config{Region: testRegion})
		got, _, err := readBody(v, signed)
		wantS3(t, err, nil)
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: body %q", method, got)
		}
	}
}

func TestMinioPresign(t *testing.T) {
	for _, method := range []string{"GET", "PUT"} {
		r := newRequest(method, "http://bucket.example.com:9000/bucket/k%20ey", nil)
		signed := signer.PreSignV4(*r, testCred.AccessKey, testCred.SecretKey, "", testRegion, 600)
		req := newRequest(method, signed.URL.String(), []byte("x"))
		req.Host = "bucket.example.com:9000"
		_, _, err := readBody(NewVerifier(testStore, Config{Region: testRegion}), req)
		wantS3(t, err, nil)
	}
}

// sha256Hasher adapts crypto/sha256 to minio-go's md5simd.Hasher.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

func TestMinioStreamingSigner(t *testing.T) {
	data := payloadOf(3*64<<10 + 17)
	for _, trailer := range []bool{false, true} {
		r := newRequest("PUT", "http://bucket.example.com:9000/bucket/stream", nil)
		r.Body = io.NopCloser(bytes.NewReader(data))
		want := PayloadStreaming
		if trailer {
			r.Trailer = http.Header{"x-amz-checksum-crc32": {"AAAAAA=="}}
			want = PayloadStreamingTrailer
		}
		signed := signer.StreamingSignV4(r, testCred.AccessKey, testCred.SecretKey, "",
			testRegion, int64(len(data)), testTime, sha256Hasher{sha256.New()})
		checkMinioStream(t, signed, data, want, verifierAt(testTime))
	}
}

func TestMinioUnsignedTrailerSigner(t *testing.T) {
	data := payloadOf(2*64<<10 + 5)
	r := newRequest("PUT", "http://bucket.example.com:9000/bucket/stream", nil)
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.ContentLength = int64(len(data))
	r.Header.Set("X-Amz-Content-Sha256", StreamingUnsignedPayloadTrail)
	signed := signer.SignV4Trailer(*r, testCred.AccessKey, testCred.SecretKey, "", testRegion,
		http.Header{"x-amz-checksum-crc32": {"AAAAAA=="}})
	checkMinioStream(t, signed, data, PayloadStreamingUnsignedTrailer,
		NewVerifier(testStore, Config{Region: testRegion}))
}

// checkMinioStream sends the encoded body through the verifier the way
// the server would see it.
func checkMinioStream(t *testing.T, r *http.Request, data []byte, mode PayloadMode, v *Verifier) {
	t.Helper()
	enc, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(enc))
	a, err := v.Verify(r)
	wantS3(t, err, nil)
	if a.PayloadMode != mode {
		t.Fatalf("mode %v, want %v", a.PayloadMode, mode)
	}
	pr, err := a.Body(r)
	wantS3(t, err, nil)
	got, err := io.ReadAll(pr)
	wantS3(t, err, nil)
	if !bytes.Equal(got, data) {
		t.Fatalf("%v: decoded payload differs", mode)
	}
	if mode.HasTrailer() && pr.Trailer().Get("x-amz-checksum-crc32") != "AAAAAA==" {
		t.Fatalf("%v: trailer %v", mode, pr.Trailer())
	}
	bad := bytes.Clone(enc)
	bad[len(bad)/2] ^= 1
	r.Body = io.NopCloser(bytes.NewReader(bad))
	pr, _ = a.Body(r)
	_, err = io.ReadAll(pr)
	if mode != PayloadStreamingUnsignedTrailer && err == nil {
		t.Fatalf("%v: changed chunk accepted", mode)
	}
}

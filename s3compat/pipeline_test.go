package s3compat

// This test chains the layers as the proxy will: ParseRequest, the sigv4
// Verifier and payload reader, then the checksum reader fed by the
// payload reader's trailer, against uploads from the real aws-sdk-go-v2
// client (header checksums, trailer checksums over aws-chunked, and a
// wrong checksum that must be refused).

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/cloakproxy/cloak/s3compat/checksum"
	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// upload is what the pipeline server stored for one PUT.
type upload struct {
	key     string
	data    []byte
	trailer bool
	alg     checksum.Algorithm
	sums    map[string]string
}

type pipelineServer struct {
	verifier *sigv4.Verifier
	mu       sync.Mutex
	uploads  []upload
	corrupt  bool // flip a body byte in transit
}

// flipReader flips one bit of the byte at offset at.
type flipReader struct {
	r   io.Reader
	pos int64
	at  int64
}

func (f *flipReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		b[f.at-f.pos] ^= 1
	}
	f.pos += int64(n)
	return n, err
}

func (p *pipelineServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.corrupt {
		r.Body = io.NopCloser(&flipReader{r: r.Body, at: 1000})
	}
	p.mu.Unlock()
	up, err := p.put(r)
	if err != nil {
		s3err.Write(w, r, err, s3err.Context{RequestID: "pipeline"})
		return
	}
	p.mu.Lock()
	p.uploads = append(p.uploads, up)
	p.mu.Unlock()
	sum := md5.Sum(up.data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.WriteHeader(http.StatusOK)
}

func (p *pipelineServer) put(r *http.Request) (upload, error) {
	req, err := ParseRequest(r, nil)
	if err != nil {
		return upload{}, err
	}
	if req.Op != OpPutObject {
		return upload{}, s3err.ErrNotImplemented
	}
	auth, err := p.verifier.Verify(r)
	if err != nil {
		return upload{}, err
	}
	spec, err := checksum.ParseRequest(r.Header)
	if err != nil {
		return upload{}, err
	}
	payload, err := auth.Body(r)
	if err != nil {
		return upload{}, err
	}
	cr := checksum.NewReader(payload, spec, payload.Trailer)
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, cr); err != nil {
		return upload{}, err // nothing is kept: the error came instead of EOF
	}
	return upload{key: req.Key, data: buf.Bytes(), trailer: spec.Trailer,
		alg: spec.Algorithm, sums: cr.Sums()}, nil
}

// onlyReader hides Seek, so the SDK must stream the body.
type onlyReader struct{ io.Reader }

func TestPipelineWithAWSClient(t *testing.T) {
	ps := &pipelineServer{verifier: sigv4.NewVerifier(
		sigv4.StaticCredentials{"AKIDPIPE": "pipe-secret"}, sigv4.Config{Region: "us-east-1"})}
	srv := httptest.NewTLSServer(ps) // the SDK streams trailers only over TLS
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		Credentials:      awscreds.NewStaticCredentialsProvider("AKIDPIPE", "pipe-secret", ""),
		HTTPClient:       srv.Client(),
		RetryMaxAttempts: 1,
	})
	data := bytes.Repeat([]byte("cloak pipeline "), 5000) // 75 000 bytes: several chunks
	cases := []struct {
		name      string
		corrupt   bool
		in        *s3.PutObjectInput
		wantAlg   checksum.Algorithm
		wantError string
	}{
		{"seekable crc32", false, &s3.PutObjectInput{Body: bytes.NewReader(data),
			ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32}, checksum.CRC32, ""},
		{"streamed sha256", false, &s3.PutObjectInput{Body: onlyReader{bytes.NewReader(data)},
			ContentLength:     aws.Int64(int64(len(data))),
			ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256}, checksum.SHA256, ""},
		{"streamed crc64nvme", false, &s3.PutObjectInput{Body: onlyReader{bytes.NewReader(data)},
			ContentLength:     aws.Int64(int64(len(data))),
			ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc64nvme}, checksum.CRC64NVME, ""},
		{"wrong crc32c", false, &s3.PutObjectInput{Body: bytes.NewReader(data),
			ChecksumCRC32C: aws.String("AAAAAA==")}, checksum.CRC32C, "BadDigest"},
		// Unsigned trailer chunks are not signed: only the trailing
		// checksum can catch a change in transit.
		{"streamed corrupted in transit", true, &s3.PutObjectInput{
			Body:              onlyReader{bytes.NewReader(data)},
			ContentLength:     aws.Int64(int64(len(data))),
			ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c}, checksum.CRC32C, "BadDigest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Bucket, tc.in.Key = aws.String("bkt"), aws.String("dir/a b+c")
			ps.mu.Lock()
			ps.corrupt = tc.corrupt
			ps.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.PutObject(ctx, tc.in)
			ps.mu.Lock()
			ups := ps.uploads
			ps.uploads = nil
			ps.mu.Unlock()
			if tc.wantError != "" {
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.wantError {
					t.Fatalf("err = %v, want %s", err, tc.wantError)
				}
				t.Logf("refused: %v", err)
				if len(ups) != 0 {
					t.Fatalf("a refused upload was kept")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ups) != 1 {
				t.Fatalf("%d uploads", len(ups))
			}
			up := ups[0]
			if up.key != "dir/a b+c" || !bytes.Equal(up.data, data) || up.alg != tc.wantAlg {
				t.Fatalf("stored key %q, %d bytes, %v", up.key, len(up.data), up.alg)
			}
			h := tc.wantAlg.New()
			h.Write(data)
			if up.sums[tc.wantAlg.Header()] != tc.wantAlg.Encode(h.Sum(nil)) {
				t.Errorf("sums %v", up.sums)
			}
			if strings.HasPrefix(tc.name, "streamed") && !up.trailer {
				t.Errorf("streamed upload did not use a trailer checksum")
			}
		})
	}
}

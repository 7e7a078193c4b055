package s3compat

// These tests send requests with the real aws-sdk-go-v2 and minio-go
// clients, in path style and virtual-host style, to a loopback server
// that runs ParseRequest, and check that every operation and every
// awkward key arrives as the client meant it.

import (
	"bytes"
	"context"
	"io"
	"net"
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
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

// clientDomain is the virtual-host domain the test clients use; every
// connection is dialled to the loopback test server whatever the host.
const clientDomain = "s3.test"

// recorder parses each request and answers with a minimal valid
// response for its operation.
type recorder struct {
	mu   sync.Mutex
	reqs []Request
	errs []error
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	req, err := ParseRequest(r, []string{clientDomain})
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, req)
	rec.errs = append(rec.errs, err)
	rec.mu.Unlock()
	if err != nil {
		s3err.Write(w, r, err, s3err.Context{RequestID: "test"})
		return
	}
	var v any
	switch req.Op {
	case OpListBuckets:
		v = s3xml.ListAllMyBucketsResult{}
	case OpGetBucketLocation:
		v = s3xml.LocationConstraint{}
	case OpListObjects:
		v = s3xml.ListBucketResult{Name: req.Bucket}
	case OpListObjectsV2:
		v = s3xml.ListBucketResultV2{Name: req.Bucket}
	case OpListObjectVersions:
		v = s3xml.ListVersionsResult{Name: req.Bucket}
	case OpListMultipartUploads:
		v = s3xml.ListMultipartUploadsResult{Bucket: req.Bucket}
	case OpCreateMultipartUpload:
		v = s3xml.InitiateMultipartUploadResult{Bucket: req.Bucket, Key: req.Key, UploadID: "u-1"}
	case OpCompleteMultipartUpload:
		v = s3xml.CompleteMultipartUploadResult{Bucket: req.Bucket, Key: req.Key, ETag: "e-2"}
	case OpListParts:
		v = s3xml.ListPartsResult{Bucket: req.Bucket, Key: req.Key, UploadID: req.UploadID}
	case OpCopyObject:
		v = s3xml.CopyObjectResult{ETag: "e", LastModified: s3xml.Time{Time: time.Now()}}
	case OpUploadPartCopy:
		v = s3xml.CopyPartResult{ETag: "e", LastModified: s3xml.Time{Time: time.Now()}}
	case OpDeleteObjects:
		v = s3xml.DeleteResult{}
	case OpUnsupported:
		s3err.Write(w, r, s3err.ErrNotImplemented, s3err.Context{RequestID: "test"})
		return
	case OpDeleteObject, OpDeleteBucket, OpAbortMultipartUpload:
		w.WriteHeader(http.StatusNoContent)
		return
	default: // PutObject, UploadPart, GetObject, HeadObject, CreateBucket, HeadBucket
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := s3xml.Write(w, http.StatusOK, v); err != nil {
		panic(err)
	}
}

// take returns the requests recorded since the last call.
func (rec *recorder) take() ([]Request, []error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	reqs, errs := rec.reqs, rec.errs
	rec.reqs, rec.errs = nil, nil
	return reqs, errs
}

// loopbackClient returns an HTTP client that dials srv for every host.
func loopbackClient(srv *httptest.Server) *http.Client {
	addr := srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		Proxy: nil,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func startRecorder(t *testing.T) (*recorder, *httptest.Server, string) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return rec, srv, clientDomain + ":" + port
}

// clientKeys are the keys sent through the clients; the longest and the
// control characters of trickyKeys are left to the direct tests.
var clientKeys = []string{
	"a key with spaces",
	"plus+sign+",
	"percent%25and%",
	"ünïcødé/ключ/鍵.bin",
	"dir//double//slash",
	"dir/../up/./here",
	"trailing/",
	"question?mark#hash&amp=eq;semi",
}

// call is one client operation and what ParseRequest should make of it.
type call struct {
	op  Op
	key bool // whether the operation addresses the key
	run func(ctx context.Context, key string) error
}

func awsCalls(c *s3.Client) []call {
	b := aws.String("bkt")
	body := func() io.Reader { return bytes.NewReader([]byte("hello")) }
	return []call{
		{OpListBuckets, false, func(ctx context.Context, _ string) error {
			_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}},
		{OpCreateBucket, false, func(ctx context.Context, _ string) error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
			return err
		}},
		{OpHeadBucket, false, func(ctx context.Context, _ string) error {
			_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: b})
			return err
		}},
		{OpGetBucketLocation, false, func(ctx context.Context, _ string) error {
			_, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b})
			return err
		}},
		{OpListObjects, false, func(ctx context.Context, k string) error {
			_, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, Prefix: aws.String(k)})
			return err
		}},
		{OpListObjectsV2, false, func(ctx context.Context, k string) error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b,
				StartAfter: aws.String(k), EncodingType: s3types.EncodingTypeUrl})
			return err
		}},
		{OpListObjectVersions, false, func(ctx context.Context, _ string) error {
			_, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
			return err
		}},
		{OpListMultipartUploads, false, func(ctx context.Context, _ string) error {
			_, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
			return err
		}},
		{OpPutObject, true, func(ctx context.Context, k string) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k),
				Body: body()})
			return err
		}},
		{OpCopyObject, true, func(ctx context.Context, k string) error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String(k),
				CopySource: aws.String("src-bkt/" + escapeKey(k))})
			return err
		}},
		{OpGetObject, true, func(ctx context.Context, k string) error {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(k),
				Range: aws.String("bytes=0-")})
			if err == nil {
				out.Body.Close()
			}
			return err
		}},
		{OpHeadObject, true, func(ctx context.Context, k string) error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String(k)})
			return err
		}},
		{OpDeleteObject, true, func(ctx context.Context, k string) error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String(k)})
			return err
		}},
		{OpDeleteObjects, false, func(ctx context.Context, k string) error {
			_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b,
				Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String(k)}}}})
			return err
		}},
		{OpCreateMultipartUpload, true, func(ctx context.Context, k string) error {
			_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b,
				Key: aws.String(k)})
			return err
		}},
		{OpUploadPart, true, func(ctx context.Context, k string) error {
			_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String(k),
				UploadId: aws.String("u-1"), PartNumber: aws.Int32(7), Body: body()})
			return err
		}},
		{OpUploadPartCopy, true, func(ctx context.Context, k string) error {
			_, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b,
				Key: aws.String(k), UploadId: aws.String("u-1"), PartNumber: aws.Int32(2),
				CopySource: aws.String("src-bkt/" + escapeKey(k))})
			return err
		}},
		{OpCompleteMultipartUpload, true, func(ctx context.Context, k string) error {
			_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
				Bucket: b, Key: aws.String(k), UploadId: aws.String("u-1"),
				MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{
					{PartNumber: aws.Int32(1), ETag: aws.String(`"e"`)}}}})
			return err
		}},
		{OpAbortMultipartUpload, true, func(ctx context.Context, k string) error {
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b,
				Key: aws.String(k), UploadId: aws.String("u-1")})
			return err
		}},
		{OpListParts, true, func(ctx context.Context, k string) error {
			_, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: aws.String(k),
				UploadId: aws.String("u-1")})
			return err
		}},
		{OpDeleteBucket, false, func(ctx context.Context, _ string) error {
			_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b})
			return err
		}},
		{OpUnsupported, false, func(ctx context.Context, _ string) error {
			_, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
			if err == nil {
				return errUnexpectedSuccess
			}
			return nil
		}},
		{OpUnsupported, true, func(ctx context.Context, k string) error {
			_, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b,
				Key: aws.String(k)})
			if err == nil {
				return errUnexpectedSuccess
			}
			return nil
		}},
	}
}

var errUnexpectedSuccess = s3err.ErrInternalError.WithMessage("unsupported call succeeded")

func TestAWSClientRequestsParse(t *testing.T) {
	rec, srv, host := startRecorder(t)
	for _, pathStyle := range []bool{true, false} {
		c := s3.New(s3.Options{
			Region:           "us-east-1",
			BaseEndpoint:     aws.String("http://" + host),
			UsePathStyle:     pathStyle,
			Credentials:      awscreds.NewStaticCredentialsProvider("AKIDTEST", "secretkey", ""),
			HTTPClient:       loopbackClient(srv),
			RetryMaxAttempts: 1,
		})
		for _, cl := range awsCalls(c) {
			for _, key := range clientKeys {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := cl.run(ctx, key)
				cancel()
				reqs, errs := rec.take()
				name := string(cl.op)
				if !pathStyle {
					name += " (virtual host)"
				}
				if err != nil {
					t.Errorf("%s %q: client error %v", name, key, err)
					continue
				}
				if len(reqs) != 1 || errs[0] != nil {
					t.Errorf("%s %q: %d requests, errors %v", name, key, len(reqs), errs)
					continue
				}
				checkParsed(t, name, reqs[0], cl.op, cl.key, key, !pathStyle)
				if !cl.key && cl.op != OpListObjects && cl.op != OpListObjectsV2 &&
					cl.op != OpDeleteObjects {
					break // the key plays no part; one round is enough
				}
			}
		}
	}
}

func checkParsed(t *testing.T, name string, got Request, op Op, hasKey bool, key string,
	virtual bool) {
	t.Helper()
	wantKey, wantBucket := "", "bkt"
	if hasKey {
		wantKey = key
	}
	if op == OpListBuckets {
		wantBucket, virtual = "", false
	}
	if got.Op != op || got.Bucket != wantBucket || got.Key != wantKey || got.VirtualHost != virtual {
		t.Errorf("%s %q: parsed op %s bucket %q key %q virtual %v", name, key, got.Op,
			got.Bucket, got.Key, got.VirtualHost)
	}
	switch op {
	case OpCopyObject, OpUploadPartCopy:
		if got.CopySource == nil || got.CopySource.Bucket != "src-bkt" ||
			got.CopySource.Key != key {
			t.Errorf("%s %q: copy source %+v", name, key, got.CopySource)
		}
	case OpUploadPart:
		if got.PartNumber != 7 || got.UploadID != "u-1" {
			t.Errorf("%s: part %d upload %q", name, got.PartNumber, got.UploadID)
		}
	case OpListObjects:
		if got.Query.Get("prefix") != key {
			t.Errorf("%s: prefix %q, want %q", name, got.Query.Get("prefix"), key)
		}
	case OpListObjectsV2:
		if got.Query.Get("start-after") != key || got.Query.Get("encoding-type") != "url" {
			t.Errorf("%s: query %v", name, got.Query)
		}
	}
}

func TestMinioClientRequestsParse(t *testing.T) {
	rec, srv, host := startRecorder(t)
	for _, lookup := range []minio.BucketLookupType{minio.BucketLookupPath, minio.BucketLookupDNS} {
		core, err := minio.NewCore(host, &minio.Options{
			Creds:        miniocreds.NewStaticV4("AKIDTEST", "secretkey", ""),
			Region:       "us-east-1",
			BucketLookup: lookup,
			Transport:    loopbackClient(srv).Transport,
		})
		if err != nil {
			t.Fatal(err)
		}
		virtual := lookup == minio.BucketLookupDNS
		for _, key := range clientKeys {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := core.Client.PutObject(ctx, "bkt", key, strings.NewReader("hi"), 2,
				minio.PutObjectOptions{})
			if err != nil {
				t.Errorf("put %q: %v", key, err)
			}
			_, err = core.Client.StatObject(ctx, "bkt", key, minio.StatObjectOptions{})
			if err != nil {
				t.Errorf("stat %q: %v", key, err)
			}
			err = core.Client.RemoveObject(ctx, "bkt", key, minio.RemoveObjectOptions{})
			if err != nil {
				t.Errorf("remove %q: %v", key, err)
			}
			cancel()
			reqs, errs := rec.take()
			ops := []Op{OpPutObject, OpHeadObject, OpDeleteObject}
			if len(reqs) != len(ops) {
				t.Errorf("%q: %d requests (%v)", key, len(reqs), errs)
				continue
			}
			for i, op := range ops {
				if errs[i] != nil {
					t.Errorf("%s %q: %v", op, key, errs[i])
				}
				checkParsed(t, "minio "+string(op), reqs[i], op, true, key, virtual)
			}
		}
	}
}

package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/integration/miniotest"
	"github.com/cloakproxy/cloak/proxy"
)

// Sizes of the outage scenarios: the object read while the store dies is
// far larger than the socket buffers between MinIO, Cloak and the client,
// so the kill lands mid-stream; the killing upload is streamed (above the
// small-object limit) and dies well before its end.
const (
	outageObjectSize = 160 * mib
	outagePutSize    = 128 * mib
	outageKillAfter  = 24 * mib
)

// TestOutage_BackendStopped kills the MinIO server behind Cloak before a
// request, during a GET of a large object and during a large PUT and
// UploadPart. Requests that have not started their response get S3's
// ServiceUnavailable (503, with an XML body where the method has one); a
// GET already streaming is cut, so the client sees a truncated body whose
// bytes are all genuine. After a restart on the same data, the object
// written first is intact and nothing partial is listed.
func TestOutage_BackendStopped(t *testing.T) {
	e, m := newMinioEnv(t, proxy.Options{SmallObjectLimit: smallLimit}, 2)
	ctx := context.Background()
	client := e.noRetries()
	e.mkBucket(t, "outage")
	v1 := newGenData("outage v1", outageObjectSize)
	put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("outage"),
		Key: aws.String("big"), Body: v1, ContentLength: aws.Int64(v1.size)})
	if err != nil {
		t.Fatal(err)
	}
	v1ETag := aws.ToString(put.ETag)
	cr, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("outage"), Key: aws.String("parts")})
	if err != nil {
		t.Fatal(err)
	}
	part1 := newGenData("outage part 1", 5*mib)
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("outage"),
		Key: aws.String("parts"), UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: part1,
		ContentLength: aws.Int64(part1.size)}); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		t.Helper()
		m.Restart(t)
		expectGenerated(t, client, "outage", "big", v1)
		expectListing(t, client, "outage", map[string]int64{"big": v1.size}, v1ETag)
		expectParts(t, e, client, "outage", "parts", aws.ToString(cr.UploadId),
			map[int32]*genData{1: part1})
	}

	t.Run("GET while streaming", func(t *testing.T) {
		getWhileKilled(t, client, m, v1)
		check(t)
	})
	t.Run("before the request", func(t *testing.T) {
		requestsWhileDown(t, e, client, m)
		check(t)
	})
	t.Run("PUT while uploading", func(t *testing.T) {
		body := &killingReader{r: newGenData("outage v2", outagePutSize),
			after: outageKillAfter, kill: m.Kill}
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("outage"),
			Key: aws.String("big"), Body: body, ContentLength: aws.Int64(outagePutSize)})
		assertUnavailable(t, err, body)
		check(t)
	})
	t.Run("UploadPart while uploading", func(t *testing.T) {
		body := &killingReader{r: newGenData("outage part 2", outagePutSize),
			after: outageKillAfter, kill: m.Kill}
		_, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("outage"),
			Key: aws.String("parts"), UploadId: cr.UploadId, PartNumber: aws.Int32(2), Body: body,
			ContentLength: aws.Int64(outagePutSize)})
		assertUnavailable(t, err, body)
		check(t)
	})
}

// killingReader reads r and calls kill once more than after bytes have
// been read, before returning them.
type killingReader struct {
	r      io.Reader
	after  int64
	kill   func()
	mu     sync.Mutex
	read   int64
	killed bool
}

func (k *killingReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.read += int64(n)
	if k.read > k.after && !k.killed {
		k.killed = true
		k.kill()
	}
	return n, err
}

func (k *killingReader) didKill() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.killed
}

// assertUnavailable checks that an upload the store died under failed
// with 503 ServiceUnavailable.
func assertUnavailable(t *testing.T, err error, body *killingReader) {
	t.Helper()
	if !body.didKill() {
		t.Fatal("the store was not killed: the upload ended before the kill point")
	}
	assertS3Code(t, err, "ServiceUnavailable")
	assertHTTPStatus(t, err, http.StatusServiceUnavailable)
}

// getWhileKilled starts a GET of the large object, reads part of it,
// kills the store and reads on: the body must end in an error, short of
// the object, and all it delivered must be the object's first bytes.
func getWhileKilled(t *testing.T, client *s3.Client, m *miniotest.Server, want *genData) {
	t.Helper()
	out, err := client.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String("outage"), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	var got int64
	buf := make([]byte, 256<<10)
	compare := func(n int) {
		if !bytes.Equal(buf[:n], want.bytesAt(got, int64(n))) {
			t.Fatalf("bytes %d..%d of the GET differ from the object", got, got+int64(n))
		}
		got += int64(n)
	}
	for got < outageKillAfter {
		n, err := io.ReadFull(out.Body, buf)
		compare(n)
		if err != nil {
			t.Fatalf("GET failed before the store was killed, at %d bytes: %v", got, err)
		}
	}
	m.Kill()
	var readErr error
	for readErr == nil && got <= want.size {
		var n int
		n, readErr = out.Body.Read(buf)
		compare(n)
	}
	t.Logf("GET cut after %d of %d bytes: %v", got, want.size, readErr)
	if readErr == io.EOF || got >= want.size {
		t.Fatalf("the GET looked complete (%d of %d bytes, %v) although the store died", got,
			want.size, readErr)
	}
}

// requestsWhileDown sends requests while the store is down: each must get
// 503 ServiceUnavailable, with S3's XML body where the method has a body.
func requestsWhileDown(t *testing.T, e *env, client *s3.Client, m *miniotest.Server) {
	t.Helper()
	ctx := context.Background()
	m.Kill()
	small := []byte("small object, buffered before it is stored")
	large := newGenData("outage large put", 32*mib)
	cases := []struct {
		name    string
		hasBody bool // HEAD answers have none, so no S3 code
		do      func() error
	}{
		{"HEAD", false, func() error {
			_, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("outage"),
				Key: aws.String("big")})
			return err
		}},
		{"GET", true, func() error {
			_, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("outage"),
				Key: aws.String("big")})
			return err
		}},
		{"small PUT", true, func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("outage"),
				Key: aws.String("big"), Body: bytes.NewReader(small)})
			return err
		}},
		{"large PUT", true, func() error {
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("outage"),
				Key: aws.String("big"), Body: large, ContentLength: aws.Int64(large.size)})
			return err
		}},
		{"ListObjectsV2", true, func() error {
			_, err := client.ListObjectsV2(ctx,
				&s3.ListObjectsV2Input{Bucket: aws.String("outage")})
			return err
		}},
		{"CreateMultipartUpload", true, func() error {
			_, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
				Bucket: aws.String("outage"), Key: aws.String("other")})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.do()
			assertHTTPStatus(t, err, http.StatusServiceUnavailable)
			if c.hasBody {
				assertS3Code(t, err, "ServiceUnavailable")
			}
		})
	}
	// The raw response: status, S3's XML error document, request id.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/outage?list-type=2", nil)
	signForTest(req, e.region)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") ||
		!bytes.Contains(b, []byte("<Code>ServiceUnavailable</Code>")) ||
		resp.Header.Get("X-Amz-Request-Id") == "" {
		t.Fatalf("raw answer while the store is down: %s %q\n%s", resp.Status,
			resp.Header.Get("Content-Type"), b)
	}
}

// expectGenerated reads bucket/key whole and compares it with want,
// streaming.
func expectGenerated(t *testing.T, client *s3.Client, bucket, key string, want *genData) {
	t.Helper()
	out, err := client.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	h, w := md5.New(), md5.New()
	n, err := io.Copy(h, out.Body)
	io.Copy(w, io.NewSectionReader(want, 0, want.size))
	if err != nil || n != want.size || !bytes.Equal(h.Sum(nil), w.Sum(nil)) {
		t.Fatalf("%s: read %d of %d bytes (%v), or they differ", key, n, want.size, err)
	}
}

// expectListing checks that the bucket lists exactly the given objects
// and sizes, and that key "big" (when listed) has the ETag bigETag.
func expectListing(t *testing.T, client *s3.Client, bucket string, want map[string]int64,
	bigETag string) {
	t.Helper()
	out, err := client.ListObjectsV2(context.Background(),
		&s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, o := range out.Contents {
		got[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		if aws.ToString(o.Key) == "big" && aws.ToString(o.ETag) != bigETag {
			t.Errorf("big listed with ETag %s, want %s", aws.ToString(o.ETag), bigETag)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listing %v, want %v", got, want)
	}
	ups, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ups.Uploads {
		if aws.ToString(u.Key) != "parts" {
			t.Errorf("unexpected upload listed for %s", aws.ToString(u.Key))
		}
	}
}

// expectParts checks that an upload lists exactly the parts in want,
// with their sizes and plaintext MD5s, through Cloak; that the store
// holds as many parts; and that it holds no record of any other part
// (records are named ".cloak/uploads/<id>/p<5 digits>.<...>").
func expectParts(t *testing.T, e *env, client *s3.Client, bucket, key, uploadID string,
	want map[int32]*genData) {
	t.Helper()
	ctx := context.Background()
	out, err := client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket),
		Key: aws.String(key), UploadId: aws.String(uploadID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Parts) != len(want) {
		t.Fatalf("ListParts shows %d parts, want %d", len(out.Parts), len(want))
	}
	for _, p := range out.Parts {
		g := want[aws.ToInt32(p.PartNumber)]
		if g == nil {
			t.Fatalf("ListParts shows part %d", aws.ToInt32(p.PartNumber))
		}
		h := md5.New()
		io.Copy(h, io.NewSectionReader(g, 0, g.size))
		etag := fmt.Sprintf(`"%x"`, h.Sum(nil))
		if aws.ToInt64(p.Size) != g.size || aws.ToString(p.ETag) != etag {
			t.Fatalf("part %d listed with %d bytes, ETag %s; want %d bytes, %x",
				aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size), aws.ToString(p.ETag), g.size,
				h.Sum(nil))
		}
	}
	stored, err := e.store.ListParts(ctx, bucket, key, uploadID, backend.ListPartsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Parts) != len(want) {
		t.Fatalf("the store holds %d parts, want %d", len(stored.Parts), len(want))
	}
	all, err := e.store.ListObjects(ctx, bucket, backend.ListOptions{Prefix: ".cloak/uploads/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all.Objects {
		name := o.Key[strings.LastIndex(o.Key, "/")+1:]
		var n int32
		if _, err := fmt.Sscanf(name, "p%05d.", &n); err == nil && want[n] == nil {
			t.Fatalf("the store holds a record of part %d: %s", n, name)
		}
	}
}

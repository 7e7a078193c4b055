package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
)

// bigObject is a 1 GiB object of generated parts: boundaries off the
// chunk grid, sizes from 5 MiB to 64 MiB, and a last part of odd size.
type bigObject struct {
	parts []*genData
	start []int64 // plaintext offset of each part
	size  int64
	md5s  [][16]byte
}

func newBigObject() *bigObject {
	sizes := []int64{5*mib + 1, 64*mib - 1}
	for range 14 {
		sizes = append(sizes, 64*mib)
	}
	sizes = append(sizes, 33*mib+7)
	var sum int64
	for _, s := range sizes {
		sum += s
	}
	sizes = append(sizes, 1<<30-sum)
	o := &bigObject{}
	for i, s := range sizes {
		o.parts = append(o.parts, newGenData(fmt.Sprintf("big part %d", i+1), s))
		o.start = append(o.start, o.size)
		o.size += s
	}
	return o
}

// partMD5 hashes part i as generated.
func (o *bigObject) partMD5(i int) [16]byte {
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(o.parts[i], 0, o.parts[i].size)); err != nil {
		panic(err)
	}
	var sum [16]byte
	h.Sum(sum[:0])
	return sum
}

// bytesAt returns the object's plaintext [off, off+n).
func (o *bigObject) bytesAt(off, n int64) []byte {
	out := make([]byte, 0, n)
	for i, p := range o.parts {
		lo, hi := max(off, o.start[i]), min(off+n, o.start[i]+p.size)
		if lo < hi {
			out = append(out, p.bytesAt(lo-o.start[i], hi-lo)...)
		}
	}
	return out
}

func (o *bigObject) etag() string {
	all := md5.New()
	for _, s := range o.md5s {
		all.Write(s[:])
	}
	return fmt.Sprintf(`"%x-%d"`, all.Sum(nil), len(o.md5s))
}

// TestLargeMultipart_OutOfOrderGiB uploads a 1 GiB object in 18 parts in
// a shuffled order, three at a time, then reads it back whole (hashed
// part by part as it streams) and in ranges across the last part and
// chunk boundaries, and checks sizes and ETags in every listing and that
// the stored object holds none of the markers planted in the data.
func TestLargeMultipart_OutOfOrderGiB(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) *env
	}{
		{"minio", func(t *testing.T) *env {
			e, _ := newMinioEnv(t, proxy.Options{}, 0)
			return e
		}},
		{"local", func(t *testing.T) *env {
			e, _ := newLocalEnv(t, proxy.Options{})
			return e
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e := st.open(t)
			e.mkBucket(t, "big")
			o := newBigObject()
			begin := time.Now()
			uploadBig(t, e, o)
			uploaded := time.Now()
			readBigWhole(t, e, o)
			read := time.Now()
			readBigRanges(t, e, o)
			assertBigStoredEncrypted(t, e, o)
			ms := time.Millisecond
			t.Logf("1 GiB: upload %v, full read %v, ranges and store scan %v",
				uploaded.Sub(begin).Round(ms), read.Sub(uploaded).Round(ms),
				time.Since(read).Round(ms))
		})
	}
}

// uploadBig runs the multipart upload: parts in a seeded shuffle, three
// workers, each part's MD5 computed from the generator beside it.
func uploadBig(t *testing.T, e *env, o *bigObject) {
	t.Helper()
	ctx := context.Background()
	cr, err := e.aws.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("big"), Key: aws.String("snapshot.tar")})
	if err != nil {
		t.Fatal(err)
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(o.parts))
	o.md5s = make([][16]byte, len(o.parts))
	etags := make([]string, len(o.parts))
	queue := make(chan int, len(order))
	for _, i := range order {
		queue <- i
	}
	close(queue)
	var wg sync.WaitGroup
	errs := make(chan error, len(o.parts))
	for range 3 {
		wg.Go(func() {
			for i := range queue {
				o.md5s[i] = o.partMD5(i)
				body := newGenData(fmt.Sprintf("big part %d", i+1), o.parts[i].size)
				out, err := e.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("big"),
					Key: aws.String("snapshot.tar"), UploadId: cr.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: body,
					ContentLength: aws.Int64(o.parts[i].size)})
				if err != nil {
					errs <- fmt.Errorf("part %d: %w", i+1, err)
					return
				}
				etags[i] = aws.ToString(out.ETag)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lp, err := e.aws.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("big"),
		Key: aws.String("snapshot.tar"), UploadId: cr.UploadId})
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.Parts) != len(o.parts) {
		t.Fatalf("ListParts shows %d parts, want %d", len(lp.Parts), len(o.parts))
	}
	var done []s3types.CompletedPart
	for i, p := range lp.Parts {
		want := fmt.Sprintf(`"%x"`, o.md5s[i])
		if aws.ToInt32(p.PartNumber) != int32(i+1) || aws.ToInt64(p.Size) != o.parts[i].size ||
			aws.ToString(p.ETag) != want || etags[i] != want {
			t.Fatalf("part %d: listed as number %d, %d bytes, ETag %s; upload ETag %s; "+
				"want %d bytes, %s", i+1, aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size),
				aws.ToString(p.ETag), etags[i], o.parts[i].size, want)
		}
		done = append(done, s3types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag})
	}
	out, err := e.aws.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("big"), Key: aws.String("snapshot.tar"), UploadId: cr.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	if aws.ToString(out.ETag) != o.etag() {
		t.Fatalf("complete ETag %s, want %s", aws.ToString(out.ETag), o.etag())
	}
}

// readBigWhole reads the object in one GET and hashes it part by part
// as it streams; it also checks HEAD and the listing.
func readBigWhole(t *testing.T, e *env, o *bigObject) {
	t.Helper()
	ctx := context.Background()
	head, err := e.aws.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("big"),
		Key: aws.String("snapshot.tar")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != o.size || aws.ToString(head.ETag) != o.etag() {
		t.Fatalf("HEAD: %d bytes, ETag %s; want %d, %s", aws.ToInt64(head.ContentLength),
			aws.ToString(head.ETag), o.size, o.etag())
	}
	l, err := e.aws.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Contents) != 1 || aws.ToInt64(l.Contents[0].Size) != o.size ||
		aws.ToString(l.Contents[0].ETag) != o.etag() {
		t.Fatalf("listing: %d objects, first %+v", len(l.Contents), l.Contents)
	}
	get, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("big"),
		Key: aws.String("snapshot.tar")})
	if err != nil {
		t.Fatal(err)
	}
	defer get.Body.Close()
	if aws.ToInt64(get.ContentLength) != o.size {
		t.Fatalf("GET Content-Length %d, want %d", aws.ToInt64(get.ContentLength), o.size)
	}
	for i, p := range o.parts {
		h := md5.New()
		if n, err := io.Copy(h, io.LimitReader(get.Body, p.size)); err != nil || n != p.size {
			t.Fatalf("part %d: read %d of %d bytes: %v", i+1, n, p.size, err)
		}
		if !bytes.Equal(h.Sum(nil), o.md5s[i][:]) {
			t.Fatalf("part %d read back differs from what was uploaded", i+1)
		}
	}
	if n, err := io.Copy(io.Discard, get.Body); n != 0 || err != nil {
		t.Fatalf("%d bytes (%v) after the end of the object", n, err)
	}
}

// readBigRanges reads ranges near the end: across the last two part
// boundaries and the chunk boundaries beside them, the last chunk, and
// suffix and open ranges.
func readBigRanges(t *testing.T, e *env, o *bigObject) {
	t.Helper()
	C, last := int64(crypto.ChunkSize), len(o.parts)-1
	lastPart, prevPart, size := o.start[last], o.start[last-1], o.size
	cases := []struct {
		header string
		off, n int64
	}{
		{fmt.Sprintf("bytes=%d-%d", lastPart-1, lastPart), lastPart - 1, 2},
		{fmt.Sprintf("bytes=%d-%d", lastPart-C-3, lastPart+2*C+4), lastPart - C - 3, 3*C + 8},
		{fmt.Sprintf("bytes=%d-%d", prevPart-10, lastPart+10), prevPart - 10,
			lastPart - prevPart + 21},
		{fmt.Sprintf("bytes=%d-%d", size-C-1, size-1), size - C - 1, C + 1},
		{fmt.Sprintf("bytes=-%d", size-lastPart+100), lastPart - 100, size - lastPart + 100},
		{fmt.Sprintf("bytes=%d-", size-5), size - 5, 5},
		{fmt.Sprintf("bytes=%d-%d", size-1, size+1000), size - 1, 1},
	}
	for _, c := range cases {
		out, err := e.aws.GetObject(context.Background(), &s3.GetObjectInput{
			Bucket: aws.String("big"), Key: aws.String("snapshot.tar"),
			Range: aws.String(c.header)})
		if err != nil {
			t.Fatalf("%s: %v", c.header, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, o.bytesAt(c.off, c.n)) {
			t.Fatalf("%s: %d bytes (%v), want %d others", c.header, len(got), err, c.n)
		}
		want := fmt.Sprintf("bytes %d-%d/%d", c.off, c.off+c.n-1, size)
		if aws.ToString(out.ContentRange) != want {
			t.Errorf("%s: Content-Range %q, want %q", c.header, aws.ToString(out.ContentRange),
				want)
		}
	}
}

// assertBigStoredEncrypted reads the stored object from the backend: its
// size must be the parts' ciphertext, and none of the 1,024 markers
// planted in the plaintext may occur in it.
func assertBigStoredEncrypted(t *testing.T, e *env, o *bigObject) {
	t.Helper()
	ctx := context.Background()
	var total int64
	for _, p := range o.parts {
		total += crypto.SegmentCiphertextSize(p.size)
	}
	info, err := e.store.HeadObject(ctx, "big", "snapshot.tar")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != total {
		t.Fatalf("stored %d bytes, want the parts' ciphertext size %d", info.Size, total)
	}
	// The scan itself must find what it looks for.
	if n, _ := countMarkers(io.NewSectionReader(o.parts[0], 0, o.parts[0].size)); n != 5 {
		t.Fatalf("the scan finds %d markers in the first part's plaintext, want 5", n)
	}
	rc, _, err := e.store.GetObject(ctx, "big", "snapshot.tar", 0, -1, backend.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := countMarkers(rc)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d plaintext markers found in the stored object", n)
	}
}

// countMarkers reads r to its end and counts the occurrences of
// plantedMarker, also those that straddle two reads.
func countMarkers(r io.Reader) (int, error) {
	tail := len(plantedMarker) - 1
	buf := make([]byte, tail+1<<20)
	keep, count := 0, 0
	for {
		n, err := io.ReadFull(r, buf[keep:])
		window := buf[:keep+n]
		count += bytes.Count(window, plantedMarker)
		keep = copy(buf, window[max(0, len(window)-tail):])
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return count, nil
		default:
			return count, err
		}
	}
}

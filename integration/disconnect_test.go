package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// cutUpload is an upload that a client abandons: it declares declared
// bytes and sends sent of them.
type cutUpload struct {
	name     string
	query    string // "" for PutObject, else the UploadPart query
	declared int64
	sent     int64
	chunked  bool // signed aws-chunked body instead of UNSIGNED-PAYLOAD
}

// How a client hangs up: close (TLS close_notify, then FIN), reset (RST,
// as a crashed host or a killed process with unread data does), or
// half-close (FIN on the sending side only, then wait for the answer: a
// body shorter than its Content-Length, which must be IncompleteBody).
var hangUps = []string{"close", "reset", "half-close"}

// goroutineSlack is how many more goroutines than before the disconnects
// the process may run once they have settled: the read and write loops of
// one more connection kept alive to the store. The rounds cut 45 uploads,
// so leaking one goroutine per request would exceed it many times.
const goroutineSlack = 2

// TestDisconnect_CutUploadsLeaveNoTrace has clients hang up in the middle
// of PutObject (buffered and streamed) and UploadPart bodies (a new part
// and the replacement of an existing one), declaring more than they send.
// Afterwards the object and part written first are unchanged, listings
// and ListParts show nothing partial, the local store holds no temp file,
// and the process runs no more goroutines than before.
func TestDisconnect_CutUploadsLeaveNoTrace(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) (*env, string) // env and local tmp dir
	}{
		{"local", func(t *testing.T) (*env, string) {
			e, dir := newLocalEnv(t, proxy.Options{})
			return e, dir + "/tmp"
		}},
		{"minio", func(t *testing.T) (*env, string) {
			e, _ := newMinioEnv(t, proxy.Options{}, 0)
			return e, ""
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			e, tmpDir := st.open(t)
			runCutUploads(t, e, tmpDir)
		})
	}
}

func runCutUploads(t *testing.T, e *env, tmpDir string) {
	ctx := context.Background()
	e.mkBucket(t, "cut")
	v1 := newGenData("cut v1", 3*mib)
	put, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cut"),
		Key: aws.String("obj"), Body: v1, ContentLength: aws.Int64(v1.size)})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := e.aws.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("cut"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	uploadID := aws.ToString(cr.UploadId)
	part1 := newGenData("cut part 1", 5*mib)
	if _, err := e.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("cut"),
		Key: aws.String("mp"), UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: part1,
		ContentLength: aws.Int64(part1.size)}); err != nil {
		t.Fatal(err)
	}
	part := func(n int) string {
		return fmt.Sprintf("partNumber=%d&uploadId=%s", n, url.QueryEscape(uploadID))
	}
	cases := []cutUpload{
		{"PUT buffered", "", 12 * mib, 4 * mib, false},
		{"PUT streamed", "", 64 * mib, 8 * mib, false},
		{"PUT streamed aws-chunked", "", 64 * mib, 8 * mib, true},
		{"UploadPart new part", part(2), 32 * mib, 8 * mib, false},
		{"UploadPart replacing part 1", part(1), 16 * mib, 6 * mib, true},
	}

	e.srv.Client().CloseIdleConnections()
	before := settledGoroutines()
	for round := range 3 {
		for _, c := range cases {
			for _, how := range hangUps {
				key := "obj"
				if c.query != "" {
					key = "mp"
				}
				code := sendCut(t, e, key, c, how, round)
				if how == "half-close" && code != "IncompleteBody" {
					t.Errorf("%s, half-closed after %d of %d bytes: answer %q, want IncompleteBody",
						c.name, c.sent, c.declared, code)
				}
			}
		}
	}
	e.srv.Client().CloseIdleConnections()
	waitGoroutines(t, before+goroutineSlack)
	t.Logf("goroutines: %d before the cut uploads, %d after", before, runtime.NumGoroutine())
	if tmpDir != "" {
		waitEmptyDir(t, tmpDir)
	}

	expectGenerated(t, e.aws, "cut", "obj", v1)
	out, err := e.aws.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cut")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "obj" ||
		aws.ToInt64(out.Contents[0].Size) != v1.size ||
		aws.ToString(out.Contents[0].ETag) != aws.ToString(put.ETag) {
		t.Fatalf("listing after the cut uploads: %+v", out.Contents)
	}
	ups, err := e.aws.ListMultipartUploads(ctx,
		&s3.ListMultipartUploadsInput{Bucket: aws.String("cut")})
	if err != nil || len(ups.Uploads) != 1 {
		t.Fatalf("uploads after the cut uploads: %v, %+v", err, ups)
	}
	expectParts(t, e, e.aws, "cut", "mp", uploadID, map[int32]*genData{1: part1})
}

// sendCut sends the headers of c, signed, and sent bytes of its body on a
// fresh TLS connection, then hangs up as how says: "close" and "reset"
// read no answer; "half-close" closes only the sending side, reads the
// answer and returns its S3 error code ("" for a success).
func sendCut(t *testing.T, e *env, key string, c cutUpload, how string, round int) string {
	t.Helper()
	target := e.srv.URL + "/cut/" + key
	if c.query != "" {
		target += "?" + c.query
	}
	body := newGenData(fmt.Sprintf("cut %s %d", c.name, round), c.declared)
	req, err := http.NewRequest(http.MethodPut, target, body)
	if err != nil {
		t.Fatal(err)
	}
	cred := sigv4.Credential{AccessKey: testAccess, SecretKey: testSecret}
	if c.chunked {
		sigv4.SignChunked(req, cred, e.region, time.Now(), body, c.declared,
			sigv4.ChunkedOptions{})
	} else {
		req.ContentLength = c.declared
		sigv4.SignRequest(req, cred, e.region, "s3", time.Now(), sigv4.UnsignedPayload)
	}
	tcp, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(tcp, &tls.Config{InsecureSkipVerify: true})
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.RequestURI(),
		req.Host, req.ContentLength)
	for k, vs := range req.Header {
		fmt.Fprintf(w, "%s: %s\r\n", k, vs[0])
	}
	w.WriteString("\r\n")
	if _, err := io.CopyN(w, req.Body, c.sent); err != nil {
		t.Fatalf("%s: send: %v", c.name, err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("%s: send: %v", c.name, err)
	}
	switch how {
	case "reset":
		tcp.(*net.TCPConn).SetLinger(0)
		tcp.Close()
		return ""
	case "half-close":
		defer conn.Close()
		conn.CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatalf("%s: no answer after a half-close: %v", c.name, err)
		}
		defer resp.Body.Close()
		return s3ErrorCode(t, resp)
	}
	conn.Close()
	return ""
}

// s3ErrorCode returns the Code of an S3 error response, or "" for a
// success.
func s3ErrorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	if resp.StatusCode < 300 {
		return ""
	}
	var doc struct{ Code string }
	if err := xml.Unmarshal(body, &doc); err != nil || doc.Code == "" {
		t.Fatalf("%s answer is not an S3 error document (%v):\n%s", resp.Status, err, body)
	}
	return doc.Code
}

// settledGoroutines returns the goroutine count once it has stopped
// changing for a moment (or after five seconds).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		<-tick.C
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// waitGoroutines waits, for at most ten seconds, until at most limit
// goroutines run, and fails with a dump of them if they do not.
func waitGoroutines(t *testing.T, limit int) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > limit; <-tick.C {
		if time.Now().After(deadline) {
			var dump bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&dump, 1)
			t.Fatalf("%d goroutines run, want at most %d:\n%s", runtime.NumGoroutine(), limit,
				dump.String())
		}
	}
}

// waitEmptyDir waits, for at most ten seconds, until dir holds no entry.
func waitEmptyDir(t *testing.T, dir string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); ; <-tick.C {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d temp files left in the store, such as %s", len(entries),
				entries[0].Name())
		}
	}
}

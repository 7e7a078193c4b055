package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// Attacks from the network and from clients holding valid credentials:
// each must get a clear S3 error, within bounded time and memory. These
// run against the local store: what they attack is Cloak's front end,
// which is the same whatever the store.

// attackDeadline bounds every single attack request. It is generous for a
// loaded 2-core machine; a request that hangs fails the test.
const attackDeadline = 60 * time.Second

// answer is what came back for one raw request.
type answer struct {
	status int
	code   string // the S3 error code of an XML error body
	body   []byte
}

// send sends req with the env's TLS client and returns the answer.
func (e *env) send(t *testing.T, req *http.Request) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), attackDeadline)
	defer cancel()
	resp, err := e.srv.Client().Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.EscapedPath(), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc struct {
		Code string `xml:"Code"`
	}
	xml.Unmarshal(b, &doc)
	return answer{status: resp.StatusCode, code: doc.Code, body: b}
}

// expect checks an answer's status and S3 code.
func (a answer) expect(t *testing.T, what string, status int, code string) {
	t.Helper()
	if a.status != status || a.code != code {
		t.Errorf("%s: got %d %q, want %d %s\n%.300s", what, a.status, a.code, status, code, a.body)
	}
}

// newRequest returns a request for path (already escaped) and query.
func (e *env) newRequest(t *testing.T, method, path, query string, body []byte) *http.Request {
	t.Helper()
	u, err := url.Parse(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = query
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	return req
}

var testCred = sigv4.Credential{AccessKey: testAccess, SecretKey: testSecret}

func TestAttack_ReplayedAndForgedSignatures(t *testing.T) {
	e, _ := newLocalEnv(t, proxy.Options{})
	e.mkBucket(t, "replay")
	put := func(at time.Time) *http.Request {
		req := e.newRequest(t, http.MethodPut, "/replay/doc", "", []byte("payload"))
		sigv4.SignRequest(req, testCred, e.region, "s3", at, sigv4.UnsignedPayload)
		return req
	}
	e.send(t, put(time.Now())).expect(t, "fresh PUT", 200, "")
	for _, d := range []time.Duration{-sigv4.MaxClockSkew - time.Minute, sigv4.MaxClockSkew + time.Minute} {
		e.send(t, put(time.Now().Add(d))).expect(t, fmt.Sprintf("PUT signed %v away", d),
			http.StatusForbidden, "RequestTimeTooSkewed")
	}
	// A captured request replayed later: the same headers, byte for byte,
	// once its date has left the window.
	old := put(time.Now().Add(-sigv4.MaxClockSkew - time.Second))
	replay := e.newRequest(t, http.MethodPut, "/replay/doc", "", []byte("payload"))
	replay.Header = old.Header.Clone()
	e.send(t, replay).expect(t, "replayed PUT", http.StatusForbidden, "RequestTimeTooSkewed")

	// A signed request with its path changed.
	moved := put(time.Now())
	moved.URL.Path = "/replay/other"
	e.send(t, moved).expect(t, "PUT with its key changed", http.StatusForbidden, "SignatureDoesNotMatch")
}

func TestAttack_PresignedURLs(t *testing.T) {
	e, _ := newLocalEnv(t, proxy.Options{})
	e.mkBucket(t, "presign")
	e.send(t, func() *http.Request {
		req := e.newRequest(t, http.MethodPut, "/presign/doc", "", []byte("secret report"))
		sigv4.SignRequest(req, testCred, e.region, "s3", time.Now(), sigv4.UnsignedPayload)
		return req
	}()).expect(t, "PUT", 200, "")
	presigned := func(method, path string, at time.Time, expires time.Duration) string {
		req := e.newRequest(t, method, path, "", nil)
		return sigv4.Presign(req, testCred, e.region, "s3", at, expires)
	}
	get := func(u string, method string) answer {
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e.send(t, req)
	}
	valid := presigned(http.MethodGet, "/presign/doc", time.Now(), time.Hour)
	if a := get(valid, http.MethodGet); a.status != 200 || string(a.body) != "secret report" {
		t.Fatalf("valid presigned GET: %d %s", a.status, a.body)
	}
	expired := presigned(http.MethodGet, "/presign/doc", time.Now().Add(-2*time.Hour), time.Hour)
	get(expired, http.MethodGet).expect(t, "expired URL", http.StatusForbidden, "AccessDenied")

	alter := func(u, param, value string) string {
		p, _ := url.Parse(u)
		q := p.Query()
		q.Set(param, value)
		p.RawQuery = q.Encode()
		return p.String()
	}
	other := strings.Replace(valid, "/presign/doc", "/presign/other", 1)
	cases := []struct{ name, url, method string }{
		{"another key", other, http.MethodGet},
		{"a later expiry", alter(valid, "X-Amz-Expires", "604800"), http.MethodGet},
		{"an earlier date", alter(expired, "X-Amz-Date", time.Now().UTC().Format("20060102T150405Z")),
			http.MethodGet},
		{"a parameter added", alter(valid, "response-content-type", "text/html"), http.MethodGet},
		{"PUT with a GET URL", valid, http.MethodPut},
		{"DELETE with a GET URL", valid, http.MethodDelete},
		{"another access key", alter(valid, "X-Amz-Credential",
			strings.Replace(mustQuery(t, valid, "X-Amz-Credential"), testAccess, "AKIAOTHER", 1)),
			http.MethodGet},
	}
	for _, c := range cases {
		a := get(c.url, c.method)
		if a.status != http.StatusForbidden ||
			a.code != "SignatureDoesNotMatch" && a.code != "InvalidAccessKeyId" && a.code != "AccessDenied" {
			t.Errorf("presigned URL with %s: %d %q", c.name, a.status, a.code)
		}
	}
	if a := get(valid, http.MethodGet); a.status != 200 {
		t.Fatalf("the object is gone after the attempts: %d %s", a.status, a.code)
	}
}

func mustQuery(t *testing.T, u, name string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query().Get(name)
}

// TestAttack_ChunkSignaturesFromAnotherRequest sends an aws-chunked body,
// whose chunk signatures chain from its own request's signature, under
// another request's signed headers: the chunks are refused and nothing is
// stored.
func TestAttack_ChunkSignaturesFromAnotherRequest(t *testing.T) {
	e, _ := newLocalEnv(t, proxy.Options{})
	e.mkBucket(t, "chunks")
	data := randomBytes(200_000)
	signed := func(key string, at time.Time) *http.Request {
		req := e.newRequest(t, http.MethodPut, "/chunks/"+key, "", nil)
		sigv4.SignChunked(req, testCred, e.region, at, bytes.NewReader(data), int64(len(data)),
			sigv4.ChunkedOptions{})
		return req
	}
	captured, err := io.ReadAll(signed("a", time.Now()).Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b"} {
		// The same key signed again a second later has another seed
		// signature, so the captured chunks do not chain from it.
		req := signed(key, time.Now().Add(time.Second))
		req.Body = io.NopCloser(bytes.NewReader(captured))
		e.send(t, req).expect(t, "PUT "+key+" with captured chunks", http.StatusForbidden,
			"SignatureDoesNotMatch")
		if _, err := e.store.HeadObject(context.Background(), "chunks", key); err == nil {
			t.Fatalf("%s was stored from reused chunk signatures", key)
		}
	}
}

// heapGrowth reports how far the live heap rose above its level before
// fn while fn ran: the median and the peak of samples taken every 20 ms,
// each after a collection (/gc/heap/live:bytes, what it marked). The
// median is what a request holds through its run; the peak also counts
// objects allocated while a collection ran, which it treats as live.
func heapGrowth(fn func()) (median, peak uint64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	read := func() uint64 {
		runtime.GC()
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var samples []uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			v := read()
			samples = append(samples, max(v, base)-base)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	slices.Sort(samples)
	return samples[len(samples)/2], samples[len(samples)-1]
}

// maxAttackHeap bounds the live heap's median growth during one attack
// request. The proxy holds at most a chunk, or a body up to its
// small-object limit, per request.
const maxAttackHeap = 8 << 20

// maxXMLHeap bounds it for an XML body: the proxy reads up to the 4 MiB
// limit (and one byte) into a buffer that grows by doubling.
const maxXMLHeap = 16 << 20

// TestAttack_MillionsOfTinyChunks uploads aws-chunked bodies made of
// one-byte chunks, unsigned (four million chunks) and signed (four
// hundred thousand, each with its own signature): the upload is answered
// within the deadline, and when it is accepted the object reads back
// intact. The live heap through the upload stays far below what was sent:
// a proxy that kept the stream, or a record per chunk, would hold a
// median of half of it.
func TestAttack_MillionsOfTinyChunks(t *testing.T) {
	e, _ := newLocalEnv(t, proxy.Options{})
	e.mkBucket(t, "tiny")
	for _, c := range []struct {
		name     string
		chunks   int
		unsigned bool
	}{{"unsigned", 4_000_000, true}, {"signed", 400_000, false}} {
		t.Run(c.name, func(t *testing.T) {
			data := randomBytes(c.chunks)
			req := e.newRequest(t, http.MethodPut, "/tiny/"+c.name, "", nil)
			sum := crc32.ChecksumIEEE(data)
			trailer := http.Header{"X-Amz-Checksum-Crc32": {base64.StdEncoding.EncodeToString(
				[]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)})}}
			sigv4.SignChunked(req, testCred, e.region, time.Now(), bytes.NewReader(data),
				int64(len(data)), sigv4.ChunkedOptions{ChunkSize: 1, Unsigned: c.unsigned, Trailer: trailer})
			stream, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			req.Body = io.NopCloser(bytes.NewReader(stream))
			var a answer
			median, peak := heapGrowth(func() { a = e.send(t, req) })
			t.Logf("%d chunks (%d bytes on the wire): %d %s, live heap grew by %d KiB (median), "+
				"%d KiB (peak)", c.chunks, len(stream), a.status, a.code, median>>10, peak>>10)
			if median > maxAttackHeap {
				t.Errorf("the live heap grew by %d MiB (median) for %d MiB sent", median>>20,
					len(stream)>>20)
			}
			if a.status != 200 && (a.status < 400 || a.code == "" || a.code == "InternalError") {
				t.Fatalf("answered %d %q", a.status, a.code)
			}
			if a.status == 200 {
				expectContent(t, e, "tiny", c.name, data)
			}
		})
	}
}

func TestAttack_HugeHeaders(t *testing.T) {
	e, _ := newLocalEnv(t, proxy.Options{})
	e.mkBucket(t, "headers")
	put := func(extra http.Header) *http.Request {
		req := e.newRequest(t, http.MethodPut, "/headers/doc", "", []byte("x"))
		for k, v := range extra {
			req.Header[k] = v
		}
		sigv4.SignRequest(req, testCred, e.region, "s3", time.Now(), sigv4.UnsignedPayload)
		return req
	}
	// Past S3's 8 KiB but within what the HTTP server reads: S3's error.
	e.send(t, put(http.Header{"X-Amz-Meta-Big": {strings.Repeat("a", 20<<10)}})).expect(t,
		"20 KiB header", http.StatusBadRequest, "RequestHeaderSectionTooLarge")
	many := http.Header{}
	for i := range 500 {
		many.Set(fmt.Sprintf("X-Amz-Meta-H%d", i), "0123456789")
	}
	e.send(t, put(many)).expect(t, "500 headers", http.StatusBadRequest, "RequestHeaderSectionTooLarge")
	// Past the HTTP server's own limit (cmd/serve.go sets 64 KiB): Go's
	// server answers 431 itself, without reading further, and closes.
	e.srv.Config.MaxHeaderBytes = 64 << 10
	req := put(http.Header{"X-Junk": {strings.Repeat("a", 4<<20)}})
	ctx, cancel := context.WithTimeout(context.Background(), attackDeadline)
	defer cancel()
	resp, err := e.srv.Client().Do(req.WithContext(ctx))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("4 MiB header: %s", resp.Status)
		}
	} else if ctx.Err() != nil {
		t.Fatalf("4 MiB header: no answer within %v", attackDeadline)
	}
	if _, err := e.store.HeadObject(context.Background(), "headers", "doc"); err == nil {
		t.Fatal("an object was stored from a request with oversized headers")
	}
}

// xmlAttacks are request bodies built to exhaust a parser or the memory
// behind it.
func xmlAttacks() []struct{ name, body string } {
	laughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
		`<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
		`<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">` +
		`<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>`
	external := `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>`
	return []struct{ name, body string }{
		{"entity expansion", laughs + "<ROOT><Object><Key>&lol4;</Key></Object></ROOT>"},
		{"external entity", external + "<ROOT><Object><Key>&x;</Key></Object></ROOT>"},
		{"deep nesting", "<ROOT>" + strings.Repeat("<a>", 200_000) + strings.Repeat("</a>", 200_000) +
			"</ROOT>"},
		{"two roots", "<ROOT></ROOT><ROOT></ROOT>"},
	}
}

func TestAttack_XMLBodies(t *testing.T) {
	e, _ := newLocalEnv(t, proxy.Options{})
	e.mkBucket(t, "xml")
	upload := rawCreateUpload(t, e, "xml", "mpu")
	targets := []struct {
		name, root, query string
	}{
		{"DeleteObjects", "Delete", "delete="},
		{"CompleteMultipartUpload", "CompleteMultipartUpload", "uploadId=" + url.QueryEscape(upload)},
	}
	post := func(target string, query string, body []byte) answer {
		path := "/xml"
		if strings.HasPrefix(query, "uploadId") {
			path = "/xml/mpu"
		}
		req := e.newRequest(t, http.MethodPost, path, query, body)
		sum := md5.Sum(body)
		req.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
		sigv4.SignRequest(req, testCred, e.region, "s3", time.Now(), sigv4.UnsignedPayload)
		var a answer
		if median, _ := heapGrowth(func() { a = e.send(t, req) }); median > maxXMLHeap {
			t.Errorf("%s: the live heap grew by %d MiB", target, median>>20)
		}
		return a
	}
	for _, tg := range targets {
		for _, x := range xmlAttacks() {
			body := strings.ReplaceAll(x.body, "ROOT", tg.root)
			post(tg.name, tg.query, []byte(body)).expect(t, tg.name+" "+x.name, 400, "MalformedXML")
		}
		big := "<" + tg.root + ">" + strings.Repeat("<!-- padding -->", 400_000) + "</" + tg.root + ">"
		post(tg.name, tg.query, []byte(big)).expect(t, tg.name+" 6 MiB body", 400,
			"MaxMessageLengthExceeded")
	}
	// 100,000 parts (about 6 MiB) and 10,001 small ones (within the size
	// limit), and part numbers out of range.
	var parts strings.Builder
	for i := 1; i <= 100_000; i++ {
		fmt.Fprintf(&parts, "<Part><PartNumber>%d</PartNumber><ETag>\"%032x\"</ETag></Part>", i, i)
	}
	complete := func(inner string) []byte {
		return []byte("<CompleteMultipartUpload>" + inner + "</CompleteMultipartUpload>")
	}
	q := targets[1].query
	post("Complete", q, complete(parts.String())).expect(t, "Complete with 100k parts", 400,
		"MaxMessageLengthExceeded")
	parts.Reset()
	for i := 1; i <= 10_001; i++ {
		fmt.Fprintf(&parts, "<Part><PartNumber>%d</PartNumber><ETag>e</ETag></Part>", i)
	}
	post("Complete", q, complete(parts.String())).expect(t, "Complete with 10,001 parts", 400,
		"MalformedXML")
	post("Complete", q, complete("<Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part>")).expect(t,
		"Complete with part 10001", 400, "InvalidArgument")
	for _, n := range []string{"0", "10001", "-1", "99999999999999999999", "1e3", "x"} {
		req := e.newRequest(t, http.MethodPut, "/xml/mpu",
			"partNumber="+n+"&uploadId="+url.QueryEscape(upload), []byte("data"))
		sigv4.SignRequest(req, testCred, e.region, "s3", time.Now(), sigv4.UnsignedPayload)
		e.send(t, req).expect(t, "UploadPart number "+n, 400, "InvalidArgument")
	}
}

// rawCreateUpload starts a multipart upload with a raw request and returns
// its id.
func rawCreateUpload(t *testing.T, e *env, bucket, key string) string {
	t.Helper()
	req := e.newRequest(t, http.MethodPost, "/"+bucket+"/"+key, "uploads=", nil)
	sigv4.SignRequest(req, testCred, e.region, "s3", time.Now(), sigv4.UnsignedPayload)
	a := e.send(t, req)
	var doc struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(a.body, &doc); a.status != 200 || err != nil || doc.UploadID == "" {
		t.Fatalf("create upload: %d %s", a.status, a.body)
	}
	return doc.UploadID
}

// TestAttack_PathTraversalThroughTheProxy sends keys built to escape the
// embedded store's directory, as raw request paths: whatever Cloak does
// with each (stores it inside its bucket, or refuses it), no file outside
// the store's directory is written or read.
func TestAttack_PathTraversalThroughTheProxy(t *testing.T) {
	root := t.TempDir()
	storeDir := filepath.Join(root, "store")
	st, err := localstore.New(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, st, proxy.Options{})
	e.mkBucket(t, "trav")
	secret := []byte("a file outside the store")
	for _, p := range []string{"outside", "store/outside", "store/buckets/outside"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), secret, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := filesUnder(t, root)
	// Raw (escaped) paths after /trav/.
	keys := []string{
		"../outside", "../../outside", "a/../../../outside", "..%2F..%2Foutside",
		"%2e%2e/%2e%2e/outside", "%2E%2E%2F%2E%2E%2Foutside", "..%5C..%5Coutside",
		"..\\..\\outside", "/" + strings.TrimPrefix(root, "/") + "/outside", "%2F" + root[1:] + "/outside",
		"a%00/../../outside", "outside%00.txt", "./../outside", "...", "..", ".",
		"%C0%AE%C0%AE/outside", "x/" + strings.Repeat("../", 40) + "outside",
	}
	payload := []byte("written through a traversal attempt")
	for _, k := range keys {
		path := "/trav/" + k
		put := e.newRequest(t, http.MethodPut, path, "", payload)
		sigv4.SignRequest(put, testCred, e.region, "s3", time.Now(), sigv4.UnsignedPayload)
		pa := e.send(t, put)
		get := e.newRequest(t, http.MethodGet, path, "", nil)
		sigv4.SignRequest(get, testCred, e.region, "s3", time.Now(), sigv4.UnsignedPayload)
		ga := e.send(t, get)
		t.Logf("%-40s PUT %d %-22s GET %d %s", k, pa.status, pa.code, ga.status, ga.code)
		if bytes.Contains(ga.body, secret) {
			t.Errorf("GET %s returned a file outside the bucket", path)
		}
		if pa.status == 200 && (ga.status != 200 || !bytes.Equal(ga.body, payload)) {
			t.Errorf("PUT %s was accepted but GET answers %d", path, ga.status)
		}
		if pa.status != 200 && (pa.status < 400 || pa.code == "" || pa.code == "InternalError") {
			t.Errorf("PUT %s: %d %q, want a clear S3 error", path, pa.status, pa.code)
		}
	}
	after := filesUnder(t, root)
	for p, b := range before {
		if !bytes.Equal(after[p], b) {
			t.Errorf("%s changed", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok && !strings.HasPrefix(p, "store/buckets/trav/") {
			t.Errorf("a file appeared outside the bucket's directory: %s", p)
		}
	}
}

// filesUnder returns every regular file below root (relative, slashed)
// with its contents, skipping the store's temp and state directories.
func filesUnder(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

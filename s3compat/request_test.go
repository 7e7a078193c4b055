package s3compat

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

var domains = []string{"s3.example.com", "localhost"}

// trickyKeys must survive parsing exactly, in both URL styles.
var trickyKeys = []string{
	"plain.txt",
	"a key with spaces",
	"plus+sign+",
	"percent%25and%",
	"ünïcødé/ключ/鍵.bin",
	"dir//double//slash",
	"dir/../up/./here",
	"..",
	"trailing/",
	"/leading-slash",
	"question?mark#hash&amp=eq;semi",
	"tab\tnewline\nquote\"'<>",
	strings.Repeat("k", MaxKeyLength),
}

// escapeKey escapes a key for a request path the way SDKs do: every byte
// outside the unreserved set is percent-encoded, except "/".
func escapeKey(k string) string {
	return strings.ReplaceAll(url.PathEscape(k), "%2F", "/")
}

func TestParseRequestKeys(t *testing.T) {
	for _, key := range trickyKeys {
		for _, style := range []string{"path", "virtual"} {
			target := "http://s3.example.com/bkt/" + escapeKey(key)
			if style == "virtual" {
				target = "http://bkt.s3.example.com:9000/" + escapeKey(key)
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			req, err := ParseRequest(r, domains)
			if err != nil {
				t.Fatalf("%s %q: %v", style, key, err)
			}
			if req.Bucket != "bkt" || req.Key != key || req.Op != OpGetObject ||
				req.VirtualHost != (style == "virtual") {
				t.Errorf("%s %q: got bucket %q key %q op %s", style, key, req.Bucket, req.Key, req.Op)
			}
		}
	}
}

func TestParseRequestRawPaths(t *testing.T) {
	cases := []struct {
		target, bucket, key string
	}{
		{"/bkt/a+b", "bkt", "a+b"},           // a literal plus is a plus
		{"/bkt/a%2Bb", "bkt", "a+b"},         // so is an escaped one
		{"/bkt/a%20b", "bkt", "a b"},         // %20 is a space
		{"/bkt/a%252B", "bkt", "a%2B"},       // unescaped exactly once
		{"/bkt/a%2Fb", "bkt", "a/b"},         // an escaped slash is a slash
		{"/bkt//x", "bkt", "/x"},             // empty first segment kept
		{"/bkt/x/", "bkt", "x/"},             // trailing slash kept
		{"/bkt/./x/../y", "bkt", "./x/../y"}, // dot segments kept
		{"/bkt", "bkt", ""},
		{"/bkt/", "bkt", ""},
		{"/", "", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		req, err := ParseRequest(r, domains)
		if err != nil {
			t.Errorf("%s: %v", c.target, err)
			continue
		}
		if req.Bucket != c.bucket || req.Key != c.key {
			t.Errorf("%s: bucket %q key %q, want %q %q", c.target, req.Bucket, req.Key,
				c.bucket, c.key)
		}
	}
}

func TestParseRequestHosts(t *testing.T) {
	cases := []struct {
		host, path, bucket, key string
		virtual                 bool
	}{
		{"s3.example.com", "/b-1/k", "b-1", "k", false},
		{"S3.Example.COM:443", "/b-1/k", "b-1", "k", false},
		{"b-1.s3.example.com", "/k", "b-1", "k", true},
		{"B-1.S3.EXAMPLE.COM.", "/k", "b-1", "k", true},
		{"my.dotted.bucket.s3.example.com", "/", "my.dotted.bucket", "", true},
		{"b-1.localhost:8080", "/", "b-1", "", true},
		{"127.0.0.1:9000", "/b-1/k", "b-1", "k", false},
		{"[::1]:9000", "/b-1/k", "b-1", "k", false},
		{"evils3.example.com", "/b-1/k", "b-1", "k", false}, // not a subdomain
		{"other.host", "/b-1", "b-1", "", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, c.path, nil)
		r.Host = c.host
		req, err := ParseRequest(r, domains)
		if err != nil {
			t.Errorf("%s%s: %v", c.host, c.path, err)
			continue
		}
		if req.Bucket != c.bucket || req.Key != c.key || req.VirtualHost != c.virtual {
			t.Errorf("%s%s: %q %q %v", c.host, c.path, req.Bucket, req.Key, req.VirtualHost)
		}
	}
}

func TestParseRequestOps(t *testing.T) {
	copySrc := map[string]string{"X-Amz-Copy-Source": "/src-bkt/some%20key?versionId=v1"}
	cases := []struct {
		method, target string
		header         map[string]string
		op             Op
		check          func(Request) bool
	}{
		{"GET", "/", nil, OpListBuckets, nil},
		{"PUT", "/bkt", nil, OpCreateBucket, nil},
		{"DELETE", "/bkt/", nil, OpDeleteBucket, nil},
		{"HEAD", "/bkt", nil, OpHeadBucket, nil},
		{"GET", "/bkt?location", nil, OpGetBucketLocation, nil},
		{"GET", "/bkt?prefix=a&delimiter=/", nil, OpListObjects, nil},
		{"GET", "/bkt?list-type=2&encoding-type=url", nil, OpListObjectsV2, nil},
		{"GET", "/bkt?versions", nil, OpListObjectVersions, nil},
		{"GET", "/bkt?uploads", nil, OpListMultipartUploads, nil},
		{"PUT", "/bkt/k", nil, OpPutObject, nil},
		{"PUT", "/bkt/k", copySrc, OpCopyObject, func(r Request) bool {
			return r.CopySource != nil && *r.CopySource == CopySource{"src-bkt", "some key", "v1"}
		}},
		{"GET", "/bkt/k?versionId=v2", nil, OpGetObject, func(r Request) bool {
			return r.VersionID == "v2"
		}},
		{"GET", "/bkt/k?partNumber=3", nil, OpGetObject, func(r Request) bool {
			return r.PartNumber == 3
		}},
		{"HEAD", "/bkt/k", nil, OpHeadObject, nil},
		{"DELETE", "/bkt/k", nil, OpDeleteObject, nil},
		{"POST", "/bkt?delete", nil, OpDeleteObjects, nil},
		{"POST", "/bkt/k?uploads", nil, OpCreateMultipartUpload, nil},
		{"PUT", "/bkt/k?partNumber=10000&uploadId=u1", nil, OpUploadPart, func(r Request) bool {
			return r.PartNumber == 10000 && r.UploadID == "u1" && r.CopySource == nil
		}},
		{"PUT", "/bkt/k?uploadId=u1&partNumber=1", copySrc, OpUploadPartCopy, func(r Request) bool {
			return r.PartNumber == 1 && r.CopySource != nil && r.CopySource.Key == "some key"
		}},
		{"POST", "/bkt/k?uploadId=u1", nil, OpCompleteMultipartUpload, func(r Request) bool {
			return r.UploadID == "u1"
		}},
		{"DELETE", "/bkt/k?uploadId=u1", nil, OpAbortMultipartUpload, nil},
		{"GET", "/bkt/k?uploadId=u1&max-parts=5", nil, OpListParts, nil},
		{"GET", "/bkt?acl", nil, OpUnsupported, subresource("acl")},
		{"PUT", "/bkt?versioning", nil, OpUnsupported, subresource("versioning")},
		{"GET", "/bkt?tagging", nil, OpUnsupported, subresource("tagging")},
		{"PUT", "/bkt?policy", nil, OpUnsupported, subresource("policy")},
		{"GET", "/bkt?lifecycle", nil, OpUnsupported, subresource("lifecycle")},
		{"GET", "/bkt/k?acl", nil, OpUnsupported, subresource("acl")},
		{"PUT", "/bkt/k?tagging", nil, OpUnsupported, subresource("tagging")},
		{"POST", "/bkt/k?restore", nil, OpUnsupported, subresource("restore")},
		{"POST", "/bkt", nil, OpUnsupported, subresource("POST")},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, nil)
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			req, err := ParseRequest(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if req.Op != c.op {
				t.Fatalf("op %s, want %s", req.Op, c.op)
			}
			if c.check != nil && !c.check(req) {
				t.Errorf("fields %+v", req)
			}
		})
	}
}

func subresource(s string) func(Request) bool {
	return func(r Request) bool { return r.Subresource == s }
}

func TestParseRequestErrors(t *testing.T) {
	long := strings.Repeat("k", MaxKeyLength+1)
	cases := []struct {
		method, target string
		header         map[string]string
		want           *s3err.Error
	}{
		{"GET", "/ab/k", nil, s3err.ErrInvalidBucketName},
		{"GET", "/Bucket/k", nil, s3err.ErrInvalidBucketName},
		{"GET", "/bucket_x/k", nil, s3err.ErrInvalidBucketName},
		{"PUT", "/xn--bucket", nil, s3err.ErrInvalidBucketName},
		{"GET", "/192.168.1.1/k", nil, s3err.ErrInvalidBucketName},
		{"GET", "//k", nil, s3err.ErrInvalidBucketName},
		{"GET", "/bkt/" + long, nil, s3err.ErrKeyTooLong},
		{"PUT", "/bkt/k?partNumber=0&uploadId=u", nil, s3err.ErrInvalidArgument},
		{"PUT", "/bkt/k?partNumber=10001&uploadId=u", nil, s3err.ErrInvalidArgument},
		{"PUT", "/bkt/k?partNumber=x&uploadId=u", nil, s3err.ErrInvalidArgument},
		{"PUT", "/bkt/k?partNumber=1", nil, s3err.ErrInvalidArgument},
		{"GET", "/bkt/k?partNumber=-1", nil, s3err.ErrInvalidArgument},
		{"GET", "/bkt?list-type=3", nil, s3err.ErrInvalidArgument},
		{"GET", "/bkt?encoding-type=base64", nil, s3err.ErrInvalidArgument},
		{"PUT", "/bkt/k", map[string]string{"X-Amz-Copy-Source": "nokey"}, s3err.ErrInvalidArgument},
		{"PUT", "/", nil, s3err.ErrMethodNotAllowed},
		{"PATCH", "/bkt/k", nil, s3err.ErrMethodNotAllowed},
		{"OPTIONS", "/bkt", nil, s3err.ErrMethodNotAllowed},
		{"POST", "/bkt/k", nil, s3err.ErrMethodNotAllowed},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, nil)
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		_, err := ParseRequest(r, nil)
		if !errors.Is(err, c.want) {
			t.Errorf("%s %s: err %v, want %s", c.method, c.target, err, c.want.Code)
		}
	}
	// A RawPath that is not a valid encoding of Path is ignored by
	// EscapedPath, so the decoded Path is used as it is.
	r := httptest.NewRequest("GET", "/bkt/k", nil)
	r.URL.RawPath, r.URL.Path = "/bkt/%zz", "/bkt/%zz"
	if req, err := ParseRequest(r, nil); err != nil || req.Key != "%zz" {
		t.Errorf("bad raw path: %q %v", req.Key, err)
	}
}

func TestValidBucketName(t *testing.T) {
	good := []string{"abc", "a-b", "a.b.c", "123", strings.Repeat("a", 63), "my-bucket.2026",
		"xn--ok-for-access"}
	bad := []string{"", "ab", strings.Repeat("a", 64), "-abc", "abc-", ".abc", "abc.", "a..b",
		"ABC", "a_b", "a b", "1.2.3.4", "ab/c", "ünï"}
	for _, n := range good {
		if !ValidBucketName(n, false) {
			t.Errorf("%q rejected", n)
		}
	}
	for _, n := range bad {
		if ValidBucketName(n, false) {
			t.Errorf("%q accepted", n)
		}
	}
	for _, n := range []string{"xn--abc", "sthree-x", "amzn-s3-demo-x", "x-s3alias", "x--ol-s3",
		"x.mrap", "x--x-s3", "x--table-s3"} {
		if ValidBucketName(n, true) {
			t.Errorf("%q accepted for creation", n)
		}
	}
}

func TestParseCopySource(t *testing.T) {
	cases := []struct {
		in   string
		want CopySource
		err  *s3err.Error
	}{
		{"bkt/key", CopySource{"bkt", "key", ""}, nil},
		{"/bkt/key", CopySource{"bkt", "key", ""}, nil},
		{"bkt/dir/a%20b+c%2Bd", CopySource{"bkt", "dir/a b+c+d", ""}, nil},
		{"bkt/%E9%8D%B5?versionId=abc", CopySource{"bkt", "鍵", "abc"}, nil},
		{"bkt/a%3Fb", CopySource{"bkt", "a?b", ""}, nil},
		{"bkt//x/", CopySource{"bkt", "/x/", ""}, nil},
		{"bkt", CopySource{}, s3err.ErrInvalidArgument},
		{"bkt/", CopySource{}, s3err.ErrInvalidArgument},
		{"/", CopySource{}, s3err.ErrInvalidArgument},
		{"bkt/k?versionId=", CopySource{}, s3err.ErrInvalidArgument},
		{"bkt/k?other=1", CopySource{}, s3err.ErrInvalidArgument},
		{"bkt/%zz", CopySource{}, s3err.ErrInvalidArgument},
		{"B_KT/k", CopySource{}, s3err.ErrInvalidBucketName},
		{"bkt/" + strings.Repeat("k", 1025), CopySource{}, s3err.ErrKeyTooLong},
	}
	for _, c := range cases {
		got, err := ParseCopySource(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%q: err %v, want %s", c.in, err, c.err.Code)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v %v, want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseMaxKeys(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"", 1000, true}, {"0", 0, true}, {"1", 1, true}, {"1000", 1000, true},
		{"1001", 1000, true}, {"2147483647", 1000, true}, {"-1", 0, false},
		{"2147483648", 0, false}, {"x", 0, false}, {"1.5", 0, false},
	}
	for _, c := range cases {
		got, err := ParseMaxKeys("max-keys", c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("%q: %d %v", c.in, got, err)
		}
		if err != nil && !errors.Is(err, s3err.ErrInvalidArgument) {
			t.Errorf("%q: %v", c.in, err)
		}
	}
}

func FuzzParseRequestPath(f *testing.F) {
	for _, k := range trickyKeys[:len(trickyKeys)-1] {
		f.Add("/bkt/"+escapeKey(k), "bkt.s3.example.com")
	}
	f.Add("/bkt/a+b%2B%20", "s3.example.com")
	f.Add("//", "x.localhost:1")
	f.Fuzz(func(t *testing.T, rawPath, host string) {
		u := &url.URL{Scheme: "http", Host: "s3.example.com"}
		p, err := url.PathUnescape(rawPath)
		if err != nil {
			return
		}
		u.Path, u.RawPath = p, rawPath
		r := &http.Request{Method: http.MethodGet, URL: u, Host: host, Header: http.Header{}}
		req, err := ParseRequest(r, domains)
		if err != nil {
			if se := s3err.From(err); se.Code == "InternalError" {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if req.Bucket != "" && !ValidBucketName(req.Bucket, false) {
			t.Fatalf("invalid bucket %q accepted", req.Bucket)
		}
		if len(req.Key) > MaxKeyLength {
			t.Fatalf("long key accepted")
		}
		// The key is the unescaped path minus the bucket, byte for byte.
		rest := strings.TrimPrefix(p, "/")
		if !req.VirtualHost && req.Bucket != "" {
			rest = strings.TrimPrefix(strings.TrimPrefix(rest, req.Bucket), "/")
		}
		if rest != req.Key {
			t.Fatalf("path %q host %q: key %q, want %q", rawPath, host, req.Key, rest)
		}
	})
}

package s3store

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
)

// TestMetadataValuesRoundTrip encodes values as the store sends them and
// decodes them as minio-go does on the way back.
func TestMetadataValuesRoundTrip(t *testing.T) {
	values := []string{
		"", "plain", "Grüße 世界", " lead", "trail ", "\ttab", "a\tb", "=?UTF-8?B?SGVsbG8=?=",
		"=?", "?=", "a=?b", strings.Repeat("é", 700), `"quoted"`, "~!@#$%^&*()",
	}
	var dec mime.WordDecoder
	for _, v := range values {
		enc := encodeValue(v)
		for i := 0; i < len(enc); i++ {
			if enc[i] < 0x20 || enc[i] > 0x7e {
				t.Fatalf("encodeValue(%q) = %q: not printable ASCII", v, enc)
			}
		}
		if strings.TrimSpace(enc) != enc {
			t.Errorf("encodeValue(%q) = %q: blanks at the ends would be trimmed", v, enc)
		}
		got := enc
		if strings.HasPrefix(enc, "=?") { // what minio-go does
			d, err := dec.DecodeHeader(enc)
			if err != nil {
				t.Fatalf("decode %q: %v", enc, err)
			}
			got = d
		}
		if got != v {
			t.Errorf("value %q came back as %q (sent %q)", v, got, enc)
		}
	}
}

func TestEncodeMetadataNames(t *testing.T) {
	got := encodeMetadata(map[string]string{"x-amz-acl": "v", "content-type": "w"})
	want := map[string]string{"x-amz-meta-x-amz-acl": "v", "x-amz-meta-content-type": "w"}
	if len(got) != len(want) || got["x-amz-meta-x-amz-acl"] != "v" ||
		got["x-amz-meta-content-type"] != "w" {
		t.Errorf("encodeMetadata = %v, want %v: names must never become real headers", got, want)
	}
	back := decodeMetadata(map[string]string{"Cloak-Envelope": "e", "X-Amz-Acl": "v"})
	if back["cloak-envelope"] != "e" || back["x-amz-acl"] != "v" || len(back) != 2 {
		t.Errorf("decodeMetadata = %v", back)
	}
}

func TestExactReader(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		size    int64
		wantErr error
	}{
		{"exact", "hello", 5, nil},
		{"empty", "", 0, nil},
		{"short", "hel", 5, backend.ErrIncompleteBody},
		{"long", "hello!", 5, backend.ErrInvalidArgument},
		{"extra after empty", "x", 0, backend.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, wrap := range []func(io.Reader) io.Reader{
				func(r io.Reader) io.Reader { return r }, iotest.OneByteReader,
				iotest.DataErrReader, iotest.HalfReader,
			} {
				r := &exactReader{r: wrap(strings.NewReader(tc.body)), left: tc.size}
				got, err := io.ReadAll(r)
				if !errors.Is(err, tc.wantErr) && !(tc.wantErr == nil && err == nil) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr == nil && string(got) != tc.body {
					t.Errorf("read %q, want %q", got, tc.body)
				}
				if tc.wantErr != nil && int64(len(got)) >= tc.size && tc.size > 0 {
					t.Errorf("delivered all %d bytes before failing: the request would complete",
						len(got))
				}
			}
		})
	}
	body := bytes.Repeat([]byte("0123456789"), 1000)
	if err := iotest.TestReader(&exactReader{r: bytes.NewReader(body), left: int64(len(body))},
		body); err != nil {
		t.Error(err)
	}
}

func TestMapErr(t *testing.T) {
	for code, want := range codeErrors {
		err := mapErr(minio.ErrorResponse{Code: code, Message: "msg", StatusCode: 400})
		if !errors.Is(err, want) || !strings.Contains(err.Error(), code) {
			t.Errorf("mapErr(%s) = %v, want %v", code, err, want)
		}
	}
	err := mapErr(minio.ErrorResponse{Code: "SomethingNew", StatusCode: 412})
	if !errors.Is(err, backend.ErrPreconditionFailed) {
		t.Errorf("412 without a known code = %v", err)
	}
	// What MinIO answers when its drive fills up below its threshold.
	err = mapErr(minio.ErrorResponse{Code: "InternalError", StatusCode: 500,
		Message: "We encountered an internal error, please try again.: cause(no space left on device)"})
	if !errors.Is(err, backend.ErrInsufficientStorage) {
		t.Errorf("a full MinIO drive = %v", err)
	}
	if err := mapErr(minio.ErrorResponse{Code: "InternalError", StatusCode: 500, Message: "msg"}); errors.Is(err,
		backend.ErrInsufficientStorage) {
		t.Errorf("any InternalError = %v", err)
	}
	other := errors.New("connection refused")
	if mapErr(other) != other || mapErr(nil) != nil {
		t.Error("mapErr changed a non-S3 error")
	}
}

func TestNewChecksConfig(t *testing.T) {
	dir := t.TempDir()
	badCA := filepath.Join(dir, "bad.pem")
	os.WriteFile(badCA, []byte("not a certificate"), 0o600)
	ok := Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "a", SecretKey: "s"}
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"no scheme", func(c *Config) { c.Endpoint = "127.0.0.1:9000" }},
		{"ftp", func(c *Config) { c.Endpoint = "ftp://host" }},
		{"path", func(c *Config) { c.Endpoint = "http://host/bucket" }},
		{"user info", func(c *Config) { c.Endpoint = "http://key:secret@host" }},
		{"part too small", func(c *Config) { c.PartSize = MinPartSize - 1 }},
		{"bad lookup", func(c *Config) { c.Lookup = "virtual" }},
		{"missing CA", func(c *Config) { c.Endpoint = "https://h"; c.CAFile = dir + "/none" }},
		{"bad CA", func(c *Config) { c.Endpoint = "https://h"; c.CAFile = badCA }},
	}
	for _, tc := range cases {
		cfg := ok
		tc.edit(&cfg)
		_, err := New(cfg)
		if err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, cfg)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error shows credentials: %v", tc.name, err)
		}
	}
	for _, lookup := range []string{"", LookupAuto, LookupPath, LookupDNS} {
		cfg := ok
		cfg.Lookup = lookup
		if _, err := New(cfg); err != nil {
			t.Errorf("lookup %q: %v", lookup, err)
		}
	}
}

func TestLeadingSlashRefused(t *testing.T) {
	for _, k := range []string{"/a", "//a", "/"} {
		if err := checkKey(k); !errors.Is(err, backend.ErrInvalidKey) {
			t.Errorf("checkKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	if err := checkKey("a/"); err != nil {
		t.Errorf("checkKey(a/) = %v", err)
	}
}

func TestPartsFromETag(t *testing.T) {
	cases := map[string]int{"abc": 0, "abc-2": 2, "abc-x": 0, "-0": 0, "d41d-10000": 10000}
	for etag, want := range cases {
		if got := partsFromETag(etag); got != want {
			t.Errorf("partsFromETag(%q) = %d, want %d", etag, got, want)
		}
	}
}

// TestExactReaderDetach checks that once a store method has returned (and
// detached its body), a late read by the HTTP transport neither reaches
// the caller's reader nor races with the caller closing it.
func TestExactReaderDetach(t *testing.T) {
	src := &countingSource{r: bytes.NewReader(make([]byte, 100))}
	e := &exactReader{r: src, left: 100}
	if n, err := e.Read(make([]byte, 10)); n != 10 || err != nil {
		t.Fatalf("read before detach: %d %v", n, err)
	}
	e.detach()
	if n, err := e.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errDetached) {
		t.Fatalf("read after detach: %d %v", n, err)
	}
	if src.reads != 1 {
		t.Fatalf("the source was read %d times, want 1", src.reads)
	}
}

type countingSource struct {
	r     io.Reader
	reads int
}

func (c *countingSource) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

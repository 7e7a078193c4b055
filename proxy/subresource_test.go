package proxy

import (
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// newSubresourceServer returns a Server over a fresh local store with one
// bucket, "bkt", holding one object, "k".
func newSubresourceServer(t *testing.T) (*Server, sigv4.Credential) {
	t.Helper()
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	_, err = st.PutObject(ctx, "bkt", "k", strings.NewReader("x"), 1, backend.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ring := crypto.NewMemoryKeyRing(nil)
	if err := ring.Add("test", 1, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	cred := sigv4.Credential{AccessKey: "AKIATEST", SecretKey: "test-secret"}
	s, err := New(Options{Store: st, Keys: ring,
		Credentials: sigv4.StaticCredentials{cred.AccessKey: cred.SecretKey},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s, cred
}

// serveSigned serves one signed request without a body and returns the
// response.
func serveSigned(s *Server, cred sigv4.Credential, method, target string) *http.Response {
	return serveSignedBody(s, cred, method, target, nil, "")
}

// serveSignedBody serves one signed request with a body, and a
// Content-MD5 header unless md5 is empty.
func serveSignedBody(s *Server, cred sigv4.Credential, method, target string, body io.Reader,
	md5 string) *http.Response {
	r := httptest.NewRequest(method, "http://127.0.0.1"+target, body)
	if md5 != "" {
		r.Header.Set("Content-Md5", md5)
	}
	sigv4.SignRequest(r, cred, "us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w.Result()
}

func TestSubresource_ObjectTaggingIsAnEmptyTagSet(t *testing.T) {
	s, cred := newSubresourceServer(t)
	resp := serveSigned(s, cred, http.MethodGet, "/bkt/k?tagging")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET ?tagging: %s\n%s", resp.Status, body)
	}
	var doc struct {
		XMLName xml.Name
		TagSet  *struct {
			Tags []struct{ Key, Value string } `xml:"Tag"`
		} `xml:"TagSet"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if doc.XMLName.Local != "Tagging" || doc.XMLName.Space != "http://s3.amazonaws.com/doc/2006-03-01/" ||
		doc.TagSet == nil || len(doc.TagSet.Tags) != 0 {
		t.Fatalf("want an empty TagSet in a Tagging document, got %s", body)
	}
}

func TestSubresource_OthersAreNotImplemented(t *testing.T) {
	s, cred := newSubresourceServer(t)
	cases := []struct {
		name, method, target string
		status               int
		code                 string
	}{
		{"tagging of a missing object", http.MethodGet, "/bkt/missing?tagging", 404, "NoSuchKey"},
		{"tagging of a missing bucket", http.MethodGet, "/nobucket/k?tagging", 404, "NoSuchBucket"},
		{"setting tags", http.MethodPut, "/bkt/k?tagging", 501, "NotImplemented"},
		{"deleting tags", http.MethodDelete, "/bkt/k?tagging", 501, "NotImplemented"},
		{"bucket tagging", http.MethodGet, "/bkt?tagging", 501, "NotImplemented"},
		{"versioning of a missing bucket", http.MethodGet, "/nobucket?versioning", 404, "NoSuchBucket"},
		{"enabling versioning", http.MethodPut, "/bkt?versioning", 501, "NotImplemented"},
		{"object acl", http.MethodGet, "/bkt/k?acl", 501, "NotImplemented"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := serveSigned(s, cred, c.method, c.target)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || !strings.Contains(string(body), "<Code>"+c.code+"</Code>") {
				t.Fatalf("%s %s: %s\n%s, want %d %s", c.method, c.target, resp.Status, body, c.status, c.code)
			}
		})
	}
}

func TestSubresource_BucketVersioningIsNeverEnabled(t *testing.T) {
	s, cred := newSubresourceServer(t)
	resp := serveSigned(s, cred, http.MethodGet, "/bkt?versioning")
	body, _ := io.ReadAll(resp.Body)
	const want = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`</VersioningConfiguration>`
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		t.Fatalf("GET ?versioning: %s\n%s\nwant %s", resp.Status, body, want)
	}
}

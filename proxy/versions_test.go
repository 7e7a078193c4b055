package proxy

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

func TestVersions_OnlyTheNullVersionIsServed(t *testing.T) {
	s, cred := newSubresourceServer(t)
	resp := serveSignedBody(s, cred, http.MethodPut, "/bkt/obj", strings.NewReader("current"), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %s", resp.Status)
	}
	cases := []struct {
		name, method, target string
		status               int
	}{
		{"get a version", http.MethodGet, "/bkt/obj?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", 400},
		{"head a version", http.MethodHead, "/bkt/obj?versionId=v1", 400},
		{"delete a version", http.MethodDelete, "/bkt/obj?versionId=v1", 400},
		{"get the null version", http.MethodGet, "/bkt/obj?versionId=null", 200},
		{"head the null version", http.MethodHead, "/bkt/obj?versionId=null", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := serveSigned(s, cred, c.method, c.target)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s: %s\n%s, want %d", c.method, c.target, resp.Status, body, c.status)
			}
			if c.status == 400 && c.method != http.MethodHead &&
				!strings.Contains(string(body), "<Code>InvalidArgument</Code>") {
				t.Fatalf("want InvalidArgument, got %s", body)
			}
			if c.method == http.MethodGet && c.status == 200 && string(body) != "current" {
				t.Fatalf("got %q", body)
			}
		})
	}
	if _, err := s.opts.Store.HeadObject(context.Background(), "bkt", "obj"); err != nil {
		t.Fatalf("a DELETE of another version removed the object: %v", err)
	}
}

func TestVersions_DeleteObjectsRefusesVersionsPerKey(t *testing.T) {
	s, cred := newSubresourceServer(t)
	for _, key := range []string{"a", "b"} {
		resp := serveSignedBody(s, cred, http.MethodPut, "/bkt/"+key, strings.NewReader(key), "")
		if resp.StatusCode != 200 {
			t.Fatalf("put %s: %s", key, resp.Status)
		}
	}
	doc := `<Delete><Object><Key>a</Key><VersionId>v1</VersionId></Object>` +
		`<Object><Key>b</Key><VersionId>null</VersionId></Object></Delete>`
	sum := md5.Sum([]byte(doc))
	resp := serveSignedBody(s, cred, http.MethodPost, "/bkt?delete", strings.NewReader(doc),
		base64.StdEncoding.EncodeToString(sum[:]))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DeleteObjects: %s\n%s", resp.Status, body)
	}
	want := []string{"<Error><Key>a</Key><VersionId>v1</VersionId><Code>InvalidArgument</Code>",
		"<Deleted><Key>b</Key><VersionId>null</VersionId></Deleted>"}
	for _, w := range want {
		if !strings.Contains(string(body), w) {
			t.Fatalf("response lacks %s:\n%s", w, body)
		}
	}
	ctx := context.Background()
	if _, err := s.opts.Store.HeadObject(ctx, "bkt", "a"); err != nil {
		t.Fatalf("the refused delete removed a: %v", err)
	}
	if _, err := s.opts.Store.HeadObject(ctx, "bkt", "b"); err == nil {
		t.Fatal("b was not deleted")
	}
}

func TestPut_SSECAndObjectLockAreRefused(t *testing.T) {
	s, cred := newSubresourceServer(t)
	for name, header := range map[string][2]string{
		"sse-c":       {"X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256"},
		"object-lock": {"X-Amz-Object-Lock-Mode", "COMPLIANCE"},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "http://127.0.0.1/bkt/"+name, strings.NewReader("x"))
			r.Header.Set(header[0], header[1])
			sigv4.SignRequest(r, cred, "us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != http.StatusNotImplemented || !strings.Contains(w.Body.String(), "NotImplemented") {
				t.Fatalf("PUT with %s: %d\n%s", header[0], w.Code, w.Body)
			}
			if _, err := s.opts.Store.HeadObject(context.Background(), "bkt", name); err == nil {
				t.Fatal("the refused PUT stored an object")
			}
		})
	}
}

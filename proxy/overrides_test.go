package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

func TestGet_ResponseHeaderOverrides(t *testing.T) {
	s, cred := newSubresourceServer(t)
	put := httptest.NewRequest(http.MethodPut, "http://127.0.0.1/bkt/report", strings.NewReader("%PDF"))
	put.Header.Set("Content-Type", "application/octet-stream")
	sigv4.SignRequest(put, cred, "us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, put)
	if w.Code != http.StatusOK {
		t.Fatalf("put: %d %s", w.Code, w.Body)
	}
	const q = "?response-content-type=application%2Fpdf" +
		"&response-content-disposition=attachment%3B%20filename%3D%22Acme.pdf%22"
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		resp := serveSigned(s, cred, method, "/bkt/report"+q)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s\n%s", method, resp.Status, body)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/pdf" {
			t.Errorf("%s: Content-Type %q", method, got)
		}
		if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="Acme.pdf"` {
			t.Errorf("%s: Content-Disposition %q", method, got)
		}
	}
	resp := serveSigned(s, cred, http.MethodGet, "/bkt/report")
	if got := resp.Header.Get("Content-Type"); got != "application/octet-stream" {
		t.Errorf("without overrides: Content-Type %q, want the object's own", got)
	}
}

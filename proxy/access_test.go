package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/s3compat"
)

func TestClaimedAccessKey(t *testing.T) {
	tests := []struct {
		name, target, authz, want string
	}{
		{"header", "/b/k", "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/s3/aws4_request, " +
			"SignedHeaders=host, Signature=00", "AKIAEXAMPLE"},
		{"presigned", "/b/k?X-Amz-Credential=AKIAPRE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request", "",
			"AKIAPRE"},
		{"unsigned", "/b/k", "", ""},
		{"header without credential", "/b/k", "AWS4-HMAC-SHA256 Signature=00", ""},
		{"oversized key", "/b/k", "AWS4-HMAC-SHA256 Credential=" + string(make([]byte, 200)) + "/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.authz != "" {
				r.Header.Set("Authorization", tt.authz)
			}
			if got := claimedAccessKey(r); got != tt.want {
				t.Errorf("claimedAccessKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSourceIP(t *testing.T) {
	for addr, want := range map[string]string{
		"10.1.2.3:5000":        "10.1.2.3",
		"[2001:db8::1]:443":    "2001:db8::1",
		"[::ffff:10.0.0.1]:80": "10.0.0.1",
		"garbage":              "invalid IP",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = addr
		if got := sourceIP(r).String(); got != want {
			t.Errorf("sourceIP(%q) = %s, want %s", addr, got, want)
		}
	}
}

// TestEveryOperationIsAuthorised keeps ChecksFor in step with the
// handlers: every operation the Server serves needs at least one action,
// except DeleteObjects, which checks each key as it deletes it, and the
// unsupported sub-resources, of which those answered with a fixed value
// (see Server.subresource) need one too.
func TestEveryOperationIsAuthorised(t *testing.T) {
	s := &Server{}
	for op := range s.handlers() {
		r := s3compat.Request{Op: op, Bucket: "b", Key: "k",
			CopySource: &s3compat.CopySource{Bucket: "s", Key: "k"}}
		if len(access.ChecksFor(r)) == 0 && op != s3compat.OpDeleteObjects && op != s3compat.OpUnsupported {
			t.Errorf("%s needs no permission", op)
		}
	}
	for _, r := range []s3compat.Request{
		{Op: s3compat.OpUnsupported, Subresource: "tagging", Bucket: "b", Key: "k"},
		{Op: s3compat.OpUnsupported, Subresource: "versioning", Bucket: "b"},
	} {
		if len(access.ChecksFor(r)) == 0 {
			t.Errorf("?%s needs no permission", r.Subresource)
		}
	}
}

func TestIsAdminCall(t *testing.T) {
	s := &Server{opts: Options{Domains: []string{"s3.example.com"}}}
	tests := []struct {
		host, path string
		want       bool
	}{
		{"cloak:9443", "/.cloak-admin/v1/user/list", true},
		{"cloak:9443", "/.cloak-admin/other", true},
		{"s3.example.com", "/.cloak-admin/v1/user/add", true},
		{"docs.s3.example.com", "/.cloak-admin/v1/user/add?uploads", false}, // a key of bucket docs
		{"cloak:9443", "/docs/.cloak-admin/v1/user/add", false},
		{"cloak:9443", "/.cloak-adminx", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "https://"+tt.host+tt.path, nil)
		if got := s.isAdminCall(r); got != tt.want {
			t.Errorf("isAdminCall(%s%s) = %v, want %v", tt.host, tt.path, got, tt.want)
		}
	}
}

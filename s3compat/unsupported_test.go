package s3compat

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

func TestCheckUnsupportedHeaders(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		refused string // the header named in the error, or "" for none
	}{
		{"none", nil, ""},
		{"SSE-S3", map[string]string{"X-Amz-Server-Side-Encryption": "AES256"}, ""},
		{"SSE-KMS", map[string]string{"X-Amz-Server-Side-Encryption": "aws:kms",
			"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "k"}, ""},
		{"ACL and tags", map[string]string{"X-Amz-Acl": "private", "X-Amz-Tagging": "a=b"}, ""},
		{"SSE-C", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256",
			"X-Amz-Server-Side-Encryption-Customer-Key":     "a2V5",
			"X-Amz-Server-Side-Encryption-Customer-Key-Md5": "bWQ1"},
			"x-amz-server-side-encryption-customer-algorithm"},
		{"SSE-C key alone", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Key": "a2V5"},
			"x-amz-server-side-encryption-customer-key"},
		{"SSE-C copy source", map[string]string{
			"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Algorithm": "AES256"},
			"x-amz-copy-source-server-side-encryption-customer-algorithm"},
		{"lock mode", map[string]string{"X-Amz-Object-Lock-Mode": "COMPLIANCE",
			"X-Amz-Object-Lock-Retain-Until-Date": "2030-01-01T00:00:00Z"}, "x-amz-object-lock-mode"},
		{"legal hold on", map[string]string{"X-Amz-Object-Lock-Legal-Hold": "ON"},
			"x-amz-object-lock-legal-hold"},
		{"legal hold off", map[string]string{"X-Amz-Object-Lock-Legal-Hold": "off"}, ""},
		{"bucket lock", map[string]string{"X-Amz-Bucket-Object-Lock-Enabled": "true"},
			"x-amz-bucket-object-lock-enabled"},
		{"bucket without lock", map[string]string{"X-Amz-Bucket-Object-Lock-Enabled": "false"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.headers {
				h.Set(k, v)
			}
			err := CheckUnsupportedHeaders(h)
			if c.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *s3err.Error
			if !errors.As(err, &e) || e.Code != "NotImplemented" || !strings.Contains(e.Message, c.refused) {
				t.Fatalf("got %v, want NotImplemented naming %s", err, c.refused)
			}
			if strings.Contains(e.Message, "a2V5") {
				t.Fatal("the error carries the client's key")
			}
		})
	}
}

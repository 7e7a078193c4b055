package s3compat

import (
	"net/http"
	"strings"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// unsupportedHeaders are request headers that ask S3 for a guarantee
// Cloak does not give. Ignoring them would let a client believe the
// guarantee holds: with SSE-C, that nobody without the client's key can
// read the object; with object lock, that nobody can delete or replace it
// before a date.
var unsupportedHeaders = []string{
	"X-Amz-Server-Side-Encryption-Customer-Algorithm",
	"X-Amz-Server-Side-Encryption-Customer-Key",
	"X-Amz-Server-Side-Encryption-Customer-Key-Md5",
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Algorithm",
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key",
	"X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key-Md5",
	"X-Amz-Object-Lock-Mode",
	"X-Amz-Object-Lock-Retain-Until-Date",
	"X-Amz-Object-Lock-Legal-Hold",
	"X-Amz-Bucket-Object-Lock-Enabled",
}

// harmlessValues are values of unsupportedHeaders that ask for nothing.
var harmlessValues = map[string]string{
	"X-Amz-Object-Lock-Legal-Hold":     "OFF",
	"X-Amz-Bucket-Object-Lock-Enabled": "false",
}

// CheckUnsupportedHeaders returns NotImplemented, naming the header, if
// h asks for customer-provided encryption keys (SSE-C) or object lock
// (on an object, or a bucket created with it); a legal hold "OFF" and
// object lock enabled "false" ask for nothing and pass. Other headers of
// features Cloak does not implement (ACLs, tags, storage classes, SSE-S3
// and SSE-KMS, whose encryption at rest Cloak gives anyway) are left for
// the caller to ignore.
func CheckUnsupportedHeaders(h http.Header) error {
	for _, name := range unsupportedHeaders {
		v, ok := h[name]
		if !ok {
			continue
		}
		if off, ok := harmlessValues[name]; ok && len(v) == 1 && strings.EqualFold(v[0], off) {
			continue
		}
		return s3err.ErrNotImplemented.WithMessagef("The %s header is not supported: %s",
			strings.ToLower(name), unsupportedReason(name))
	}
	return nil
}

func unsupportedReason(name string) string {
	if strings.Contains(name, "Object-Lock") {
		return "this endpoint does not lock objects."
	}
	return "this endpoint encrypts every object under its own keys, not the client's."
}

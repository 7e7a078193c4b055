package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

var (
	testCred = Credential{AccessKey: "AKIDEXAMPLE",
		SecretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	testTime   = time.Date(2024, 5, 24, 12, 30, 0, 0, time.UTC)
	testRegion = "us-east-1"
	testStore  = StaticCredentials{testCred.AccessKey: testCred.SecretKey}
)

func verifierAt(now time.Time) *Verifier {
	return NewVerifier(testStore, Config{Region: testRegion,
		Now: func() time.Time { return now }})
}

// newRequest builds a server-side request as net/http would hand it over.
func newRequest(method, target string, body []byte) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Host = "bucket.example.com:9000"
	return r
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// readBody verifies r with v and reads its whole payload.
func readBody(v *Verifier, r *http.Request) ([]byte, *PayloadReader, error) {
	a, err := v.Verify(r)
	if err != nil {
		return nil, nil, err
	}
	pr, err := a.Body(r)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(pr)
	return data, pr, err
}

// wantS3 fails unless err is the S3 error want.
func wantS3(t *testing.T, err error, want *s3err.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %s", err, want.Code)
	}
	var e *s3err.Error
	if !errors.As(err, &e) || e.HTTPStatus != want.HTTPStatus {
		t.Fatalf("error %v does not carry status %d", err, want.HTTPStatus)
	}
}

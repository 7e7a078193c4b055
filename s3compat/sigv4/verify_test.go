package sigv4

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

func TestHeaderSignedMethods(t *testing.T) {
	body := []byte("the payload of a test request\n")
	for _, method := range []string{"GET", "PUT", "HEAD", "DELETE", "POST"} {
		for _, mode := range []string{"sha256", UnsignedPayload} {
			t.Run(method+"/"+mode, func(t *testing.T) {
				var send []byte
				hash := sha256Hex(nil)
				if method == "PUT" || method == "POST" {
					send, hash = body, sha256Hex(body)
				}
				if mode == UnsignedPayload {
					hash = UnsignedPayload
				}
				r := newRequest(method, "/bucket/dir/a%20key+%2Bx?uploads&b=2&a=1", send)
				r.Header.Set("X-Amz-Meta-Note", "  two   spaces ")
				SignRequest(r, testCred, testRegion, "s3", testTime, hash)
				got, _, err := readBody(verifierAt(testTime), r)
				wantS3(t, err, nil)
				if string(got) != string(send) {
					t.Fatalf("body %q, want %q", got, send)
				}
			})
		}
	}
}

// tamperCase changes a signed request (or the verifier's view) and names
// the S3 error the change must cause.
type tamperCase struct {
	name   string
	sign   func(r *http.Request) // how to sign; nil: SignRequest with body hash
	change func(r *http.Request)
	now    time.Time // verifier clock; zero: testTime
	store  CredentialStore
	want   *s3err.Error
}

func TestHeaderSignedTampered(t *testing.T) {
	body := []byte("0123456789abcdef")
	cases := []tamperCase{
		{name: "untouched"},
		{name: "changed signed header", want: s3err.ErrSignatureDoesNotMatch,
			change: func(r *http.Request) { r.Header.Set("X-Amz-Meta-A", "2") }},
		{name: "changed query parameter", want: s3err.ErrSignatureDoesNotMatch,
			change: func(r *http.Request) { r.URL.RawQuery = "partNumber=2" }},
		{name: "added query parameter", want: s3err.ErrSignatureDoesNotMatch,
			change: func(r *http.Request) { r.URL.RawQuery += "&x=1" }},
		{name: "changed path", want: s3err.ErrSignatureDoesNotMatch,
			change: func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/bucket/kez", "" }},
		{name: "double-encoded path", want: s3err.ErrSignatureDoesNotMatch,
			change: func(r *http.Request) {
				r.URL.Path, r.URL.RawPath = "/bucket/k%20ey", "/bucket/k%2520ey"
			}},
		{name: "changed host", want: s3err.ErrSignatureDoesNotMatch,
			change: func(r *http.Request) { r.Host = "other.example.com" }},
		{name: "changed method", want: s3err.ErrSignatureDoesNotMatch,
			change: func(r *http.Request) { r.Method = "POST" }},
		{name: "changed body byte", want: s3err.ErrXAmzContentSHA256Mismatch,
			change: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("x123456789abcdef")) }},
		{name: "truncated body", want: s3err.ErrIncompleteBody,
			change: func(r *http.Request) {
				r.Body = io.NopCloser(io.MultiReader(strings.NewReader("0123"),
					iotest.ErrReader(io.ErrUnexpectedEOF)))
			}},
		{name: "changed payload hash", want: s3err.ErrSignatureDoesNotMatch,
			change: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sha256Hex(nil)) }},
		{name: "missing x-amz-content-sha256", want: s3err.ErrInvalidRequest,
			change: func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }},
		{name: "bad x-amz-content-sha256", want: s3err.ErrInvalidArgument,
			change: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "abc") }},
		{name: "unsigned x-amz header", want: s3err.ErrAccessDenied,
			change: func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }},
		{name: "skewed clock ahead", now: testTime.Add(16 * time.Minute),
			want: s3err.ErrRequestTimeTooSkewed},
		{name: "skewed clock behind", now: testTime.Add(-16 * time.Minute),
			want: s3err.ErrRequestTimeTooSkewed},
		{name: "clock within skew", now: testTime.Add(14 * time.Minute)},
		{name: "unknown access key", store: StaticCredentials{"OTHER": "x"},
			want: s3err.ErrInvalidAccessKeyID},
		{name: "wrong secret", store: StaticCredentials{testCred.AccessKey: "nope"},
			want: s3err.ErrSignatureDoesNotMatch},
		{name: "wrong region", want: s3err.ErrAuthorizationHeaderMalformed,
			sign: func(r *http.Request) {
				SignRequest(r, testCred, "eu-west-1", "s3", testTime, sha256Hex(body))
			}},
		{name: "wrong service", want: s3err.ErrAuthorizationHeaderMalformed,
			sign: func(r *http.Request) {
				SignRequest(r, testCred, testRegion, "ec2", testTime, sha256Hex(body))
			}},
		{name: "scope date differs", want: s3err.ErrAuthorizationHeaderMalformed,
			change: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"),
					"/20240524/", "/20240523/", 1))
			}},
		{name: "host not signed", want: s3err.ErrAuthorizationHeaderMalformed,
			change: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"),
					"SignedHeaders=content-length;host;", "SignedHeaders=content-length;", 1))
			}},
		{name: "malformed authorization", want: s3err.ErrAuthorizationHeaderMalformed,
			change: func(r *http.Request) {
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE")
			}},
		{name: "malformed credential", want: s3err.ErrAuthorizationHeaderMalformed,
			change: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"),
					"/aws4_request", "", 1))
			}},
		{name: "bad date", want: s3err.ErrAccessDenied,
			change: func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }},
		{name: "sigv2", want: s3err.ErrInvalidRequest,
			change: func(r *http.Request) { r.Header.Set("Authorization", "AWS AKIDEXAMPLE:c2lnbmF0dXJl") }},
		{name: "sigv4a", want: s3err.ErrInvalidRequest,
			change: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"),
					"AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
			}},
		{name: "header and query auth", want: s3err.ErrInvalidArgument,
			change: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256" }},
		{name: "not signed", want: s3err.ErrAccessDenied,
			change: func(r *http.Request) { r.Header.Del("Authorization") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest("PUT", "/bucket/key?partNumber=1", body)
			r.Header.Set("X-Amz-Meta-A", "1")
			if tc.sign != nil {
				tc.sign(r)
			} else {
				SignRequest(r, testCred, testRegion, "s3", testTime, sha256Hex(body))
			}
			if tc.change != nil {
				tc.change(r)
			}
			v := verifierAt(testTime)
			if !tc.now.IsZero() {
				v = verifierAt(tc.now)
			}
			if tc.store != nil {
				v.store = tc.store
			}
			_, _, err := readBody(v, r)
			wantS3(t, err, tc.want)
		})
	}
}

func TestNotSignedIsRecognisable(t *testing.T) {
	_, err := verifierAt(testTime).Verify(newRequest("GET", "/bucket/key", nil))
	if !errors.Is(err, ErrNotSigned) || !errors.Is(err, s3err.ErrAccessDenied) {
		t.Fatalf("got %v, want AccessDenied wrapping ErrNotSigned", err)
	}
}

func TestAnyRegionWhenUnconfigured(t *testing.T) {
	r := newRequest("GET", "/bucket/key", nil)
	SignRequest(r, testCred, "eu-central-1", "s3", testTime, sha256Hex(nil))
	v := NewVerifier(testStore, Config{Now: func() time.Time { return testTime }})
	a, err := v.Verify(r)
	wantS3(t, err, nil)
	if a.Region != "eu-central-1" {
		t.Fatalf("region %q", a.Region)
	}
}

func TestPresigned(t *testing.T) {
	for _, method := range []string{"GET", "PUT", "HEAD", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			r := newRequest(method, "/bucket/dir/a%20b?versionId=3", nil)
			u := Presign(r, testCred, testRegion, "s3", testTime, time.Hour)
			req := newRequest(method, u[strings.Index(u, "/bucket"):], []byte("put data"))
			data, _, err := readBody(verifierAt(testTime.Add(59*time.Minute)), req)
			wantS3(t, err, nil)
			if string(data) != "put data" {
				t.Fatalf("body %q", data)
			}
		})
	}
}

func TestPresignedTampered(t *testing.T) {
	cases := []struct {
		name    string
		expires time.Duration
		region  string
		change  func(q string) string
		header  func(r *http.Request)
		now     time.Time
		want    *s3err.Error
	}{
		{name: "valid"},
		{name: "expired", now: testTime.Add(time.Hour + time.Second),
			want: s3err.ErrAccessDenied},
		{name: "not yet valid", now: testTime.Add(-16 * time.Minute),
			want: s3err.ErrAccessDenied},
		{name: "expires over 7 days", expires: 7*24*time.Hour + time.Second,
			want: s3err.ErrAuthorizationQueryParametersError},
		{name: "expires exactly 7 days", expires: 7 * 24 * time.Hour},
		{name: "wrong region", region: "eu-west-1",
			want: s3err.ErrAuthorizationQueryParametersError},
		{name: "changed query parameter", want: s3err.ErrSignatureDoesNotMatch,
			change: func(q string) string { return strings.Replace(q, "versionId=3", "versionId=4", 1) }},
		{name: "longer expiry", want: s3err.ErrSignatureDoesNotMatch,
			change: func(q string) string {
				return strings.Replace(q, "X-Amz-Expires=3600", "X-Amz-Expires=7200", 1)
			}},
		{name: "changed signature", want: s3err.ErrSignatureDoesNotMatch,
			change: func(q string) string {
				i := strings.Index(q, "X-Amz-Signature=") + len("X-Amz-Signature=")
				return q[:i] + string(flipByte(q[i])) + q[i+1:]
			}},
		{name: "unknown access key", want: s3err.ErrInvalidAccessKeyID,
			change: func(q string) string { return strings.Replace(q, "AKIDEXAMPLE", "AKIDOTHER", 1) }},
		{name: "missing date", want: s3err.ErrAuthorizationQueryParametersError,
			change: func(q string) string { return strings.Replace(q, "X-Amz-Date", "X-Amz-Datum", 1) }},
		{name: "wrong algorithm", want: s3err.ErrAuthorizationQueryParametersError,
			change: func(q string) string {
				return strings.Replace(q, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1)
			}},
		{name: "unsigned x-amz header", want: s3err.ErrAccessDenied,
			header: func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }},
		{name: "streaming payload", want: s3err.ErrInvalidRequest,
			header: func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Content-Sha256=" + StreamingPayload }},
		{name: "sigv2 query", want: s3err.ErrInvalidRequest,
			change: func(string) string { return "AWSAccessKeyId=AKIDEXAMPLE&Expires=1&Signature=x" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expires, region := time.Hour, testRegion
			if tc.expires != 0 {
				expires = tc.expires
			}
			if tc.region != "" {
				region = tc.region
			}
			r := newRequest("GET", "/bucket/key?versionId=3", nil)
			Presign(r, testCred, region, "s3", testTime, expires)
			q := r.URL.RawQuery
			if tc.change != nil {
				q = tc.change(q)
			}
			req := newRequest("GET", "/bucket/key?"+q, nil)
			if tc.header != nil {
				tc.header(req)
			}
			now := testTime.Add(time.Minute)
			if !tc.now.IsZero() {
				now = tc.now
			}
			_, _, err := readBody(verifierAt(now), req)
			wantS3(t, err, tc.want)
			if tc.name == "expired" && !strings.Contains(err.Error(), "Request has expired") {
				t.Fatalf("expired message: %v", err)
			}
		})
	}
}

func TestPlainPayloadReaders(t *testing.T) {
	body := []byte(strings.Repeat("payload bytes ", 1000))
	for _, hash := range []string{sha256Hex(body), UnsignedPayload} {
		r := newRequest("PUT", "/bucket/key", body)
		SignRequest(r, testCred, testRegion, "s3", testTime, hash)
		a, err := verifierAt(testTime).Verify(r)
		wantS3(t, err, nil)
		pr, err := a.Body(r)
		wantS3(t, err, nil)
		if pr.DecodedLength() != int64(len(body)) {
			t.Fatalf("decoded length %d", pr.DecodedLength())
		}
		if err := iotest.TestReader(pr, body); err != nil {
			t.Fatalf("%s: %v", hash, err)
		}
	}
}

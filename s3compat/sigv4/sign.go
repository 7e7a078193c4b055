package sigv4

import (
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// unsignedHeaders are never signed by SignRequest and Presign: proxies
// and transports change them.
var unsignedHeaders = []string{"authorization", "user-agent", "expect",
	"x-amzn-trace-id", "transfer-encoding"}

// SignRequest signs r in its Authorization header, as of time t, for the
// given region and service (normally "s3"). It sets X-Amz-Date and
// X-Amz-Content-Sha256 (to payloadHash: a hex SHA-256, UNSIGNED-PAYLOAD
// or a STREAMING-* value) and signs Host and every other header present,
// plus Content-Length when r.ContentLength is positive. It returns the
// hex signature, which seeds the chunk signatures of a streaming body.
//
// The path of r.URL is signed as S3 signs it, without double encoding.
func SignRequest(r *http.Request, cred Credential, region, service string, t time.Time,
	payloadHash string) string {
	t = t.UTC()
	r.Header.Del("Authorization")
	r.Header.Set("X-Amz-Date", t.Format(amzDateFormat))
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	signed := headersToSign(r)
	scope := scopeString(t, region, service)
	sig := signature(r, cred.SecretKey, t, region, service, signed, payloadHash, false)
	r.Header.Set("Authorization", algorithm+" Credential="+cred.AccessKey+"/"+scope+
		", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
	return sig
}

// Presign adds the query parameters of a presigned URL to r.URL, valid
// for expires from t, and returns the URL. It signs Host and every other
// header present in r (whoever uses the URL must send them), with
// UNSIGNED-PAYLOAD as the payload hash.
func Presign(r *http.Request, cred Credential, region, service string, t time.Time,
	expires time.Duration) string {
	t = t.UTC()
	signed := headersToSign(r)
	params := [][2]string{
		{"X-Amz-Algorithm", algorithm},
		{"X-Amz-Credential", cred.AccessKey + "/" + scopeString(t, region, service)},
		{"X-Amz-Date", t.Format(amzDateFormat)},
		{"X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10)},
		{"X-Amz-SignedHeaders", strings.Join(signed, ";")},
	}
	for _, p := range params {
		appendQuery(r, p[0], p[1])
	}
	sig := signature(r, cred.SecretKey, t, region, service, signed, UnsignedPayload, true)
	appendQuery(r, "X-Amz-Signature", sig)
	return r.URL.String()
}

func appendQuery(r *http.Request, name, value string) {
	if r.URL.RawQuery != "" {
		r.URL.RawQuery += "&"
	}
	r.URL.RawQuery += uriEncode(name, true) + "=" + uriEncode(value, true)
}

// signature computes the hex SigV4 signature of r.
func signature(r *http.Request, secret string, t time.Time, region, service string,
	signed []string, payloadHash string, presigned bool) string {
	key := deriveSigningKey(secret, t.Format(scopeDateFmt), region, service)
	canon := canonicalRequest(r, signed, payloadHash, presigned)
	return hex.EncodeToString(hmacSHA256(key, stringToSign(t, scopeString(t, region,
		service), canon)))
}

// headersToSign lists host and the headers of r, lowercase and sorted.
func headersToSign(r *http.Request) []string {
	names := []string{"host"}
	for name := range r.Header {
		l := strings.ToLower(name)
		if !slices.Contains(unsignedHeaders, l) && !slices.Contains(names, l) {
			names = append(names, l)
		}
	}
	if r.ContentLength > 0 && !slices.Contains(names, "content-length") {
		names = append(names, "content-length")
	}
	slices.Sort(names)
	return names
}

package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm      = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	scopeDateFmt   = "20060102"
	scopeTerminal  = "aws4_request"
	emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// canonicalRequest builds the canonical request of r as AWS defines it,
// with the given signed header names (lowercase, sorted) and payload hash.
// When presigned, X-Amz-Signature is left out of the query.
func canonicalRequest(r *http.Request, signed []string, payloadHash string,
	presigned bool) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, presigned))
	b.WriteByte('\n')
	writeCanonicalHeaders(&b, r, signed)
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalURI returns the path of u encoded once, as S3 signs it: each
// segment is decoded and re-encoded with AWS's unreserved set, so "%2F"
// inside a segment stays encoded, and "//" and ".." are kept as they are.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if u.Opaque != "" && strings.HasPrefix(u.Opaque, "/") {
		p = u.Opaque // a client that set the path verbatim
	}
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if dec, err := url.PathUnescape(s); err == nil {
			s = dec
		}
		segs[i] = uriEncode(s, true)
	}
	return strings.Join(segs, "/")
}

// canonicalQuery decodes the raw query and re-encodes it sorted by name
// then value. X-Amz-Signature is dropped from presigned queries.
func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	var pairs [][2]string
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, [2]string{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p[0] + "=" + p[1]
	}
	return strings.Join(out, "&")
}

// queryUnescape decodes a query component, treating '+' as a space; it
// keeps the text as it is when the escaping is invalid.
func queryUnescape(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// uriEncode percent-encodes every byte outside RFC 3986's unreserved set
// with upper-case hex. When encodeSlash is false '/' is kept.
func uriEncode(s string, encodeSlash bool) string {
	const hexUpper = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// writeCanonicalHeaders writes "name:value\n" for each signed header.
func writeCanonicalHeaders(b *strings.Builder, r *http.Request, signed []string) {
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
}

// headerValue returns the canonical value of header name in r: the values
// joined by commas, each trimmed with inner runs of spaces collapsed. Host
// comes from r.Host; Content-Length and Transfer-Encoding fall back to the
// fields where net/http keeps them.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		if r.Host != "" {
			return r.Host
		}
		return r.URL.Host
	case "content-length":
		if _, ok := r.Header["Content-Length"]; !ok && r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return strings.Join(r.TransferEncoding, ",")
		}
	}
	vals := r.Header.Values(name)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// scopeString returns "date/region/service/aws4_request".
func scopeString(t time.Time, region, service string) string {
	return t.UTC().Format(scopeDateFmt) + "/" + region + "/" + service + "/" + scopeTerminal
}

// stringToSign returns the SigV4 string to sign of a canonical request.
func stringToSign(t time.Time, scope, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return algorithm + "\n" + t.UTC().Format(amzDateFormat) + "\n" + scope + "\n" +
		hex.EncodeToString(h[:])
}

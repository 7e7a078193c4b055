package sigv4

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// MaxPresignExpiry is the longest validity S3 accepts for a presigned URL.
const MaxPresignExpiry = 7 * 24 * time.Hour

// Error messages S3 uses for these conditions.
const (
	msgUnsupportedAuth = "The authorization mechanism you have provided is not supported. " +
		"Please use AWS4-HMAC-SHA256."
	msgQueryParamsMissing = "Query-string authentication version 4 requires the " +
		"X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, " +
		"X-Amz-SignedHeaders, and X-Amz-Expires parameters."
	msgBadDate = "AWS authentication requires a valid Date or x-amz-date header"
)

// sigParams is what a request says about its signature, before any
// check against a credential or the clock.
type sigParams struct {
	presigned     bool
	accessKey     string
	scopeDate     string // yyyymmdd from the credential scope
	region        string
	service       string
	terminal      string
	signedHeaders []string
	signature     []byte // decoded from hex
	expires       time.Duration
	date          time.Time // request time, from X-Amz-Date or Date
}

// malformedFunc builds the error for a malformed signature field; it is
// AuthorizationHeaderMalformed for headers and
// AuthorizationQueryParametersError for presigned URLs.
type malformedFunc func(format string, args ...any) error

func headerMalformed(format string, args ...any) error {
	return s3err.ErrAuthorizationHeaderMalformed.WithMessagef(
		"The authorization header is malformed; "+format, args...)
}

func queryMalformed(format string, args ...any) error {
	return s3err.ErrAuthorizationQueryParametersError.WithMessagef(format, args...)
}

// parseAuthHeader parses an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." Authorization header value.
func parseAuthHeader(value string) (sigParams, error) {
	var p sigParams
	alg, rest, _ := strings.Cut(strings.TrimSpace(value), " ")
	if alg != algorithm {
		return p, s3err.ErrInvalidRequest.WithMessage(msgUnsupportedAuth)
	}
	fields, err := authFields(rest)
	if err != nil {
		return p, err
	}
	if err := p.setCredential(fields["Credential"], headerMalformed); err != nil {
		return p, err
	}
	if err := p.setSignedHeaders(fields["SignedHeaders"], headerMalformed); err != nil {
		return p, err
	}
	return p, p.setSignature(fields["Signature"], headerMalformed)
}

// authFields splits the comma-separated Name=Value list of an
// Authorization header; each of the three names must appear once.
func authFields(s string) (map[string]string, error) {
	fields := make(map[string]string, 3)
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return nil, headerMalformed("missing '=' in %q", truncate(part))
		case name != "Credential" && name != "SignedHeaders" && name != "Signature":
			return nil, headerMalformed("unknown component %q", truncate(name))
		}
		if _, dup := fields[name]; dup {
			return nil, headerMalformed("duplicate component %q", name)
		}
		fields[name] = val
	}
	for _, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[name] == "" {
			return nil, headerMalformed("missing %s", name)
		}
	}
	return fields, nil
}

// parsePresignQuery parses the X-Amz-* parameters of a presigned URL.
func parsePresignQuery(q url.Values) (sigParams, error) {
	p := sigParams{presigned: true}
	names := []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
		"X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires"}
	for _, n := range names {
		if q.Get(n) == "" {
			return p, queryMalformed(msgQueryParamsMissing)
		}
	}
	if q.Get("X-Amz-Algorithm") != algorithm {
		return p, queryMalformed(`X-Amz-Algorithm only supports "%s"`, algorithm)
	}
	if err := p.setCredential(q.Get("X-Amz-Credential"), queryMalformed); err != nil {
		return p, err
	}
	if err := p.setSignedHeaders(q.Get("X-Amz-SignedHeaders"), queryMalformed); err != nil {
		return p, err
	}
	if err := p.setSignature(q.Get("X-Amz-Signature"), queryMalformed); err != nil {
		return p, err
	}
	if err := p.setExpires(q.Get("X-Amz-Expires")); err != nil {
		return p, err
	}
	t, err := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	if err != nil {
		return p, queryMalformed(`X-Amz-Date must be in the ISO8601 Long Format ` +
			`"yyyyMMdd'T'HHmmss'Z'"`)
	}
	p.date = t
	return p, nil
}

// setCredential parses "AKID/yyyymmdd/region/service/aws4_request".
func (p *sigParams) setCredential(cred string, bad malformedFunc) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return bad("the Credential is mal-formed; expecting " +
			`"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	if _, err := time.Parse(scopeDateFmt, parts[1]); err != nil {
		return bad("incorrect date format %q. This date in the credential must be "+
			`in the format "yyyyMMdd".`, truncate(parts[1]))
	}
	p.accessKey, p.scopeDate, p.region, p.service, p.terminal =
		parts[0], parts[1], parts[2], parts[3], parts[4]
	return nil
}

// setSignedHeaders parses the semicolon-separated list of lowercase names.
func (p *sigParams) setSignedHeaders(s string, bad malformedFunc) error {
	names := strings.Split(s, ";")
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t:") {
			return bad("invalid SignedHeaders %q", truncate(s))
		}
	}
	p.signedHeaders = names
	return nil
}

func (p *sigParams) setSignature(s string, bad malformedFunc) error {
	sig, err := hex.DecodeString(s)
	if err != nil || len(sig) != 32 {
		return bad("the signature must be 64 hexadecimal characters")
	}
	p.signature = sig
	return nil
}

func (p *sigParams) setExpires(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return queryMalformed("X-Amz-Expires should be a number")
	case n < 0:
		return queryMalformed("X-Amz-Expires must be non-negative")
	case n > int64(MaxPresignExpiry/time.Second):
		return queryMalformed("X-Amz-Expires must be less than a week (in seconds) " +
			"that is 604800")
	}
	p.expires = time.Duration(n) * time.Second
	return nil
}

// requestDate reads X-Amz-Date, or Date when it is absent.
func requestDate(h http.Header) (time.Time, error) {
	if v := h.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(amzDateFormat, v)
		if err != nil {
			return t, s3err.ErrAccessDenied.WithMessage(msgBadDate)
		}
		return t, nil
	}
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return t, s3err.ErrAccessDenied.WithMessage(msgBadDate)
	}
	return t.UTC(), nil
}

// truncate shortens client text quoted in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

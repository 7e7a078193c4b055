package s3compat

import (
	"net/http"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// ObjectState is what conditional headers are evaluated against.
type ObjectState struct {
	Exists       bool
	ETag         string // quoted or not; compared without quotes
	LastModified time.Time
}

// conditionHeaders names the four headers of one family: the request's
// own preconditions or the copy source's.
type conditionHeaders struct {
	ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince string
}

var (
	requestConditions = conditionHeaders{"If-Match", "If-None-Match",
		"If-Modified-Since", "If-Unmodified-Since"}
	copySourceConditions = conditionHeaders{"X-Amz-Copy-Source-If-Match",
		"X-Amz-Copy-Source-If-None-Match", "X-Amz-Copy-Source-If-Modified-Since",
		"X-Amz-Copy-Source-If-Unmodified-Since"}
)

// EvalConditions evaluates If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since in the order RFC 9110 section 13.2.2 gives, which is
// also S3's precedence:
//
//  1. If-Match, when present, decides alone between it and
//     If-Unmodified-Since: no match is PreconditionFailed.
//  2. Otherwise If-Unmodified-Since: modified after the date is
//     PreconditionFailed.
//  3. If-None-Match, when present, decides alone between it and
//     If-Modified-Since: a match is NotModified for GET and HEAD and
//     PreconditionFailed for other methods.
//  4. Otherwise, for GET and HEAD only, If-Modified-Since: not modified
//     since the date is NotModified.
//
// It returns nil when the request may proceed. If-Match compares strong
// entity tags (a weak W/ tag never matches), If-None-Match weak ones; "*"
// matches any existing object. Dates that do not parse are ignored, and
// times are compared at whole seconds, as HTTP dates are.
//
// For an object that does not exist If-Match fails and If-None-Match: *
// passes. S3 answers NoSuchKey (404) rather than PreconditionFailed to
// GET, HEAD and an If-Match PUT of a missing key, so callers check
// existence first for those.
func EvalConditions(h http.Header, method string, obj ObjectState) error {
	return evalConditions(h, requestConditions, method, obj)
}

// EvalCopySourceConditions evaluates the x-amz-copy-source-if-* headers
// of CopyObject and UploadPartCopy against the source object with the
// same rules, except that every failure is PreconditionFailed, as S3
// answers.
func EvalCopySourceConditions(h http.Header, src ObjectState) error {
	err := evalConditions(h, copySourceConditions, http.MethodPut, src)
	if err != nil {
		return s3err.ErrPreconditionFailed
	}
	return nil
}

func evalConditions(h http.Header, c conditionHeaders, method string, obj ObjectState) error {
	read := method == http.MethodGet || method == http.MethodHead
	lastMod := obj.LastModified.Truncate(time.Second)
	if v := h.Values(c.ifMatch); len(v) > 0 {
		if !obj.Exists || !etagListMatches(v, obj.ETag, true) {
			return s3err.ErrPreconditionFailed
		}
	} else if t, ok := headerTime(h, c.ifUnmodifiedSince); ok && obj.Exists && lastMod.After(t) {
		return s3err.ErrPreconditionFailed
	}
	if v := h.Values(c.ifNoneMatch); len(v) > 0 {
		if obj.Exists && etagListMatches(v, obj.ETag, false) {
			if read {
				return s3err.ErrNotModified
			}
			return s3err.ErrPreconditionFailed
		}
	} else if t, ok := headerTime(h, c.ifModifiedSince); ok && read && obj.Exists &&
		!lastMod.After(t) {
		return s3err.ErrNotModified
	}
	return nil
}

// headerTime parses an HTTP date header, reporting false when absent or
// invalid.
func headerTime(h http.Header, name string) (time.Time, bool) {
	v := h.Get(name)
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	return t, err == nil
}

// etagListMatches reports whether the comma-separated entity tags in
// values include etag ("*" matches anything). With strong set, weak tags
// never match.
func etagListMatches(values []string, etag string, strong bool) bool {
	want := strings.Trim(etag, `"`)
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" {
				return true
			}
			weak := strings.HasPrefix(tag, "W/")
			if weak {
				if strong {
					continue
				}
				tag = tag[2:]
			}
			if want != "" && strings.Trim(tag, `"`) == want {
				return true
			}
		}
	}
	return false
}

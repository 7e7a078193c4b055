package s3compat

import (
	"strconv"
	"strings"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// Range is a span of bytes of an object: Length bytes from Start.
type Range struct {
	Start, Length int64
}

// End returns the offset of the last byte of r (Start+Length-1).
func (r Range) End() int64 { return r.Start + r.Length - 1 }

// ContentRange returns the Content-Range header value for r within an
// object of size bytes, such as "bytes 0-9/100".
func (r Range) ContentRange(size int64) string {
	return "bytes " + strconv.FormatInt(r.Start, 10) + "-" +
		strconv.FormatInt(r.End(), 10) + "/" + strconv.FormatInt(size, 10)
}

// errRange is S3's answer to a range that lies outside the object.
var errRange = s3err.ErrInvalidRange

// ParseRange evaluates a Range header against an object of size bytes.
//
// It returns ok=false (send the whole object with 200) when the header
// is empty, is not a single well-formed byte range, or names several
// ranges: S3 ignores such headers. A single range gives ok=true and the
// span to send with 206:
//
//	bytes=a-b  a..min(b, size-1)
//	bytes=a-   a..size-1
//	bytes=-n   the last min(n, size) bytes
//
// A well-formed range that selects nothing (a >= size, n = 0, or any
// range of an empty object) is InvalidRange (416); the caller should then
// send Content-Range "bytes */size".
func ParseRange(header string, size int64) (r Range, ok bool, err error) {
	spec, found := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return Range{}, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return Range{}, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		n, valid := parseDigits(last)
		if !valid {
			return Range{}, false, nil
		}
		if n == 0 || size == 0 {
			return Range{}, false, errRange
		}
		n = min(n, size)
		return Range{Start: size - n, Length: n}, true, nil
	}
	a, valid := parseDigits(first)
	if !valid {
		return Range{}, false, nil
	}
	b := int64(-1)
	if last != "" {
		if b, valid = parseDigits(last); !valid || b < a {
			return Range{}, false, nil
		}
	}
	if a >= size {
		return Range{}, false, errRange
	}
	if b < 0 || b >= size {
		b = size - 1
	}
	return Range{Start: a, Length: b - a + 1}, true, nil
}

// parseDigits parses a non-empty string of ASCII digits that fits in an
// int64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ParseCopySourceRange parses x-amz-copy-source-range ("bytes=first-last",
// both required) against a source object of size bytes. A malformed
// value is InvalidArgument; a range outside the object is InvalidRange.
func ParseCopySourceRange(v string, size int64) (Range, error) {
	bad := s3err.ErrInvalidArgument.WithMessage("The x-amz-copy-source-range value " +
		"must be of the form bytes=first-last where first and last are the " +
		"zero-based offsets of the first and last bytes to copy")
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found {
		return Range{}, bad
	}
	first, last, found := strings.Cut(spec, "-")
	a, okA := parseDigits(first)
	b, okB := parseDigits(last)
	if !found || !okA || !okB || b < a {
		return Range{}, bad
	}
	if b >= size {
		return Range{}, errRange
	}
	return Range{Start: a, Length: b - a + 1}, nil
}

// Package s3xml holds the XML bodies of the S3 operations Cloak serves,
// with the element names and namespace S3 uses, and the two functions
// that move them on and off the wire.
//
// # Responses
//
// Response types carry S3's namespace (see [Namespace]) on their root
// element. [Write] sends one with the XML declaration and Content-Type
// application/xml. Times are [Time] values, written as ISO 8601 in UTC
// with milliseconds; ETags are [ETag] values, always written quoted.
//
// Listings honour encoding-type=url: set the result's EncodingType to
// "url" and [Write] percent-encodes exactly the fields S3 encodes for that
// listing (keys, prefixes, delimiters, markers and StartAfter, never
// continuation tokens or upload IDs), using [EncodeName]. The value passed
// to Write is not modified.
//
// # Requests
//
// Request types (CompleteMultipartUpload, Delete, CreateBucketConfiguration)
// accept their root element with or without the namespace. [Decode] reads
// a body under a size limit, bounds the nesting depth and token count of
// the document, and rejects what S3 rejects, always with an *s3err.Error:
// MaxMessageLengthExceeded for an oversized body, MalformedXML for broken
// XML, a wrong root element, an empty or over-long Delete list or an
// empty part list, and InvalidPartOrder for parts out of order.
package s3xml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// Namespace is the XML namespace of every S3 response body.
const Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// TimeFormat is the layout of times in S3 XML bodies.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Time is a time written in S3's XML form, in UTC with milliseconds. The
// zero Time is written as an empty element.
type Time struct{ time.Time }

// MarshalText implements encoding.TextMarshaler.
func (t Time) MarshalText() ([]byte, error) {
	if t.IsZero() {
		return nil, nil
	}
	return []byte(t.UTC().Format(TimeFormat)), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts RFC 3339
// with or without fractional seconds.
func (t *Time) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		t.Time = time.Time{}
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// ETag is an entity tag. It is written with surrounding double quotes
// whether or not the value holds them, and read back without them.
type ETag string

// Quoted returns e with surrounding double quotes, as headers and XML
// carry it.
func (e ETag) Quoted() string {
	s := string(e)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s
	}
	return `"` + s + `"`
}

// Unquoted returns e without surrounding double quotes.
func (e ETag) Unquoted() string {
	s := string(e)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (e ETag) MarshalText() ([]byte, error) {
	if e == "" {
		return nil, nil
	}
	return []byte(e.Quoted()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It also accepts the
// &quot;-escaped quotes some clients send.
func (e *ETag) UnmarshalText(b []byte) error {
	*e = ETag(ETag(strings.TrimSpace(string(b))).Unquoted())
	return nil
}

// EncodeName percent-encodes a key, prefix, delimiter or marker for a
// listing requested with encoding-type=url. It follows query-string
// encoding (a space becomes "+", a plus "%2B"), except that "/" is kept,
// as S3 does; url.QueryUnescape restores the original.
func EncodeName(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

// EncodingURL is the only encoding-type S3 defines.
const EncodingURL = "url"

// ValidEncodingType reports whether v is an acceptable encoding-type query
// value: empty or "url". S3 answers any other value with InvalidArgument
// ("Invalid Encoding Method specified in Request").
func ValidEncodingType(v string) bool { return v == "" || v == EncodingURL }

// ErrInvalidEncodingType is S3's error for an unknown encoding-type.
var ErrInvalidEncodingType = s3err.ErrInvalidArgument.WithMessage(
	"Invalid Encoding Method specified in Request")

// urlEncoder is implemented by results that have fields to encode when
// EncodingType is "url". encoded returns a copy with them encoded.
type urlEncoder interface {
	encoded() any
}

// Marshal returns the XML document for v: the declaration followed by the
// element, with encoding-type=url applied when v asks for it.
func Marshal(v any) ([]byte, error) {
	if e, ok := v.(urlEncoder); ok {
		v = e.encoded()
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write sends v as an S3 XML response with the given status: the XML
// declaration, the document, Content-Type application/xml and
// Content-Length. It returns an error only when v cannot be marshalled,
// in which case nothing has been written and the caller should send an
// InternalError instead; errors writing to w are the connection's
// business and are not reported.
func Write(w http.ResponseWriter, status int, v any) error {
	body, err := Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// Limits on request documents, beyond the byte limit given to Decode.
const (
	// MaxDepth bounds element nesting; S3's request bodies nest at most
	// three deep.
	MaxDepth = 16
	// MaxDeleteObjects is the most keys one DeleteObjects request may name.
	MaxDeleteObjects = 1000
	// MaxParts is the most parts a multipart upload may have.
	MaxParts = 10000
)

// Suggested byte limits for Decode, one per request document. Keys are up
// to 1024 bytes and may be escaped in XML, so the DeleteObjects limit
// leaves room for 1000 long keys.
const (
	MaxDeleteBody                  = 4 << 20
	MaxCompleteMultipartUploadBody = 4 << 20
	MaxCreateBucketBody            = 64 << 10
)

// validator is implemented by request documents that have rules beyond
// being well-formed.
type validator interface {
	validate() error
}

var errMalformed = s3err.ErrMalformedXML

// Decode reads an XML request body of at most limit bytes into v.
//
// It returns an *s3err.Error: MaxMessageLengthExceeded when the body is
// longer than limit; MalformedXML when it is empty, not well-formed,
// nested deeper than [MaxDepth], or its root element is not the one v
// expects; and whatever v's own rules return (see the request types).
// An error reading r that is already an *s3err.Error (such as a signature
// or checksum failure from a verifying reader) is returned as it is; any
// other read error is returned as InternalError wrapping it.
func Decode(r io.Reader, limit int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var se *s3err.Error
		if errors.As(err, &se) {
			return err
		}
		return s3err.ErrInternalError.WithCause(err)
	}
	if int64(len(body)) > limit {
		return s3err.ErrMaxMessageLengthExceeded
	}
	if err := checkShape(body); err != nil {
		return errMalformed.WithCause(err)
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return errMalformed.WithCause(err)
	}
	if val, ok := v.(validator); ok {
		return val.validate()
	}
	return nil
}

// checkShape walks the document's tokens once, rejecting deep nesting,
// an empty document, and anything after the root element.
func checkShape(body []byte) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	depth, roots := 0, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			if depth > MaxDepth {
				return errors.New("s3xml: document nested too deeply")
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return errors.New("s3xml: directives are not allowed")
		}
	}
	if roots != 1 || depth != 0 {
		return errors.New("s3xml: document must have exactly one root element")
	}
	return nil
}

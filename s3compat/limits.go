package s3compat

import (
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

// Limits S3 clients expect, as Amazon S3 documents them.
const (
	// MaxKeyLength is the longest object key, in bytes of UTF-8.
	MaxKeyLength = 1024
	// MaxHeaderBytes is the most request header bytes S3 accepts on a PUT
	// (names and values together).
	MaxHeaderBytes = 8 << 10
	// MaxUserMetadataBytes is the most user metadata one object may carry,
	// counted as in UserMetadataSize.
	MaxUserMetadataBytes = 2 << 10
	// MaxPutObjectSize is the largest body of a single PutObject.
	MaxPutObjectSize = 5 << 30
	// MaxPartSize is the largest body of one UploadPart.
	MaxPartSize = 5 << 30
	// MinPartSize is the smallest part other than the last one of a
	// multipart upload, checked by CompleteMultipartUpload.
	MinPartSize = 5 << 20
	// MaxObjectSize is the largest object, multipart or not.
	MaxObjectSize = 5 << 40
	// MaxParts is the most parts of one multipart upload.
	MaxParts = s3xml.MaxParts
	// MaxDeleteObjects is the most keys of one DeleteObjects request.
	MaxDeleteObjects = s3xml.MaxDeleteObjects
	// MaxListKeys caps max-keys, max-uploads and max-parts.
	MaxListKeys = 1000
)

// CheckPutSize checks the declared size of a PutObject body (its
// decoded length for aws-chunked uploads): EntityTooLarge above
// MaxPutObjectSize, and nil otherwise. A negative size means unknown and
// is for the caller to reject (MissingContentLength) where S3 does.
func CheckPutSize(size int64) error {
	if size > MaxPutObjectSize {
		return s3err.ErrEntityTooLarge
	}
	return nil
}

// CheckPartSize checks the declared size of an UploadPart body:
// EntityTooLarge above MaxPartSize.
func CheckPartSize(size int64) error {
	if size > MaxPartSize {
		return s3err.ErrEntityTooLarge
	}
	return nil
}

// CheckCompletedPartSize checks one part of a CompleteMultipartUpload:
// every part but the last must be at least MinPartSize, or S3 answers
// EntityTooSmall.
func CheckCompletedPartSize(size int64, last bool) error {
	if !last && size < MinPartSize {
		return s3err.ErrEntityTooSmall
	}
	return nil
}

// HeaderSize returns the size of h as S3 counts it against
// MaxHeaderBytes: the bytes of every name and value. The request line and
// the Host header (which Go keeps outside h) are not counted.
func HeaderSize(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v)
		}
	}
	return n
}

// CheckHeaderSize returns RequestHeaderSectionTooLarge when h is larger
// than MaxHeaderBytes. S3 applies the limit to PUT requests; the caller
// decides where to apply it.
func CheckHeaderSize(h http.Header) error {
	if HeaderSize(h) > MaxHeaderBytes {
		return s3err.ErrRequestHeaderSectionTooLarge
	}
	return nil
}

// MetaPrefix is the prefix of user metadata headers.
const MetaPrefix = "x-amz-meta-"

// UserMetadata extracts the x-amz-meta-* headers of h into a map keyed by
// the lowercased name without the prefix. Several headers of one name are
// joined with ",", as S3 does. A header named just "x-amz-meta-" is
// ignored. It returns MetadataTooLarge when the result is larger than
// MaxUserMetadataBytes (see UserMetadataSize).
//
// Values are kept as sent; S3's RFC 2047 encoding of non-ASCII values on
// the way out is not done here.
func UserMetadata(h http.Header) (map[string]string, error) {
	var m map[string]string
	for k, vs := range h {
		if len(k) <= len(MetaPrefix) || !strings.EqualFold(k[:len(MetaPrefix)], MetaPrefix) {
			continue
		}
		if m == nil {
			m = make(map[string]string)
		}
		name := strings.ToLower(k[len(MetaPrefix):])
		v := strings.Join(vs, ",")
		if old, ok := m[name]; ok { // the same name in two spellings
			v = old + "," + v
		}
		m[name] = v
	}
	if UserMetadataSize(m) > MaxUserMetadataBytes {
		return nil, s3err.ErrMetadataTooLarge
	}
	return m, nil
}

// UserMetadataSize returns the size of m as S3 counts it: the UTF-8 bytes
// of every name (without the x-amz-meta- prefix) and value.
func UserMetadataSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// SetUserMetadata writes m into h as x-amz-meta-* headers, in name
// order, replacing any of the same names.
func SetUserMetadata(h http.Header, m map[string]string) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		h.Set(MetaPrefix+k, m[k])
	}
}

// ValidKey reports whether key may name an object: non-empty, valid
// UTF-8 and at most MaxKeyLength bytes.
func ValidKey(key string) bool {
	return key != "" && len(key) <= MaxKeyLength && utf8.ValidString(key)
}

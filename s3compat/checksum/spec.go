package checksum

import (
	"crypto/md5"
	"net/http"
	"strings"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// Spec is what a request declares about the integrity of its body.
type Spec struct {
	// MD5 is the decoded Content-MD5 header, or nil when there is none.
	MD5 []byte
	// Algorithm is the flexible checksum the request declares through a
	// value header, x-amz-trailer, x-amz-sdk-checksum-algorithm or (for
	// CreateMultipartUpload) x-amz-checksum-algorithm; None when none.
	Algorithm Algorithm
	// Expected is the decoded value of the x-amz-checksum-* header, or nil
	// when the value comes in a trailer or is not sent at all.
	Expected []byte
	// Trailer reports that the value of Algorithm arrives in the
	// x-amz-checksum-* trailer named by x-amz-trailer.
	Trailer bool
	// Type is the x-amz-checksum-type header (CreateMultipartUpload).
	Type Type
}

// Verifies reports whether a reader built from s checks anything: a
// Content-MD5, a flexible checksum header, or a trailer.
func (s Spec) Verifies() bool {
	return s.MD5 != nil || s.Expected != nil || s.Trailer
}

// Errors ParseRequest returns, with S3's messages.
var (
	errBadContentMD5 = s3err.ErrInvalidDigest.WithMessage(
		"The Content-MD5 you specified was not valid.")
	errMultipleChecksums = s3err.ErrInvalidRequest.WithMessage(
		"Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	errBadSDKAlgorithm = s3err.ErrInvalidRequest.WithMessage(
		"Value for x-amz-sdk-checksum-algorithm header is invalid.")
	errSDKAlgorithmAlone = s3err.ErrInvalidRequest.WithMessage(
		"x-amz-sdk-checksum-algorithm specified, but no corresponding " +
			"x-amz-checksum-* or x-amz-trailer headers were found.")
	errBadUploadAlgorithm = s3err.ErrInvalidRequest.WithMessage(
		"Checksum algorithm provided is unsupported. Please try again with any of " +
			"the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
	errBadType = s3err.ErrInvalidRequest.WithMessage(
		"Value for x-amz-checksum-type header is invalid.")
	errBadTrailer = s3err.ErrInvalidRequest.WithMessage(
		"The value specified in the x-amz-trailer header is not supported")
)

// invalidValue returns S3's error for a malformed x-amz-checksum-* value.
func invalidValue(a Algorithm) *s3err.Error {
	return s3err.ErrInvalidRequest.WithMessagef("Value for %s header is invalid.", a.Header())
}

// ParseRequest reads the checksum headers of a request: Content-MD5,
// x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}, x-amz-trailer,
// x-amz-sdk-checksum-algorithm, x-amz-checksum-algorithm and
// x-amz-checksum-type.
//
// It returns an *s3err.Error when:
//   - Content-MD5 is present but is not base64 of 16 bytes (InvalidDigest);
//   - a checksum value is not base64 of the algorithm's size, or more than
//     one checksum is declared by headers and trailer together, or the
//     SDK algorithm names a different algorithm or none is sent with it,
//     or x-amz-trailer names something other than one checksum, or an
//     algorithm or type header has an unknown value (InvalidRequest).
//
// Headers named x-amz-checksum-* with an unknown algorithm suffix are
// ignored, as are other trailers' names when x-amz-trailer is absent.
func ParseRequest(h http.Header) (Spec, error) {
	var s Spec
	if v := h.Values("Content-MD5"); len(v) > 0 {
		b, err := decodeSized(strings.TrimSpace(first(v)), md5.Size)
		if err != nil {
			return Spec{}, errBadContentMD5.WithCause(err)
		}
		s.MD5 = b
	}
	if err := s.parseValueHeaders(h); err != nil {
		return Spec{}, err
	}
	if err := s.parseTrailer(h); err != nil {
		return Spec{}, err
	}
	if err := s.parseDeclarations(h); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// parseValueHeaders finds the x-amz-checksum-<algorithm> header, if any.
func (s *Spec) parseValueHeaders(h http.Header) error {
	for name, vals := range h {
		a, ok := FromHeader(name)
		if !ok {
			continue
		}
		if s.Algorithm != None || len(vals) > 1 {
			return errMultipleChecksums
		}
		b, err := a.Decode(strings.TrimSpace(first(vals)))
		if err != nil {
			return invalidValue(a).WithCause(err)
		}
		s.Algorithm, s.Expected = a, b
	}
	return nil
}

// parseTrailer reads x-amz-trailer, which names the trailing header that
// will carry the checksum.
func (s *Spec) parseTrailer(h http.Header) error {
	vals := h.Values("X-Amz-Trailer")
	if len(vals) == 0 {
		return nil
	}
	var found Algorithm
	for _, v := range vals {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			a, ok := FromHeader(name)
			if !ok {
				return errBadTrailer
			}
			if found != None {
				return errMultipleChecksums
			}
			found = a
		}
	}
	if found == None {
		return errBadTrailer
	}
	if s.Algorithm != None {
		return errMultipleChecksums
	}
	s.Algorithm, s.Trailer = found, true
	return nil
}

// parseDeclarations reads the headers that name an algorithm without a
// value: x-amz-sdk-checksum-algorithm (which must agree with the value
// header or trailer), x-amz-checksum-algorithm (CreateMultipartUpload)
// and x-amz-checksum-type.
func (s *Spec) parseDeclarations(h http.Header) error {
	if v := h.Values("X-Amz-Sdk-Checksum-Algorithm"); len(v) > 0 {
		a, ok := ParseAlgorithm(strings.TrimSpace(first(v)))
		if !ok || (s.Algorithm != None && a != s.Algorithm) {
			return errBadSDKAlgorithm
		}
		if s.Algorithm == None {
			return errSDKAlgorithmAlone
		}
	}
	if v := h.Values("X-Amz-Checksum-Algorithm"); len(v) > 0 {
		a, ok := ParseAlgorithm(strings.TrimSpace(first(v)))
		if !ok || (s.Algorithm != None && a != s.Algorithm) {
			return errBadUploadAlgorithm
		}
		s.Algorithm = a
	}
	if v := h.Values("X-Amz-Checksum-Type"); len(v) > 0 {
		t, ok := ParseType(strings.TrimSpace(first(v)))
		if !ok {
			return errBadType
		}
		s.Type = t
	}
	return checkTypeFits(s.Algorithm, s.Type)
}

// checkTypeFits refuses the combinations S3 refuses: full-object
// checksums exist only for the CRCs, and CRC64NVME has only full-object
// checksums.
func checkTypeFits(a Algorithm, t Type) error {
	switch {
	case t == TypeFullObject && (a == SHA1 || a == SHA256):
		return s3err.ErrInvalidRequest.WithMessagef(
			"The FULL_OBJECT checksum type cannot be used with the %s checksum algorithm.",
			strings.ToLower(a.String()))
	case t == TypeComposite && a == CRC64NVME:
		return s3err.ErrInvalidRequest.WithMessage(
			"The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
	}
	return nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

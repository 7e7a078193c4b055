// Package checksum verifies the integrity values S3 clients send with a
// body: Content-MD5 and the flexible checksums x-amz-checksum-crc32,
// -crc32c, -crc64nvme, -sha1 and -sha256, whether they arrive as headers
// or, with aws-chunked uploads, as trailers after the body.
//
// # Contracts
//
// [ParseRequest] reads the headers of a request and returns a [Spec]: the
// Content-MD5 expected, the one flexible algorithm declared, its expected
// value when it came as a header, and whether it comes in a trailer
// instead. Malformed values are rejected with S3's own errors
// (InvalidDigest for Content-MD5, InvalidRequest for flexible checksums).
//
// [NewReader] wraps a body. It hashes each byte once as it streams and,
// when the underlying reader reports io.EOF, compares what it computed
// with what the client declared. On a mismatch it returns
// [s3err.ErrBadDigest] in place of io.EOF, so a caller that commits only
// after a clean EOF never stores a corrupt body. A trailer value is asked
// for at that moment through a callback, because an aws-chunked decoder
// only knows its trailers once the body is consumed.
//
// The reader always computes the MD5 of the body as well, because S3's
// ETag for a single-part object is that MD5.
//
// # Multipart
//
// [Composite] builds S3's composite checksum of a multipart object from
// the checksums of its parts; [CombineCRC] builds the full-object CRC
// from per-part CRCs and part sizes without reading the data again.
package checksum

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"strings"

	"github.com/minio/crc64nvme"
)

// Algorithm is one of S3's flexible checksum algorithms. The zero value,
// None, means no flexible checksum.
type Algorithm uint8

// The flexible checksum algorithms S3 supports.
const (
	None Algorithm = iota
	CRC32
	CRC32C
	CRC64NVME
	SHA1
	SHA256
)

// Algorithms lists every algorithm other than None, in S3's order.
var Algorithms = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

var (
	names           = [...]string{"", "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}
	sizes           = [...]int{0, crc32.Size, crc32.Size, crc64nvme.Size, sha1.Size, sha256.Size}
	castagnoliTable = crc32.MakeTable(crc32.Castagnoli)
)

// String returns S3's name for a: "CRC32", "CRC32C", "CRC64NVME", "SHA1"
// or "SHA256"; "" for None.
func (a Algorithm) String() string {
	if int(a) < len(names) {
		return names[a]
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// valid reports whether a is one of Algorithms.
func (a Algorithm) valid() bool { return a > None && int(a) < len(names) }

// ParseAlgorithm parses an algorithm name as it appears in
// x-amz-sdk-checksum-algorithm or x-amz-checksum-algorithm ("CRC32",
// case-insensitive). It reports false for anything else, including "".
func ParseAlgorithm(s string) (Algorithm, bool) {
	for _, a := range Algorithms {
		if strings.EqualFold(s, names[a]) {
			return a, true
		}
	}
	return None, false
}

// FromHeader returns the algorithm whose value header is name
// ("x-amz-checksum-crc32", case-insensitive). It reports false for other
// names, including x-amz-checksum-algorithm, -type and -mode.
func FromHeader(name string) (Algorithm, bool) {
	const prefix = "x-amz-checksum-"
	if len(name) <= len(prefix) || !strings.EqualFold(name[:len(prefix)], prefix) {
		return None, false
	}
	return ParseAlgorithm(name[len(prefix):])
}

// Header returns the lowercase name of the header that carries a's
// value, such as "x-amz-checksum-crc32"; "" for None.
func (a Algorithm) Header() string {
	if !a.valid() {
		return ""
	}
	return "x-amz-checksum-" + strings.ToLower(names[a])
}

// XMLElement returns the element name S3 uses for a's value in XML
// bodies, such as "ChecksumCRC32"; "" for None.
func (a Algorithm) XMLElement() string {
	if !a.valid() {
		return ""
	}
	return "Checksum" + names[a]
}

// Size returns the length in bytes of a raw checksum of a; 0 for None.
func (a Algorithm) Size() int {
	if int(a) < len(sizes) {
		return sizes[a]
	}
	return 0
}

// New returns a new hash computing a. Sums are big-endian, as S3 encodes
// them. It panics for None or an unknown value, which is a programming
// error.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoliTable)
	case CRC64NVME:
		return crc64nvme.New()
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	}
	panic("checksum: New called on invalid algorithm " + a.String())
}

// Encode returns the base64 form of a raw checksum, as sent in headers
// and XML.
func (a Algorithm) Encode(sum []byte) string {
	return base64.StdEncoding.EncodeToString(sum)
}

// Decode parses the base64 form of a checksum of a and checks its length.
// It returns an error (not an S3 error; see [ParseRequest]) when the text
// is not standard padded base64 or does not decode to a.Size() bytes.
func (a Algorithm) Decode(v string) ([]byte, error) {
	if !a.valid() {
		return nil, fmt.Errorf("checksum: invalid algorithm %v", a)
	}
	return decodeSized(v, a.Size())
}

// decodeSized decodes standard padded base64 of exactly size bytes.
func decodeSized(v string, size int) ([]byte, error) {
	if base64.StdEncoding.EncodedLen(size) != len(v) {
		return nil, fmt.Errorf("checksum: value has %d characters, want %d",
			len(v), base64.StdEncoding.EncodedLen(size))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("checksum: value is not base64: %w", err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("checksum: value has %d bytes, want %d", len(b), size)
	}
	return b, nil
}

// Type is the checksum type of a multipart upload (x-amz-checksum-type).
type Type uint8

// Checksum types. TypeDefault means the client did not say; S3 then uses
// full-object checksums for CRC64NVME and composite ones otherwise.
const (
	TypeDefault Type = iota
	TypeFullObject
	TypeComposite
)

// String returns S3's spelling: "FULL_OBJECT", "COMPOSITE" or "".
func (t Type) String() string {
	switch t {
	case TypeFullObject:
		return "FULL_OBJECT"
	case TypeComposite:
		return "COMPOSITE"
	}
	return ""
}

// ParseType parses an x-amz-checksum-type value (case-insensitive).
func ParseType(s string) (Type, bool) {
	switch {
	case strings.EqualFold(s, "FULL_OBJECT"):
		return TypeFullObject, true
	case strings.EqualFold(s, "COMPOSITE"):
		return TypeComposite, true
	}
	return TypeDefault, false
}

package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Format version 1 constants. docs/FORMAT.md is the normative description;
// these values must never change for version 1.
const (
	// Version is the format version this package writes.
	Version = 1

	// ChunkSize is the plaintext size of every data chunk except a
	// segment's last, which may be shorter.
	ChunkSize = 1 << chunkSizeLog2

	// TagSize is the size of the AES-GCM authentication tag appended to
	// every sealed chunk and record.
	TagSize = 16

	// HeaderSize is the size of the segment header.
	HeaderSize = 76

	// AttributesSize is the size of the caller-defined attribute block
	// carried in every segment trailer.
	AttributesSize = 120

	// TrailerSize is the size of a sealed segment trailer.
	TrailerSize = trailerPlainSize + TagSize

	// MaxPartNumber is the largest multipart part number, as in S3.
	MaxPartNumber = 10000

	chunkSizeLog2    = 16
	sealedChunkSize  = ChunkSize + TagSize
	trailerPlainSize = 8 + AttributesSize
	keySize          = 32
	saltSize         = 32
	commitmentSize   = 32
	nonceSize        = 12
)

// segmentMagic opens every segment header.
var segmentMagic = [4]byte{'C', 'L', 'K', 'S'}

// Chunk kinds, stored in the last byte of a chunk nonce.
const (
	kindData      byte = 0
	kindFinalData byte = 1
	kindTrailer   byte = 2
)

// Errors returned by this package. Callers branch on them with errors.Is.
var (
	// ErrAuthentication is returned for any ciphertext, header, trailer,
	// sealed record or wrapped key that fails authentication, whatever the
	// cause (a flipped bit, reordered, dropped or duplicated chunks,
	// truncation, extension, a wrong key). It deliberately says nothing
	// about where or why.
	ErrAuthentication = errors.New("cloak/crypto: message authentication failed")

	// ErrUnsupportedVersion is returned for a header or record of a format
	// version this package does not read.
	ErrUnsupportedVersion = errors.New("cloak/crypto: unsupported format version")

	// ErrInvalidSize is returned when a ciphertext size cannot be the size
	// of any valid ciphertext, or a plaintext range lies outside the
	// plaintext.
	ErrInvalidSize = errors.New("cloak/crypto: invalid size")
)

// header is the parsed form of a segment header.
//
//	offset  size  field
//	0       4     magic "CLKS"
//	4       1     format version (1)
//	5       1     log2 of the chunk size (16)
//	6       2     reserved, zero
//	8       4     part number, big endian (0 for a single-part object)
//	12      32    salt, random per segment
//	44      32    key commitment
type header struct {
	part       uint32
	salt       [saltSize]byte
	commitment [commitmentSize]byte
}

// marshal returns the 76-byte encoding of h.
func (h *header) marshal() [HeaderSize]byte {
	var b [HeaderSize]byte
	copy(b[0:4], segmentMagic[:])
	b[4] = Version
	b[5] = chunkSizeLog2
	binary.BigEndian.PutUint32(b[8:12], h.part)
	copy(b[12:44], h.salt[:])
	copy(b[44:76], h.commitment[:])
	return b
}

// SegmentPrefixSize is how many leading bytes [LooksLikeSegment] needs.
const SegmentPrefixSize = 8

// LooksLikeSegment reports whether b starts like a segment of any version:
// the magic "CLKS", a version byte, and (for version 1) its chunk size and
// zero reserved bytes. It authenticates nothing; it lets a caller that
// was about to treat b as plaintext notice ciphertext whose envelope was
// removed.
func LooksLikeSegment(b []byte) bool {
	if len(b) < SegmentPrefixSize || [4]byte(b[0:4]) != segmentMagic {
		return false
	}
	return b[4] != Version || b[5] == chunkSizeLog2 && b[6] == 0 && b[7] == 0
}

// parseHeader decodes a segment header. It checks the fixed fields only;
// the commitment is checked by [segmentKeys.verify].
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) != HeaderSize {
		return h, fmt.Errorf("segment header: %w", ErrAuthentication)
	}
	if [4]byte(b[0:4]) != segmentMagic {
		return h, fmt.Errorf("segment header: bad magic: %w", ErrAuthentication)
	}
	if b[4] != Version {
		return h, fmt.Errorf("segment header version %d: %w", b[4], ErrUnsupportedVersion)
	}
	if b[5] != chunkSizeLog2 || b[6] != 0 || b[7] != 0 {
		return h, fmt.Errorf("segment header: bad parameters: %w", ErrAuthentication)
	}
	h.part = binary.BigEndian.Uint32(b[8:12])
	copy(h.salt[:], b[12:44])
	copy(h.commitment[:], b[44:76])
	return h, nil
}

// derivationInfo is the HKDF info for a segment: a label, a zero byte, and
// header bytes 0..11 (magic, version, chunk size, reserved, part number),
// so that every fixed header field is bound into the keys.
func derivationInfo(label string, part uint32) string {
	var fixed [12]byte
	copy(fixed[0:4], segmentMagic[:])
	fixed[4] = Version
	fixed[5] = chunkSizeLog2
	binary.BigEndian.PutUint32(fixed[8:12], part)
	return label + "\x00" + string(fixed[:])
}

const (
	labelChunkKey   = "cloak v1 chunk key"
	labelCommitment = "cloak v1 key commitment"
)

// segmentKeys derives the chunk cipher and the key commitment of one
// segment from the data key, the segment salt and the part number.
func segmentKeys(dk *DataKey, part uint32, salt []byte) (cipher.AEAD, [commitmentSize]byte, error) {
	var commit [commitmentSize]byte
	key, err := hkdf.Key(sha256.New, dk.k[:], salt, derivationInfo(labelChunkKey, part), keySize)
	if err != nil {
		return nil, commit, fmt.Errorf("derive chunk key: %w", err)
	}
	defer clear(key)
	c, err := hkdf.Key(sha256.New, dk.k[:], salt, derivationInfo(labelCommitment, part), commitmentSize)
	if err != nil {
		return nil, commit, fmt.Errorf("derive commitment: %w", err)
	}
	copy(commit[:], c)
	aead, err := newGCM(key)
	return aead, commit, err
}

// openSegment checks h against the expected part number and data key and
// returns the chunk cipher. The commitment is compared in constant time
// before any chunk is decrypted.
func openSegment(dk *DataKey, h header, part uint32) (cipher.AEAD, error) {
	if h.part != part {
		return nil, fmt.Errorf("segment header: %w", ErrAuthentication)
	}
	aead, commit, err := segmentKeys(dk, part, h.salt[:])
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(commit[:], h.commitment[:]) != 1 {
		return nil, fmt.Errorf("segment key commitment: %w", ErrAuthentication)
	}
	return aead, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// chunkNonce is the nonce of chunk index with the given kind: the index as
// a 64-bit big-endian integer, three zero bytes, and the kind byte.
func chunkNonce(nonce *[nonceSize]byte, index uint64, kind byte) {
	binary.BigEndian.PutUint64(nonce[0:8], index)
	nonce[8], nonce[9], nonce[10] = 0, 0, 0
	nonce[11] = kind
}

// Trailer is the authenticated record that ends every segment.
type Trailer struct {
	// PlaintextSize is the number of plaintext bytes in the segment.
	PlaintextSize int64
	// Attributes is a caller-defined block sealed with the segment. Cloak's
	// proxy keeps the plaintext MD5 and checksums there (docs/FORMAT.md).
	Attributes [AttributesSize]byte
}

func (t *Trailer) marshal() [trailerPlainSize]byte {
	var b [trailerPlainSize]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(t.PlaintextSize))
	copy(b[8:], t.Attributes[:])
	return b
}

func parseTrailer(b []byte) Trailer {
	var t Trailer
	t.PlaintextSize = int64(binary.BigEndian.Uint64(b[0:8]))
	copy(t.Attributes[:], b[8:])
	return t
}

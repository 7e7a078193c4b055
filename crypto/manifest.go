package crypto

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The manifest of a multipart object lists its parts and their plaintext
// sizes. It is sealed under the object's data key when the upload
// completes, and a reader trusts the part list only from it: that is how a
// multipart object proves its part count and total length, so that
// dropping, adding or reordering whole parts is detected.
//
// Plaintext layout:
//
//	offset  size  field
//	0       4     magic "CLKM"
//	4       1     format version (1)
//	5       3     reserved, zero
//	8       4     part count N, big endian
//	12      12*N  for each part in ascending order: part number (4 bytes)
//	              and plaintext size (8 bytes), big endian
//	12+12N  2     attribute length A (0..MaxManifestAttributes)
//	14+12N  A     caller-defined attributes (the proxy keeps the object's
//	              ETag there)
var manifestMagic = [4]byte{'C', 'L', 'K', 'M'}

const manifestEntrySize = 12

// MaxManifestAttributes bounds the attribute block of a manifest.
const MaxManifestAttributes = 1024

// SealManifest seals the layout of a multipart object and a caller-defined
// attribute block (at most MaxManifestAttributes bytes) under its data
// key. random supplies the record salt (crypto/rand when nil).
func SealManifest(dk *DataKey, layout Layout, attrs []byte, random io.Reader) ([]byte, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	if len(attrs) > MaxManifestAttributes {
		return nil, fmt.Errorf("manifest attributes of %d bytes: %w", len(attrs), ErrInvalidSize)
	}
	if len(layout) == 1 && layout[0].Number == 0 {
		return nil, fmt.Errorf("manifest of a single-part layout: %w", ErrInvalidSize)
	}
	plain := make([]byte, 12, 14+manifestEntrySize*len(layout)+len(attrs))
	copy(plain[0:4], manifestMagic[:])
	plain[4] = Version
	binary.BigEndian.PutUint32(plain[8:12], uint32(len(layout)))
	for _, p := range layout {
		plain = binary.BigEndian.AppendUint32(plain, p.Number)
		plain = binary.BigEndian.AppendUint64(plain, uint64(p.PlainSize))
	}
	plain = binary.BigEndian.AppendUint16(plain, uint16(len(attrs)))
	plain = append(plain, attrs...)
	return sealRecord(dk.k[:], labelManifest, plain, nil, random)
}

// OpenManifest opens a manifest made by [SealManifest] and returns the
// layout and the attributes it holds.
func OpenManifest(dk *DataKey, sealed []byte) (Layout, []byte, error) {
	plain, err := openRecord(dk.k[:], labelManifest, sealed, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	return parseManifest(plain)
}

func parseManifest(plain []byte) (Layout, []byte, error) {
	layout, rest, err := parseManifestParts(plain)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) < 2 || len(rest) != 2+int(binary.BigEndian.Uint16(rest)) || len(rest) > 2+MaxManifestAttributes {
		return nil, nil, fmt.Errorf("manifest: bad attributes: %w", ErrAuthentication)
	}
	return layout, rest[2:], nil
}

func parseManifestParts(plain []byte) (Layout, []byte, error) {
	if len(plain) < 12 || [4]byte(plain[0:4]) != manifestMagic || plain[5]|plain[6]|plain[7] != 0 {
		return nil, nil, fmt.Errorf("manifest: bad header: %w", ErrAuthentication)
	}
	if plain[4] != Version {
		return nil, nil, fmt.Errorf("manifest version %d: %w", plain[4], ErrUnsupportedVersion)
	}
	count := binary.BigEndian.Uint32(plain[8:12])
	if count == 0 || count > MaxPartNumber || len(plain) < 12+manifestEntrySize*int(count) {
		return nil, nil, fmt.Errorf("manifest: bad part count: %w", ErrAuthentication)
	}
	layout := make(Layout, count)
	for i := range layout {
		e := plain[12+manifestEntrySize*i:]
		size := binary.BigEndian.Uint64(e[4:12])
		if size > 1<<62 {
			return nil, nil, fmt.Errorf("manifest: bad part size: %w", ErrAuthentication)
		}
		layout[i] = Part{Number: binary.BigEndian.Uint32(e[0:4]), PlainSize: int64(size)}
	}
	if err := layout.Validate(); err != nil || layout[0].Number == 0 {
		return nil, nil, fmt.Errorf("manifest: bad part list: %w", ErrAuthentication)
	}
	return layout, plain[12+manifestEntrySize*int(count):], nil
}

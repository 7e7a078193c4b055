package crypto

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Limits of the envelope encoding.
const (
	maxKeyIDLen      = 255
	maxWrappedKeyLen = 1024
)

// ErrMalformedEnvelope is returned for an envelope that cannot be parsed.
var ErrMalformedEnvelope = errors.New("cloak/crypto: malformed envelope")

// Envelope is what an object stores beside its ciphertext so that any
// instance can decrypt it: the format version, whether the object is
// multipart, and the data key wrapped by a master key. It contains no
// secret in the clear.
//
// Binary layout (then base64url without padding for the text form):
//
//	offset  size  field
//	0       1     format version (1)
//	1       1     flags: bit 0 multipart; other bits zero
//	2       1     key id length L (1..255)
//	3       L     key id
//	3+L     4     master key version, big endian
//	7+L     2     wrapped key length W (1..1024), big endian
//	9+L     W     wrapped key
type Envelope struct {
	Multipart  bool
	WrappedKey WrappedKey
}

// WrapContext returns the wrap context of this envelope for the object
// bucket/key.
func (e *Envelope) WrapContext(bucket, key string) WrapContext {
	return WrapContext{Bucket: bucket, Key: key, Multipart: e.Multipart}
}

// MarshalBinary encodes e.
func (e *Envelope) MarshalBinary() ([]byte, error) {
	id, wk := e.WrappedKey.KeyID, e.WrappedKey.Ciphertext
	if len(id) == 0 || len(id) > maxKeyIDLen {
		return nil, fmt.Errorf("key id of %d bytes: %w", len(id), ErrMalformedEnvelope)
	}
	if len(wk) == 0 || len(wk) > maxWrappedKeyLen {
		return nil, fmt.Errorf("wrapped key of %d bytes: %w", len(wk), ErrMalformedEnvelope)
	}
	b := make([]byte, 0, 9+len(id)+len(wk))
	var flags byte
	if e.Multipart {
		flags = 1
	}
	b = append(b, Version, flags, byte(len(id)))
	b = append(b, id...)
	b = binary.BigEndian.AppendUint32(b, e.WrappedKey.KeyVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(wk)))
	return append(b, wk...), nil
}

// UnmarshalBinary decodes an envelope encoded by MarshalBinary.
func (e *Envelope) UnmarshalBinary(b []byte) error {
	if len(b) < 3 {
		return fmt.Errorf("envelope too short: %w", ErrMalformedEnvelope)
	}
	if b[0] != Version {
		return fmt.Errorf("envelope version %d: %w", b[0], ErrUnsupportedVersion)
	}
	if b[1]&^1 != 0 {
		return fmt.Errorf("envelope flags: %w", ErrMalformedEnvelope)
	}
	l := int(b[2])
	if l == 0 || len(b) < 9+l {
		return fmt.Errorf("envelope key id: %w", ErrMalformedEnvelope)
	}
	w := int(binary.BigEndian.Uint16(b[7+l : 9+l]))
	if w == 0 || w > maxWrappedKeyLen || len(b) != 9+l+w {
		return fmt.Errorf("envelope wrapped key: %w", ErrMalformedEnvelope)
	}
	*e = Envelope{
		Multipart: b[1]&1 == 1,
		WrappedKey: WrappedKey{
			KeyID:      string(b[3 : 3+l]),
			KeyVersion: binary.BigEndian.Uint32(b[3+l : 7+l]),
			Ciphertext: append([]byte(nil), b[9+l:]...),
		},
	}
	return nil
}

// MarshalText encodes e as unpadded base64url, suitable for an S3 user
// metadata value.
func (e *Envelope) MarshalText() ([]byte, error) {
	b, err := e.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, base64.RawURLEncoding.EncodedLen(len(b)))
	base64.RawURLEncoding.Encode(out, b)
	return out, nil
}

// UnmarshalText decodes the text form made by MarshalText.
func (e *Envelope) UnmarshalText(text []byte) error {
	b := make([]byte, base64.RawURLEncoding.DecodedLen(len(text)))
	n, err := base64.RawURLEncoding.Decode(b, text)
	if err != nil {
		return fmt.Errorf("envelope encoding: %w", ErrMalformedEnvelope)
	}
	return e.UnmarshalBinary(b[:n])
}

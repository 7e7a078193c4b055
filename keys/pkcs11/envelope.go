package pkcs11

import (
	"encoding/binary"
	"fmt"

	"github.com/cloakproxy/cloak/crypto"
)

// Sizes of the wrapped key format (see the package doc).
const (
	envelopeFormat = 1
	ivSize         = 12
	tagSize        = 16
	dataKeySize    = 32
	envelopeSize   = 1 + ivSize + dataKeySize + tagSize
)

// aadDomain separates this package's associated data from any other use
// of the same key.
const aadDomain = "cloak pkcs11 wrap v1"

// wrapAAD is the associated data of a wrap:
//
//	"cloak pkcs11 wrap v1" 0x00 | wc.AAD() | label length (1) | label
//	| version (4, big endian)
func wrapAAD(wc crypto.WrapContext, label string, v uint32) []byte {
	ctx := wc.AAD()
	b := make([]byte, 0, len(aadDomain)+1+len(ctx)+1+len(label)+4)
	b = append(b, aadDomain...)
	b = append(b, 0)
	b = append(b, ctx...)
	b = append(b, byte(len(label)))
	b = append(b, label...)
	return binary.BigEndian.AppendUint32(b, v)
}

// sealEnvelope lays out a wrapped key from the IV and the token's output
// (ciphertext followed by tag).
func sealEnvelope(iv, sealed []byte) ([]byte, error) {
	if len(iv) != ivSize || len(sealed) != dataKeySize+tagSize {
		return nil, fmt.Errorf("token returned %d bytes of AES-GCM output, want %d",
			len(sealed), dataKeySize+tagSize)
	}
	b := make([]byte, 0, envelopeSize)
	b = append(b, envelopeFormat)
	b = append(b, iv...)
	return append(b, sealed...), nil
}

// openEnvelope splits a wrapped key into IV and sealed data key. It
// reports false for malformed input, which the caller treats as any
// other authentication failure: it cannot have come from Wrap.
func openEnvelope(ct []byte) (iv, sealed []byte, ok bool) {
	if len(ct) != envelopeSize || ct[0] != envelopeFormat {
		return nil, nil, false
	}
	return ct[1 : 1+ivSize], ct[1+ivSize:], true
}

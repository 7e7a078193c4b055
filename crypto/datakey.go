package crypto

import (
	"crypto/rand"
	"fmt"
	"io"
)

// DataKeySize is the size of a data key in bytes.
const DataKeySize = keySize

// DataKey is the random 256-bit key of one object or one multipart upload.
// Every segment key, commitment and sealed record of the object derives
// from it. A DataKey must not be copied by value; call [DataKey.Destroy]
// when it is no longer needed.
//
// A DataKey never prints its bytes: %v and friends show "DataKey(redacted)".
type DataKey struct {
	k [keySize]byte
}

// NewDataKey returns a fresh data key read from random, or from
// crypto/rand when random is nil.
func NewDataKey(random io.Reader) (*DataKey, error) {
	dk := new(DataKey)
	if err := readRandom(random, dk.k[:]); err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	return dk, nil
}

// DataKeyFromBytes returns a data key holding a copy of b, which must be
// [DataKeySize] bytes long. The caller remains responsible for zeroing b.
func DataKeyFromBytes(b []byte) (*DataKey, error) {
	if len(b) != keySize {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(b), keySize)
	}
	dk := new(DataKey)
	copy(dk.k[:], b)
	return dk, nil
}

// Bytes returns a copy of the key bytes, for wrapping. The caller should
// clear the copy when done.
func (dk *DataKey) Bytes() []byte {
	b := make([]byte, keySize)
	copy(b, dk.k[:])
	return b
}

// Destroy zeroes the key. The DataKey must not be used afterwards.
func (dk *DataKey) Destroy() { clear(dk.k[:]) }

// String keeps key bytes out of logs and error messages.
func (dk *DataKey) String() string { return "DataKey(redacted)" }

// GoString keeps key bytes out of %#v output.
func (dk *DataKey) GoString() string { return dk.String() }

// readRandom fills b from random, or from crypto/rand when random is nil.
func readRandom(random io.Reader, b []byte) error {
	if random == nil {
		random = rand.Reader
	}
	_, err := io.ReadFull(random, b)
	return err
}

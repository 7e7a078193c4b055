package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
)

// A sealed record is a small message encrypted and authenticated under a
// key (a data key or a key-encryption key) for one purpose:
//
//	offset  size  field
//	0       1     format version (1)
//	1       32    salt, random per record
//	33      32    key commitment
//	65      n+16  AES-256-GCM ciphertext and tag, all-zero nonce
//
// The record key and commitment are derived with HKDF-SHA256 from the key
// and the salt, with the purpose label in the info, so every record has a
// key of its own (the zero nonce is never reused under a key) and a record
// made for one purpose never opens as another.
const recordOverhead = 1 + saltSize + commitmentSize + TagSize

// Purpose labels of sealed records.
const (
	labelMetadata = "cloak v1 metadata"
	labelManifest = "cloak v1 manifest"
	labelWrap     = "cloak v1 wrap"
)

func recordKeys(key []byte, label string, salt []byte) (encKey, commit []byte, err error) {
	encKey, err = hkdf.Key(sha256.New, key, salt, label+"\x00key", keySize)
	if err != nil {
		return nil, nil, fmt.Errorf("derive record key: %w", err)
	}
	commit, err = hkdf.Key(sha256.New, key, salt, label+"\x00commitment", commitmentSize)
	if err != nil {
		return nil, nil, fmt.Errorf("derive record commitment: %w", err)
	}
	return encKey, commit, nil
}

// sealRecord seals plaintext under key for the purpose label, binding aad.
func sealRecord(key []byte, label string, plaintext, aad []byte, random io.Reader) ([]byte, error) {
	out := make([]byte, 1+saltSize, recordOverhead+len(plaintext))
	out[0] = Version
	if err := readRandom(random, out[1:1+saltSize]); err != nil {
		return nil, fmt.Errorf("generate record salt: %w", err)
	}
	encKey, commit, err := recordKeys(key, label, out[1:1+saltSize])
	if err != nil {
		return nil, err
	}
	defer clear(encKey)
	aead, err := newGCM(encKey)
	if err != nil {
		return nil, err
	}
	out = append(out, commit...)
	var nonce [nonceSize]byte
	return aead.Seal(out, nonce[:], plaintext, aad), nil
}

// openRecord opens a record sealed by sealRecord with the same key, label
// and aad. Any mismatch returns ErrAuthentication.
func openRecord(key []byte, label string, record, aad []byte) ([]byte, error) {
	if len(record) < recordOverhead {
		return nil, fmt.Errorf("sealed record too short: %w", ErrAuthentication)
	}
	if record[0] != Version {
		return nil, fmt.Errorf("sealed record version %d: %w", record[0], ErrUnsupportedVersion)
	}
	salt := record[1 : 1+saltSize]
	encKey, commit, err := recordKeys(key, label, salt)
	if err != nil {
		return nil, err
	}
	defer clear(encKey)
	if subtle.ConstantTimeCompare(commit, record[1+saltSize:1+saltSize+commitmentSize]) != 1 {
		return nil, fmt.Errorf("sealed record commitment: %w", ErrAuthentication)
	}
	aead, err := newGCM(encKey)
	if err != nil {
		return nil, err
	}
	var nonce [nonceSize]byte
	plain, err := aead.Open(nil, nonce[:], record[1+saltSize+commitmentSize:], aad)
	if err != nil {
		return nil, fmt.Errorf("sealed record: %w", ErrAuthentication)
	}
	return plain, nil
}

// SealedMetadataSize returns the size of a metadata record sealed from n
// bytes of plaintext.
func SealedMetadataSize(n int) int { return recordOverhead + n }

// SealMetadata seals plaintext metadata of an object (user metadata,
// content type and the like, encoded by the caller) under the object's
// data key, binding aad (which may be nil). random supplies the salt
// (crypto/rand when nil).
func SealMetadata(dk *DataKey, plaintext, aad []byte, random io.Reader) ([]byte, error) {
	return sealRecord(dk.k[:], labelMetadata, plaintext, aad, random)
}

// OpenMetadata opens a record made by [SealMetadata] with the same data
// key and aad.
func OpenMetadata(dk *DataKey, sealed, aad []byte) ([]byte, error) {
	return openRecord(dk.k[:], labelMetadata, sealed, aad)
}

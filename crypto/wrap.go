package crypto

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// WrapContext names the object a data key belongs to. It is bound into
// every wrapped key as associated data (or, for a KMS, as its encryption
// context), so a wrapped key copied onto another object, another bucket,
// or from a single-part to a multipart object fails to unwrap.
type WrapContext struct {
	Bucket    string
	Key       string
	Multipart bool
}

// AAD returns the canonical encoding of c used as associated data:
//
//	"cloak v1 wrap" 0x00 | version (1) | flags (1: bit 0 multipart)
//	| bucket length (2, big endian) | bucket | key length (2) | key
func (c WrapContext) AAD() []byte {
	b := make([]byte, 0, len(labelWrap)+1+2+4+len(c.Bucket)+len(c.Key))
	b = append(b, labelWrap...)
	b = append(b, 0, Version, 0)
	if c.Multipart {
		b[len(b)-1] = 1
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Bucket)))
	b = append(b, c.Bucket...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Key)))
	b = append(b, c.Key...)
	return b
}

// WrappedKey is a data key encrypted by a key-encryption key (a master
// key), with the id and version of that master key.
type WrappedKey struct {
	KeyID      string
	KeyVersion uint32
	Ciphertext []byte
}

// KeyWrapper wraps and unwraps data keys under master keys. Key rings,
// AWS KMS and PKCS#11 HSMs implement it. Implementations must be safe for
// concurrent use, must bind the WrapContext into the wrapped key, and must
// return an error wrapping [ErrAuthentication] when a wrapped key does not
// open under its context.
type KeyWrapper interface {
	// Wrap encrypts a data key under the active master key.
	Wrap(ctx context.Context, dataKey []byte, wc WrapContext) (WrappedKey, error)
	// Unwrap decrypts a wrapped data key. The caller clears the result
	// when done with it.
	Unwrap(ctx context.Context, wk WrappedKey, wc WrapContext) ([]byte, error)
}

// ErrUnknownKey is returned when a wrapped key names a master key id or
// version that the key wrapper does not have.
var ErrUnknownKey = errors.New("cloak/crypto: unknown master key")

// ErrKeyDestroyed is wrapped by the errors of key wrappers for a master
// key that was destroyed (retired, crypto-shredded) or disabled by its
// provider: data keys under it cannot be unwrapped, and retrying does not
// help.
var ErrKeyDestroyed = errors.New("cloak/crypto: master key destroyed or disabled")

// MemoryKeyRing is a [KeyWrapper] that keeps versioned 256-bit master keys
// in memory. It is used by tests and as the building block of the key ring
// file. A wrapped key is a sealed record (see docs/FORMAT.md) under the
// master key, with the wrap context, key id and version as associated data.
type MemoryKeyRing struct {
	mu       sync.RWMutex
	keys     map[string]map[uint32][]byte
	activeID string
	activeV  uint32
	random   io.Reader
}

// NewMemoryKeyRing returns an empty key ring that draws salts from random
// (crypto/rand when nil).
func NewMemoryKeyRing(random io.Reader) *MemoryKeyRing {
	return &MemoryKeyRing{keys: make(map[string]map[uint32][]byte), random: random}
}

// Add stores a copy of master key kek (32 bytes) as id/version. The first
// key added becomes active.
func (k *MemoryKeyRing) Add(id string, version uint32, kek []byte) error {
	if len(kek) != keySize {
		return fmt.Errorf("master key is %d bytes, want %d", len(kek), keySize)
	}
	if id == "" || len(id) > maxKeyIDLen {
		return fmt.Errorf("master key id must be 1..%d bytes", maxKeyIDLen)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys[id] == nil {
		k.keys[id] = make(map[uint32][]byte)
	}
	k.keys[id][version] = append([]byte(nil), kek...)
	if k.activeID == "" {
		k.activeID, k.activeV = id, version
	}
	return nil
}

// SetActive makes id/version the key that Wrap uses.
func (k *MemoryKeyRing) SetActive(id string, version uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys[id][version] == nil {
		return fmt.Errorf("set active %s/%d: %w", id, version, ErrUnknownKey)
	}
	k.activeID, k.activeV = id, version
	return nil
}

// Remove destroys the master key id/version: it is zeroed and forgotten,
// and data keys wrapped under it no longer unwrap. Removing the active key
// leaves the ring without one until SetActive.
func (k *MemoryKeyRing) Remove(id string, version uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kek := k.keys[id][version]; kek != nil {
		clear(kek)
		delete(k.keys[id], version)
	}
	if k.activeID == id && k.activeV == version {
		k.activeID, k.activeV = "", 0
	}
}

// Wrap implements [KeyWrapper].
func (k *MemoryKeyRing) Wrap(ctx context.Context, dataKey []byte, wc WrapContext) (WrappedKey, error) {
	k.mu.RLock()
	id, v := k.activeID, k.activeV
	k.mu.RUnlock()
	if id == "" {
		return WrappedKey{}, fmt.Errorf("wrap: no active master key: %w", ErrUnknownKey)
	}
	return k.WrapWith(ctx, id, v, dataKey, wc)
}

// WrapWith wraps dataKey under the master key id/version, active or not.
// Key rings that pick a master key per bucket use it.
func (k *MemoryKeyRing) WrapWith(_ context.Context, id string, v uint32, dataKey []byte,
	wc WrapContext) (WrappedKey, error) {
	// The read lock is held while the key is in use: Remove zeroes it.
	k.mu.RLock()
	defer k.mu.RUnlock()
	kek := k.keys[id][v]
	if kek == nil {
		return WrappedKey{}, fmt.Errorf("wrap with %q version %d: %w", id, v, ErrUnknownKey)
	}
	ct, err := sealRecord(kek, labelWrap, dataKey, ringAAD(wc, id, v), k.random)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap: %w", err)
	}
	return WrappedKey{KeyID: id, KeyVersion: v, Ciphertext: ct}, nil
}

// Unwrap implements [KeyWrapper].
func (k *MemoryKeyRing) Unwrap(_ context.Context, wk WrappedKey, wc WrapContext) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	kek := k.keys[wk.KeyID][wk.KeyVersion]
	if kek == nil {
		return nil, fmt.Errorf("unwrap with %q version %d: %w", wk.KeyID, wk.KeyVersion, ErrUnknownKey)
	}
	dk, err := openRecord(kek, labelWrap, wk.Ciphertext, ringAAD(wc, wk.KeyID, wk.KeyVersion))
	if err != nil {
		return nil, fmt.Errorf("unwrap: %w", err)
	}
	if len(dk) != keySize {
		clear(dk)
		return nil, fmt.Errorf("unwrap: %w", ErrAuthentication)
	}
	return dk, nil
}

// ringAAD is the associated data of a key ring wrap: the wrap context,
// then the key id (length-prefixed) and version.
func ringAAD(wc WrapContext, id string, version uint32) []byte {
	b := wc.AAD()
	b = append(b, byte(len(id)))
	b = append(b, id...)
	return binary.BigEndian.AppendUint32(b, version)
}

// KeyRef names one master key version.
type KeyRef struct {
	ID      string
	Version uint32
}

// Keys lists the master key versions the ring holds, in no order.
func (k *MemoryKeyRing) Keys() []KeyRef {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []KeyRef
	for id, versions := range k.keys {
		for v := range versions {
			out = append(out, KeyRef{ID: id, Version: v})
		}
	}
	return out
}

//go:build !cgo

package pkcs11

import (
	"context"

	"github.com/cloakproxy/cloak/crypto"
)

// Wrapper is unavailable in a binary built without cgo; see the cgo build
// for its contract. Every method returns [ErrUnavailable].
type Wrapper struct{}

// Open returns [ErrUnavailable]: PKCS#11 needs cgo.
func Open(Config) (*Wrapper, error) { return nil, ErrUnavailable }

// Close returns [ErrUnavailable].
func (*Wrapper) Close() error { return ErrUnavailable }

// LabelFor returns "".
func (*Wrapper) LabelFor(string) string { return "" }

// Wrap returns [ErrUnavailable].
func (*Wrapper) Wrap(context.Context, []byte, crypto.WrapContext) (crypto.WrappedKey, error) {
	return crypto.WrappedKey{}, ErrUnavailable
}

// Unwrap returns [ErrUnavailable].
func (*Wrapper) Unwrap(context.Context, crypto.WrappedKey, crypto.WrapContext) ([]byte, error) {
	return nil, ErrUnavailable
}

// CreateKey returns [ErrUnavailable].
func (*Wrapper) CreateKey(context.Context, string) (uint32, error) { return 0, ErrUnavailable }

// Versions returns [ErrUnavailable].
func (*Wrapper) Versions(string) ([]uint32, error) { return nil, ErrUnavailable }

// SetActive returns [ErrUnavailable].
func (*Wrapper) SetActive(string, uint32) error { return ErrUnavailable }

// Active returns [ErrUnavailable].
func (*Wrapper) Active(context.Context, string) (string, uint32, error) {
	return "", 0, ErrUnavailable
}

// DestroyKey returns [ErrUnavailable].
func (*Wrapper) DestroyKey(context.Context, string, uint32) error { return ErrUnavailable }

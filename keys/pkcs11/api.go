package pkcs11

import (
	"context"

	"github.com/cloakproxy/cloak/crypto"
)

// provider is the method set that both builds of Wrapper (with and
// without cgo) must have, so that callers compile either way.
type provider interface {
	crypto.KeyWrapper
	Close() error
	LabelFor(bucket string) string
	CreateKey(ctx context.Context, label string) (uint32, error)
	Versions(label string) ([]uint32, error)
	SetActive(label string, version uint32) error
	Active(ctx context.Context, bucket string) (label string, version uint32, err error)
	DestroyKey(ctx context.Context, label string, version uint32) error
}

var _ provider = (*Wrapper)(nil)

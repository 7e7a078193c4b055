package keys

import (
	"context"

	"github.com/cloakproxy/cloak/crypto"
)

// Provider is a master key provider as "cloak serve" and "cloak keys"
// use it: the key ring file ([Ring]), AWS KMS (keys/awskms) or a PKCS#11
// token (keys/pkcs11). It wraps with the active master key of a bucket
// and unwraps under whichever key a wrapped key names.
type Provider interface {
	crypto.KeyWrapper
	// Active returns the master key id and version that Wrap uses now for
	// new objects in bucket. A rewrap moves objects onto it.
	Active(ctx context.Context, bucket string) (id string, version uint32, err error)
}

var _ Provider = (*Ring)(nil)

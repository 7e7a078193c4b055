package sigv4

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// Credential is an access key, its secret and the identity it stands for.
//
// Credential never prints its secret: fmt verbs, %#v included, and slog
// show the access key only.
type Credential struct {
	AccessKey string
	SecretKey string
	// Identity is whatever the credential store attaches (a user, a role)
	// for policy decisions after authentication. It is not printed.
	Identity any
}

// String returns a description naming the access key only.
func (c Credential) String() string {
	return "Credential{AccessKey: " + c.AccessKey + "}"
}

// GoString returns the same as String, so %#v does not print the secret.
func (c Credential) GoString() string { return c.String() }

// Format implements fmt.Formatter so that every verb, including %+v and
// %#v, prints the access key only.
func (c Credential) Format(f fmt.State, verb rune) {
	_, _ = fmt.Fprint(f, c.String())
}

// LogValue implements slog.LogValuer: logs show the access key only.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key", c.AccessKey))
}

// CredentialStore finds the secret of an access key.
type CredentialStore interface {
	// Lookup returns the credential for accessKey, or an error that
	// wraps s3err.ErrInvalidAccessKeyID when there is none. Other errors
	// (a store that is down) are returned as they are.
	Lookup(ctx context.Context, accessKey string) (Credential, error)
}

// StaticCredentials is a fixed CredentialStore mapping access keys to
// secret keys, for tests and for the root user.
type StaticCredentials map[string]string

// Lookup implements CredentialStore.
func (s StaticCredentials) Lookup(_ context.Context, accessKey string) (Credential, error) {
	secret, ok := s[accessKey]
	if !ok {
		return Credential{}, s3err.ErrInvalidAccessKeyID
	}
	return Credential{AccessKey: accessKey, SecretKey: secret}, nil
}

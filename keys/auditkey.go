package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cloakproxy/cloak/crypto"
)

// auditKeyFile is the JSON form of the audit log's signing key: the
// Ed25519 seed wrapped by the key provider, and the public key in the
// clear so that verifying the log needs no secret.
type auditKeyFile struct {
	PublicKey string `json:"public_key"`
	Envelope  string `json:"wrapped_seed"`
}

// auditKeyContext binds the wrapped seed to its purpose.
var auditKeyContext = crypto.WrapContext{Key: "cloak/audit-signing-key"}

// AuditSigningKey returns the audit log's checkpoint signing key kept at
// path, wrapped by ring. When path does not exist it generates a key and
// stores it, and reports created; when two processes race to create it,
// both end up with the one that reached the disk first. When ring is a
// Provider whose active key is not the one the key is wrapped under, the
// key is rewrapped under the active one, so that retiring old versions
// after a rotation does not lose it.
func AuditSigningKey(ctx context.Context, path string, ring crypto.KeyWrapper,
) (ed25519.PrivateKey, bool, error) {
	key, err := readAuditKey(ctx, path, ring)
	if err == nil {
		if err := rewrapAuditKey(ctx, path, ring, key); err != nil {
			return nil, false, err
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := createAuditKey(ctx, path, ring); err != nil {
		return nil, false, err
	}
	key, err = readAuditKey(ctx, path, ring)
	return key, err == nil, err
}

// AuditPublicKey reads the public key of the signing key at path. It
// needs no key provider.
func AuditPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	var f auditKeyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	pub, err := base64.StdEncoding.DecodeString(f.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit key %s: malformed public key", path)
	}
	return pub, nil
}

func readAuditKey(ctx context.Context, path string, ring crypto.KeyWrapper) (ed25519.PrivateKey, error) {
	b, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	var f auditKeyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	var env crypto.Envelope
	if err := env.UnmarshalText([]byte(f.Envelope)); err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	seed, err := ring.Unwrap(ctx, env.WrappedKey, auditKeyContext)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit key %s: seed of %d bytes", path, len(seed))
	}
	key := ed25519.NewKeyFromSeed(seed)
	if base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)) != f.PublicKey {
		return nil, fmt.Errorf("audit key %s: public key does not match the wrapped key", path)
	}
	return key, nil
}

// rewrapAuditKey wraps key under ring's active master key when the file
// at path holds it under another one.
func rewrapAuditKey(ctx context.Context, path string, ring crypto.KeyWrapper,
	key ed25519.PrivateKey) error {
	p, ok := ring.(Provider)
	if !ok {
		return nil
	}
	id, version, err := p.Active(ctx, "")
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	b, err := readPrivate(path)
	if err != nil {
		return err
	}
	var f auditKeyFile
	var env crypto.Envelope
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("audit key %s: %w", path, err)
	}
	if err := env.UnmarshalText([]byte(f.Envelope)); err != nil {
		return fmt.Errorf("audit key %s: %w", path, err)
	}
	if env.WrappedKey.KeyID == id && env.WrappedKey.KeyVersion == version {
		return nil
	}
	b, err = encodeAuditKey(ctx, ring, key.Seed())
	if err != nil {
		return err
	}
	return writePrivate(path, b)
}

// encodeAuditKey returns the file form of the key with this seed.
func encodeAuditKey(ctx context.Context, ring crypto.KeyWrapper, seed []byte) ([]byte, error) {
	defer clear(seed)
	wk, err := ring.Wrap(ctx, seed, auditKeyContext)
	if err != nil {
		return nil, fmt.Errorf("wrap audit key: %w", err)
	}
	env, err := (&crypto.Envelope{WrappedKey: wk}).MarshalText()
	if err != nil {
		return nil, err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return json.MarshalIndent(auditKeyFile{PublicKey: base64.StdEncoding.EncodeToString(pub),
		Envelope: string(env)}, "", "  ")
}

// createAuditKey generates a key and links it into place, leaving an
// existing file alone.
func createAuditKey(ctx context.Context, path string, ring crypto.KeyWrapper) error {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return err
	}
	b, err := encodeAuditKey(ctx, ring, seed)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(path, b)
	if err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("audit key: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("audit key: %w", err)
	}
	return nil
}

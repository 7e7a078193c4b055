package keys

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/cloakproxy/cloak/crypto"
)

// rootFile is the JSON form of the generated root credentials. The secret
// is kept only wrapped by the key ring, never in the clear.
type rootFile struct {
	AccessKey string `json:"access_key"`
	Envelope  string `json:"wrapped_secret"`
}

// RootCredentials returns the generated root credentials kept at path,
// sealed under ring. When path does not exist it generates a pair, stores
// it and reports created, so the caller can show the secret once.
func RootCredentials(ctx context.Context, path string, ring crypto.KeyWrapper) (access, secret string, created bool, err error) {
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		access, secret, err = createRoot(ctx, path, ring)
		return access, secret, err == nil, err
	}
	if err != nil {
		return "", "", false, err
	}
	var f rootFile
	if err := json.Unmarshal(b, &f); err != nil {
		return "", "", false, fmt.Errorf("root credentials %s: %w", path, err)
	}
	var env crypto.Envelope
	if err := env.UnmarshalText([]byte(f.Envelope)); err != nil {
		return "", "", false, fmt.Errorf("root credentials %s: %w", path, err)
	}
	raw, err := ring.Unwrap(ctx, env.WrappedKey, rootContext(f.AccessKey))
	if err != nil {
		return "", "", false, fmt.Errorf("root credentials %s: %w", path, err)
	}
	defer clear(raw)
	return f.AccessKey, base64.RawURLEncoding.EncodeToString(raw), false, nil
}

func rootContext(access string) crypto.WrapContext {
	return crypto.WrapContext{Key: "cloak/root-credentials/" + access}
}

func createRoot(ctx context.Context, path string, ring crypto.KeyWrapper) (string, string, error) {
	id := make([]byte, 10)
	raw := make([]byte, crypto.DataKeySize)
	defer clear(raw)
	if _, err := rand.Read(id); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	access := "CLOAK" + base32.StdEncoding.EncodeToString(id)
	wk, err := ring.Wrap(ctx, raw, rootContext(access))
	if err != nil {
		return "", "", err
	}
	env, err := (&crypto.Envelope{WrappedKey: wk}).MarshalText()
	if err != nil {
		return "", "", err
	}
	b, err := json.MarshalIndent(rootFile{AccessKey: access, Envelope: string(env)}, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := writePrivate(path, b); err != nil {
		return "", "", err
	}
	return access, base64.RawURLEncoding.EncodeToString(raw), nil
}

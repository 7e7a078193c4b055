// Package keys manages Cloak's master keys.
//
// This first version holds the key ring file: versioned 256-bit master
// keys in one JSON file, created on first start, written atomically with
// mode 0600, and refused when group or others can read it. It loads into
// a [crypto.MemoryKeyRing], which wraps and unwraps data keys.
//
// Known gaps, tracked in the key management issue: the file is not yet
// sealed with a passphrase, and rotation, rewrap, retirement and KMS or
// HSM providers are still to come. Keep the key ring on other storage
// than the data, and back it up: without it, nothing can be decrypted.
package keys

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cloakproxy/cloak/crypto"
)

const ringFormat = "cloak-keyring-v1"

// ringFile is the JSON form of the key ring file.
type ringFile struct {
	Format string    `json:"format"`
	Active keyRef    `json:"active"`
	Keys   []ringKey `json:"keys"`
}

type keyRef struct {
	ID      string `json:"id"`
	Version uint32 `json:"version"`
}

type ringKey struct {
	keyRef
	Created time.Time `json:"created"`
	// Key is the 32-byte master key, base64 (standard encoding).
	Key []byte `json:"key"`
}

// ErrInsecureFile is returned for a key ring file that group or others
// may read.
var ErrInsecureFile = errors.New("key ring file is readable by group or others")

// DefaultKeyID is the id of the master key created with a new ring.
const DefaultKeyID = "cloak-master"

// OpenRing loads the key ring file at path. When the file does not exist
// and create is true, it creates one with a fresh master key and reports
// created. The file and its directory must not be accessible to group or
// others.
func OpenRing(path string, create bool) (ring *crypto.MemoryKeyRing, created bool, err error) {
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := createRing(path); err != nil {
			return nil, false, err
		}
		b, err = readPrivate(path)
		created = true
	}
	if err != nil {
		return nil, false, err
	}
	ring, err = parseRing(b)
	clear(b)
	if err != nil {
		return nil, false, fmt.Errorf("key ring %s: %w", path, err)
	}
	return ring, created, nil
}

func readPrivate(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key ring: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key ring %s (mode %v): %w", path, st.Mode().Perm(), ErrInsecureFile)
	}
	return os.ReadFile(path)
}

func parseRing(b []byte) (*crypto.MemoryKeyRing, error) {
	var f ringFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	defer func() {
		for _, k := range f.Keys {
			clear(k.Key)
		}
	}()
	if f.Format != ringFormat {
		return nil, fmt.Errorf("unknown format %q", f.Format)
	}
	ring := crypto.NewMemoryKeyRing(nil)
	for _, k := range f.Keys {
		if err := ring.Add(k.ID, k.Version, k.Key); err != nil {
			return nil, fmt.Errorf("key %s/%d: %w", k.ID, k.Version, err)
		}
	}
	if err := ring.SetActive(f.Active.ID, f.Active.Version); err != nil {
		return nil, err
	}
	return ring, nil
}

func createRing(path string) error {
	key := make([]byte, crypto.DataKeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	defer clear(key)
	ref := keyRef{ID: DefaultKeyID, Version: 1}
	f := ringFile{Format: ringFormat, Active: ref,
		Keys: []ringKey{{keyRef: ref, Created: time.Now().UTC(), Key: key}}}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	defer clear(b)
	return writePrivate(path, b)
}

// writePrivate writes b to path atomically with mode 0600, creating the
// directory with mode 0700.
func writePrivate(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".keyring-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

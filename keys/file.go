package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/cloakproxy/cloak/crypto"
)

// The key ring file is JSON. In the clear it is a ringFile with format
// formatV2 (formatV1, written by the first release, is still read). Sealed
// with a passphrase it is a sealedFile whose Sealed field is the clear
// form encrypted with AES-256-GCM under a key derived by Argon2id.
const (
	formatV1     = "cloak-keyring-v1"
	formatV2     = "cloak-keyring-v2"
	formatSealed = "cloak-keyring-v2-sealed"
)

// State is the lifecycle state of one master key version.
type State string

const (
	// StateActive: new data keys are wrapped under it. One version of
	// each key id is active, unless the id was shredded.
	StateActive State = "active"
	// StateDecryptOnly: an earlier version, kept to unwrap the data keys
	// of objects written before a rotation.
	StateDecryptOnly State = "decrypt-only"
	// StateRetired: the key material was destroyed after a rewrap moved
	// every object off it. Only its record stays, for clear errors.
	StateRetired State = "retired"
	// StateShredded: the key material was destroyed to make the objects
	// that used it unreadable (crypto-shredding).
	StateShredded State = "shredded"
)

// ringFile is the clear JSON form of the key ring.
type ringFile struct {
	Format string    `json:"format"`
	Keys   []fileKey `json:"keys"`
	// Buckets maps a bucket name to the id of the master key its
	// objects use; buckets not listed use DefaultKeyID.
	Buckets map[string]string `json:"buckets,omitempty"`

	// Active is the active key of a formatV1 file; formatV2 keeps the
	// state in each key instead.
	Active *keyRef `json:"active,omitempty"`
}

type keyRef struct {
	ID      string `json:"id"`
	Version uint32 `json:"version"`
}

type fileKey struct {
	ID      string    `json:"id"`
	Version uint32    `json:"version"`
	State   State     `json:"state,omitempty"`
	Created time.Time `json:"created"`
	// Destroyed is when a retired or shredded key lost its material.
	Destroyed *time.Time `json:"destroyed,omitempty"`
	// Key is the 32-byte master key (base64 in JSON); absent once the
	// key is retired or shredded.
	Key []byte `json:"key,omitempty"`
}

// sealedFile is a key ring sealed with a passphrase.
type sealedFile struct {
	Format string `json:"format"`
	KDF    string `json:"kdf"`
	// Argon2id parameters: passes, memory in KiB, lanes.
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
	Nonce     []byte `json:"nonce"`
	Sealed    []byte `json:"sealed"`
}

// Argon2id parameters for new seals (RFC 9106's second recommended
// option: 3 passes over 64 MiB), which cost a fraction of a second.
const (
	argonTime    = 3
	argonMemory  = 64 << 10
	argonThreads = 4
)

// ErrInsecureFile is returned for a key ring file that group or others
// may read.
var ErrInsecureFile = errors.New("key ring file is readable by group or others")

// ErrPassphrase is returned when a sealed key ring does not open with the
// passphrase given, or none was given.
var ErrPassphrase = errors.New("key ring passphrase missing or wrong")

// DefaultKeyID is the id of the master key created with a new ring and
// used by every bucket without a key of its own.
const DefaultKeyID = "cloak-master"

// bucketKeyID is the id of a bucket's own master key.
func bucketKeyID(bucket string) string { return "bucket/" + bucket }

// readPrivate reads a file that must not be accessible to group or
// others.
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

// decodeRing parses a key ring file, opening it with passphrase when it
// is sealed. It reports whether it was sealed.
func decodeRing(b, passphrase []byte) (*ringFile, bool, error) {
	var probe struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, false, fmt.Errorf("parse: %w", err)
	}
	sealed := probe.Format == formatSealed
	if sealed {
		clearText, err := unsealRing(b, passphrase)
		if err != nil {
			return nil, true, err
		}
		defer clear(clearText)
		b = clearText
	}
	var f ringFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, sealed, fmt.Errorf("parse: %w", err)
	}
	if err := f.upgrade(); err != nil {
		f.destroy()
		return nil, sealed, err
	}
	if err := f.validate(); err != nil {
		f.destroy()
		return nil, sealed, err
	}
	return &f, sealed, nil
}

// upgrade turns a formatV1 ring into formatV2 in memory.
func (f *ringFile) upgrade() error {
	switch f.Format {
	case formatV2:
		return nil
	case formatV1:
		if f.Active == nil {
			return errors.New("version 1 ring without an active key")
		}
		for i := range f.Keys {
			k := &f.Keys[i]
			k.State = StateDecryptOnly
			if k.ID == f.Active.ID && k.Version == f.Active.Version {
				k.State = StateActive
			}
		}
		f.Format, f.Active = formatV2, nil
		return nil
	default:
		return fmt.Errorf("unknown key ring format %q", f.Format)
	}
}

// validate checks the invariants every operation relies on.
func (f *ringFile) validate() error {
	seen := make(map[keyRef]bool)
	active := make(map[string]int)
	for _, k := range f.Keys {
		ref := keyRef{k.ID, k.Version}
		if k.ID == "" || len(k.ID) > 200 || k.Version == 0 {
			return fmt.Errorf("key %q version %d: bad id or version", k.ID, k.Version)
		}
		if seen[ref] {
			return fmt.Errorf("key %s v%d listed twice", k.ID, k.Version)
		}
		seen[ref] = true
		switch k.State {
		case StateActive, StateDecryptOnly:
			if len(k.Key) != crypto.DataKeySize {
				return fmt.Errorf("key %s v%d: material is %d bytes, want %d",
					k.ID, k.Version, len(k.Key), crypto.DataKeySize)
			}
			if k.State == StateActive {
				active[k.ID]++
			}
		case StateRetired, StateShredded:
			if len(k.Key) != 0 {
				return fmt.Errorf("key %s v%d is %s but still has material", k.ID, k.Version, k.State)
			}
		default:
			return fmt.Errorf("key %s v%d: unknown state %q", k.ID, k.Version, k.State)
		}
	}
	for id, n := range active {
		if n > 1 {
			return fmt.Errorf("key %s has %d active versions", id, n)
		}
	}
	if active[DefaultKeyID] != 1 {
		return fmt.Errorf("no active version of the default key %s", DefaultKeyID)
	}
	for bucket, id := range f.Buckets {
		if !slices.ContainsFunc(f.Keys, func(k fileKey) bool { return k.ID == id }) {
			return fmt.Errorf("bucket %s uses key %s, which the ring does not hold", bucket, id)
		}
	}
	return nil
}

// destroy zeroes every key's material.
func (f *ringFile) destroy() {
	for _, k := range f.Keys {
		clear(k.Key)
	}
}

// clone returns a deep copy of f, key material included.
func (f *ringFile) clone() *ringFile {
	c := &ringFile{Format: f.Format, Keys: make([]fileKey, len(f.Keys))}
	for i, k := range f.Keys {
		k.Key = slices.Clone(k.Key)
		c.Keys[i] = k
	}
	if f.Buckets != nil {
		c.Buckets = make(map[string]string, len(f.Buckets))
		for b, id := range f.Buckets {
			c.Buckets[b] = id
		}
	}
	return c
}

// encodeRing serialises f, sealed under passphrase when it is not empty.
func encodeRing(f *ringFile, passphrase []byte) ([]byte, error) {
	clearText, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	if len(passphrase) == 0 {
		return clearText, nil
	}
	defer clear(clearText)
	return sealRing(clearText, passphrase)
}

func sealRing(clearText, passphrase []byte) ([]byte, error) {
	s := sealedFile{Format: formatSealed, KDF: "argon2id", Time: argonTime,
		MemoryKiB: argonMemory, Threads: argonThreads,
		Salt: make([]byte, 16), Nonce: make([]byte, 12)}
	if _, err := rand.Read(s.Salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(s.Nonce); err != nil {
		return nil, err
	}
	aead, err := passphraseAEAD(passphrase, &s)
	if err != nil {
		return nil, err
	}
	s.Sealed = aead.Seal(nil, s.Nonce, clearText, []byte(formatSealed))
	return json.MarshalIndent(s, "", "  ")
}

func unsealRing(b, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, fmt.Errorf("the key ring is sealed: %w", ErrPassphrase)
	}
	var s sealedFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if s.KDF != "argon2id" || s.Time == 0 || s.Time > 64 || s.MemoryKiB < 8<<10 ||
		s.MemoryKiB > 4<<20 || s.Threads == 0 || len(s.Salt) < 16 || len(s.Nonce) != 12 {
		return nil, errors.New("sealed key ring: unsupported or damaged parameters")
	}
	aead, err := passphraseAEAD(passphrase, &s)
	if err != nil {
		return nil, err
	}
	clearText, err := aead.Open(nil, s.Nonce, s.Sealed, []byte(formatSealed))
	if err != nil {
		return nil, fmt.Errorf("sealed key ring: %w", ErrPassphrase)
	}
	return clearText, nil
}

func passphraseAEAD(passphrase []byte, s *sealedFile) (cipher.AEAD, error) {
	kek := argon2.IDKey(passphrase, s.Salt, s.Time, s.MemoryKiB, s.Threads, 32)
	defer clear(kek)
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// newRingFile returns a ring with one fresh active default key.
func newRingFile() (*ringFile, error) {
	key := make([]byte, crypto.DataKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &ringFile{Format: formatV2, Keys: []fileKey{{ID: DefaultKeyID, Version: 1,
		State: StateActive, Created: time.Now().UTC(), Key: key}}}, nil
}

// writePrivate writes b to path atomically with mode 0600, creating the
// directory with mode 0700.
func writePrivate(path string, b []byte) error {
	tmp, err := writeTemp(path, b)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes b, synced, to a new file of mode 0600 beside path
// (creating the directory with mode 0700) and returns its name. The caller
// moves it into place and removes it if that fails.
func writeTemp(path string, b []byte) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return "", err
	}
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// notExist reports whether err says a file is missing.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

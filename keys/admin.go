package keys

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/cloakproxy/cloak/crypto"
)

// The operations below change the key ring file. Each takes an exclusive
// lock on "<path>.lock", rereads the file, changes it, writes it
// atomically, and reloads the ring from it, so two administrators (or an
// administrator and a running instance) never lose each other's changes.

// update applies fn to the current content of the file under the lock and
// writes the result.
func (r *Ring) update(fn func(*ringFile) error) error {
	unlock, err := lockFile(r.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	b, _, err := r.read()
	if err != nil {
		return err
	}
	f, _, err := decodeRing(b, r.passphrase)
	clear(b)
	if err != nil {
		return fmt.Errorf("key ring %s: %w", r.path, err)
	}
	defer f.destroy()
	if err := fn(f); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return fmt.Errorf("refusing to write an invalid key ring: %w", err)
	}
	if err := r.write(f); err != nil {
		return err
	}
	_, err = r.load()
	return err
}

func (r *Ring) write(f *ringFile) error {
	b, err := encodeRing(f, r.passphrase)
	if err != nil {
		return err
	}
	defer clear(b)
	return writePrivate(r.path, b)
}

// lockFile takes an exclusive advisory lock on path, waiting for it.
func lockFile(path string) (func(), error) {
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock key ring: %w", err)
	}
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX); err != nil {
		fd.Close()
		return nil, fmt.Errorf("lock key ring: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(fd.Fd()), syscall.LOCK_UN)
		fd.Close()
	}, nil
}

func freshKey() ([]byte, error) {
	k := make([]byte, crypto.DataKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// idFor returns the key id bucket uses in f ("" means the default).
func (f *ringFile) idFor(bucket string) string {
	if id, ok := f.Buckets[bucket]; ok && bucket != "" {
		return id
	}
	return DefaultKeyID
}

// addVersion appends a new active version of id, demoting the current
// active one to decrypt-only.
func (f *ringFile) addVersion(id string) (KeyInfo, error) {
	key, err := freshKey()
	if err != nil {
		return KeyInfo{}, err
	}
	var next uint32 = 1
	for i := range f.Keys {
		k := &f.Keys[i]
		if k.ID != id {
			continue
		}
		next = max(next, k.Version+1)
		if k.State == StateActive {
			k.State = StateDecryptOnly
		}
	}
	now := time.Now().UTC()
	f.Keys = append(f.Keys, fileKey{ID: id, Version: next, State: StateActive, Created: now, Key: key})
	return KeyInfo{ID: id, Version: next, State: StateActive, Created: now}, nil
}

// Rotate makes a new version of the key that bucket uses (the default key
// when bucket is empty or has no key of its own) active for new writes.
// Earlier versions stay, decrypt-only, until retired.
func (r *Ring) Rotate(bucket string) (KeyInfo, error) {
	var out KeyInfo
	err := r.update(func(f *ringFile) error {
		id := f.idFor(bucket)
		if shredded(f, id) && !hasActive(f, id) {
			return fmt.Errorf("key %s: %w; create a new key for the bucket instead", id, ErrShredded)
		}
		var err error
		out, err = f.addVersion(id)
		return err
	})
	return out, err
}

// CreateBucketKey gives bucket a master key of its own, so that its
// objects can be shredded apart from every other bucket's. Objects already
// in the bucket keep the key they were written under until rewrapped. On
// a bucket whose key was shredded it makes a new version active, and new
// writes succeed again; the shredded objects stay unreadable.
func (r *Ring) CreateBucketKey(bucket string) (KeyInfo, error) {
	if bucket == "" {
		return KeyInfo{}, errors.New("create bucket key: no bucket named")
	}
	var out KeyInfo
	err := r.update(func(f *ringFile) error {
		id := bucketKeyID(bucket)
		if f.Buckets[bucket] == id && hasActive(f, id) {
			return fmt.Errorf("bucket %s already has key %s", bucket, id)
		}
		var err error
		if out, err = f.addVersion(id); err != nil {
			return err
		}
		if f.Buckets == nil {
			f.Buckets = make(map[string]string)
		}
		f.Buckets[bucket] = id
		return nil
	})
	return out, err
}

// Retire destroys the material of key id version v, which must not be
// active. The caller makes sure no object still uses it (cloak keys retire
// scans the store first): objects that do become unreadable.
func (r *Ring) Retire(id string, v uint32) error {
	return r.update(func(f *ringFile) error {
		k := f.find(id, v)
		switch {
		case k == nil:
			return fmt.Errorf("retire %s v%d: %w", id, v, crypto.ErrUnknownKey)
		case k.State == StateActive:
			return fmt.Errorf("retire %s v%d: it is the active version; rotate first", id, v)
		case k.State != StateDecryptOnly:
			return fmt.Errorf("retire %s v%d: already %s", id, v, k.State)
		}
		k.destroy(StateRetired)
		return nil
	})
}

// Shred destroys every version of bucket's own key: every object written
// under it becomes permanently unreadable through this ring, and writes
// to the bucket are refused until CreateBucketKey. Buckets using the
// default key cannot be shredded (that would destroy every such bucket).
func (r *Ring) Shred(bucket string) ([]KeyInfo, error) {
	var out []KeyInfo
	err := r.update(func(f *ringFile) error {
		id, ok := f.Buckets[bucket]
		if !ok || bucket == "" {
			return fmt.Errorf("shred: bucket %q has no key of its own "+
				"(create one with cloak keys create --bucket, then rewrap)", bucket)
		}
		for _, other := range slices.Sorted(mapKeys(f.Buckets)) {
			if other != bucket && f.Buckets[other] == id {
				return fmt.Errorf("shred: key %s is shared with bucket %s", id, other)
			}
		}
		for i := range f.Keys {
			k := &f.Keys[i]
			if k.ID == id && len(k.Key) > 0 {
				k.destroy(StateShredded)
				out = append(out, KeyInfo{ID: id, Version: k.Version, State: k.State,
					Created: k.Created, Destroyed: *k.Destroyed})
			}
		}
		if len(out) == 0 {
			return fmt.Errorf("shred: key %s holds no material (already shredded?)", id)
		}
		return nil
	})
	return out, err
}

func (f *ringFile) find(id string, v uint32) *fileKey {
	for i := range f.Keys {
		if f.Keys[i].ID == id && f.Keys[i].Version == v {
			return &f.Keys[i]
		}
	}
	return nil
}

func (k *fileKey) destroy(state State) {
	clear(k.Key)
	k.Key = nil
	k.State = state
	now := time.Now().UTC()
	k.Destroyed = &now
}

func hasActive(f *ringFile, id string) bool {
	return slices.ContainsFunc(f.Keys, func(k fileKey) bool { return k.ID == id && k.State == StateActive })
}

func shredded(f *ringFile, id string) bool {
	return slices.ContainsFunc(f.Keys, func(k fileKey) bool { return k.ID == id && k.State == StateShredded })
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// SetPassphrase reseals the file under a new passphrase (empty: store it
// in the clear, which the docs advise against).
func (r *Ring) SetPassphrase(passphrase []byte) error {
	unlock, err := lockFile(r.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	b, _, err := r.read()
	if err != nil {
		return err
	}
	f, _, err := decodeRing(b, r.passphrase)
	clear(b)
	if err != nil {
		return fmt.Errorf("key ring %s: %w", r.path, err)
	}
	defer f.destroy()
	old := r.passphrase
	r.passphrase = slicesClone(passphrase)
	if err := r.write(f); err != nil {
		clear(r.passphrase)
		r.passphrase = old
		return err
	}
	clear(old)
	_, err = r.load()
	return err
}

func slicesClone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

// Export writes a backup of the whole key ring, every version with
// material, sealed under passphrase (which must not be empty). Keep the
// backup and its passphrase apart.
func (r *Ring) Export(w io.Writer, passphrase []byte) error {
	if len(passphrase) == 0 {
		return errors.New("export: a backup passphrase is required")
	}
	b, _, err := r.read()
	if err != nil {
		return err
	}
	f, _, err := decodeRing(b, r.passphrase)
	clear(b)
	if err != nil {
		return fmt.Errorf("key ring %s: %w", r.path, err)
	}
	defer f.destroy()
	out, err := encodeRing(f, passphrase)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// ImportResult says what Import did.
type ImportResult struct {
	Added   int  // key versions added to an existing ring
	Created bool // the ring file did not exist and was restored whole
}

// Import restores a backup written by Export into the key ring file at
// path. When the file does not exist, the backup becomes the ring. When it
// exists, key versions the ring lacks are added (as decrypt-only when the
// ring already has an active version of that id), and versions it holds
// must carry the same material: a conflict is an error and nothing is
// written. Versions retired or shredded in the ring stay destroyed.
func Import(path string, backup io.Reader, backupPass []byte, opts Options) (ImportResult, error) {
	raw, err := io.ReadAll(io.LimitReader(backup, 16<<20))
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	in, _, err := decodeRing(raw, backupPass)
	clear(raw)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: backup: %w", err)
	}
	defer in.destroy()
	if _, err := os.Stat(path); notExist(err) {
		r := &Ring{path: path, passphrase: slicesClone(opts.Passphrase)}
		if err := r.write(in); err != nil {
			return ImportResult{}, fmt.Errorf("import: %w", err)
		}
		return ImportResult{Created: true}, nil
	}
	r, _, err := Open(path, Options{Passphrase: opts.Passphrase})
	if err != nil {
		return ImportResult{}, err
	}
	defer r.Close()
	var res ImportResult
	err = r.update(func(f *ringFile) error {
		for _, k := range in.Keys {
			have := f.find(k.ID, k.Version)
			switch {
			case have == nil:
				nk := k
				nk.Key = slices.Clone(k.Key)
				if nk.State == StateActive && hasActive(f, k.ID) {
					nk.State = StateDecryptOnly
				}
				f.Keys = append(f.Keys, nk)
				res.Added++
			case len(have.Key) > 0 && len(k.Key) > 0 && !slices.Equal(have.Key, k.Key):
				return fmt.Errorf("import: key %s v%d differs from the ring's; nothing imported",
					k.ID, k.Version)
			}
		}
		for b, id := range in.Buckets {
			if _, ok := f.Buckets[b]; !ok {
				if f.Buckets == nil {
					f.Buckets = make(map[string]string)
				}
				f.Buckets[b] = id
			}
		}
		return nil
	})
	return res, err
}

// Package keys manages Cloak's master keys: the key ring file and its
// lifecycle (rotation, retirement, per-bucket keys, crypto-shredding,
// export and import), the root credentials sealed under it, and a cache
// of unwrapped data keys that sits in front of any provider.
//
// The key ring file holds versioned 256-bit master keys as JSON, written
// atomically with mode 0600 and refused when group or others can read it,
// optionally sealed with a passphrase (Argon2id, then AES-256-GCM). A
// running [Ring] rereads the file when it changes ([Ring.Watch]), so a
// rotation made by "cloak keys rotate" reaches every instance that shares
// the file within the poll interval. docs/KEYS.md is the operator's guide.
package keys

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cloakproxy/cloak/crypto"
)

// ErrShredded is returned for a data key whose master key was destroyed
// by crypto-shredding, and for writes to a bucket whose key was shredded.
var ErrShredded = fmt.Errorf("master key was crypto-shredded: %w", crypto.ErrKeyDestroyed)

// ErrRetired is returned for a data key whose master key was retired.
// It wraps nothing: a retired key is gone, as an unknown one would be,
// but the error says when and why.
var ErrRetired = fmt.Errorf("master key was retired: %w", crypto.ErrKeyDestroyed)

// Options configure how a key ring file is opened.
type Options struct {
	// Passphrase seals the file. When set, a file in the clear is sealed
	// on open; a sealed file requires it.
	Passphrase []byte
	// Create makes a new ring when the file does not exist.
	Create bool
}

// KeyInfo describes one master key version.
type KeyInfo struct {
	ID        string
	Version   uint32
	State     State
	Created   time.Time
	Destroyed time.Time // zero unless retired or shredded
	// Buckets are the buckets that use this key id; empty for the
	// default key, which every other bucket uses.
	Buckets []string
}

// Ring is the key ring file loaded in memory. It implements
// [crypto.KeyWrapper]: Wrap uses the active version of the key that the
// bucket maps to, Unwrap any version still holding material. Safe for
// concurrent use.
type Ring struct {
	path       string
	passphrase []byte

	mu    sync.RWMutex
	file  *ringFile // key material cleared: mem holds it
	mem   *crypto.MemoryKeyRing
	stamp fileStamp
}

// fileStamp identifies one content of the file cheaply (stat) and surely
// (hash).
type fileStamp struct {
	mod  time.Time
	size int64
	sum  [32]byte
}

// Open loads the key ring file at path; see Options. It reports whether
// it created the file.
func Open(path string, opts Options) (*Ring, bool, error) {
	r := &Ring{path: path, passphrase: bytes.Clone(opts.Passphrase)}
	created := false
	if _, err := os.Stat(path); notExist(err) && opts.Create {
		f, err := newRingFile()
		if err != nil {
			return nil, false, err
		}
		err = r.write(f)
		f.destroy()
		if err != nil {
			return nil, false, fmt.Errorf("create key ring %s: %w", path, err)
		}
		created = true
	}
	sealed, err := r.load()
	if err != nil {
		return nil, false, err
	}
	if !sealed && len(r.passphrase) > 0 {
		// A passphrase was configured for a ring in the clear: seal it.
		if err := r.update(func(*ringFile) error { return nil }); err != nil {
			return nil, false, fmt.Errorf("seal key ring %s: %w", path, err)
		}
	}
	return r, created, nil
}

// OpenRing opens the key ring file at path without a passphrase,
// creating it when create is set. It is Open for callers that need no
// options.
func OpenRing(path string, create bool) (*Ring, bool, error) {
	return Open(path, Options{Create: create})
}

// Path returns the file the ring was loaded from.
func (r *Ring) Path() string { return r.path }

// load reads the file and replaces the ring's keys with its content.
func (r *Ring) load() (sealed bool, err error) {
	b, st, err := r.read()
	if err != nil {
		return false, err
	}
	defer clear(b)
	f, sealed, err := decodeRing(b, r.passphrase)
	if err != nil {
		return sealed, fmt.Errorf("key ring %s: %w", r.path, err)
	}
	mem := crypto.NewMemoryKeyRing(nil)
	for _, k := range f.Keys {
		if len(k.Key) == 0 {
			continue
		}
		if err := mem.Add(k.ID, k.Version, k.Key); err != nil {
			f.destroy()
			return sealed, fmt.Errorf("key ring %s: key %s v%d: %w", r.path, k.ID, k.Version, err)
		}
	}
	f.destroy()
	for i := range f.Keys {
		f.Keys[i].Key = nil
	}
	r.mu.Lock()
	old := r.mem
	r.file, r.mem, r.stamp = f, mem, st
	r.mu.Unlock()
	if old != nil {
		destroyMem(old)
	}
	return sealed, nil
}

// destroyMem zeroes every key of a ring that is no longer used. Remove
// waits for wraps in progress on that ring.
func destroyMem(m *crypto.MemoryKeyRing) {
	for _, ref := range m.Keys() {
		m.Remove(ref.ID, ref.Version)
	}
}

func (r *Ring) read() ([]byte, fileStamp, error) {
	b, err := readPrivate(r.path)
	if err != nil {
		return nil, fileStamp{}, err
	}
	st, err := os.Stat(r.path)
	if err != nil {
		clear(b)
		return nil, fileStamp{}, fmt.Errorf("key ring: %w", err)
	}
	return b, fileStamp{mod: st.ModTime(), size: st.Size(), sum: sha256.Sum256(b)}, nil
}

// Reload rereads the file if its content changed and reports whether it
// did. On error the ring keeps its previous keys.
func (r *Ring) Reload() (bool, error) {
	st, err := os.Stat(r.path)
	if err != nil {
		return false, fmt.Errorf("key ring: %w", err)
	}
	r.mu.RLock()
	cur := r.stamp
	r.mu.RUnlock()
	if st.ModTime().Equal(cur.mod) && st.Size() == cur.size {
		return false, nil
	}
	b, err := readPrivate(r.path)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(b)
	clear(b)
	if sum == cur.sum {
		r.mu.Lock()
		r.stamp.mod, r.stamp.size = st.ModTime(), st.Size()
		r.mu.Unlock()
		return false, nil
	}
	if _, err := r.load(); err != nil {
		return false, err
	}
	return true, nil
}

// Watch rereads the file every interval until ctx ends, calling changed
// after each reload that changed the keys (for example to purge a cache
// of data keys) and failed after each error (the ring keeps its keys).
func (r *Ring) Watch(ctx context.Context, interval time.Duration, changed func(), failed func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := r.Reload()
		switch {
		case err != nil && failed != nil:
			failed(err)
		case ok && changed != nil:
			changed()
		}
	}
}

// keyFor returns the key id bucket uses and the active version of it.
func (r *Ring) keyFor(bucket string) (string, uint32, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	id := DefaultKeyID
	if own, ok := r.file.Buckets[bucket]; ok && bucket != "" {
		id = own
	}
	shredded := false
	for _, k := range r.file.Keys {
		if k.ID != id {
			continue
		}
		if k.State == StateActive {
			return id, k.Version, nil
		}
		shredded = shredded || k.State == StateShredded
	}
	if shredded {
		return "", 0, fmt.Errorf("bucket %s: key %s: %w", bucket, id, ErrShredded)
	}
	return "", 0, fmt.Errorf("bucket %s: no active version of key %s: %w", bucket, id, crypto.ErrUnknownKey)
}

// Wrap implements [crypto.KeyWrapper].
func (r *Ring) Wrap(ctx context.Context, dataKey []byte, wc crypto.WrapContext) (crypto.WrappedKey, error) {
	for range 2 {
		id, v, err := r.keyFor(wc.Bucket)
		if err != nil {
			return crypto.WrappedKey{}, fmt.Errorf("wrap: %w", err)
		}
		r.mu.RLock()
		mem := r.mem
		r.mu.RUnlock()
		wk, err := mem.WrapWith(ctx, id, v, dataKey, wc)
		if errors.Is(err, crypto.ErrUnknownKey) {
			continue // a reload replaced the keys in between: look again
		}
		return wk, err
	}
	return crypto.WrappedKey{}, errors.New("wrap: the key ring changed twice during one wrap")
}

// Unwrap implements [crypto.KeyWrapper]. A key that was retired or
// shredded gives an error wrapping [ErrRetired] or [ErrShredded] (and
// [crypto.ErrUnknownKey]) that says when.
func (r *Ring) Unwrap(ctx context.Context, wk crypto.WrappedKey, wc crypto.WrapContext) ([]byte, error) {
	r.mu.RLock()
	mem := r.mem
	var gone *fileKey
	for i, k := range r.file.Keys {
		if k.ID == wk.KeyID && k.Version == wk.KeyVersion && k.Destroyed != nil {
			gone = &r.file.Keys[i]
		}
	}
	r.mu.RUnlock()
	if gone != nil {
		why := ErrRetired
		if gone.State == StateShredded {
			why = ErrShredded
		}
		return nil, fmt.Errorf("unwrap with %s v%d (destroyed %s): %w", wk.KeyID, wk.KeyVersion,
			gone.Destroyed.Format(time.RFC3339), errors.Join(why, crypto.ErrUnknownKey))
	}
	return mem.Unwrap(ctx, wk, wc)
}

// Keys lists every key version, sorted by id and version.
func (r *Ring) Keys() []KeyInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	byID := make(map[string][]string)
	for b, id := range r.file.Buckets {
		byID[id] = append(byID[id], b)
	}
	out := make([]KeyInfo, 0, len(r.file.Keys))
	for _, k := range r.file.Keys {
		ki := KeyInfo{ID: k.ID, Version: k.Version, State: k.State, Created: k.Created,
			Buckets: slices.Sorted(slices.Values(byID[k.ID]))}
		if k.Destroyed != nil {
			ki.Destroyed = *k.Destroyed
		}
		out = append(out, ki)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// Active implements [Provider]: it returns the key id and version that
// new objects in bucket are wrapped under.
func (r *Ring) Active(_ context.Context, bucket string) (string, uint32, error) {
	return r.keyFor(bucket)
}

// Close zeroes the ring's keys. The ring must not be used afterwards.
func (r *Ring) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mem != nil {
		destroyMem(r.mem)
	}
	clear(r.passphrase)
}

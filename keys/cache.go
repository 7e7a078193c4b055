package keys

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/cloakproxy/cloak/crypto"
)

// Cache is a [crypto.KeyWrapper] that keeps recently unwrapped data keys,
// so repeated reads of an object cost its provider (a KMS, an HSM) one
// call, not one per request. It is bounded in entries and in time, and
// zeroes a key when it leaves.
//
// An entry is keyed by a hash of the wrapped key (master key id, version,
// ciphertext) and of the wrap context. A rewrap gives an object a new
// ciphertext, so a rewrapped object misses the cache and unwraps under the
// new master key; a shredded or retired master key must also stop cached
// keys from working, which is what [Cache.Purge] is for (the server calls
// it whenever the key ring changes).
type Cache struct {
	next crypto.KeyWrapper
	lru  *expirable.LRU[[32]byte, *cachedKey]

	hits, misses atomic.Uint64
	// gen counts purges: a key unwrapped across a purge is not cached, so
	// an unwrap that started before a shred cannot refill the cache.
	gen     atomic.Uint64
	purgeMu sync.RWMutex // held to write while purging, to read while adding
}

// add caches key under id unless a purge happened since gen was read.
func (c *Cache) add(id [32]byte, key []byte, gen uint64) {
	c.purgeMu.RLock()
	defer c.purgeMu.RUnlock()
	if c.gen.Load() == gen {
		c.lru.Add(id, &cachedKey{key: append([]byte(nil), key...)})
	}
}

// cachedKey is one data key. Its lock orders reads against the zeroing on
// eviction, which the LRU performs under its own lock.
type cachedKey struct {
	mu   sync.RWMutex
	key  []byte
	dead bool
}

// NewCache returns a cache of at most size data keys, each kept for at
// most ttl, in front of next. size <= 0 disables caching: every call goes
// to next.
func NewCache(next crypto.KeyWrapper, size int, ttl time.Duration) *Cache {
	c := &Cache{next: next}
	if size > 0 {
		c.lru = expirable.NewLRU(size, func(_ [32]byte, v *cachedKey) {
			v.mu.Lock()
			clear(v.key)
			v.dead = true
			v.mu.Unlock()
		}, ttl)
	}
	return c
}

func cacheKey(wk crypto.WrappedKey, wc crypto.WrapContext) [32]byte {
	h := sha256.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(wk.KeyID)))
	h.Write(n[:])
	h.Write([]byte(wk.KeyID))
	binary.BigEndian.PutUint32(n[:], wk.KeyVersion)
	h.Write(n[:])
	binary.BigEndian.PutUint32(n[:], uint32(len(wk.Ciphertext)))
	h.Write(n[:])
	h.Write(wk.Ciphertext)
	h.Write(wc.AAD())
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Wrap wraps through the provider and remembers the pair, so the first
// read of a new object needs no unwrap.
func (c *Cache) Wrap(ctx context.Context, dataKey []byte, wc crypto.WrapContext) (crypto.WrappedKey, error) {
	gen := c.gen.Load()
	wk, err := c.next.Wrap(ctx, dataKey, wc)
	if err == nil && c.lru != nil {
		c.add(cacheKey(wk, wc), dataKey, gen)
	}
	return wk, err
}

// Unwrap returns a copy of a cached data key, or unwraps through the
// provider and caches the result. Failures are not cached.
func (c *Cache) Unwrap(ctx context.Context, wk crypto.WrappedKey, wc crypto.WrapContext) ([]byte, error) {
	if c.lru == nil {
		c.misses.Add(1)
		return c.next.Unwrap(ctx, wk, wc)
	}
	id := cacheKey(wk, wc)
	if v, ok := c.lru.Get(id); ok {
		v.mu.RLock()
		var out []byte
		if !v.dead {
			out = append([]byte(nil), v.key...)
		}
		v.mu.RUnlock()
		if out != nil {
			c.hits.Add(1)
			return out, nil
		}
	}
	c.misses.Add(1)
	gen := c.gen.Load()
	dk, err := c.next.Unwrap(ctx, wk, wc)
	if err != nil {
		return nil, err
	}
	c.add(id, dk, gen)
	return dk, nil
}

// Purge drops (and zeroes) every cached key.
func (c *Cache) Purge() {
	if c.lru != nil {
		c.purgeMu.Lock()
		c.gen.Add(1)
		c.lru.Purge()
		c.purgeMu.Unlock()
	}
}

// Stats returns how many unwraps the cache answered and how many went to
// the provider.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

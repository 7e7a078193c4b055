package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultKeyCacheSize is the number of signing keys a Verifier keeps when
// its Config does not say.
const DefaultKeyCacheSize = 1024

// keyCacheID names a signing key without holding the secret it came
// from: the secret appears only as a SHA-256 digest, domain-separated so
// that the digest is of no use elsewhere.
type keyCacheID struct {
	secret  [sha256.Size]byte
	date    string // yyyymmdd
	region  string
	service string
}

// keyCache is a bounded LRU of derived signing keys, so that the four
// HMACs of the key chain run once per secret, day, region and service.
// It is safe for concurrent use.
type keyCache struct {
	lru *lru.Cache[keyCacheID, []byte]
}

func newKeyCache(size int) *keyCache {
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	c, err := lru.New[keyCacheID, []byte](size)
	if err != nil { // only for size <= 0, excluded above
		panic("sigv4: " + err.Error())
	}
	return &keyCache{lru: c}
}

// signingKey returns the SigV4 signing key of secret for the scope, from
// the cache when it holds it. The returned slice must not be modified.
func (c *keyCache) signingKey(secret, date, region, service string) []byte {
	id := keyCacheID{secret: secretDigest(secret), date: date, region: region,
		service: service}
	if k, ok := c.lru.Get(id); ok {
		return k
	}
	k := deriveSigningKey(secret, date, region, service)
	c.lru.Add(id, k)
	return k
}

func secretDigest(secret string) [sha256.Size]byte {
	return sha256.Sum256([]byte("cloak sigv4 key cache\x00" + secret))
}

// deriveSigningKey runs the SigV4 key chain:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveSigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerminal)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

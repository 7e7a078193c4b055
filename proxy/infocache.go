package proxy

import (
	"fmt"
	"maps"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cloakproxy/cloak/backend"
)

// The info cache keeps the store's metadata (size, ETag, modification
// time, envelope and sealed metadata) of objects read recently, so that a
// range or part GET of an object read before needs one store request, not
// a HEAD and then a GET. Restores and restic read many ranges of each pack
// file, and every one of them used to pay for the HEAD.
//
// Cached info is never trusted on its own. The GET that fetches the range
// is pinned to the cached ETag, and its response, which carries the
// object's metadata as a HEAD's would, must match the cached info in every
// field Cloak uses; otherwise the read starts over from a HEAD before
// anything reached the client. The same happens on any error of a read
// that used cached info (a 304, 412 or 416 computed from it, a missing
// object, a key that no longer unwraps). A HEAD request from a client never
// uses the cache. The cache holds nothing secret: envelopes hold wrapped
// keys and the metadata is sealed.

// infoCacheSize bounds the number of objects whose info is kept.
const infoCacheSize = 4096

func newInfoCache() *lru.Cache[string, backend.ObjectInfo] {
	c, _ := lru.New[string, backend.ObjectInfo](infoCacheSize)
	return c
}

func infoKey(bucket, key string) string { return bucket + "\x00" + key }

// errUnconfirmed ends a read on cached info that made no store request to
// confirm it; the read starts over from a HEAD.
var errUnconfirmed = fmt.Errorf("cached object info not confirmed: %w",
	backend.ErrPreconditionFailed)

// confirm checks the info of a store response for obj against the info
// obj was opened with, when that came from the cache.
func (o *storedObject) confirm(got backend.ObjectInfo) error {
	if !o.unconfirmed {
		return nil
	}
	if !sameVersion(o.info, got) {
		return fmt.Errorf("object changed since its info was cached: %w", backend.ErrPreconditionFailed)
	}
	o.unconfirmed = false
	return nil
}

// sameVersion reports whether two infos of one key describe the same
// stored version with the same metadata.
func sameVersion(a, b backend.ObjectInfo) bool {
	sameTime := a.LastModified.Truncate(time.Second).Equal(b.LastModified.Truncate(time.Second))
	return a.ETag == b.ETag && a.Size == b.Size && sameTime && a.ContentType == b.ContentType &&
		maps.Equal(a.Metadata, b.Metadata)
}

// forget drops the cached info of an object this instance changed, which
// saves the next read a failed attempt. Other instances find out through
// the confirmation above.
func (s *Server) forget(bucket, key string) { s.infos.Remove(infoKey(bucket, key)) }

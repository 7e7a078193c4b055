package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
)

// Key maintenance on stored objects: finding which master key wraps each
// object's data key, and rewrapping data keys onto the active master key
// without touching the objects' data. "cloak keys" drives these through
// package bulk; the Server here is used without its HTTP side.

// KeyRef names a master key version.
type KeyRef struct {
	ID      string
	Version uint32
}

// StoredKey returns the master key that wraps the data key of a stored
// object, from its backend metadata. ok is false for an object without a
// Cloak envelope (plaintext); a damaged envelope is an error.
func StoredKey(meta map[string]string) (ref KeyRef, multipart, ok bool, err error) {
	text, found := meta[metaEnvelope]
	if !found {
		return KeyRef{}, false, false, nil
	}
	var env crypto.Envelope
	if err := env.UnmarshalText([]byte(text)); err != nil {
		return KeyRef{}, false, false, fmt.Errorf("envelope: %w", err)
	}
	return KeyRef{env.WrappedKey.KeyID, env.WrappedKey.KeyVersion}, env.Multipart, true, nil
}

// RewrapOptions select the objects that Rewrap moves.
type RewrapOptions struct {
	// Target is the master key the objects must end under: the active key
	// of the bucket. Objects already under it are left alone. The data
	// key is wrapped again with the Server's Keys, which must wrap under
	// Target (a provider whose active key changed since gives a newer
	// one, which is as good).
	Target KeyRef
	// FromVersion, when not zero, restricts the rewrap to objects whose
	// master key has this version.
	FromVersion uint32
}

// rewrapAttempts bounds the retries of a rewrap whose object changed
// between its HEAD and its conditional copy.
const rewrapAttempts = 3

// Rewrap moves the data key of the object obj of bucket onto opts.Target,
// without reading or rewriting its data: it unwraps the data key, wraps
// it again, and replaces the envelope in the object's metadata by copying
// the object onto itself, on condition that its ETag has not changed. An
// object a client rewrote or deleted meanwhile is read again and handled
// as it now is (a new write is normally under the active key already).
// obj may come from a listing; without metadata it is read with a HEAD.
// Rewrap reports whether it changed the object. Objects without an
// envelope (plaintext, in a migrating bucket) are left alone.
//
// The copy is the store's: S3 limits a copy in one request to 5 GiB, so
// on AWS S3 larger objects fail to rewrap (MinIO and the local store
// copy metadata of any size).
func (s *Server) Rewrap(ctx context.Context, bucket string, obj backend.ObjectInfo, opts RewrapOptions) (bool, error) {
	if isInternal(obj.Key) {
		return false, nil
	}
	for attempt := 0; ; attempt++ {
		if obj.Metadata == nil {
			head, err := s.opts.Store.HeadObject(ctx, bucket, obj.Key)
			if errors.Is(err, backend.ErrNoSuchKey) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			obj = head
		}
		changed, err := s.rewrapOnce(ctx, bucket, obj, opts)
		switch {
		case errors.Is(err, backend.ErrNoSuchKey):
			return false, nil
		case errors.Is(err, backend.ErrPreconditionFailed) && attempt+1 < rewrapAttempts:
			obj.Metadata = nil // changed meanwhile: look again
			continue
		case errors.Is(err, backend.ErrPreconditionFailed):
			return false, fmt.Errorf("rewrap %s: the object kept changing", obj.Key)
		}
		return changed, err
	}
}

func (s *Server) rewrapOnce(ctx context.Context, bucket string, obj backend.ObjectInfo, opts RewrapOptions) (bool, error) {
	text, found := obj.Metadata[metaEnvelope]
	if !found {
		return false, nil
	}
	var env crypto.Envelope
	if err := env.UnmarshalText([]byte(text)); err != nil {
		return false, fmt.Errorf("envelope: %w", errors.Join(err, crypto.ErrAuthentication))
	}
	cur := KeyRef{env.WrappedKey.KeyID, env.WrappedKey.KeyVersion}
	if cur == opts.Target || (opts.FromVersion != 0 && cur.Version != opts.FromVersion) {
		return false, nil
	}
	wc := env.WrapContext(bucket, obj.Key)
	raw, err := s.opts.Keys.Unwrap(ctx, env.WrappedKey, wc)
	if err != nil {
		return false, fmt.Errorf("unwrap data key: %w", err)
	}
	wk, err := s.opts.Keys.Wrap(ctx, raw, wc)
	clear(raw)
	if err != nil {
		return false, fmt.Errorf("wrap data key: %w", err)
	}
	if wk.KeyID == cur.ID && wk.KeyVersion == cur.Version {
		return false, nil // the provider still wraps under the old key
	}
	env.WrappedKey = wk
	newText, err := env.MarshalText()
	if err != nil {
		return false, err
	}
	meta := maps.Clone(obj.Metadata)
	meta[metaEnvelope] = string(newText)
	if _, err := s.opts.Store.CopyObject(ctx, bucket, obj.Key, bucket, obj.Key,
		backend.PutOptions{Metadata: meta, IfMatch: obj.ETag}); err != nil {
		return false, err
	}
	return true, nil
}

// UploadKeys calls fn with the master key of every multipart upload in
// progress in bucket. Rewrap cannot move those (the store keeps their
// envelope until they complete), so a key version still used by one must
// not be retired: finish or abort the upload, then rewrap the object.
func (s *Server) UploadKeys(ctx context.Context, bucket string, fn func(key KeyRef)) error {
	prefix := internalPrefix + "uploads/"
	token := ""
	for range 100_000 {
		page, err := s.opts.Store.ListObjects(ctx, bucket, backend.ListOptions{Prefix: prefix, ContinuationToken: token})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if !strings.HasSuffix(o.Key, "/state") {
				continue
			}
			b, err := s.getInternal(ctx, bucket, o.Key)
			if errors.Is(err, backend.ErrNoSuchKey) {
				continue // ended meanwhile
			}
			if err != nil {
				return err
			}
			var st uploadState
			if err := json.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("upload state %s: %w", o.Key, err)
			}
			ref, _, ok, err := StoredKey(map[string]string{metaEnvelope: st.Envelope})
			if err != nil || !ok {
				return fmt.Errorf("upload state %s: bad envelope", o.Key)
			}
			fn(ref)
		}
		if !page.IsTruncated || page.NextToken == "" {
			return nil
		}
		token = page.NextToken
	}
	return errors.New("upload listing did not end")
}

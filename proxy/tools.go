package proxy

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"strings"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
)

// Object tools: migration of plaintext objects, verification and offline
// reading of encrypted ones. "cloak migrate", "cloak verify" and "cloak
// decrypt" drive these over the store directly (through package bulk),
// with a Server that serves no HTTP.

// PlainInfo describes the plaintext of a stored object.
type PlainInfo struct {
	Size        int64
	ETag        string // the client-facing ETag, unquoted
	ContentType string
	// Metadata is the user metadata (names without x-amz-meta-).
	Metadata map[string]string
	// Plaintext reports an object that is not encrypted (served only
	// because the Server's Migrating option allows it).
	Plaintext bool
	// Key is the master key of an encrypted object.
	Key KeyRef
}

// OpenPlaintext opens the whole plaintext of bucket/key, decrypted and
// authenticated as it is read: a damaged object gives an error, never
// wrong bytes, and the reader fails before EOF if the object was cut
// short. The caller closes the reader.
func (s *Server) OpenPlaintext(ctx context.Context, bucket, key string) (io.ReadCloser, PlainInfo, error) {
	info, err := s.opts.Store.HeadObject(ctx, bucket, key)
	if err != nil {
		return nil, PlainInfo{}, err
	}
	obj, err := s.openObject(ctx, bucket, key, info)
	if err != nil {
		return nil, PlainInfo{}, err
	}
	pi := plainInfo(obj)
	rc, err := s.openRange(ctx, obj, 0, obj.size())
	if err != nil {
		obj.close()
		return nil, PlainInfo{}, err
	}
	return &closeBoth{ReadCloser: rc, after: obj.close}, pi, nil
}

func plainInfo(obj *storedObject) PlainInfo {
	pi := PlainInfo{Size: obj.size(), ETag: obj.etag, ContentType: obj.meta.ContentType,
		Metadata: maps.Clone(obj.meta.User), Plaintext: obj.plaintext}
	if ref, _, ok, err := StoredKey(obj.info.Metadata); ok && err == nil {
		pi.Key = ref
	}
	return pi
}

// closeBoth closes its reader, then runs after.
type closeBoth struct {
	io.ReadCloser
	after func()
}

func (c *closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.after()
	return err
}

// ErrNotEncrypted is wrapped by the errors for a stored object without a
// Cloak envelope outside the prefixes the Server treats as migrating.
var ErrNotEncrypted = errNotEncrypted

// ErrPlaintextObject is returned by Verify for an object without a Cloak
// envelope in a bucket or prefix the Server treats as migrating: it is
// not encrypted, so there is nothing to authenticate.
var ErrPlaintextObject = errors.New("the object is not encrypted (migrating)")

// Verify authenticates the stored object obj of bucket end to end: its
// envelope and wrapped data key, its sealed metadata, its manifest and
// part layout against the stored size, and then every chunk of every
// segment and each segment's trailer (key commitment, chunk order, part
// count, length). With quick it stops after the first chunk of each
// segment, which checks the headers, the commitment and the wrapped key
// without reading the data. obj may come from a listing; without metadata
// it is read with a HEAD. An object without an envelope fails (or, where
// the Server serves plaintext, returns ErrPlaintextObject).
func (s *Server) Verify(ctx context.Context, bucket string, obj backend.ObjectInfo, quick bool) error {
	info := obj
	if info.Metadata == nil {
		var err error
		if info, err = s.opts.Store.HeadObject(ctx, bucket, obj.Key); err != nil {
			return err
		}
	}
	o, err := s.openObject(ctx, bucket, obj.Key, info)
	if err != nil {
		return err
	}
	defer o.close()
	if o.plaintext {
		return ErrPlaintextObject
	}
	if !quick {
		return s.readAll(ctx, o, 0, o.size())
	}
	var off int64
	for _, seg := range o.layout {
		if seg.PlainSize > 0 {
			if err := s.readAll(ctx, o, off, 1); err != nil {
				return err
			}
		}
		off += seg.PlainSize
	}
	if o.size() == 0 {
		return s.readAll(ctx, o, 0, 0)
	}
	return nil
}

// readAll reads and discards the plaintext range [off, off+n) of o.
func (s *Server) readAll(ctx context.Context, o *storedObject, off, n int64) error {
	rc, err := s.openRange(ctx, o, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.Copy(io.Discard, rc)
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("read %d of %d plaintext bytes: %w", got, n, crypto.ErrAuthentication)
	}
	return nil
}

// MigrateOptions configure Migrate.
type MigrateOptions struct {
	// ToBucket, when set, stores the encrypted object there under the
	// same key and leaves the source as it is; otherwise the object is
	// encrypted in place.
	ToBucket string
}

// migrateAttempts bounds the retries of a migration whose object changed
// between its HEAD and its conditional write.
const migrateAttempts = 3

// errChangedDuringMigration is returned when an object kept changing.
var errChangedDuringMigration = errors.New("the object kept changing during migration; left as it is")

// Migrate encrypts the plaintext object obj of bucket (one written to the
// store before Cloak) in place, or into opts.ToBucket, streaming it
// through the same encryption as a PUT. The object keeps its user
// metadata, Content-Type and the ETag clients saw (its MD5 for a single
// upload, which is checked against the data as it streams).
//
// The write is conditional, so a client that changes the object meanwhile
// is never overwritten with stale data: in place, the write succeeds only
// if the object still has the ETag it was read with (else it is read
// again); into another bucket, only if the destination is still missing
// or the plaintext it was. Objects already encrypted are left alone, so a
// migration can be run again, or resumed, at any time. It reports whether
// it wrote anything.
//
// The object is stored as one segment in one PUT: stores that limit a
// PUT to 5 GiB (AWS S3) refuse larger objects.
func (s *Server) Migrate(ctx context.Context, bucket string, obj backend.ObjectInfo, opts MigrateOptions) (bool, error) {
	if isInternal(obj.Key) {
		return false, nil
	}
	for attempt := 0; attempt < migrateAttempts; attempt++ {
		wrote, err := s.migrateOnce(ctx, bucket, obj.Key, opts)
		if errors.Is(err, backend.ErrNoSuchKey) {
			return false, nil // deleted meanwhile
		}
		if !errors.Is(err, backend.ErrPreconditionFailed) {
			return wrote, err
		}
	}
	return false, errChangedDuringMigration
}

func (s *Server) migrateOnce(ctx context.Context, bucket, key string, opts MigrateOptions) (bool, error) {
	head, err := s.opts.Store.HeadObject(ctx, bucket, key)
	if err != nil {
		return false, err
	}
	if _, ok := head.Metadata[metaEnvelope]; ok {
		return false, nil // encrypted already
	}
	dst, cond := bucket, backend.PutOptions{IfMatch: head.ETag}
	if opts.ToBucket != "" {
		dst = opts.ToBucket
		existing, err := s.opts.Store.HeadObject(ctx, dst, key)
		switch {
		case errors.Is(err, backend.ErrNoSuchKey):
			cond = backend.PutOptions{IfNoneMatch: "*"}
		case err != nil:
			return false, err
		default:
			if _, ok := existing.Metadata[metaEnvelope]; ok {
				return false, nil // migrated, or written through Cloak, already
			}
			cond = backend.PutOptions{IfMatch: existing.ETag}
		}
	}
	src := &storedObject{bucket: bucket, key: key, info: head, plaintext: true, etag: head.ETag}
	rc, err := s.openRange(ctx, src, 0, head.Size)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	dk, err := crypto.NewDataKey(nil)
	if err != nil {
		return false, err
	}
	defer dk.Destroy()
	env, err := s.wrap(ctx, dk, dst, key, false)
	if err != nil {
		return false, err
	}
	meta := objectMeta{ContentType: head.ContentType, User: maps.Clone(head.Metadata)}
	if len(meta.User) == 0 {
		meta.User = nil
	}
	h := md5.New()
	body := &md5Check{r: io.TeeReader(rc, h), h: h}
	switch {
	case isMD5(head.ETag):
		meta.MD5, body.want = head.ETag, head.ETag
	case head.ETag != "":
		meta.MD5 = head.ETag // a multipart upload's "hex-N": keep what clients saw
	}
	if _, err := s.storeSegmentIf(ctx, dst, key, body, head.Size, dk, env, &meta,
		md5Attrs(func() []byte { return h.Sum(nil) }), cond); err != nil {
		return false, err
	}
	return true, nil
}

func isMD5(etag string) bool {
	if len(etag) != 32 {
		return false
	}
	_, err := hex.DecodeString(etag)
	return err == nil
}

// md5Check fails at EOF, in place of io.EOF, when the MD5 of what was
// read differs from want (when set): a source that changed or was
// damaged under a migration never becomes an encrypted object.
type md5Check struct {
	r    io.Reader
	h    hash.Hash
	want string
}

var errSourceMD5 = errors.New("the plaintext read does not match its ETag (MD5); nothing was written")

func (c *md5Check) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF && c.want != "" && !strings.EqualFold(hex.EncodeToString(c.h.Sum(nil)), c.want) {
		return n, errSourceMD5
	}
	return n, err
}

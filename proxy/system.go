package proxy

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
)

// maxSealedDocument bounds what SealedDocument.Read accepts.
const maxSealedDocument = 64 << 20

// SealedDocument is a small document that Cloak keeps for itself as an
// ordinary encrypted object (same format, envelope and key provider as a
// client's object) in one of its system buckets, written only
// conditionally. It implements access.Storage; the version is the
// store's ETag of the object. Because it is an ordinary Cloak object,
// "cloak keys rewrap", "retire" and "verify" see and handle it.
type SealedDocument struct {
	s           *Server
	bucket, key string
}

// SealedDocument returns the document stored at bucket/key.
func (s *Server) SealedDocument(bucket, key string) *SealedDocument {
	return &SealedDocument{s: s, bucket: bucket, key: key}
}

// Version implements access.Storage: the store's ETag, "" when there is
// no document.
func (d *SealedDocument) Version(ctx context.Context) (string, error) {
	info, err := d.s.opts.Store.HeadObject(ctx, d.bucket, d.key)
	if errors.Is(err, backend.ErrNoSuchKey) || errors.Is(err, backend.ErrNoSuchBucket) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return info.ETag, nil
}

// Read implements access.Storage: the document, decrypted and
// authenticated, and its version; nil and "" when there is none;
// access.ErrConflict when it was rewritten while being read.
func (d *SealedDocument) Read(ctx context.Context) ([]byte, string, error) {
	info, err := d.s.opts.Store.HeadObject(ctx, d.bucket, d.key)
	if errors.Is(err, backend.ErrNoSuchKey) || errors.Is(err, backend.ErrNoSuchBucket) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	obj, err := d.s.openObject(ctx, d.bucket, d.key, info)
	if err != nil {
		return nil, "", err
	}
	defer obj.close()
	if obj.plaintext || obj.size() > maxSealedDocument {
		return nil, "", fmt.Errorf("%s/%s is not a sealed document", d.bucket, d.key)
	}
	rc, err := d.s.openRange(ctx, obj, 0, obj.size())
	if err == nil {
		defer rc.Close()
	}
	var b []byte
	if err == nil {
		b, err = io.ReadAll(rc)
	}
	if errors.Is(err, backend.ErrPreconditionFailed) {
		return nil, "", access.ErrConflict // rewritten between the HEAD and the GET
	}
	if err != nil {
		return nil, "", err
	}
	if int64(len(b)) != obj.size() {
		return nil, "", fmt.Errorf("%s/%s: %w", d.bucket, d.key, crypto.ErrAuthentication)
	}
	return b, info.ETag, nil
}

// Write implements access.Storage: it stores doc if the stored version
// is still ifVersion ("" meaning no document may exist), else returns
// access.ErrConflict. It creates the bucket when it is missing.
func (d *SealedDocument) Write(ctx context.Context, doc []byte, ifVersion string) (string, error) {
	info, err := d.put(ctx, doc, ifVersion)
	if errors.Is(err, backend.ErrNoSuchBucket) {
		err = d.s.opts.Store.CreateBucket(ctx, d.bucket)
		if err != nil && !errors.Is(err, backend.ErrBucketExists) {
			return "", fmt.Errorf("create bucket %s: %w", d.bucket, err)
		}
		info, err = d.put(ctx, doc, ifVersion)
	}
	if errors.Is(err, backend.ErrPreconditionFailed) {
		return "", access.ErrConflict
	}
	if err != nil {
		return "", err
	}
	return info.ETag, nil
}

func (d *SealedDocument) put(ctx context.Context, doc []byte,
	ifVersion string) (backend.ObjectInfo, error) {
	dk, err := crypto.NewDataKey(nil)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	defer dk.Destroy()
	env, err := d.s.wrap(ctx, dk, d.bucket, d.key, false)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	sum := md5.Sum(doc)
	meta := objectMeta{ContentType: "application/json", MD5: hexMD5(sum[:])}
	cond := backend.PutOptions{IfMatch: ifVersion}
	if ifVersion == "" {
		cond = backend.PutOptions{IfNoneMatch: "*"}
	}
	return d.s.storeSegmentIf(ctx, d.bucket, d.key, bytes.NewReader(doc), int64(len(doc)), dk, env,
		&meta, md5Attrs(func() []byte { return sum[:] }), cond)
}

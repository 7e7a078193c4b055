package proxy

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat"
	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

// openSource opens the source of a copy and checks the
// x-amz-copy-source-if-* conditions against it.
func (s *Server) openSource(ctx context.Context, rq *request) (*storedObject, error) {
	src := rq.s3.CopySource
	if src.VersionID != "" && src.VersionID != "null" {
		return nil, s3err.ErrNotImplemented.WithMessage("Copying object versions is not supported.")
	}
	info, err := s.opts.Store.HeadObject(ctx, src.Bucket, src.Key)
	if err != nil {
		return nil, err
	}
	obj, err := s.openObject(ctx, src.Bucket, src.Key, info)
	if err != nil {
		return nil, err
	}
	state := s3compat.ObjectState{Exists: true, ETag: obj.etag, LastModified: info.LastModified}
	if err := s3compat.EvalCopySourceConditions(rq.r.Header, state); err != nil {
		obj.close()
		return nil, err
	}
	return obj, nil
}

// copyObject serves CopyObject. An encrypted source is copied inside the
// store, untouched: only its data key is rewrapped for the destination's
// name (the format binds the name into the wrap, not into the body), its
// metadata resealed, and, for a multipart object, its manifest copied. A
// plaintext source (in a migrating bucket) is read and encrypted.
func (s *Server) copyObject(ctx context.Context, rq *request) error {
	src, err := s.openSource(ctx, rq)
	if err != nil {
		return err
	}
	defer src.close()
	meta := src.meta
	switch d := strings.ToUpper(rq.r.Header.Get("X-Amz-Metadata-Directive")); d {
	case "", "COPY":
		if src.bucket == rq.s3.Bucket && src.key == rq.s3.Key {
			return s3err.ErrInvalidRequest.WithMessage("This copy request is illegal because it is trying to " +
				"copy an object to itself without changing the object's metadata.")
		}
	case "REPLACE":
		user, err := s3compat.UserMetadata(rq.r.Header)
		if err != nil {
			return err
		}
		meta = metaFromRequest(rq.r.Header, user)
		meta.MD5, meta.ChecksumAlgorithm, meta.Checksum = src.meta.MD5, src.meta.ChecksumAlgorithm, src.meta.Checksum
	default:
		return s3err.ErrInvalidArgument.WithMessagef("Unknown metadata directive %q.", d)
	}
	var info backend.ObjectInfo
	etag := src.etag
	if src.plaintext {
		info, etag, err = s.encryptCopy(ctx, rq, src, &meta)
	} else {
		info, err = s.rewrapCopy(ctx, rq.s3.Bucket, rq.s3.Key, src, &meta)
	}
	if err != nil {
		return err
	}
	return s3xml.Write(rq.w, http.StatusOK, s3xml.CopyObjectResult{ETag: s3xml.ETag(etag),
		LastModified: s3xml.Time{Time: modTime(info.LastModified)}})
}

// rewrapCopy copies an encrypted object inside the store under a new
// envelope.
func (s *Server) rewrapCopy(ctx context.Context, bucket, key string, src *storedObject, meta *objectMeta) (backend.ObjectInfo, error) {
	multipart := len(src.layout) > 1 || src.layout[0].Number != 0
	env, err := s.wrap(ctx, src.dk, bucket, key, multipart)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	sealed, err := sealedMeta(src.dk, meta)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	md := map[string]string{metaEnvelope: env, metaSealed: sealed}
	if multipart {
		token := newToken()
		manifest, err := s.getInternal(ctx, src.bucket, manifestKey(src.info.Metadata[metaManifest]))
		if err != nil {
			return backend.ObjectInfo{}, err
		}
		if err := s.putInternal(ctx, bucket, manifestKey(token), manifest); err != nil {
			return backend.ObjectInfo{}, err
		}
		md[metaManifest] = token
	}
	return s.opts.Store.CopyObject(ctx, src.bucket, src.key, bucket, key, backend.PutOptions{Metadata: md})
}

// encryptCopy reads a plaintext source and stores it encrypted.
func (s *Server) encryptCopy(ctx context.Context, rq *request, src *storedObject, meta *objectMeta) (backend.ObjectInfo, string, error) {
	rc, err := s.openRange(ctx, src, 0, src.size())
	if err != nil {
		return backend.ObjectInfo{}, "", err
	}
	defer rc.Close()
	dk, err := crypto.NewDataKey(nil)
	if err != nil {
		return backend.ObjectInfo{}, "", err
	}
	defer dk.Destroy()
	env, err := s.wrap(ctx, dk, rq.s3.Bucket, rq.s3.Key, false)
	if err != nil {
		return backend.ObjectInfo{}, "", err
	}
	if len(src.info.ETag) == 32 && !strings.Contains(src.info.ETag, "-") {
		meta.MD5 = src.info.ETag // a plaintext object's single-part ETag is its MD5
	}
	h := md5.New()
	sum := func() []byte { return h.Sum(nil) }
	info, err := s.storeSegment(ctx, rq.s3.Bucket, rq.s3.Key, io.TeeReader(rc, h), src.size(), dk, env, meta,
		md5Attrs(sum))
	return info, clientETag(meta.MD5, info.ETag), err
}

// uploadPartCopy serves UploadPartCopy: the source range is decrypted
// and encrypted again as a part of the upload, under the upload's key.
func (s *Server) uploadPartCopy(ctx context.Context, rq *request) error {
	src, err := s.openSource(ctx, rq)
	if err != nil {
		return err
	}
	defer src.close()
	off, n := int64(0), src.size()
	if v := rq.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		rng, err := s3compat.ParseCopySourceRange(v, n)
		if err != nil {
			return err
		}
		off, n = rng.Start, rng.Length
	}
	if err := s3compat.CheckPartSize(n); err != nil {
		return err
	}
	dk, _, err := s.uploadKey(ctx, rq.s3.Bucket, rq.s3.Key, rq.s3.UploadID)
	if err != nil {
		return err
	}
	defer dk.Destroy()
	rc, err := s.openRange(ctx, src, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := md5.New()
	sum := func() []byte { return h.Sum(nil) }
	info, err := s.storePart(ctx, rq.s3.Bucket, rq.s3.Key, rq.s3.UploadID, rq.s3.PartNumber, io.TeeReader(rc, h), n,
		dk, md5Attrs(sum), sum)
	if err != nil {
		return err
	}
	return s3xml.Write(rq.w, http.StatusOK, s3xml.CopyPartResult{ETag: s3xml.ETag(hex.EncodeToString(h.Sum(nil))),
		LastModified: s3xml.Time{Time: modTime(info.LastModified)}})
}

// modTime is t, or now when the store did not say (some stores report no
// time for a write).
func modTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

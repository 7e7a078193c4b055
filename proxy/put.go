package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat"
	"github.com/cloakproxy/cloak/s3compat/checksum"
	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// putObject encrypts and stores one object. The body is verified as it
// streams (signature, Content-MD5, checksums); the object becomes visible
// only if all of it verified, because the encryptor seals the last chunk
// only after the verifying reader reached a clean EOF, and a store never
// commits a sized upload that is short of bytes.
//
// The ETag is the plaintext MD5 whenever it is known before the object is
// stored: from Content-MD5 (verified by the end of the body), or by
// buffering a body of at most SmallObjectLimit bytes when the client may
// check the ETag as an MD5 (see wantsMD5ETag). Other bodies stream through,
// and their ETag derives from the store's.
func (s *Server) putObject(ctx context.Context, rq *request) error {
	user, err := s3compat.UserMetadata(rq.r.Header)
	if err != nil {
		return err
	}
	body, err := s.requestBody(rq)
	if err != nil {
		return err
	}
	if body.size < 0 {
		return s3err.ErrMissingContentLength
	}
	if err := s3compat.CheckPutSize(body.size); err != nil {
		return err
	}
	meta := metaFromRequest(rq.r.Header, user)
	meta.setKnownDigests(body.spec)
	var src io.Reader = body
	// A small body is buffered when a digest that belongs in its sealed
	// metadata is known only at its end: the MD5 for an ETag the client may
	// check, or a checksum sent in a trailer (GET returns it to clients
	// that ask). Whatever is not needed is not computed.
	needMD5 := meta.MD5 == "" && body.wantsMD5ETag()
	needSum := meta.ChecksumAlgorithm == "" && body.spec.Algorithm != checksum.None
	if !needMD5 || body.size > s.opts.SmallObjectLimit {
		// Nothing needs the MD5, which would cost more CPU than the
		// encryption; the ETag will derive from the store's.
		body.SkipMD5()
	}
	if (needMD5 || needSum) && body.size <= s.opts.SmallObjectLimit {
		buf, release, err := s.bufferBody(ctx, body)
		if err != nil {
			return err
		}
		defer release()
		if needMD5 {
			meta.MD5 = hexMD5(body.MD5())
		}
		meta.setComputedChecksum(body.Reader)
		src = bytes.NewReader(buf)
	}
	dk, err := crypto.NewDataKey(nil)
	if err != nil {
		return err
	}
	defer dk.Destroy()
	env, err := s.wrap(ctx, dk, rq.s3.Bucket, rq.s3.Key, false)
	if err != nil {
		return err
	}
	info, err := s.storeSegment(ctx, rq.s3.Bucket, rq.s3.Key, src, body.size, dk, env, &meta, bodyAttrs(body))
	if err != nil {
		return err
	}
	h := rq.w.Header()
	h.Set("ETag", quote(clientETag(meta.MD5, info.ETag)))
	if alg, sum := body.Sum(); alg != checksum.None {
		h.Set(alg.Header(), alg.Encode(sum))
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// setKnownDigests records the digests a request declares in its headers:
// they are verified by the end of the body, before the object can become
// visible, so they may be stored with it from the start.
func (m *objectMeta) setKnownDigests(spec checksum.Spec) {
	if spec.MD5 != nil {
		m.MD5 = hexMD5(spec.MD5)
	}
	if spec.Algorithm != checksum.None && spec.Expected != nil {
		m.ChecksumAlgorithm, m.Checksum = spec.Algorithm.String(), spec.Algorithm.Encode(spec.Expected)
	}
}

// setComputedChecksum records the checksum computed over a body read to
// its end.
func (m *objectMeta) setComputedChecksum(r *checksum.Reader) {
	if alg, sum := r.Sum(); alg != checksum.None {
		m.ChecksumAlgorithm, m.Checksum = alg.String(), alg.Encode(sum)
	}
}

// storeSegment encrypts src (size bytes of plaintext) as a single-part
// object and stores it with its envelope and sealed metadata. attrs gives
// the trailer's attribute block once src is exhausted.
func (s *Server) storeSegment(ctx context.Context, bucket, key string, src io.Reader, size int64,
	dk *crypto.DataKey, env string, meta *objectMeta, attrs func() [crypto.AttributesSize]byte) (backend.ObjectInfo, error) {
	return s.storeSegmentIf(ctx, bucket, key, src, size, dk, env, meta, attrs, backend.PutOptions{})
}

// storeSegmentIf is storeSegment with the write conditions of cond
// (IfMatch, IfNoneMatch); its metadata is ignored.
func (s *Server) storeSegmentIf(ctx context.Context, bucket, key string, src io.Reader, size int64,
	dk *crypto.DataKey, env string, meta *objectMeta, attrs func() [crypto.AttributesSize]byte,
	cond backend.PutOptions) (backend.ObjectInfo, error) {
	sealed, err := sealedMeta(dk, meta)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	rec := &errRecorder{r: &sizeCheck{r: countSealed(ctx, src), want: size}}
	er, err := crypto.NewEncryptReader(rec, dk, 0, nil, attrs)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	defer er.Close()
	cond.Metadata = map[string]string{metaEnvelope: env, metaSealed: sealed}
	info, err := s.opts.Store.PutObject(ctx, bucket, key, er, crypto.SegmentCiphertextSize(size), cond)
	if rec.err != nil {
		// The client's body failed verification or ended early: report
		// that, not how the store reacted to the aborted upload.
		return backend.ObjectInfo{}, rec.err
	}
	return info, err
}

// bodyAttrs returns the trailer attributes of a verified request body:
// its MD5 and checksum, read once the body is exhausted.
func bodyAttrs(b *body) func() [crypto.AttributesSize]byte {
	return func() [crypto.AttributesSize]byte {
		alg, sum := b.Sum()
		return encodeAttrs(b.MD5(), alg, sum)
	}
}

// md5Attrs returns trailer attributes holding only an MD5.
func md5Attrs(sum func() []byte) func() [crypto.AttributesSize]byte {
	return func() [crypto.AttributesSize]byte { return encodeAttrs(sum(), checksum.None, nil) }
}

// wrap wraps dk for bucket/key and returns the envelope text.
func (s *Server) wrap(ctx context.Context, dk *crypto.DataKey, bucket, key string, multipart bool) (string, error) {
	raw := dk.Bytes()
	defer clear(raw)
	wk, err := s.opts.Keys.Wrap(ctx, raw, crypto.WrapContext{Bucket: bucket, Key: key, Multipart: multipart})
	if err != nil {
		return "", fmt.Errorf("wrap data key: %w", err)
	}
	text, err := (&crypto.Envelope{Multipart: multipart, WrappedKey: wk}).MarshalText()
	if err != nil {
		return "", err
	}
	return string(text), nil
}

// bufferBody reads a small body whole and verifies it. The buffer counts
// against the server's buffer budget until release is called, which also
// clears it.
func (s *Server) bufferBody(ctx context.Context, b *body) ([]byte, func(), error) {
	if err := s.buffers.acquire(ctx, b.size); err != nil {
		return nil, nil, err
	}
	buf := make([]byte, b.size)
	release := func() {
		clear(buf)
		s.buffers.release(b.size)
	}
	if _, err := io.ReadFull(b, buf); err != nil {
		release()
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, nil, s3err.ErrIncompleteBody
		}
		return nil, nil, err
	}
	if err := expectEOF(b); err != nil {
		release()
		return nil, nil, err
	}
	return buf, release, nil
}

// expectEOF reads r to its end, which is where the verifying readers
// report a mismatch, and fails if any byte is left.
func expectEOF(r io.Reader) error {
	var one [1]byte
	for range 100 {
		switch k, err := r.Read(one[:]); {
		case k > 0:
			return errBodyTooLong
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}

var errBodyTooLong = s3err.ErrInvalidRequest.WithMessage("The body is longer than its declared length.")

// errRecorder remembers the first error other than io.EOF that its reader
// returned.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// sizeCheck fails a body that is shorter or longer than its declared size.
type sizeCheck struct {
	r    io.Reader
	want int64
	got  int64
}

func (c *sizeCheck) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.got += int64(n)
	if c.got > c.want {
		return n, errBodyTooLong
	}
	if errors.Is(err, io.EOF) && c.got < c.want {
		return n, s3err.ErrIncompleteBody
	}
	return n, err
}

func quote(etag string) string { return `"` + etag + `"` }

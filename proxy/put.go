package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

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
func (s *Server) putObject(ctx context.Context, rq *request) error {
	user, err := s3compat.UserMetadata(rq.r.Header)
	if err != nil {
		return err
	}
	body, size, err := s.requestBody(rq)
	if err != nil {
		return err
	}
	if size < 0 {
		return s3err.ErrMissingContentLength
	}
	if err := s3compat.CheckPutSize(size); err != nil {
		return err
	}
	meta := metaFromRequest(rq.r.Header, user)
	dk, err := crypto.NewDataKey(nil)
	if err != nil {
		return err
	}
	defer dk.Destroy()
	env, err := s.wrap(ctx, dk, rq.s3.Bucket, rq.s3.Key, false)
	if err != nil {
		return err
	}
	var info backend.ObjectInfo
	if size <= s.opts.SmallObjectLimit {
		info, err = s.putBuffered(ctx, rq, body, size, dk, env, &meta)
	} else {
		info, err = s.putStreamed(ctx, rq, body, size, dk, env, &meta)
	}
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

// bufferPool holds plaintext buffers for small objects.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putBuffered reads a small body whole, so that its MD5 and checksum are
// known and sealed into the metadata before the object is stored.
func (s *Server) putBuffered(ctx context.Context, rq *request, body *checksum.Reader, size int64,
	dk *crypto.DataKey, env string, meta *objectMeta) (backend.ObjectInfo, error) {
	plain := bufferPool.Get().(*bytes.Buffer)
	defer func() { clearBuffer(plain); bufferPool.Put(plain) }()
	plain.Grow(int(size))
	if err := readExactly(plain, body, size); err != nil {
		return backend.ObjectInfo{}, err
	}
	meta.MD5 = hexMD5(body.MD5())
	alg, sum := body.Sum()
	if alg != checksum.None {
		meta.ChecksumAlgorithm, meta.Checksum = alg.String(), alg.Encode(sum)
	}
	sealed, err := sealedMeta(dk, meta)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	ct := bufferPool.Get().(*bytes.Buffer)
	defer func() { ct.Reset(); bufferPool.Put(ct) }()
	ctSize := crypto.SegmentCiphertextSize(size)
	ct.Grow(int(ctSize))
	w, err := crypto.NewWriter(ct, dk, 0, nil)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	w.SetAttributes(encodeAttrs(body.MD5(), alg, sum))
	if _, err := w.Write(plain.Bytes()); err != nil {
		return backend.ObjectInfo{}, err
	}
	if err := w.Close(); err != nil {
		return backend.ObjectInfo{}, err
	}
	return s.opts.Store.PutObject(ctx, rq.s3.Bucket, rq.s3.Key, bytes.NewReader(ct.Bytes()), ctSize,
		backend.PutOptions{Metadata: map[string]string{metaEnvelope: env, metaSealed: sealed}})
}

// readExactly copies exactly size bytes of body into dst and then reads
// body to its end, which is where the verifying readers report a
// mismatch.
func readExactly(dst *bytes.Buffer, body io.Reader, size int64) error {
	n, err := dst.ReadFrom(io.LimitReader(body, size))
	if err != nil {
		return err
	}
	if n < size {
		return s3err.ErrIncompleteBody
	}
	var one [1]byte
	switch k, err := body.Read(one[:]); {
	case k > 0:
		return s3err.ErrInvalidRequest.WithMessage("The body is longer than its declared length.")
	case err == io.EOF:
		return nil
	case err == nil:
		return readExactly(dst, body, 0) // a reader may return 0, nil
	default:
		return err
	}
}

func clearBuffer(b *bytes.Buffer) {
	clear(b.Bytes()[:b.Cap()])
	b.Reset()
}

// putStreamed encrypts a large body on its way to the store. Its MD5 is
// known only at the end, so it goes into the segment trailer, and the ETag
// is derived from the store's.
func (s *Server) putStreamed(ctx context.Context, rq *request, body *checksum.Reader, size int64,
	dk *crypto.DataKey, env string, meta *objectMeta) (backend.ObjectInfo, error) {
	sealed, err := sealedMeta(dk, meta)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	src := &errRecorder{r: &sizeCheck{r: body, want: size}}
	er, err := crypto.NewEncryptReader(src, dk, 0, nil, func() [crypto.AttributesSize]byte {
		alg, sum := body.Sum()
		return encodeAttrs(body.MD5(), alg, sum)
	})
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	defer er.Close()
	info, err := s.opts.Store.PutObject(ctx, rq.s3.Bucket, rq.s3.Key, er, crypto.SegmentCiphertextSize(size),
		backend.PutOptions{Metadata: map[string]string{metaEnvelope: env, metaSealed: sealed}})
	if src.err != nil {
		// The client's body failed verification or ended early: report
		// that, not how the store reacted to the aborted upload.
		return backend.ObjectInfo{}, src.err
	}
	return info, err
}

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
		return n, s3err.ErrInvalidRequest.WithMessage("The body is longer than its declared length.")
	}
	if errors.Is(err, io.EOF) && c.got < c.want {
		return n, s3err.ErrIncompleteBody
	}
	return n, err
}

func quote(etag string) string { return `"` + etag + `"` }

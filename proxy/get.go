package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat"
	"github.com/cloakproxy/cloak/s3compat/checksum"
	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// getObject serves GetObject and HeadObject: it opens the object's
// envelope, answers conditional and range headers against the plaintext,
// and streams the authenticated plaintext of the range, fetching only the
// ciphertext that covers it.
//
// A GET of a whole object costs the store one request, whose response
// carries the metadata and the body together. Any other read needs the
// metadata first, to learn the layout: from a HEAD, or from the info of a
// recent read of the same object (see infoCache). The range is then fetched
// pinned to the ETag that metadata gave; when the object was replaced in
// between, the pin fails and the read starts over on a fresh HEAD, so a
// client never sees a precondition it did not set.
func (s *Server) getObject(ctx context.Context, rq *request) error {
	saved := rq.w.Header().Clone()
	for attempts, useCache := 0, true; ; useCache = false {
		cached, err := s.getObjectOnce(ctx, rq, useCache)
		if err == nil || rq.w.wroteHeader {
			return err
		}
		if !cached {
			if attempts++; attempts == pinAttempts || !errors.Is(err, backend.ErrPreconditionFailed) {
				return err
			}
		}
		// Start over from a HEAD, with none of this attempt's headers. An
		// attempt on cached info ends here on any error: whatever went
		// wrong may be the staleness of that info.
		s.infos.Remove(infoKey(rq.s3.Bucket, rq.s3.Key))
		clear(rq.w.Header())
		maps.Copy(rq.w.Header(), saved)
	}
}

// pinAttempts bounds how often a read starts over because the object was
// replaced between its HEAD and its GET (an attempt on cached info that
// failed does not count).
const pinAttempts = 3

// getObjectOnce is one attempt of getObject. It may use cached info when
// useCache is set, and reports whether it did.
func (s *Server) getObjectOnce(ctx context.Context, rq *request,
	useCache bool) (cached bool, err error) {
	info, whole, cached, err := s.fetchObject(ctx, rq, useCache)
	if err != nil {
		return cached, err
	}
	if whole != nil {
		defer whole.Close()
	}
	obj, err := s.openObject(ctx, rq.s3.Bucket, rq.s3.Key, info)
	if err != nil {
		return cached, err
	}
	defer obj.close()
	obj.unconfirmed = cached
	state := s3compat.ObjectState{Exists: true, ETag: obj.etag, LastModified: info.LastModified}
	if err := s3compat.EvalConditions(rq.r.Header, rq.r.Method, state); err != nil {
		if errors.Is(err, s3err.ErrNotModified) {
			setObjectHeaders(rq.w.Header(), obj)
		}
		return cached, err
	}
	size := obj.size()
	off, n, partial, err := requestedRange(rq, obj)
	if err != nil {
		rq.w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return cached, err
	}
	var body io.ReadCloser
	if rq.s3.Op != s3compat.OpHeadObject {
		if obj.plaintext {
			if err := s.refuseStrippedCiphertext(ctx, obj); err != nil {
				return cached, err
			}
		}
		if body, err = s.openBody(ctx, obj, whole, off, n); err != nil {
			return cached, err
		}
		defer body.Close()
	}
	if obj.unconfirmed {
		// No fetch checked the cached info against the store.
		return cached, errUnconfirmed
	}
	h := rq.w.Header()
	if rq.s3.PartNumber > 0 && len(obj.layout) > 1 {
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(len(obj.layout)))
	}
	setObjectHeaders(h, obj)
	if !partial {
		setChecksumHeader(h, rq.r.Header, obj)
	}
	for name, v := range s3compat.ResponseOverrides(rq.s3.Query) {
		h[name] = v
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size))
		status = http.StatusPartialContent
	}
	if body == nil {
		rq.w.WriteHeader(status)
		return cached, nil
	}
	return cached, s.sendBody(rq, body, status, n)
}

// fetchObject returns the stored object's info and, for a GET of the
// whole object, its open body (the whole stored object), from one request
// to the store. Other reads get the info only: a GET of a range or part
// takes it from the info cache when useCache is set and it has the
// object, and reports that in cached; otherwise it comes from a HEAD.
func (s *Server) fetchObject(ctx context.Context, rq *request,
	useCache bool) (info backend.ObjectInfo, whole io.ReadCloser, cached bool, err error) {
	k := infoKey(rq.s3.Bucket, rq.s3.Key)
	switch {
	case rq.s3.Op != s3compat.OpHeadObject && rq.s3.PartNumber == 0 && rq.r.Header.Get("Range") == "":
		whole, info, err = s.opts.Store.GetObject(ctx, rq.s3.Bucket, rq.s3.Key, 0, -1,
			backend.GetOptions{})
	case rq.s3.Op != s3compat.OpHeadObject && useCache:
		if info, cached = s.infos.Get(k); cached {
			return info, nil, true, nil
		}
		fallthrough
	default:
		info, err = s.opts.Store.HeadObject(ctx, rq.s3.Bucket, rq.s3.Key)
	}
	if err != nil {
		return backend.ObjectInfo{}, nil, false, err
	}
	s.infos.Add(k, info)
	return info, whole, false, nil
}

// openBody returns the plaintext bytes [off, off+n) of obj: from whole,
// the whole stored object when fetchObject opened it, else from a fetch
// of the ciphertext that covers the range. Closing the result does not
// close whole.
func (s *Server) openBody(ctx context.Context, obj *storedObject, whole io.Reader,
	off, n int64) (io.ReadCloser, error) {
	switch {
	case whole == nil:
		return s.openRange(ctx, obj, off, n)
	case obj.plaintext:
		return io.NopCloser(whole), nil
	}
	rc, err := crypto.NewReader(whole, obj.dk, obj.layout)
	if err != nil {
		return nil, err
	}
	return countOpened(ctx, rc), nil
}

// firstBufs holds the buffers in which sendBody keeps the first plaintext
// of a response until it commits to a status. They are cleared before
// they go back, so no plaintext outlives its response.
var firstBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// sendBody writes the status and the n bytes of body. It decrypts the
// first chunk before committing to a status, so that an object damaged at
// its start (or opened with the wrong key) gets a proper error response
// rather than a cut-off body. Damage found later aborts the connection.
func (s *Server) sendBody(rq *request, body io.Reader, status int, n int64) error {
	bufp := firstBufs.Get().(*[]byte)
	first := (*bufp)[:min(n, int64(len(*bufp)))]
	defer func() { clear(first); firstBufs.Put(bufp) }()
	k, err := io.ReadFull(body, first)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	rq.w.WriteHeader(status)
	_, err = rq.w.Write(first[:k])
	if err == nil {
		_, err = io.Copy(rq.w, body)
	}
	if err != nil {
		// The status line is gone; abort the connection so the client
		// sees a truncated response, never a complete-looking one.
		rq.w.s3Code, rq.w.cause = toS3(err).Code, err
		if isTampering(err) {
			rq.tampered = true
		}
		s.finish(rq)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// requestedRange returns the plaintext range a GET or HEAD asks for: a
// part (partNumber), a Range header, or the whole object.
func requestedRange(rq *request, obj *storedObject) (off, n int64, partial bool, err error) {
	size := obj.size()
	if pn := rq.s3.PartNumber; pn > 0 {
		if obj.plaintext || len(obj.layout) == 1 && obj.layout[0].Number == 0 {
			if pn != 1 {
				return 0, 0, false, s3err.ErrInvalidPart.WithMessage("The object has only part 1.")
			}
			return 0, size, false, nil
		}
		for _, p := range obj.layout {
			if int(p.Number) == pn {
				return off, p.PlainSize, true, nil
			}
			off += p.PlainSize
		}
		return 0, 0, false, s3err.ErrInvalidPart.WithMessagef("The object has no part %d.", pn)
	}
	rng, ok, err := s3compat.ParseRange(rq.r.Header.Get("Range"), size)
	if err != nil || !ok {
		return 0, size, false, err
	}
	return rng.Start, rng.Length, true, nil
}

// openRange returns the plaintext bytes [off, off+n) of obj. Every fetch
// is pinned to the ETag the object was opened with.
func (s *Server) openRange(ctx context.Context, obj *storedObject, off, n int64) (io.ReadCloser, error) {
	pin := backend.GetOptions{IfMatch: obj.info.ETag}
	get := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		rc, info, err := s.opts.Store.GetObject(ctx, obj.bucket, obj.key, off, n, pin)
		if err != nil {
			return nil, err
		}
		if err := obj.confirm(info); err != nil {
			rc.Close()
			return nil, err
		}
		return rc, nil
	}
	if obj.plaintext {
		if n == 0 {
			return io.NopCloser(eofReader{}), nil
		}
		return get(ctx, off, n)
	}
	open := func(ctx context.Context, off, n int64) (io.ReadCloser, error) {
		if n == crypto.HeaderSize {
			return s.segmentHeader(ctx, obj, off)
		}
		return get(ctx, off, n)
	}
	rc, err := crypto.OpenRange(ctx, open, obj.dk, obj.layout, off, n)
	if err != nil {
		return nil, err
	}
	return countOpened(ctx, rc), nil
}

// errStrippedEnvelope is the integrity failure of an object served as
// plaintext (in a migrating bucket) that holds Cloak ciphertext: someone
// removed its envelope, and its bytes must not be served as data.
var errStrippedEnvelope = fmt.Errorf("object without an envelope holds cloak ciphertext: %w",
	crypto.ErrAuthentication)

// refuseStrippedCiphertext reads the first bytes of an object about to be
// served as plaintext and fails if they begin a Cloak segment. It costs one
// small read per GET, only for objects without an envelope.
func (s *Server) refuseStrippedCiphertext(ctx context.Context, obj *storedObject) error {
	if obj.info.Size < crypto.HeaderSize {
		return nil
	}
	rc, _, err := s.opts.Store.GetObject(ctx, obj.bucket, obj.key, 0, crypto.SegmentPrefixSize,
		backend.GetOptions{IfMatch: obj.info.ETag})
	if err != nil {
		return err
	}
	defer rc.Close()
	var prefix [crypto.SegmentPrefixSize]byte
	if _, err := io.ReadFull(rc, prefix[:]); err != nil {
		return fmt.Errorf("read the start of a plaintext object: %w", err)
	}
	if crypto.LooksLikeSegment(prefix[:]) {
		return errStrippedEnvelope
	}
	return nil
}

// segmentHeader returns the segment header at stored offset off of obj,
// from the cache when this version of the object was read before. A range
// that starts after a segment's first chunk needs the header (salt and key
// commitment) on its own; the cache saves that store request on repeated
// range reads of one object. Headers are not secret, and the reader checks
// each against the data key's commitment, so a stale one fails
// authentication rather than decrypting anything. crypto.OpenRange asks
// for exactly HeaderSize bytes only for a header: any other fetch holds at
// least a sealed chunk or a trailer beside it.
func (s *Server) segmentHeader(ctx context.Context, obj *storedObject, off int64) (io.ReadCloser, error) {
	k := obj.bucket + "\x00" + obj.key + "\x00" + obj.info.ETag + "\x00" + strconv.FormatInt(off, 10)
	if h, ok := s.headers.Get(k); ok {
		return io.NopCloser(bytes.NewReader(h)), nil
	}
	rc, _, err := s.opts.Store.GetObject(ctx, obj.bucket, obj.key, off, crypto.HeaderSize,
		backend.GetOptions{IfMatch: obj.info.ETag})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h := make([]byte, crypto.HeaderSize)
	if _, err := io.ReadFull(rc, h); err != nil {
		return nil, fmt.Errorf("read segment header: %w", err)
	}
	s.headers.Add(k, h)
	return io.NopCloser(bytes.NewReader(h)), nil
}

// setObjectHeaders sets the headers GET and HEAD share.
func setObjectHeaders(h http.Header, obj *storedObject) {
	obj.meta.writeHeaders(h)
	h.Set("ETag", quote(obj.etag))
	h.Set("Last-Modified", obj.info.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
}

// setChecksumHeader returns the stored checksum when the client asks for
// it with x-amz-checksum-mode: ENABLED, as S3 does, for responses that
// carry the whole object: a client validates the body it got against it,
// so a range or part must not carry the whole object's. Only checksums
// known before the object was stored are kept in its metadata.
func setChecksumHeader(h http.Header, req http.Header, obj *storedObject) {
	if !strings.EqualFold(req.Get("X-Amz-Checksum-Mode"), "ENABLED") || obj.meta.ChecksumAlgorithm == "" {
		return
	}
	if alg, ok := checksum.ParseAlgorithm(obj.meta.ChecksumAlgorithm); ok {
		h.Set(alg.Header(), obj.meta.Checksum)
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

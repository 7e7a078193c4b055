package crypto

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
)

// segmentPlan says which part of one segment a [Reader] reads from its
// ciphertext stream and which plaintext bytes it returns.
type segmentPlan struct {
	part  uint32
	plain int64 // plaintext size of the whole segment
	// first and last are the data chunks present in the stream; last is
	// first-1 when there are none.
	first, last int64
	// header holds the segment header when it is not in the stream (a
	// range that starts after the first chunk); nil otherwise.
	header []byte
	// trailer reports whether the stream holds the trailer after chunk
	// last (which is then the final chunk).
	trailer bool
	// skip plaintext bytes are dropped, then take bytes are returned.
	skip, take int64
}

// Reader decrypts ciphertext read from a stream and returns plaintext. It
// is returned by [NewReader] for whole objects and by [OpenRange] for
// plaintext ranges.
//
// Every chunk is authenticated before any of its bytes are returned, and
// the key commitment of each segment is checked before its first chunk is
// decrypted. On any failure Read returns an error wrapping
// [ErrAuthentication] (or the source's error) and no plaintext from the
// failing chunk on; the error is sticky. io.EOF is returned only after the
// last requested byte, and, where the plan includes them, after the
// segment trailers have been verified and the stream was found to end
// exactly where it should.
//
// A Reader is not safe for concurrent use. Close releases its buffer and
// closes any source that [OpenRange] opened.
type Reader struct {
	src     io.Reader
	closers []io.Closer
	dk      *DataKey
	plans   []segmentPlan
	cur     int
	aead    cipher.AEAD // of plans[cur]; nil before its header is read
	chunk   int64       // next chunk index within plans[cur]
	nonce   [nonceSize]byte
	buf     *[]byte
	out     []byte
	err     error
	trails  []Trailer
}

// NewReader returns a Reader of the whole plaintext of an object whose
// complete ciphertext is read from src in order. layout describes the
// object's segments: [SinglePartFromCiphertext] of the stored size for a
// single-part object, the opened manifest for a multipart one. The Reader
// fails if src holds more or fewer bytes than layout implies.
//
// The Reader keeps dk; the caller must not destroy it before the Reader is
// done. Close does not close src.
func NewReader(src io.Reader, dk *DataKey, layout Layout) (*Reader, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	plans := make([]segmentPlan, len(layout))
	for i, p := range layout {
		plans[i] = fullPlan(p)
	}
	return newReader(src, dk, plans), nil
}

func fullPlan(p Part) segmentPlan {
	return segmentPlan{
		part: p.Number, plain: p.PlainSize,
		first: 0, last: chunkCount(p.PlainSize) - 1,
		trailer: true, take: p.PlainSize,
	}
}

func newReader(src io.Reader, dk *DataKey, plans []segmentPlan) *Reader {
	return &Reader{src: src, dk: dk, plans: plans, buf: getChunkBuf()}
}

// Read fills p with authenticated plaintext. When p has room for the next
// sealed chunk and all of that chunk's plaintext is to be returned, the
// chunk is read into p and opened there in place; p then holds plaintext
// only once the chunk's tag has verified.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.directFits(len(p)) {
			plain, err := r.openChunk(&r.plans[r.cur], p)
			if err != nil {
				r.err = err
				r.release()
				return 0, err
			}
			return len(plain), nil
		}
		r.err = r.advance()
		if r.err != nil {
			r.release()
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// WriteTo writes the remaining plaintext to w without an intermediate
// copy. It implements io.WriterTo, so io.Copy uses it.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.out) > 0 {
			n, err := w.Write(r.out)
			total += int64(n)
			r.out = r.out[n:]
			if err != nil {
				return total, err
			}
			continue
		}
		if r.err != nil {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		r.err = r.advance()
		if r.err != nil {
			r.release()
		}
	}
}

// Trailers returns the verified trailers of the segments read so far whose
// plan included the trailer, in order. After a whole-object read reaches
// io.EOF it holds one trailer per segment.
func (r *Reader) Trailers() []Trailer { return r.trails }

// Close releases the chunk buffer and closes the sources opened by
// OpenRange. Reads after Close fail.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = errClosed
	}
	r.release()
	var err error
	for _, c := range r.closers {
		err = errors.Join(err, c.Close())
	}
	r.closers = nil
	return err
}

func (r *Reader) release() {
	putChunkBuf(r.buf)
	r.buf = nil
	r.out = nil
}

// advance decrypts the next unit of the stream (a header, a chunk or a
// trailer) and leaves any plaintext to return in r.out. It returns io.EOF
// when the plan is complete.
func (r *Reader) advance() error {
	if r.cur == len(r.plans) {
		return r.checkEnd()
	}
	plan := &r.plans[r.cur]
	switch {
	case r.aead == nil:
		return r.openHeader(plan)
	case r.chunk <= plan.last:
		var err error
		r.out, err = r.openChunk(plan, *r.buf)
		return err
	default:
		if plan.trailer {
			if err := r.openTrailer(plan); err != nil {
				return err
			}
		}
		r.cur++
		r.aead = nil
		return nil
	}
}

func (r *Reader) openHeader(plan *segmentPlan) error {
	raw := plan.header
	if raw == nil {
		raw = (*r.buf)[:HeaderSize]
		if err := r.readFull(raw); err != nil {
			return err
		}
	}
	h, err := parseHeader(raw)
	if err != nil {
		return err
	}
	aead, err := openSegment(r.dk, h, plan.part)
	if err != nil {
		return err
	}
	r.aead = aead
	r.chunk = plan.first
	return nil
}

// directFits reports whether the next unit is a data chunk that Read can
// open in place in a caller's slice of n bytes: the whole sealed chunk
// fits and none of its plaintext is skipped or cut off.
func (r *Reader) directFits(n int) bool {
	if r.aead == nil || r.cur == len(r.plans) {
		return false
	}
	plan := &r.plans[r.cur]
	if r.chunk > plan.last || plan.skip > 0 {
		return false
	}
	size := chunkPlainSize(plan.plain, r.chunk)
	return plan.take >= size && int64(n) >= size+TagSize
}

// openChunk reads the next sealed chunk into buf, opens it there in place
// and returns the plaintext the plan asks for. On failure it returns an
// error and buf holds no plaintext.
func (r *Reader) openChunk(plan *segmentPlan, buf []byte) ([]byte, error) {
	size := chunkPlainSize(plan.plain, r.chunk)
	sealed := buf[:size+TagSize]
	if err := r.readFull(sealed); err != nil {
		return nil, err
	}
	kind := kindData
	if r.chunk == chunkCount(plan.plain)-1 {
		kind = kindFinalData
	}
	chunkNonce(&r.nonce, uint64(r.chunk), kind)
	plain, err := r.aead.Open(sealed[:0], r.nonce[:], sealed, nil)
	if err != nil {
		// crypto/cipher clears the output on failure; clear it here too
		// so the contract does not rest on that.
		clear(sealed)
		return nil, fmt.Errorf("chunk: %w", ErrAuthentication)
	}
	r.chunk++
	if plan.skip > 0 {
		drop := min(plan.skip, int64(len(plain)))
		plain = plain[drop:]
		plan.skip -= drop
	}
	if int64(len(plain)) > plan.take {
		plain = plain[:plan.take]
	}
	plan.take -= int64(len(plain))
	return plain, nil
}

func (r *Reader) openTrailer(plan *segmentPlan) error {
	sealed := (*r.buf)[:TrailerSize]
	if err := r.readFull(sealed); err != nil {
		return err
	}
	chunkNonce(&r.nonce, uint64(chunkCount(plan.plain)), kindTrailer)
	plain, err := r.aead.Open(sealed[:0], r.nonce[:], sealed, nil)
	if err != nil {
		return fmt.Errorf("trailer: %w", ErrAuthentication)
	}
	t := parseTrailer(plain)
	if t.PlaintextSize != plan.plain {
		return fmt.Errorf("trailer size: %w", ErrAuthentication)
	}
	r.trails = append(r.trails, t)
	return nil
}

// checkEnd makes sure the stream ends where the plan does: extra bytes
// mean the stored object is longer than its layout says.
func (r *Reader) checkEnd() error {
	var one [1]byte
	n, err := io.ReadFull(r.src, one[:])
	switch {
	case n > 0:
		return fmt.Errorf("data after the end of the ciphertext: %w", ErrAuthentication)
	case err == io.EOF:
		return io.EOF
	default:
		return fmt.Errorf("read ciphertext: %w", err)
	}
}

// readFull reads exactly len(b) bytes of ciphertext. A stream that ends
// early is reported as io.ErrUnexpectedEOF: the caller sized the stream
// from the stored object, so a short stream is a transport failure.
func (r *Reader) readFull(b []byte) error {
	_, err := io.ReadFull(r.src, b)
	switch {
	case err == nil:
		return nil
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return fmt.Errorf("ciphertext ended early: %w", io.ErrUnexpectedEOF)
	default:
		return fmt.Errorf("read ciphertext: %w", err)
	}
}

// RangeOpener returns the stored ciphertext bytes [offset, offset+length)
// of one object. The caller of OpenRange owns nothing it returns: the
// Reader closes it.
type RangeOpener func(ctx context.Context, offset, length int64) (io.ReadCloser, error)

// OpenRange returns a Reader of the plaintext bytes [off, off+n) of an
// object described by layout, fetching through open only the ciphertext
// that covers them: the sealed chunks that hold the range, the headers of
// the segments involved, and the trailers of the segments whose last chunk
// is read. When the range does not start at the first chunk of a segment,
// that segment's header is fetched with a separate call.
//
// The range must lie within the plaintext; [ErrInvalidSize] otherwise. A
// range of zero bytes fetches nothing, except for an empty object, whose
// segments are fetched and verified. For a multipart object the caller
// must check that the stored size equals layout.CiphertextSize() before
// trusting a read that does not reach the end.
func OpenRange(ctx context.Context, open RangeOpener, dk *DataKey, layout Layout, off, n int64) (*Reader, error) {
	if err := layout.Validate(); err != nil {
		return nil, err
	}
	total := layout.PlainSize()
	if off < 0 || n < 0 || off > total-n {
		return nil, fmt.Errorf("range %d+%d of %d bytes: %w", off, n, total, ErrInvalidSize)
	}
	if n == 0 && total > 0 {
		return newReader(eofReader{}, dk, nil), nil
	}
	if n == 0 || (off == 0 && n == total) {
		plans := make([]segmentPlan, len(layout))
		for i, p := range layout {
			plans[i] = fullPlan(p)
		}
		return openPlans(ctx, open, dk, plans, 0, layout.CiphertextSize())
	}
	return openPartial(ctx, open, dk, layout, off, n)
}

// openPartial plans and opens a range that is neither empty nor the whole
// object.
func openPartial(ctx context.Context, open RangeOpener, dk *DataKey, layout Layout, off, n int64) (*Reader, error) {
	var plans []segmentPlan
	var start, end, headerAt int64 = -1, 0, -1
	var plainPos, cipherPos int64
	for _, p := range layout {
		segCipher := SegmentCiphertextSize(p.PlainSize)
		lo, hi := max(off, plainPos), min(off+n, plainPos+p.PlainSize)
		inside := start >= 0 && off+n > plainPos+p.PlainSize
		switch {
		case lo < hi:
			span, err := SegmentChunkSpan(p.PlainSize, lo-plainPos, hi-lo)
			if err != nil {
				return nil, err
			}
			plan := segmentPlan{
				part: p.Number, plain: p.PlainSize,
				first: span.FirstChunk, last: span.LastChunk,
				trailer: span.LastChunk == chunkCount(p.PlainSize)-1,
				skip:    span.Skip, take: hi - lo,
			}
			if start < 0 {
				start = cipherPos + span.CipherOffset
				if span.FirstChunk == 0 {
					start = cipherPos
				} else {
					headerAt = cipherPos
				}
			}
			end = cipherPos + span.CipherOffset + span.CipherLength
			if plan.trailer {
				end = cipherPos + segCipher
			}
			plans = append(plans, plan)
		case inside:
			// An empty segment between the first and last touched ones
			// lies inside the contiguous stream: verify it.
			plans = append(plans, fullPlan(p))
			end = cipherPos + segCipher
		}
		plainPos += p.PlainSize
		cipherPos += segCipher
	}
	if headerAt >= 0 {
		hdr, err := fetch(ctx, open, headerAt, HeaderSize)
		if err != nil {
			return nil, err
		}
		plans[0].header = hdr
	}
	return openPlans(ctx, open, dk, plans, start, end-start)
}

func openPlans(ctx context.Context, open RangeOpener, dk *DataKey, plans []segmentPlan, off, n int64) (*Reader, error) {
	rc, err := open(ctx, off, n)
	if err != nil {
		return nil, fmt.Errorf("open ciphertext range: %w", err)
	}
	r := newReader(rc, dk, plans)
	r.closers = []io.Closer{rc}
	return r, nil
}

// fetch reads a small ciphertext range whole.
func fetch(ctx context.Context, open RangeOpener, off, n int64) ([]byte, error) {
	rc, err := open(ctx, off, n)
	if err != nil {
		return nil, fmt.Errorf("open ciphertext range: %w", err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("read ciphertext range: %w", err)
	}
	return b, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

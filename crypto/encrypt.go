package crypto

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"sync"
)

// chunkPool holds sealed-chunk-sized buffers shared by encryptors and
// decryptors. Buffers are cleared before they go back, so no plaintext
// outlives the stream that used it.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, sealedChunkSize); return &b }}

func getChunkBuf() *[]byte { return chunkPool.Get().(*[]byte) }

func putChunkBuf(b *[]byte) {
	if b == nil {
		return
	}
	clear(*b)
	chunkPool.Put(b)
}

var errClosed = errors.New("cloak/crypto: use of closed stream")

// sealer holds the per-segment state shared by [Writer] and
// [EncryptReader]: the chunk cipher, the next chunk index and the running
// plaintext size.
type sealer struct {
	aead  cipher.AEAD
	hdr   [HeaderSize]byte
	index uint64
	size  int64
	nonce [nonceSize]byte
}

// newSealer draws a fresh salt and derives the segment keys.
func newSealer(dk *DataKey, part uint32, random io.Reader) (*sealer, error) {
	if part > MaxPartNumber {
		return nil, fmt.Errorf("part number %d exceeds %d", part, MaxPartNumber)
	}
	h := header{part: part}
	if err := readRandom(random, h.salt[:]); err != nil {
		return nil, fmt.Errorf("generate segment salt: %w", err)
	}
	aead, commit, err := segmentKeys(dk, part, h.salt[:])
	if err != nil {
		return nil, err
	}
	h.commitment = commit
	return &sealer{aead: aead, hdr: h.marshal()}, nil
}

// sealChunk encrypts buf[:n] in place as the next data chunk and returns
// the sealed bytes, which occupy buf[:n+TagSize].
func (s *sealer) sealChunk(buf []byte, n int, final bool) []byte {
	return s.sealChunkTo(buf, buf[:n], final)
}

// sealChunkTo encrypts plain as the next data chunk into dst, which must
// hold len(plain)+TagSize bytes and either be plain's own buffer (in
// place) or not overlap it, and returns the sealed bytes.
func (s *sealer) sealChunkTo(dst, plain []byte, final bool) []byte {
	kind := kindData
	if final {
		kind = kindFinalData
	}
	chunkNonce(&s.nonce, s.index, kind)
	s.index++
	s.size += int64(len(plain))
	return s.aead.Seal(dst[:0], s.nonce[:], plain, nil)
}

// sealTrailer seals the segment trailer into buf and returns it.
func (s *sealer) sealTrailer(buf []byte, attrs *[AttributesSize]byte) []byte {
	t := Trailer{PlaintextSize: s.size}
	if attrs != nil {
		t.Attributes = *attrs
	}
	plain := t.marshal()
	chunkNonce(&s.nonce, s.index, kindTrailer)
	return s.aead.Seal(buf[:0], s.nonce[:], plain[:], nil)
}

// Writer encrypts one segment: everything written to it is sealed in
// chunks and written to the underlying writer. Close must be called to
// seal the last chunk and the trailer; until then the output is not a
// valid segment.
//
// A Writer holds one chunk of plaintext at a time. Its errors are sticky:
// after a failed write, every later call returns the same error. Close
// does not close the underlying writer.
type Writer struct {
	dst   io.Writer
	s     *sealer
	buf   *[]byte
	n     int // plaintext bytes buffered in *buf
	attrs [AttributesSize]byte
	err   error
	began bool
}

// NewWriter returns a Writer that encrypts a segment with part number part
// (0 for a single-part object) under dk, drawing the segment salt from
// random (crypto/rand when nil). The header is written on the first Write
// or on Close.
func NewWriter(dst io.Writer, dk *DataKey, part uint32, random io.Reader) (*Writer, error) {
	s, err := newSealer(dk, part, random)
	if err != nil {
		return nil, err
	}
	return &Writer{dst: dst, s: s, buf: getChunkBuf()}, nil
}

// SetAttributes sets the attribute block sealed into the trailer. It may
// be called any time before Close.
func (w *Writer) SetAttributes(a [AttributesSize]byte) { w.attrs = a }

// Write encrypts p. It returns len(p) unless an error occurred.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if err := w.begin(); err != nil {
		return 0, err
	}
	written := 0
	for len(p) > 0 {
		// A full buffer is sealed only once more data arrives: the last
		// chunk of the segment must carry the final flag.
		if w.n == ChunkSize {
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
		if w.n == 0 && len(p) > ChunkSize {
			// A whole chunk with more after it cannot be the last: seal
			// it straight from p, without staging it.
			if err := w.sealFrom(p[:ChunkSize]); err != nil {
				return written, err
			}
			written += ChunkSize
			p = p[ChunkSize:]
			continue
		}
		c := copy((*w.buf)[w.n:ChunkSize], p)
		w.n += c
		written += c
		p = p[c:]
	}
	return written, nil
}

// Close seals the buffered chunk as the final one, then the trailer, and
// releases the buffer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		if errors.Is(w.err, errClosed) {
			return nil
		}
		return w.err
	}
	if err := w.begin(); err != nil {
		return err
	}
	if w.n > 0 {
		if err := w.flush(true); err != nil {
			return err
		}
	}
	if _, err := w.dst.Write(w.s.sealTrailer(*w.buf, &w.attrs)); err != nil {
		return w.fail(fmt.Errorf("write trailer: %w", err))
	}
	putChunkBuf(w.buf)
	w.buf = nil
	w.err = errClosed
	return nil
}

func (w *Writer) begin() error {
	if w.began {
		return nil
	}
	w.began = true
	if _, err := w.dst.Write(w.s.hdr[:]); err != nil {
		return w.fail(fmt.Errorf("write header: %w", err))
	}
	return nil
}

func (w *Writer) flush(final bool) error {
	sealed := w.s.sealChunk(*w.buf, w.n, final)
	w.n = 0
	if _, err := w.dst.Write(sealed); err != nil {
		return w.fail(fmt.Errorf("write chunk: %w", err))
	}
	return nil
}

// sealFrom seals plain, a whole chunk known not to be the last, out of
// place into the buffer and writes it.
func (w *Writer) sealFrom(plain []byte) error {
	sealed := w.s.sealChunkTo(*w.buf, plain, false)
	if _, err := w.dst.Write(sealed); err != nil {
		return w.fail(fmt.Errorf("write chunk: %w", err))
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = err
	putChunkBuf(w.buf)
	w.buf = nil
	return err
}

// EncryptReader encrypts a plaintext stream as one segment, on demand:
// reading from it yields the segment's ciphertext. It is the pull-style
// counterpart of [Writer], for handing an encrypting stream to an upload
// client.
//
// It holds one chunk of plaintext plus one byte of look-ahead, so it reads
// the source in chunk-sized pieces. Errors from the source are returned
// wrapped and are sticky. An EncryptReader releases its buffer when it
// returns io.EOF or an error, or on Close.
type EncryptReader struct {
	src   io.Reader
	s     *sealer
	attrs func() [AttributesSize]byte
	buf   *[]byte
	out   []byte // sealed bytes not yet returned
	look  [1]byte
	ahead bool // look holds the first byte of the next chunk
	state encState
	err   error
}

type encState int

const (
	encChunks encState = iota
	encTrailer
	encDone
)

// NewEncryptReader returns a reader of the ciphertext of the segment with
// part number part whose plaintext is read from src. attrs, when not nil,
// is called once after src reaches io.EOF, and its result is sealed into
// the trailer (so a caller can hash the plaintext on its way in and seal
// the digest).
func NewEncryptReader(src io.Reader, dk *DataKey, part uint32, random io.Reader,
	attrs func() [AttributesSize]byte) (*EncryptReader, error) {
	s, err := newSealer(dk, part, random)
	if err != nil {
		return nil, err
	}
	r := &EncryptReader{src: src, s: s, attrs: attrs, buf: getChunkBuf()}
	r.out = r.s.hdr[:]
	return r, nil
}

// Read fills p with ciphertext. When p has room for a whole sealed chunk,
// the plaintext is read straight into p and sealed there in place.
func (r *EncryptReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.out) == 0 {
			if r.err != nil {
				break
			}
			if r.state == encChunks && len(p)-n >= sealedChunkSize {
				var sealed []byte
				sealed, r.err = r.nextChunk(p[n:])
				if r.err != nil {
					r.release()
				}
				n += len(sealed)
				continue
			}
			r.err = r.next()
			continue
		}
		c := copy(p[n:], r.out)
		r.out = r.out[c:]
		n += c
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

// WriteTo writes the remaining ciphertext to w, chunk by chunk, without
// an intermediate copy. It implements io.WriterTo, so io.Copy uses it.
func (r *EncryptReader) WriteTo(w io.Writer) (int64, error) {
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
		r.err = r.next()
	}
}

// Close releases the buffer. Reading after Close returns an error.
func (r *EncryptReader) Close() error {
	if r.err == nil {
		r.err = errClosed
	}
	r.release()
	return nil
}

func (r *EncryptReader) release() {
	putChunkBuf(r.buf)
	r.buf = nil
	r.out = nil
}

// next produces the next piece of output into r.out, or returns io.EOF or
// an error (after which the buffer is released).
func (r *EncryptReader) next() error {
	var err error
	switch r.state {
	case encChunks:
		r.out, err = r.nextChunk(*r.buf)
	case encTrailer:
		var attrs *[AttributesSize]byte
		if r.attrs != nil {
			a := r.attrs()
			attrs = &a
		}
		r.out = r.s.sealTrailer(*r.buf, attrs)
		r.state = encDone
		return nil
	default:
		err = io.EOF
	}
	if err != nil {
		r.release()
	}
	return err
}

// nextChunk reads one chunk of plaintext into buf, which must hold a
// sealed chunk, and seals it there in place. It returns the sealed bytes,
// none when the source had no more data.
func (r *EncryptReader) nextChunk(buf []byte) ([]byte, error) {
	n := 0
	if r.ahead {
		buf[0] = r.look[0]
		n, r.ahead = 1, false
	}
	m, err := io.ReadFull(r.src, buf[n:ChunkSize])
	n += m
	final := false
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		final = true
	case err != nil:
		return nil, fmt.Errorf("read plaintext: %w", err)
	default:
		// A full chunk: look one byte ahead to learn whether it is the
		// last.
		k, err := io.ReadFull(r.src, r.look[:])
		switch {
		case k == 1:
			r.ahead = true
		case err == io.EOF:
			final = true
		default:
			return nil, fmt.Errorf("read plaintext: %w", err)
		}
	}
	if final {
		r.state = encTrailer
	}
	if n == 0 {
		return nil, nil // empty segment, or the look-ahead found nothing
	}
	return r.s.sealChunk(buf, n, final), nil
}

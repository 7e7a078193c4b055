package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// Limits of the aws-chunked decoder.
const (
	// MaxChunkSize is the largest chunk accepted. A signed chunk is held
	// whole until its signature verified, so this bounds memory per
	// stream. Clients send 64 KiB (SDKs) to 1 MiB (botocore).
	MaxChunkSize = 16 << 20
	// maxLineLen bounds a chunk header line and a trailer line.
	maxLineLen = 4096
	// maxTrailerBytes bounds the whole trailer section.
	maxTrailerBytes = 16 << 10
	// readerBufSize is the bufio buffer in front of the body.
	readerBufSize = 8 << 10
)

const (
	chunkSigPrefix   = ";chunk-signature="
	payloadAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
	trailerSigName   = "x-amz-trailer-signature"
)

// chunkDecoder decodes and verifies an aws-chunked body.
type chunkDecoder struct {
	br       *bufio.Reader
	signed   bool // chunk signatures present (STREAMING-AWS4-HMAC-SHA256-*)
	trailers bool // trailing headers follow the final chunk
	chain    chunkChain
	declared int64    // x-amz-decoded-content-length, -1 if absent
	names    []string // names declared in x-amz-trailer
	decoded  int64

	buf     []byte // signed mode: the current verified chunk
	pending []byte // the part of buf not yet returned
	left    int64  // unsigned mode: bytes left in the current chunk
	trail   http.Header
	err     error // sticky; io.EOF after a verified end
}

// chunkChain computes the chained chunk and trailer signatures.
type chunkChain struct {
	key     []byte
	amzDate string
	scope   string
	prev    []byte // the previous signature
}

func (a *Auth) newChunkDecoder(r *http.Request, body io.Reader) (*chunkDecoder, error) {
	declared, err := decodedLength(r.Header)
	if err != nil {
		return nil, err
	}
	m := a.PayloadMode
	return &chunkDecoder{
		br:       bufio.NewReaderSize(body, readerBufSize),
		signed:   m == PayloadStreaming || m == PayloadStreamingTrailer,
		trailers: m.HasTrailer(),
		chain: chunkChain{key: a.signingKey, amzDate: a.Time.UTC().Format(amzDateFormat),
			scope: a.scope, prev: a.seed},
		declared: declared,
		names:    declaredTrailers(r.Header),
	}, nil
}

// decodedLength parses x-amz-decoded-content-length; -1 when absent.
func decodedLength(h http.Header) (int64, error) {
	v := h.Get("X-Amz-Decoded-Content-Length")
	if v == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, s3err.ErrInvalidArgument.WithMessage(
			"x-amz-decoded-content-length must be a non-negative integer")
	}
	return n, nil
}

// declaredTrailers returns the lowercase names listed in x-amz-trailer.
func declaredTrailers(h http.Header) []string {
	var names []string
	for _, v := range h.Values("X-Amz-Trailer") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

// Read implements io.Reader.
func (d *chunkDecoder) Read(p []byte) (int, error) {
	for d.err == nil {
		if len(d.pending) > 0 {
			n := copy(p, d.pending)
			d.pending = d.pending[n:]
			return n, nil
		}
		if d.left > 0 {
			return d.readUnsigned(p)
		}
		d.err = d.nextChunk()
	}
	return 0, d.err
}

func (d *chunkDecoder) trailer() http.Header {
	if d.err != io.EOF {
		return nil
	}
	return d.trail
}

// readUnsigned copies data of an unsigned chunk straight from the body.
func (d *chunkDecoder) readUnsigned(p []byte) (int, error) {
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.br.Read(p)
	d.left -= int64(n)
	if err == io.EOF {
		err = errTruncated()
	}
	if err == nil && d.left == 0 {
		err = d.readCRLF()
	}
	if err != nil {
		d.err = bodyReadError(err)
	}
	return n, nil
}

// nextChunk reads the next chunk header and, in signed mode, the whole
// chunk and its verification. It returns io.EOF after a verified end.
func (d *chunkDecoder) nextChunk() error {
	size, sig, err := d.readChunkHeader()
	if err != nil {
		return err
	}
	if d.declared >= 0 && d.decoded+size > d.declared {
		return s3err.ErrIncompleteBody.WithMessage(
			"the decoded body is longer than x-amz-decoded-content-length")
	}
	d.decoded += size
	if !d.signed {
		if size == 0 {
			return d.finish()
		}
		d.left = size
		return nil
	}
	return d.readSignedChunk(size, sig)
}

// readSignedChunk reads a signed chunk whole, verifies it and releases
// it; the zero-length chunk ends the payload.
func (d *chunkDecoder) readSignedChunk(size int64, sig []byte) error {
	if int64(cap(d.buf)) < size {
		d.buf = make([]byte, size)
	}
	data := d.buf[:size]
	if _, err := io.ReadFull(d.br, data); err != nil {
		return bodyReadError(eofAsTruncated(err))
	}
	h := sha256.Sum256(data)
	if !d.chain.verify(payloadAlgorithm, emptySHA256Hex+"\n"+hex.EncodeToString(h[:]), sig) {
		return s3err.ErrSignatureDoesNotMatch.WithMessage(
			"The chunk signature does not match the signature derived from the request.")
	}
	if size == 0 {
		return d.finish()
	}
	if err := d.readCRLF(); err != nil {
		return err
	}
	d.pending = data
	return nil
}

// verify checks sig against the next signature of the chain and, when it
// matches, advances the chain.
func (c *chunkChain) verify(alg, tail string, sig []byte) bool {
	want := c.sign(alg, tail)
	if !hmac.Equal(want, sig) {
		return false
	}
	c.prev = want
	return true
}

// sign returns the signature following the chain, without advancing it.
func (c *chunkChain) sign(alg, tail string) []byte {
	return hmacSHA256(c.key, alg+"\n"+c.amzDate+"\n"+c.scope+"\n"+
		hex.EncodeToString(c.prev)+"\n"+tail)
}

// readChunkHeader reads "hex-size;chunk-signature=sig\r\n" (signed) or
// "hex-size\r\n" (unsigned).
func (d *chunkDecoder) readChunkHeader() (int64, []byte, error) {
	line, err := d.readLine()
	if err != nil {
		return 0, nil, err
	}
	sizeText, sigText, hasSig := strings.Cut(string(line), chunkSigPrefix)
	if hasSig != d.signed {
		return 0, nil, malformedChunk("chunk signature missing or unexpected")
	}
	size, err := parseChunkSize(sizeText)
	if err != nil {
		return 0, nil, err
	}
	if !d.signed {
		return size, nil, nil
	}
	sig, err := hex.DecodeString(sigText)
	if err != nil || len(sig) != sha256.Size {
		return 0, nil, malformedChunk("chunk signature is not 64 hexadecimal characters")
	}
	return size, sig, nil
}

func parseChunkSize(s string) (int64, error) {
	if s == "" || len(s) > 8 {
		return 0, malformedChunk("bad chunk size")
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, malformedChunk("bad chunk size")
	}
	if n > MaxChunkSize {
		return 0, malformedChunk("chunk larger than " + strconv.Itoa(MaxChunkSize) + " bytes")
	}
	return int64(n), nil
}

// readLine reads one CRLF-terminated line of at most maxLineLen bytes and
// returns it without the CRLF.
func (d *chunkDecoder) readLine() ([]byte, error) {
	line, err := d.readRawLine()
	if err == io.EOF {
		return nil, errTruncated() // the final chunk is missing
	}
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return nil, malformedChunk("chunk header line not ended by CRLF")
	}
	return line[:len(line)-2], nil
}

// readRawLine reads up to and including '\n', bounded by maxLineLen. The
// result is valid until the next read.
func (d *chunkDecoder) readRawLine() ([]byte, error) {
	line, err := d.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > maxLineLen:
		return nil, malformedChunk("line too long")
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err != nil:
		return nil, bodyReadError(eofAsTruncated(err))
	}
	return line, nil
}

func (d *chunkDecoder) readCRLF() error {
	var crlf [2]byte
	if _, err := io.ReadFull(d.br, crlf[:]); err != nil {
		return bodyReadError(eofAsTruncated(err))
	}
	if crlf != [2]byte{'\r', '\n'} {
		return malformedChunk("chunk data not followed by CRLF")
	}
	return nil
}

// finish reads what follows the final chunk and checks the decoded
// length; it returns io.EOF when all is well.
func (d *chunkDecoder) finish() error {
	var err error
	if d.trailers {
		err = d.readTrailers()
	} else {
		err = d.expectEnd()
	}
	if err != nil {
		return err
	}
	if d.declared >= 0 && d.decoded != d.declared {
		return s3err.ErrIncompleteBody.WithMessage(
			"the decoded body is shorter than x-amz-decoded-content-length")
	}
	return io.EOF
}

// expectEnd accepts an optional CRLF and then the end of the body.
func (d *chunkDecoder) expectEnd() error {
	rest, err := io.ReadAll(io.LimitReader(d.br, 3))
	if err != nil {
		return bodyReadError(err)
	}
	if len(rest) == 0 || string(rest) == "\r\n" {
		return nil
	}
	return malformedChunk("data after the final chunk")
}

func malformedChunk(msg string) error {
	return s3err.ErrInvalidRequest.WithMessage("malformed aws-chunked body: " + msg)
}

func errTruncated() error {
	return s3err.ErrIncompleteBody.WithMessage("the aws-chunked body ended early")
}

func eofAsTruncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errTruncated()
	}
	return err
}

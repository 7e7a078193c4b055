package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultChunkSize is the chunk size SignChunked uses when none is given,
// the same as the AWS SDKs.
const DefaultChunkSize = 64 << 10

// ChunkedOptions configures SignChunked.
type ChunkedOptions struct {
	// ChunkSize is the payload bytes per chunk; DefaultChunkSize when 0.
	ChunkSize int
	// Trailer holds trailing headers sent after the final chunk (and
	// declared in x-amz-trailer), such as x-amz-checksum-crc32. Only the
	// first value of each is sent.
	Trailer http.Header
	// Unsigned selects STREAMING-UNSIGNED-PAYLOAD-TRAILER: no chunk or
	// trailer signatures; the request itself is still signed.
	Unsigned bool
}

// SignChunked signs r for an aws-chunked upload of the size bytes of
// payload and sets r.Body to a reader that produces the encoded stream as
// it reads payload: STREAMING-AWS4-HMAC-SHA256-PAYLOAD, its -TRAILER
// variant when opts.Trailer is set, or STREAMING-UNSIGNED-PAYLOAD-TRAILER
// when opts.Unsigned. It sets Content-Encoding, X-Amz-Decoded-Content-Length,
// X-Amz-Trailer and r.ContentLength. The region's service is "s3".
func SignChunked(r *http.Request, cred Credential, region string, t time.Time,
	payload io.Reader, size int64, opts ChunkedOptions) {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	names := trailerNames(opts.Trailer)
	mode := chunkedMode(opts.Unsigned, len(names) > 0)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(size, 10))
	if len(names) > 0 {
		r.Header.Set("X-Amz-Trailer", strings.Join(names, ","))
	}
	enc := &chunkEncoder{src: payload, size: opts.ChunkSize, trailer: opts.Trailer,
		names: names, signed: !opts.Unsigned}
	r.ContentLength = enc.encodedLength(size)
	seed := SignRequest(r, cred, region, "s3", t, mode)
	t = t.UTC()
	enc.chain = chunkChain{key: deriveSigningKey(cred.SecretKey, t.Format(scopeDateFmt),
		region, "s3"), amzDate: t.Format(amzDateFormat), scope: scopeString(t, region, "s3")}
	enc.chain.prev, _ = hex.DecodeString(seed)
	r.Body = io.NopCloser(enc)
}

func chunkedMode(unsigned, trailer bool) string {
	switch {
	case unsigned:
		return StreamingUnsignedPayloadTrail
	case trailer:
		return StreamingPayloadTrailer
	}
	return StreamingPayload
}

func trailerNames(h http.Header) []string {
	var names []string
	for k := range h {
		names = append(names, strings.ToLower(k))
	}
	slices.Sort(names)
	return names
}

// chunkEncoder produces an aws-chunked stream, one chunk at a time.
type chunkEncoder struct {
	src     io.Reader
	size    int
	signed  bool
	trailer http.Header
	names   []string
	chain   chunkChain
	buf     []byte
	out     bytes.Buffer
	done    bool
}

func (e *chunkEncoder) Read(p []byte) (int, error) {
	for e.out.Len() == 0 {
		if e.done {
			return 0, io.EOF
		}
		if err := e.fill(); err != nil {
			return 0, err
		}
	}
	return e.out.Read(p)
}

// fill encodes the next chunk, or the final chunk and trailer.
func (e *chunkEncoder) fill() error {
	if e.buf == nil {
		e.buf = make([]byte, e.size)
	}
	n, err := io.ReadFull(e.src, e.buf)
	if n > 0 {
		e.writeChunk(e.buf[:n])
	}
	switch err {
	case nil:
		return nil
	case io.EOF, io.ErrUnexpectedEOF:
		e.writeChunk(nil)
		e.writeTrailer()
		e.done = true
		return nil
	}
	return err
}

func (e *chunkEncoder) writeChunk(data []byte) {
	e.out.WriteString(strconv.FormatInt(int64(len(data)), 16))
	if e.signed {
		h := sha256.Sum256(data)
		e.out.WriteString(chunkSigPrefix + e.chain.next(payloadAlgorithm,
			emptySHA256Hex+"\n"+hex.EncodeToString(h[:])))
	}
	e.out.WriteString("\r\n")
	e.out.Write(data)
	if len(data) > 0 || len(e.names) == 0 {
		e.out.WriteString("\r\n")
	}
}

// writeTrailer writes "name:value\r\n" lines, the trailer signature when
// signed, and the closing CRLF.
func (e *chunkEncoder) writeTrailer() {
	if len(e.names) == 0 {
		return
	}
	var canon strings.Builder
	for _, n := range e.names {
		canon.WriteString(n + ":" + e.trailer.Get(n) + "\n")
		e.out.WriteString(n + ":" + e.trailer.Get(n) + "\r\n")
	}
	if e.signed {
		h := sha256.Sum256([]byte(canon.String()))
		sig := e.chain.next(trailerAlgorithm, hex.EncodeToString(h[:]))
		e.out.WriteString(trailerSigName + ":" + sig + "\r\n")
	}
	e.out.WriteString("\r\n")
}

// next returns the hex signature following the chain and advances it.
func (c *chunkChain) next(alg, tail string) string {
	c.prev = c.sign(alg, tail)
	return hex.EncodeToString(c.prev)
}

// encodedLength returns the length of the stream for a payload of n bytes.
func (e *chunkEncoder) encodedLength(n int64) int64 {
	chunk := func(size int64) int64 {
		l := int64(len(strconv.FormatInt(size, 16))) + 2 + size
		if e.signed {
			l += int64(len(chunkSigPrefix)) + 64
		}
		if size > 0 || len(e.names) == 0 {
			l += 2
		}
		return l
	}
	full := n / int64(e.size)
	total := full*chunk(int64(e.size)) + chunk(0)
	if rem := n % int64(e.size); rem > 0 {
		total += chunk(rem)
	}
	if len(e.names) == 0 {
		return total
	}
	for _, name := range e.names {
		total += int64(len(name) + 1 + len(e.trailer.Get(name)) + 2)
	}
	if e.signed {
		total += int64(len(trailerSigName)+1+64) + 2
	}
	return total + 2
}

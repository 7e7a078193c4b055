package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// PayloadMode says how the body of a verified request is protected, from
// its x-amz-content-sha256 header.
type PayloadMode int

// The payload modes of SigV4.
const (
	// PayloadSHA256: the header is the hex SHA-256 of the whole body.
	PayloadSHA256 PayloadMode = iota
	// PayloadUnsigned: UNSIGNED-PAYLOAD, the body is not covered.
	PayloadUnsigned
	// PayloadStreaming: STREAMING-AWS4-HMAC-SHA256-PAYLOAD, aws-chunked
	// with a signature per chunk.
	PayloadStreaming
	// PayloadStreamingTrailer: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER,
	// signed chunks and signed trailing headers.
	PayloadStreamingTrailer
	// PayloadStreamingUnsignedTrailer: STREAMING-UNSIGNED-PAYLOAD-TRAILER,
	// aws-chunked without signatures, trailing headers unsigned.
	PayloadStreamingUnsignedTrailer
)

// The x-amz-content-sha256 values of the modes.
const (
	UnsignedPayload               = "UNSIGNED-PAYLOAD"
	StreamingPayload              = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer       = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrail = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

var modeNames = map[PayloadMode]string{
	PayloadSHA256:                   "SHA256",
	PayloadUnsigned:                 UnsignedPayload,
	PayloadStreaming:                StreamingPayload,
	PayloadStreamingTrailer:         StreamingPayloadTrailer,
	PayloadStreamingUnsignedTrailer: StreamingUnsignedPayloadTrail,
}

// String returns the x-amz-content-sha256 value of the mode, or "SHA256".
func (m PayloadMode) String() string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return "PayloadMode(" + strconv.Itoa(int(m)) + ")"
}

// Chunked reports whether the body is aws-chunked encoded.
func (m PayloadMode) Chunked() bool { return m >= PayloadStreaming }

// HasTrailer reports whether the body ends with trailing headers.
func (m PayloadMode) HasTrailer() bool {
	return m == PayloadStreamingTrailer || m == PayloadStreamingUnsignedTrailer
}

// Auth is the result of a successful verification.
type Auth struct {
	Credential  Credential
	Presigned   bool
	PayloadMode PayloadMode
	Time        time.Time // the signing time
	Region      string    // the region of the credential scope

	payloadHash string // the x-amz-content-sha256 value that was signed
	signingKey  []byte // shared with the key cache: never modified
	scope       string
	seed        []byte // the request's signature, seed of chunk signatures
}

// payloadHash returns the payload hash line of the canonical request and
// the mode it stands for. Header-signed requests must send
// x-amz-content-sha256; presigned URLs default to UNSIGNED-PAYLOAD and
// may not stream.
func payloadHash(r *http.Request, p *sigParams) (string, PayloadMode, error) {
	v := r.Header.Get("X-Amz-Content-Sha256")
	if p.presigned {
		v = presignPayloadHash(r, p)
	} else if v == "" {
		return "", 0, s3err.ErrInvalidRequest.WithMessage(
			"Missing required header for this request: x-amz-content-sha256")
	}
	mode, err := parsePayloadMode(v)
	if err == nil && p.presigned && mode.Chunked() {
		err = s3err.ErrInvalidRequest.WithMessage(
			"streaming uploads cannot be presigned")
	}
	return v, mode, err
}

func presignPayloadHash(r *http.Request, p *sigParams) string {
	if v := r.URL.Query().Get("X-Amz-Content-Sha256"); v != "" {
		return v
	}
	v := r.Header.Get("X-Amz-Content-Sha256")
	if v != "" && slices.Contains(p.signedHeaders, "x-amz-content-sha256") {
		return v
	}
	return UnsignedPayload
}

func parsePayloadMode(v string) (PayloadMode, error) {
	switch v {
	case UnsignedPayload:
		return PayloadUnsigned, nil
	case StreamingPayload:
		return PayloadStreaming, nil
	case StreamingPayloadTrailer:
		return PayloadStreamingTrailer, nil
	case StreamingUnsignedPayloadTrail:
		return PayloadStreamingUnsignedTrailer, nil
	}
	if strings.HasPrefix(v, "STREAMING-AWS4-ECDSA-P256-SHA256") {
		return 0, s3err.ErrInvalidRequest.WithMessage(msgUnsupportedAuth)
	}
	if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size &&
		v == strings.ToLower(v) {
		return PayloadSHA256, nil
	}
	return 0, s3err.ErrInvalidArgument.WithMessage("x-amz-content-sha256 must be " +
		"UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, " +
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, " +
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.")
}

// Body returns a reader yielding the decoded payload of r. It verifies as
// it streams and returns an *s3err.Error (possibly wrapped) instead of
// io.EOF when verification fails, never later than the end of the body:
//
//   - SHA-256 mode hashes the body and compares at its end
//     (XAmzContentSHA256Mismatch). Bytes are released before that check,
//     so the caller must not commit anything before EOF.
//   - Unsigned mode passes the body through.
//   - aws-chunked modes decode the framing, release a signed chunk only
//     after its signature verified, and check the final chunk, the
//     trailing headers and x-amz-decoded-content-length.
//
// A body shorter than its Content-Length gives IncompleteBody. Body does
// not close r.Body. For aws-chunked modes the caller should remove
// "aws-chunked" from Content-Encoding before storing the object.
func (a *Auth) Body(r *http.Request) (*PayloadReader, error) {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	pr := &PayloadReader{decodedLen: r.ContentLength}
	if !a.PayloadMode.Chunked() {
		if r.ContentLength < 0 {
			pr.decodedLen = -1
		}
		pr.src = &plainReader{r: body, hash: a.bodyHash()}
		return pr, nil
	}
	d, err := a.newChunkDecoder(r, body)
	if err != nil {
		return nil, err
	}
	pr.src, pr.decodedLen = d, d.declared
	return pr, nil
}

func (a *Auth) bodyHash() []byte {
	if a.PayloadMode != PayloadSHA256 {
		return nil
	}
	b, _ := hex.DecodeString(a.payloadHash) // checked by parsePayloadMode
	return b
}

// PayloadReader yields the decoded, verified payload of a request. It is
// not safe for concurrent use. Errors are sticky.
type PayloadReader struct {
	src interface {
		io.Reader
		trailer() http.Header
	}
	decodedLen int64
}

// Read implements io.Reader.
func (p *PayloadReader) Read(b []byte) (int, error) { return p.src.Read(b) }

// Trailer returns the trailing headers of an aws-chunked body with
// trailer, after Read returned io.EOF; nil before, or for other modes.
// In the signed-trailer mode they are covered by the trailer signature
// (which is not included). Their values, checksums, are not checked here.
func (p *PayloadReader) Trailer() http.Header { return p.src.trailer() }

// DecodedLength returns the length of the decoded payload when the
// request declared it (Content-Length, or x-amz-decoded-content-length for
// aws-chunked), or -1.
func (p *PayloadReader) DecodedLength() int64 { return p.decodedLen }

// plainReader passes a body through, hashing it when want is set.
type plainReader struct {
	r    io.Reader
	hash []byte // expected SHA-256, nil when unsigned
	h    hash.Hash
	err  error
}

func (p *plainReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.r.Read(b)
	if p.hash != nil {
		if p.h == nil {
			p.h = sha256.New()
		}
		p.h.Write(b[:n])
	}
	switch {
	case err == io.EOF:
		err = p.finish()
	case err != nil:
		err = bodyReadError(err)
	}
	p.err = err
	return n, err
}

func (p *plainReader) finish() error {
	if p.hash == nil {
		return io.EOF
	}
	if p.h == nil {
		p.h = sha256.New()
	}
	if !hmac.Equal(p.h.Sum(nil), p.hash) {
		return s3err.ErrXAmzContentSHA256Mismatch
	}
	return io.EOF
}

func (p *plainReader) trailer() http.Header { return nil }

// bodyReadError turns an error from the request body into an S3 error.
func bodyReadError(err error) error {
	var s3e *s3err.Error
	if errors.As(err, &s3e) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return s3err.ErrIncompleteBody.WithCause(err)
	}
	return s3err.ErrIncompleteBody.WithMessage("failed to read the request body").
		WithCause(err)
}

// String describes a without its signing key or signature.
func (a *Auth) String() string {
	return "Auth{AccessKey: " + a.Credential.AccessKey + ", Presigned: " +
		strconv.FormatBool(a.Presigned) + ", PayloadMode: " + a.PayloadMode.String() + "}"
}

// Format implements fmt.Formatter so that no verb prints key material.
func (a *Auth) Format(f fmt.State, verb rune) { _, _ = fmt.Fprint(f, a.String()) }

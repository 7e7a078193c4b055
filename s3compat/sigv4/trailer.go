package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// readTrailers reads the trailing headers after the final chunk up to the
// end of the body: "name:value" lines ended by LF or CRLF, blank lines
// ignored (clients differ in where they put them), and in the signed
// mode a last x-amz-trailer-signature line. Every name must be declared
// in x-amz-trailer and every declared name must appear once.
func (d *chunkDecoder) readTrailers() error {
	var canon bytes.Buffer
	var sig []byte
	d.trail = http.Header{}
	for total := 0; ; {
		line, err := d.readRawLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return trailerReadError(err)
		}
		if total += len(line); total > maxTrailerBytes {
			return malformedTrailer("the trailer section is too long")
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		if text == "" {
			continue
		}
		if sig != nil {
			return malformedTrailer("data after the trailer signature")
		}
		if sig, err = d.trailerLine(text, &canon); err != nil {
			return err
		}
	}
	if err := d.checkDeclared(); err != nil {
		return err
	}
	return d.verifyTrailer(canon.Bytes(), sig)
}

// trailerLine records one "name:value" line; it returns the decoded
// signature when the line is x-amz-trailer-signature.
func (d *chunkDecoder) trailerLine(text string, canon *bytes.Buffer) ([]byte, error) {
	name, value, ok := strings.Cut(text, ":")
	name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
	switch {
	case !ok || name == "":
		return nil, malformedTrailer("a trailer line is not name:value")
	case name == trailerSigName && !d.signed:
		return nil, malformedTrailer("unexpected trailer signature in an unsigned stream")
	case name == trailerSigName:
		sig, err := hex.DecodeString(value)
		if err != nil || len(sig) != sha256.Size {
			return nil, malformedTrailer("the trailer signature is not 64 hexadecimal characters")
		}
		return sig, nil
	case !slices.Contains(d.names, name):
		return nil, malformedTrailer("trailer " + truncate(name) +
			" is not declared in x-amz-trailer")
	case d.trail.Get(name) != "":
		return nil, malformedTrailer("trailer " + name + " appears twice")
	}
	d.trail.Set(name, value)
	canon.WriteString(name + ":" + value + "\n")
	return nil, nil
}

func (d *chunkDecoder) checkDeclared() error {
	for _, n := range d.names {
		if d.trail.Get(n) == "" {
			return malformedTrailer("declared trailer " + truncate(n) + " is missing")
		}
	}
	return nil
}

// verifyTrailer checks the trailer signature in the signed mode: the
// chain's next signature over the SHA-256 of the "name:value\n" lines.
func (d *chunkDecoder) verifyTrailer(canon, sig []byte) error {
	if !d.signed {
		return nil
	}
	if sig == nil {
		return malformedTrailer("the x-amz-trailer-signature is missing")
	}
	h := sha256.Sum256(canon)
	if !d.chain.verify(trailerAlgorithm, hex.EncodeToString(h[:]), sig) {
		return s3err.ErrSignatureDoesNotMatch.WithMessage(
			"The trailer signature does not match the signature derived from the request.")
	}
	return nil
}

func malformedTrailer(msg string) error {
	return s3err.ErrMalformedTrailer.WithMessage(
		"The request contained trailing data that was not well-formed: " + msg)
}

// trailerReadError reports framing errors met in the trailer section as
// MalformedTrailerError; truncation and I/O errors stay as they are.
func trailerReadError(err error) error {
	if errors.Is(err, s3err.ErrInvalidRequest) {
		return malformedTrailer("a trailer line is too long")
	}
	return err
}

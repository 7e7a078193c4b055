package checksum

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// Errors the Reader returns at EOF, with S3's messages.
var (
	errMD5Mismatch = s3err.ErrBadDigest.WithMessage(
		"The Content-MD5 you specified did not match what we received.")
	errTrailerMissing = s3err.ErrMalformedTrailer.WithMessage(
		"The request declared a checksum trailer that was not received.")
)

// mismatch returns S3's error for a flexible checksum that does not match.
func mismatch(a Algorithm) *s3err.Error {
	return s3err.ErrBadDigest.WithMessagef(
		"The %s you specified did not match the calculated checksum.", a)
}

// Reader hashes a body as it is read and verifies it against a [Spec] at
// EOF. It always computes the MD5, and computes the flexible checksum
// named by the Spec's Algorithm, if any, whether or not a value to check
// it against was sent.
//
// Read returns the underlying reader's data unchanged. When the
// underlying reader returns io.EOF, Read returns io.EOF only if every
// declared value matched, and otherwise an *s3err.Error (BadDigest for a
// mismatch, MalformedTrailerError for a declared trailer that never came).
// Errors are sticky: once Read has returned an error it returns the same
// error again. A Reader is not safe for concurrent use.
type Reader struct {
	r       io.Reader
	spec    Spec
	trailer func() http.Header
	md5     hash.Hash
	flex    hash.Hash // nil when spec.Algorithm is None
	md5Sum  []byte    // set at EOF
	flexSum []byte    // set at EOF when flex != nil
	ended   bool      // the underlying reader reached EOF
	err     error
}

// NewReader returns a Reader that verifies r against spec. trailer is
// called once, after r returns io.EOF, to fetch the trailing headers when
// spec.Trailer is set; it may be nil otherwise.
func NewReader(r io.Reader, spec Spec, trailer func() http.Header) *Reader {
	cr := &Reader{r: r, spec: spec, trailer: trailer, md5: md5.New()}
	if spec.Algorithm.valid() {
		cr.flex = spec.Algorithm.New()
	}
	return cr
}

// SkipMD5 stops the Reader from computing the MD5 of the body, unless the
// Spec declares one to check. It is for callers that have no use for the
// MD5: on a large body it costs several times what AES-GCM does. MD5 then
// returns nil, and Sums has no content-md5. It must be called before the
// first Read.
func (cr *Reader) SkipMD5() {
	if cr.spec.MD5 == nil {
		cr.md5 = nil
	}
}

// Read implements io.Reader as described on [Reader].
func (cr *Reader) Read(p []byte) (int, error) {
	if cr.err != nil {
		return 0, cr.err
	}
	n, err := cr.r.Read(p)
	if n > 0 {
		if cr.md5 != nil {
			cr.md5.Write(p[:n])
		}
		if cr.flex != nil {
			cr.flex.Write(p[:n])
		}
	}
	if err == io.EOF {
		err = cr.finish()
	}
	if err != nil {
		cr.err = err
	}
	return n, err
}

// finish records the sums and compares them with the spec. It returns
// io.EOF when everything matched.
func (cr *Reader) finish() error {
	cr.ended = true
	if cr.md5 != nil {
		cr.md5Sum = cr.md5.Sum(nil)
	}
	if cr.flex != nil {
		cr.flexSum = cr.flex.Sum(nil)
	}
	if cr.spec.MD5 != nil && subtle.ConstantTimeCompare(cr.spec.MD5, cr.md5Sum) != 1 {
		return errMD5Mismatch
	}
	want := cr.spec.Expected
	if cr.spec.Trailer {
		var err error
		if want, err = cr.trailerValue(); err != nil {
			return err
		}
	}
	if want != nil && subtle.ConstantTimeCompare(want, cr.flexSum) != 1 {
		return mismatch(cr.spec.Algorithm)
	}
	return io.EOF
}

// trailerValue fetches and decodes the declared checksum trailer.
func (cr *Reader) trailerValue() ([]byte, error) {
	a := cr.spec.Algorithm
	if cr.trailer == nil {
		return nil, errTrailerMissing
	}
	vals := cr.trailer().Values(a.Header())
	if len(vals) != 1 {
		return nil, errTrailerMissing
	}
	b, err := a.Decode(strings.TrimSpace(vals[0]))
	if err != nil {
		return nil, invalidValue(a).WithCause(err)
	}
	return b, nil
}

// Done reports whether the body was read to EOF and verified.
func (cr *Reader) Done() bool { return cr.err == io.EOF }

// MD5 returns the MD5 of the body, or nil before EOF and after SkipMD5.
func (cr *Reader) MD5() []byte { return cr.md5Sum }

// Sum returns the flexible algorithm the Reader computed and the raw
// checksum of the body; (None, nil) when the Spec named no algorithm, and
// a nil sum before EOF.
func (cr *Reader) Sum() (Algorithm, []byte) {
	if cr.flex == nil {
		return None, nil
	}
	return cr.spec.Algorithm, cr.flexSum
}

// Sums returns the computed values in base64, keyed by the header that
// carries each ("content-md5", "x-amz-checksum-crc32", ...). It returns
// nil before EOF. The values are those of the bytes read, whether or not
// they matched what the client declared.
func (cr *Reader) Sums() map[string]string {
	if !cr.ended {
		return nil
	}
	m := map[string]string{}
	if cr.md5Sum != nil {
		m["content-md5"] = base64.StdEncoding.EncodeToString(cr.md5Sum)
	}
	if cr.flex != nil {
		m[cr.spec.Algorithm.Header()] = cr.spec.Algorithm.Encode(cr.flexSum)
	}
	return m
}

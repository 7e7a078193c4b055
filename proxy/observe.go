package proxy

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloakproxy/cloak/crypto"
)

// An Observer watches every request: the audit log, alerts and metrics
// are built on it. Its methods are called from request goroutines and
// must be safe for concurrent use; they must not block for long.
type Observer interface {
	// Admit is called once a request has been parsed, before it is
	// authenticated or served. A non-nil error refuses the request with
	// 503 ServiceUnavailable (the audit log uses it to refuse requests
	// it could not record). Requests that do not parse are never
	// admitted, and reach Done with Admitted false.
	Admit(r *http.Request) error
	// Done is called once per request, refused or not, after its
	// response, with what the request did. s is not used after Done
	// returns.
	Done(s *Summary)
}

// Summary is what one request did, as an Observer sees it. It holds no
// secret: the access key id, never its secret.
type Summary struct {
	RequestID string
	Time      time.Time // when the request arrived
	Duration  time.Duration
	// User is the user the request was authenticated as (the access key
	// on a Server without an access Manager); empty when authentication
	// failed. AccessKey is the access key id it signed with.
	User      string
	AccessKey string
	// Source is the client's address, host:port.
	Source string
	// Op is the S3 operation ("GetObject"), empty when the request
	// could not be parsed.
	Op     string
	Method string
	Bucket string
	Key    string
	// BytesIn counts the request body bytes read from the client (as
	// sent, aws-chunked framing included); BytesOut the response body
	// bytes written.
	BytesIn  int64
	BytesOut int64
	// Sealed and Opened count plaintext bytes encrypted into and
	// decrypted out of the store.
	Sealed int64
	Opened int64
	Status int
	// Code is the S3 error code, empty on success.
	Code string
	// KeyID and KeyVersion name the master key used to wrap or unwrap a
	// data key for this request, when it used one (the last one, for a
	// request that used several).
	KeyID      string
	KeyVersion uint32
	// Tampered reports stored data that failed authentication.
	Tampered bool
	// Admitted is false for a request the Observer refused.
	Admitted bool
	// Detail names what an admin API call (Op "admin/...") acted on:
	// "user alice, policies readonly".
	Detail string
}

// usage collects what a request's handlers did that the pipeline cannot
// see itself: the master key used and the bytes sealed and opened. It
// travels in the request's context so that the storage helpers, which
// do not know the request, can add to it.
type usage struct {
	sealed, opened atomic.Int64
	mu             sync.Mutex
	keyID          string
	keyVersion     uint32
}

type usageKey struct{}

func withUsage(ctx context.Context, u *usage) context.Context {
	return context.WithValue(ctx, usageKey{}, u)
}

func usageOf(ctx context.Context) *usage {
	u, _ := ctx.Value(usageKey{}).(*usage)
	return u
}

// noteKey records the master key a request used.
func noteKey(ctx context.Context, id string, version uint32) {
	if u := usageOf(ctx); u != nil {
		u.mu.Lock()
		u.keyID, u.keyVersion = id, version
		u.mu.Unlock()
	}
}

// countSealed returns r counting, into ctx's usage, the plaintext bytes
// read from it for encryption.
func countSealed(ctx context.Context, r io.Reader) io.Reader {
	if u := usageOf(ctx); u != nil {
		return &countingReader{r: r, n: &u.sealed}
	}
	return r
}

// countOpened is countSealed for decrypted plaintext.
func countOpened(ctx context.Context, rc io.ReadCloser) io.ReadCloser {
	if u := usageOf(ctx); u != nil {
		return countingReadCloser{&countingReader{r: rc, n: &u.opened}, rc}
	}
	return rc
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// WriteTo hands io.Copy on to the underlying reader's WriteTo when it has
// one (the decrypting reader does), so that counting costs no extra copy
// of every chunk through io.Copy's buffer.
func (c *countingReader) WriteTo(w io.Writer) (int64, error) {
	wt, ok := c.r.(io.WriterTo)
	if !ok {
		return io.Copy(w, struct{ io.Reader }{c})
	}
	n, err := wt.WriteTo(w)
	c.n.Add(n)
	return n, err
}

// countingReadCloser is a countingReader with the Close of what it reads.
type countingReadCloser struct {
	*countingReader
	io.Closer
}

// notingKeys is the server's KeyWrapper: it passes every call on and
// notes in the request's usage which master key was used.
type notingKeys struct{ next crypto.KeyWrapper }

func (k notingKeys) Wrap(ctx context.Context, dataKey []byte, wc crypto.WrapContext) (crypto.WrappedKey, error) {
	wk, err := k.next.Wrap(ctx, dataKey, wc)
	if err == nil {
		noteKey(ctx, wk.KeyID, wk.KeyVersion)
	}
	return wk, err
}

func (k notingKeys) Unwrap(ctx context.Context, wk crypto.WrappedKey, wc crypto.WrapContext) ([]byte, error) {
	noteKey(ctx, wk.KeyID, wk.KeyVersion)
	return k.next.Unwrap(ctx, wk, wc)
}

// countingBody counts the request body bytes the handlers read.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// summary builds the Summary of a finished request.
func (rq *request) summary() *Summary {
	s := &Summary{
		RequestID: rq.id, Time: rq.start, Duration: time.Since(rq.start),
		User: rq.user, Source: rq.r.RemoteAddr, Op: string(rq.s3.Op), Method: rq.r.Method,
		Bucket: rq.s3.Bucket, Key: rq.s3.Key, BytesOut: rq.w.bytes,
		Status: rq.w.status(), Code: rq.w.s3Code, Tampered: rq.tampered, Admitted: rq.admitted,
		Detail: rq.detail,
	}
	if rq.auth != nil {
		s.AccessKey = rq.auth.Credential.AccessKey
		if s.User == "" {
			// A Server without an access Manager knows no user names.
			s.User = s.AccessKey
		}
	}
	if rq.body != nil {
		s.BytesIn = rq.body.n.Load()
	}
	if u := rq.usage; u != nil {
		s.Sealed, s.Opened = u.sealed.Load(), u.opened.Load()
		u.mu.Lock()
		s.KeyID, s.KeyVersion = u.keyID, u.keyVersion
		u.mu.Unlock()
	}
	return s
}

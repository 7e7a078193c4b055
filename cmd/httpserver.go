package cmd

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// serverTimeouts bound how long a client may hold a connection without
// making progress. None bounds a whole request: a multi-gigabyte upload
// or download over a slow link may take hours, and that is legitimate.
type serverTimeouts struct {
	// header bounds reading a request's line and headers, however they
	// trickle in (slowloris).
	header time.Duration
	// idle bounds a kept-alive connection waiting for its next request.
	idle time.Duration
	// bodyIdle bounds each wait for more of a request body: a client
	// that stops sending mid-upload gets RequestTimeout.
	bodyIdle time.Duration
	// writeIdle bounds each write of a response: a client that stops
	// reading mid-download is cut off.
	writeIdle time.Duration
}

// defaultTimeouts are the limits "cloak serve" runs with.
var defaultTimeouts = serverTimeouts{
	header:    30 * time.Second,
	idle:      2 * time.Minute,
	bodyIdle:  time.Minute,
	writeIdle: time.Minute,
}

// maxHeaderBytes is what the HTTP server reads of a request's headers
// before it answers 431 itself. The proxy refuses more than S3's 8 KiB
// with RequestHeaderSectionTooLarge; the margin lets it say so in S3's
// words.
const maxHeaderBytes = 64 << 10

// newHTTPServer returns the HTTP server "cloak serve" runs h in.
func newHTTPServer(h http.Handler, log *slog.Logger, to serverTimeouts) *http.Server {
	return &http.Server{
		Handler:           progressDeadlines(h, to.bodyIdle, to.writeIdle),
		ReadHeaderTimeout: to.header,
		IdleTimeout:       to.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// progressDeadlines wraps h so that every read of a request body and
// every write of a response must make progress within its timeout: the
// connection's deadline is pushed forward before each one, so a slow
// transfer that keeps moving is never cut, and a stalled one always is.
// A deadline the handler sets itself (through http.ResponseController,
// as the proxy does to bound how long it drains a refused body) holds
// until the handler clears it.
func progressDeadlines(h http.Handler, read, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w),
			read: read, write: write}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &deadlineBody{ReadCloser: r.Body, w: dw}
		}
		// The connection keeps a write deadline from its previous
		// request; the server's own writes (100 Continue, the final
		// flush) must not meet a stale one.
		dw.pushWrite()
		h.ServeHTTP(dw, r)
		dw.pushWrite()
	})
}

// errBodyStalled is what a read of a stalled body returns: S3's answer to
// a client that stops sending.
var errBodyStalled = s3err.ErrRequestTimeout

// deadlineWriter pushes the write deadline forward before each write, and
// records deadlines the handler sets.
type deadlineWriter struct {
	http.ResponseWriter
	rc          *http.ResponseController
	read, write time.Duration
	// fixedRead and fixedWrite are deadlines set by the handler; while
	// one is set, it is not pushed forward.
	fixedRead, fixedWrite time.Time
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.pushWrite()
	return w.ResponseWriter.Write(p)
}

// pushWrite moves the write deadline forward, unless the handler set one.
func (w *deadlineWriter) pushWrite() {
	if w.fixedWrite.IsZero() {
		// An error means the connection does not support deadlines
		// (an HTTP/2 stream may not); the write then runs without one.
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.write))
	}
}

// SetReadDeadline is called by http.ResponseController on the handler's
// behalf.
func (w *deadlineWriter) SetReadDeadline(t time.Time) error {
	w.fixedRead = t
	return w.rc.SetReadDeadline(t)
}

// SetWriteDeadline is called by http.ResponseController on the handler's
// behalf.
func (w *deadlineWriter) SetWriteDeadline(t time.Time) error {
	w.fixedWrite = t
	return w.rc.SetWriteDeadline(t)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// deadlineBody pushes the read deadline forward before each read, until
// the body has ended.
type deadlineBody struct {
	io.ReadCloser
	w *deadlineWriter
	// ended is set once a read returned an error (EOF included). From
	// then on the server's background read (which watches for the client
	// going away, and cancels the request's context if its read fails)
	// owns the connection's read side, without a deadline: pushing one
	// would cancel a handler still working after the body, such as a
	// CompleteMultipartUpload while the store assembles the object.
	ended bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.ended {
		return b.ReadCloser.Read(p)
	}
	if b.w.fixedRead.IsZero() {
		_ = b.w.rc.SetReadDeadline(time.Now().Add(b.w.read))
	}
	// The first read may make the server write 100 Continue.
	b.w.pushWrite()
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ended = true
	}
	if isTimeout(err) {
		return n, errBodyStalled.WithCause(err)
	}
	return n, err
}

// isTimeout reports whether err is a passed deadline: a net.Error from
// an HTTP/1 connection, or the wrapped os.ErrDeadlineExceeded of an
// HTTP/2 stream.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat"
	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// Options configure a Server. Store, Keys and Credentials are required.
type Options struct {
	Store       backend.Store
	Keys        crypto.KeyWrapper
	Credentials sigv4.CredentialStore
	// Region is the region Cloak answers as; requests signed for another
	// region are refused. Default us-east-1.
	Region string
	// Domains are the base domains for virtual-host-style requests.
	Domains []string
	// Migrating reports whether objects without an envelope may be served
	// as they are under bucket/key. Nil means nowhere.
	Migrating func(bucket, key string) bool
	// SmallObjectLimit is the largest single PUT that is buffered (in
	// memory, as plaintext then ciphertext) so that its plaintext MD5 is
	// known before it is stored and can be its ETag. Zero means
	// DefaultSmallObjectLimit; negative disables buffering.
	SmallObjectLimit int64
	// BufferBudget bounds the memory all buffered uploads may hold at
	// once; requests wait for room. Zero means DefaultBufferBudget.
	BufferBudget int64
	// MaxRequests bounds the requests served at once. A request that
	// arrives while MaxRequests are in flight is answered 503 SlowDown
	// before anything else is done for it (S3 clients retry it with
	// backoff), so overload cannot exhaust memory. Zero or negative means
	// no limit.
	MaxRequests int
	// Logger receives one line per request; slog.Default when nil.
	Logger *slog.Logger
	// Now is the clock for signature checks; time.Now when nil.
	Now func() time.Time
	// Access authorises every request against the user's policies and
	// serves the admin API (see package access). Nil means every
	// authenticated request is allowed, which suits tests and the tools'
	// in-process Servers only; cloak serve always sets it.
	Access *access.Manager
	// AuthLimiter refuses, with SlowDown, access keys and addresses that
	// failed to authenticate too often. Nil means no limit.
	AuthLimiter *access.Limiter
	// Observer, when set, is told of every request (audit, alerts,
	// metrics) and may refuse requests.
	Observer Observer
}

// Defaults of Options. 16 MiB covers the single PUTs of the common clients
// (aws cli switches to multipart at 8 MiB, s3cmd at 15 MiB, minio-go at
// 16 MiB), so their ETags are plaintext MD5s, which s3cmd checks.
const (
	DefaultSmallObjectLimit = 16 << 20
	DefaultBufferBudget     = 512 << 20
)

// Server is the S3 request pipeline: it parses, authenticates, and
// dispatches every request, and writes every error through s3err.Write.
// It is an http.Handler and is safe for concurrent use.
type Server struct {
	opts      Options
	verifier  *sigv4.Verifier
	log       *slog.Logger
	list      *listCache
	buffers   *budget
	states    *stateCache
	manifests *lru.Cache[string, []byte]
	// headers caches segment headers for range reads (see segmentHeader).
	headers *lru.Cache[string, []byte]
	// infos caches object info for range reads (see infocache.go).
	infos *lru.Cache[string, backend.ObjectInfo]
	// slots holds one token per request in flight; nil when unlimited.
	slots chan struct{}
	// ops maps each operation to its handler; built once by New.
	ops map[s3compat.Op]handler
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Keys == nil || opts.Credentials == nil {
		return nil, errors.New("proxy: Store, Keys and Credentials are required")
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.SmallObjectLimit == 0 {
		opts.SmallObjectLimit = DefaultSmallObjectLimit
	}
	if opts.BufferBudget == 0 {
		opts.BufferBudget = DefaultBufferBudget
	}
	if opts.SmallObjectLimit > opts.BufferBudget {
		opts.SmallObjectLimit = opts.BufferBudget
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Keys = notingKeys{opts.Keys}
	v := sigv4.NewVerifier(opts.Credentials, sigv4.Config{Region: opts.Region, Now: opts.Now})
	manifests, _ := lru.New[string, []byte](4096)
	headers, _ := lru.New[string, []byte](4096)
	s := &Server{opts: opts, verifier: v, log: opts.Logger, list: newListCache(),
		buffers: newBudget(opts.BufferBudget), states: newStateCache(), manifests: manifests,
		headers: headers, infos: newInfoCache()}
	if opts.MaxRequests > 0 {
		s.slots = make(chan struct{}, opts.MaxRequests)
	}
	s.ops = s.handlers()
	return s, nil
}

// errOverloaded is the answer to a request beyond Options.MaxRequests.
var errOverloaded = s3err.ErrSlowDown.WithMessage(
	"Too many requests are in progress. Please reduce your request rate.")

// takeSlot takes a slot for one request, without waiting. It reports
// false when MaxRequests are in flight; otherwise the caller must call
// leaveSlot.
func (s *Server) takeSlot() bool {
	if s.slots == nil {
		return true
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// leaveSlot gives back the slot taken by takeSlot.
func (s *Server) leaveSlot() {
	if s.slots != nil {
		<-s.slots
	}
}

// request is the state of one request as it moves through the pipeline.
type request struct {
	id   string
	s3   s3compat.Request
	auth *sigv4.Auth
	// user is the name of the authenticated user (access.Identity.User),
	// empty for a request that did not authenticate.
	user  string
	start time.Time
	w     *statusWriter
	r     *http.Request
	// tampered is set when stored data failed authentication.
	tampered bool
	// body counts the request body bytes read; nil without a body.
	body *countingBody
	// usage collects the master key used and the bytes sealed and
	// opened; it is also in the request's context.
	usage *usage
	// admitted is set once the Observer let the request in.
	admitted bool
	// detail says what an admin API call acted on (Args.Describe).
	detail string
}

// handler serves one operation. It writes the response on success and
// returns an error (written by the pipeline) otherwise.
type handler func(ctx context.Context, rq *request) error

func (s *Server) handlers() map[s3compat.Op]handler {
	return map[s3compat.Op]handler{
		s3compat.OpListBuckets:       s.listBuckets,
		s3compat.OpCreateBucket:      s.createBucket,
		s3compat.OpDeleteBucket:      s.deleteBucket,
		s3compat.OpHeadBucket:        s.headBucket,
		s3compat.OpGetBucketLocation: s.getBucketLocation,
		s3compat.OpListObjects:       s.listObjectsV1,
		s3compat.OpListObjectsV2:     s.listObjectsV2,
		s3compat.OpPutObject:         s.putObject,
		s3compat.OpGetObject:         s.getObject,
		s3compat.OpHeadObject:        s.getObject,
		s3compat.OpDeleteObject:      s.deleteObject,
		s3compat.OpDeleteObjects:     s.deleteObjects,

		s3compat.OpCreateMultipartUpload:   s.createMultipartUpload,
		s3compat.OpUploadPart:              s.uploadPart,
		s3compat.OpCompleteMultipartUpload: s.completeMultipartUpload,
		s3compat.OpAbortMultipartUpload:    s.abortMultipartUpload,
		s3compat.OpListParts:               s.listParts,
		s3compat.OpListMultipartUploads:    s.listMultipartUploads,
		s3compat.OpCopyObject:              s.copyObject,
		s3compat.OpUploadPartCopy:          s.uploadPartCopy,
		s3compat.OpUnsupported:             s.subresource,
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := &request{id: newRequestID(), start: time.Now(), w: &statusWriter{ResponseWriter: w}, r: r,
		usage: &usage{}}
	if r.Body != nil && r.Body != http.NoBody {
		// Count through a shallow copy of r: the server keeps r and
		// decides from r.Body's type, once the response starts, whether
		// an unread body can be skipped. Given another type it reads the
		// body of an "Expect: 100-continue" request that it never asked
		// for, and the client, waiting for 100 Continue or an answer,
		// gets neither until it times out.
		r = r.WithContext(r.Context())
		rq.r = r
		rq.body = &countingBody{ReadCloser: r.Body}
		r.Body = rq.body
	}
	rq.w.Header().Set("X-Amz-Request-Id", rq.id)
	rq.w.Header().Set("Server", "Cloak")
	var err error
	if s.takeSlot() {
		defer s.leaveSlot()
		err = s.serve(withUsage(r.Context(), rq.usage), rq)
	} else {
		err = errOverloaded
	}
	if err != nil {
		if isTampering(err) {
			rq.tampered = true
		}
		e := toS3(err)
		if !rq.w.wroteHeader {
			s3err.Write(rq.w, r, e, s3err.Context{RequestID: rq.id, Bucket: rq.s3.Bucket, Key: rq.s3.Key})
			lingerOnBody(rq.w, r)
		}
		rq.w.s3Code = e.Code
		rq.w.cause = err
	}
	s.finish(rq)
}

// admit asks the observer whether a request may be served.
func (s *Server) admit(rq *request) error {
	if s.opts.Observer != nil {
		if err := s.opts.Observer.Admit(rq.r); err != nil {
			return errNotRecorded.WithCause(err)
		}
	}
	rq.admitted = true
	return nil
}

// finish logs a request and tells the observer about it; it is called
// once per request, also for a request aborted mid-response.
func (s *Server) finish(rq *request) {
	s.logRequest(rq)
	if s.opts.Observer != nil {
		s.opts.Observer.Done(rq.summary())
	}
}

// Bounds of lingerOnBody.
const (
	lingerTime  = time.Second
	lingerBytes = 64 << 20
)

// lingerOnBody sends an error answer that was written before the
// request's body was read, then reads and discards the rest of the body
// for at most lingerTime and lingerBytes, as nginx's lingering close does.
//
// A client still sending its body when the server closes the connection
// gets a TCP reset, which can destroy the answer before the client has
// read it: the client sees "connection reset" instead of S3's error. Go's
// server waits a moment before closing to avoid this, but not when the
// request carried "Expect: 100-continue", read or not. aws-sdk-go-v2
// sends that header on PUTs over 2 MB and then sends the body without
// waiting for 100 Continue, so it saw a reset for every early error of a
// large upload, such as the ServiceUnavailable of a store that is down.
func lingerOnBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	if rc.SetReadDeadline(time.Now().Add(lingerTime)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, r.Body, lingerBytes)
	_ = rc.SetReadDeadline(time.Time{})
}

func (s *Server) serve(ctx context.Context, rq *request) error {
	var err error
	if err = s3compat.CheckHeaderSize(rq.r.Header); err != nil {
		return err
	}
	if s.isAdminCall(rq.r) {
		return s.serveAdmin(ctx, rq)
	}
	if rq.s3, err = s3compat.ParseRequest(rq.r, s.opts.Domains); err != nil {
		return err
	}
	if err = s.admit(rq); err != nil {
		return err
	}
	if err = s.authenticate(rq); err != nil {
		return err
	}
	if err = s.authorise(rq); err != nil {
		return err
	}
	if isInternal(rq.s3.Key) || (rq.s3.CopySource != nil && isInternal(rq.s3.CopySource.Key)) {
		return errReservedKey
	}
	if err := checkVersionID(rq.s3); err != nil {
		return err
	}
	if err := s3compat.CheckUnsupportedHeaders(rq.r.Header); err != nil {
		return err
	}
	h := s.ops[rq.s3.Op]
	if h == nil {
		return s3err.ErrNotImplemented.WithMessagef("%s is not implemented.", opName(rq.s3))
	}
	if rq.s3.Key != "" && rq.s3.Op != s3compat.OpGetObject && rq.s3.Op != s3compat.OpHeadObject {
		defer s.forget(rq.s3.Bucket, rq.s3.Key) // it may change the object
	}
	return h(ctx, rq)
}

func opName(r s3compat.Request) string {
	if r.Subresource != "" {
		return "The ?" + r.Subresource + " sub-resource"
	}
	return string(r.Op)
}

func (s *Server) logRequest(rq *request) {
	attrs := []slog.Attr{
		slog.String("request_id", rq.id),
		slog.String("method", rq.r.Method),
		slog.String("op", string(rq.s3.Op)),
		slog.String("bucket", rq.s3.Bucket),
		slog.String("key", rq.s3.Key),
		slog.Int("status", rq.w.status()),
		slog.Int64("bytes_out", rq.w.bytes),
		slog.Duration("duration", time.Since(rq.start)),
		slog.String("remote", rq.r.RemoteAddr),
	}
	if rq.auth != nil {
		attrs = append(attrs, slog.String("access_key", rq.auth.Credential.AccessKey))
	}
	if rq.user != "" {
		attrs = append(attrs, slog.String("user", rq.user))
	}
	level := slog.LevelInfo
	if rq.w.s3Code != "" {
		attrs = append(attrs, slog.String("s3_code", rq.w.s3Code), slog.String("error", rq.w.cause.Error()))
		if rq.w.status() >= 500 {
			level = slog.LevelError
		}
	}
	if rq.tampered {
		attrs = append(attrs, slog.Bool("possible_tampering", true))
		level = slog.LevelError
	}
	s.log.LogAttrs(context.Background(), level, "request", attrs...)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records the status and body size of a response.
type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
	bytes       int64
	s3Code      string
	cause       error
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) status() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

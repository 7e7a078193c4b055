package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/access/adminapi"
	"github.com/cloakproxy/cloak/s3compat"
	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// Authentication and authorisation: the pipeline's steps 3 and 4, and the
// admin API endpoint.

var (
	errSlowDown = s3err.ErrSlowDown.WithMessage(
		"Too many failed authentications from this access key or address; try again later.")
	errDisabled     = s3err.ErrAccessDenied.WithMessage("The user is disabled.")
	errSystemBucket = s3err.ErrAccessDenied.WithMessage(
		"Buckets named " + access.SystemBucketPrefix + "* are reserved for Cloak.")
)

// authenticate verifies the request's signature, refusing clients that
// failed too often (SlowDown) and counting their failures.
func (s *Server) authenticate(rq *request) error {
	lim := s.opts.AuthLimiter
	claimed, addr := claimedAccessKey(rq.r), sourceIP(rq.r).String()
	if lim != nil && lim.Blocked(claimed, addr, time.Now()) {
		return errSlowDown
	}
	auth, err := s.verifier.Verify(rq.r)
	if err != nil {
		if lim != nil && (errors.Is(err, s3err.ErrSignatureDoesNotMatch) ||
			errors.Is(err, s3err.ErrInvalidAccessKeyID)) {
			lim.Failed(claimed, addr, time.Now())
		}
		return err
	}
	rq.auth = auth
	if id, ok := auth.Credential.Identity.(*access.Identity); ok {
		rq.user = id.User
	}
	return nil
}

// claimedAccessKey is the access key a request says it is signed with,
// before any check: the rate limiter counts failures against it.
func claimedAccessKey(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if h := r.Header.Get("Authorization"); h != "" {
		_, after, found := strings.Cut(h, "Credential=")
		if !found {
			return ""
		}
		cred, _, _ = strings.Cut(after, ",")
	}
	ak, _, _ := strings.Cut(strings.TrimSpace(cred), "/")
	if len(ak) > 128 {
		return ""
	}
	return ak
}

// sourceIP is the client's address (aws:SourceIp): the peer of the
// connection. Behind a load balancer that is the balancer's address.
func sourceIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// authorise refuses a request for a system bucket, and, when the Server
// has an access Manager, a request the user's policies do not allow.
func (s *Server) authorise(rq *request) error {
	if access.IsSystemBucket(rq.s3.Bucket) ||
		(rq.s3.CopySource != nil && access.IsSystemBucket(rq.s3.CopySource.Bucket)) {
		return errSystemBucket
	}
	if err := s.identityUsable(rq); err != nil {
		return err
	}
	for _, c := range access.ChecksFor(rq.s3) {
		if err := s.allowed(rq, c); err != nil {
			return err
		}
	}
	return nil
}

// allowed returns nil if the request's user may do c, else AccessDenied.
// Without an access Manager every authenticated user may do everything.
func (s *Server) allowed(rq *request, c access.Check) error {
	if s.opts.Access == nil {
		return nil
	}
	if err := s.identityUsable(rq); err != nil {
		return err
	}
	id := rq.auth.Credential.Identity.(*access.Identity)
	req := access.Request{Action: c.Action, Resource: c.Resource, SourceIP: sourceIP(rq.r),
		Secure: rq.r.TLS != nil, Keys: c.Keys}
	if !id.Allowed(req) {
		return s3err.ErrAccessDenied
	}
	return nil
}

// identityUsable refuses, when the Server has an access Manager, a
// request whose credential carries no access.Identity or that of a
// disabled user, whatever the operation.
func (s *Server) identityUsable(rq *request) error {
	if s.opts.Access == nil {
		return nil
	}
	id, _ := rq.auth.Credential.Identity.(*access.Identity)
	switch {
	case id == nil:
		return s3err.ErrAccessDenied
	case id.Disabled:
		return errDisabled
	}
	return nil
}

// isAdminCall reports a request for the admin API: a path under
// /.cloak-admin/, which names no bucket in path style. A virtual-host-style
// request with that path is for an object of the host's bucket.
func (s *Server) isAdminCall(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, strings.TrimSuffix(adminapi.PathPrefix, "v1/")) {
		return false
	}
	req, err := s3compat.ParseRequest(r, s.opts.Domains)
	return err != nil || !req.VirtualHost
}

// serveAdmin serves one admin API call: authenticate, authorise the
// act's action on access.AdminResource, read the signed JSON arguments,
// run the act.
func (s *Server) serveAdmin(ctx context.Context, rq *request) error {
	name, action, known := adminapi.ActOf(rq.r.URL.Path)
	rq.s3 = s3compat.Request{Op: s3compat.Op("admin/" + name)}
	if err := s.authenticate(rq); err != nil {
		return err
	}
	if s.opts.Access == nil {
		return s3err.ErrNotImplemented.WithMessage("This server has no admin API.")
	}
	if !known {
		return s3err.ErrInvalidRequest.WithMessage("Unknown admin API call " +
			url.PathEscape(strings.TrimPrefix(rq.r.URL.Path, adminapi.PathPrefix)) + ".")
	}
	if rq.r.Method != http.MethodPost {
		return s3err.ErrMethodNotAllowed
	}
	if rq.auth.Presigned || rq.auth.PayloadMode != sigv4.PayloadSHA256 {
		// The arguments are the act: their signature must cover them.
		return s3err.ErrAccessDenied.WithMessage(
			"Admin calls must be signed in the Authorization header with the body's SHA-256.")
	}
	if err := s.allowed(rq, access.Check{Action: action, Resource: access.AdminResource}); err != nil {
		return err
	}
	args, err := s.adminArgs(rq)
	if err != nil {
		return err
	}
	rq.detail = args.Describe()
	res, err := adminapi.Run(ctx, s.opts.Access, name, args)
	if err != nil {
		return adminapi.ToS3(err)
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Type", "application/json")
	rq.w.Header().Set("Cache-Control", "no-store")
	rq.w.WriteHeader(http.StatusOK)
	_, err = rq.w.Write(out)
	return err
}

// adminArgs reads and verifies (signature payload hash) the JSON body of
// an admin call.
func (s *Server) adminArgs(rq *request) (adminapi.Args, error) {
	var args adminapi.Args
	payload, err := rq.auth.Body(rq.r)
	if err != nil {
		return args, err
	}
	b, err := io.ReadAll(io.LimitReader(payload, adminapi.MaxArgsSize+1))
	if err != nil {
		return args, err
	}
	if len(b) > adminapi.MaxArgsSize {
		return args, s3err.ErrMaxMessageLengthExceeded
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return args, s3err.ErrInvalidArgument.WithMessage("The admin call's JSON body is malformed.")
	}
	return args, nil
}

// visibleBuckets says whether ListBuckets shows bucket to the request's
// user: never a system bucket, and with an access Manager only buckets
// the user may s3:ListBucket, with some prefix at least.
func (s *Server) visibleBucket(rq *request, bucket string) bool {
	if access.IsSystemBucket(bucket) {
		return false
	}
	if s.opts.Access == nil {
		return true
	}
	if s.identityUsable(rq) != nil {
		return false
	}
	id := rq.auth.Credential.Identity.(*access.Identity)
	return id.Allowed(access.Request{Action: access.ActListBucket,
		Resource: access.BucketARN(bucket), SourceIP: sourceIP(rq.r), Secure: rq.r.TLS != nil,
		AnyKeys: true})
}

// The Manager is the credential store of a Server with access control.
var _ sigv4.CredentialStore = (*access.Manager)(nil)

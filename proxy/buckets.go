package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/s3compat/checksum"
	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

// owner is the single owner Cloak reports for buckets and objects: all
// of them belong to the one Cloak account, whichever user wrote them.
var owner = s3xml.Owner{ID: "cloak", DisplayName: "cloak"}

func (s *Server) listBuckets(ctx context.Context, rq *request) error {
	buckets, err := s.opts.Store.ListBuckets(ctx)
	if err != nil {
		return err
	}
	res := s3xml.ListAllMyBucketsResult{Owner: owner}
	for _, b := range buckets {
		if !s.visibleBucket(rq, b.Name) {
			continue
		}
		res.Buckets = append(res.Buckets, s3xml.Bucket{Name: b.Name, CreationDate: s3xml.Time{Time: b.Created}})
	}
	return s3xml.Write(rq.w, http.StatusOK, res)
}

func (s *Server) createBucket(ctx context.Context, rq *request) error {
	body, err := s.requestBody(rq)
	if err != nil {
		return err
	}
	var cfg s3xml.CreateBucketConfiguration
	if err := decodeOptional(body, s3xml.MaxCreateBucketBody, &cfg); err != nil {
		return err
	}
	if loc := cfg.LocationConstraint; loc != "" && loc != s.opts.Region {
		return s3err.ErrInvalidLocationConstraint.WithMessagef(
			"The specified location-constraint is not valid: this endpoint serves %s.", s.opts.Region)
	}
	if err := s.opts.Store.CreateBucket(ctx, rq.s3.Bucket); err != nil {
		return err
	}
	rq.w.Header().Set("Location", "/"+rq.s3.Bucket)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// decodeOptional decodes an XML body that may be empty.
func decodeOptional(body io.Reader, limit int64, v any) error {
	var first [1]byte
	n, err := io.ReadFull(body, first[:])
	if n == 0 {
		if err == io.EOF {
			return nil
		}
		return err
	}
	return s3xml.Decode(io.MultiReader(bytes.NewReader(first[:n]), body), limit, v)
}

// deleteBucket removes a bucket that holds no client objects and no
// uploads. Cloak's own leftovers (manifests of deleted objects) do not
// keep it alive.
func (s *Server) deleteBucket(ctx context.Context, rq *request) error {
	b := rq.s3.Bucket
	err := s.opts.Store.DeleteBucket(ctx, b)
	if errors.Is(err, backend.ErrBucketNotEmpty) {
		if err = s.onlyInternalObjects(ctx, b); err == nil {
			if err = s.deletePrefix(ctx, b, internalPrefix); err == nil {
				err = s.opts.Store.DeleteBucket(ctx, b)
			}
		}
	}
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// onlyInternalObjects returns ErrBucketNotEmpty unless the bucket holds
// nothing but Cloak's internal objects and no upload is in progress.
func (s *Server) onlyInternalObjects(ctx context.Context, bucket string) error {
	res, err := s.opts.Store.ListObjects(ctx, bucket, backend.ListOptions{Delimiter: "/", MaxKeys: 2})
	if err != nil {
		return err
	}
	if len(res.Objects) > 0 || len(res.CommonPrefixes) != 1 || res.CommonPrefixes[0] != internalPrefix {
		return backend.ErrBucketNotEmpty
	}
	ups, err := s.opts.Store.ListMultipartUploads(ctx, bucket, backend.ListUploadsOptions{MaxUploads: 1})
	if err != nil {
		return err
	}
	if len(ups.Uploads) > 0 {
		return backend.ErrBucketNotEmpty
	}
	return nil
}

func (s *Server) headBucket(ctx context.Context, rq *request) error {
	if err := s.opts.Store.HeadBucket(ctx, rq.s3.Bucket); err != nil {
		return err
	}
	rq.w.Header().Set("X-Amz-Bucket-Region", s.opts.Region)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getBucketLocation(ctx context.Context, rq *request) error {
	if err := s.opts.Store.HeadBucket(ctx, rq.s3.Bucket); err != nil {
		return err
	}
	loc := s3xml.LocationConstraint{}
	if s.opts.Region != "us-east-1" {
		loc.Location = s.opts.Region
	}
	return s3xml.Write(rq.w, http.StatusOK, loc)
}

// requestBody returns the request body, verified as it streams: the
// signature's payload hash or chunk signatures, then Content-MD5 and any
// x-amz-checksum-* value. Its reader reports a mismatch in place of
// io.EOF.
func (s *Server) requestBody(rq *request) (*body, error) {
	spec, err := checksum.ParseRequest(rq.r.Header)
	if err != nil {
		return nil, err
	}
	payload, err := rq.auth.Body(rq.r)
	if err != nil {
		return nil, err
	}
	return &body{Reader: checksum.NewReader(payload, spec, payload.Trailer), spec: spec,
		size: payload.DecodedLength()}, nil
}

// body is a verifying request body.
type body struct {
	*checksum.Reader
	spec checksum.Spec
	// size is the decoded length of the body, -1 when unknown.
	size int64
}

// wantsMD5ETag reports whether the client may check the ETag it gets for
// this body against the body's MD5: it sent a Content-MD5, or it declared
// no flexible checksum (s3cmd, for one, compares the MD5 it computed with
// the ETag). A client that declares x-amz-checksum-* and no Content-MD5
// verifies through that checksum instead, as it must on AWS, where the
// ETags of SSE-KMS objects are not MD5s either; computing the MD5 for it
// would cost more CPU than encrypting the body.
func (b *body) wantsMD5ETag() bool {
	return b.spec.MD5 != nil || b.spec.Algorithm == checksum.None
}

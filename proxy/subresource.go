package proxy

import (
	"context"
	"net/http"

	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

// subresource answers a request for a sub-resource Cloak does not
// implement (s3compat.OpUnsupported). Where S3 has an answer that is
// true of every Cloak object, and clients ask for it in the course of
// ordinary work, it is given; everything else is NotImplemented.
//
//   - GET ?tagging of an object: an empty tag set, since Cloak stores no
//     tags. aws cli reads an object's tags before a multipart copy and
//     gives up on NotImplemented.
//   - GET ?versioning of a bucket: a configuration without a status, S3's
//     answer for a bucket that never had versioning, since Cloak keeps
//     one version of each object.
func (s *Server) subresource(ctx context.Context, rq *request) error {
	if rq.r.Method != http.MethodGet {
		return s3err.ErrNotImplemented.WithMessagef("%s is not implemented.", opName(rq.s3))
	}
	switch {
	case rq.s3.Subresource == "tagging" && rq.s3.Key != "":
		if _, err := s.opts.Store.HeadObject(ctx, rq.s3.Bucket, rq.s3.Key); err != nil {
			return err
		}
		return s3xml.Write(rq.w, http.StatusOK, s3xml.Tagging{})
	case rq.s3.Subresource == "versioning" && rq.s3.Key == "":
		if err := s.opts.Store.HeadBucket(ctx, rq.s3.Bucket); err != nil {
			return err
		}
		return s3xml.Write(rq.w, http.StatusOK, s3xml.VersioningConfiguration{})
	}
	return s3err.ErrNotImplemented.WithMessagef("%s is not implemented.", opName(rq.s3))
}

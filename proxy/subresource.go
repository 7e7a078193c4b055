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
func (s *Server) subresource(ctx context.Context, rq *request) error {
	if rq.s3.Subresource == "tagging" && rq.s3.Key != "" && rq.r.Method == http.MethodGet {
		if _, err := s.opts.Store.HeadObject(ctx, rq.s3.Bucket, rq.s3.Key); err != nil {
			return err
		}
		return s3xml.Write(rq.w, http.StatusOK, s3xml.Tagging{})
	}
	return s3err.ErrNotImplemented.WithMessagef("%s is not implemented.", opName(rq.s3))
}

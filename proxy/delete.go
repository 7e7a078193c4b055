package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/backend"

	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

func (s *Server) deleteObject(ctx context.Context, rq *request) error {
	if err := s.removeObject(ctx, rq.s3.Bucket, rq.s3.Key); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeObject deletes an object and, for a multipart object, its
// manifest. A manifest left behind by a failure is garbage nothing reads.
func (s *Server) removeObject(ctx context.Context, bucket, key string) error {
	defer s.forget(bucket, key)
	info, err := s.opts.Store.HeadObject(ctx, bucket, key)
	if err != nil && !errors.Is(err, backend.ErrNoSuchKey) {
		return err
	}
	if err := s.opts.Store.DeleteObject(ctx, bucket, key); err != nil {
		return err
	}
	if token := info.Metadata[metaManifest]; token != "" && !strings.ContainsAny(token, "/.") {
		if err := s.opts.Store.DeleteObject(ctx, bucket, manifestKey(token)); err != nil {
			s.log.Warn("manifest left behind", "bucket", bucket, "token", token, "error", err.Error())
		}
	}
	return nil
}

// deleteObjects serves DeleteObjects. S3 requires the body to carry an
// integrity check (Content-MD5 or a flexible checksum).
func (s *Server) deleteObjects(ctx context.Context, rq *request) error {
	body, err := s.requestBody(rq)
	if err != nil {
		return err
	}
	if rq.r.Header.Get("Content-Md5") == "" && !hasChecksumHeader(rq.r.Header) {
		return s3err.ErrInvalidRequest.WithMessage(
			"Missing required header for this request: Content-MD5 or x-amz-checksum-*")
	}
	var del s3xml.Delete
	if err := s3xml.Decode(body, s3xml.MaxDeleteBody, &del); err != nil {
		return err
	}
	var res s3xml.DeleteResult
	for _, o := range del.Objects {
		err := error(errReservedKey)
		if !isInternal(o.Key) {
			err = s.allowed(rq, access.DeleteCheck(rq.s3.Bucket, o.Key))
		}
		if err == nil {
			err = versionIDError(o.VersionID)
		}
		if err == nil {
			err = s.removeObject(ctx, rq.s3.Bucket, o.Key)
		}
		switch {
		case err != nil:
			e := toS3(err)
			res.Errors = append(res.Errors, s3xml.DeleteError{Key: o.Key, VersionID: o.VersionID,
				Code: e.Code, Message: e.Message})
		case !del.Quiet:
			res.Deleted = append(res.Deleted, s3xml.Deleted{Key: o.Key, VersionID: o.VersionID})
		}
	}
	return s3xml.Write(rq.w, http.StatusOK, res)
}

func hasChecksumHeader(h http.Header) bool {
	for _, k := range []string{"X-Amz-Checksum-Crc32", "X-Amz-Checksum-Crc32c",
		"X-Amz-Checksum-Crc64nvme", "X-Amz-Checksum-Sha1", "X-Amz-Checksum-Sha256", "X-Amz-Trailer",
		"X-Amz-Sdk-Checksum-Algorithm"} {
		if h.Get(k) != "" {
			return true
		}
	}
	return false
}

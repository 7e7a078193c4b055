package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// Cloak keeps the state it needs beside the objects, in the same bucket,
// under a reserved prefix that clients can neither see nor write:
//
//	.cloak/uploads/<id>/state        a multipart upload in progress:
//	                                 its envelope and manifest token
//	.cloak/uploads/<id>/p<n>.<etag>.<sealed md5>
//	                                 one empty object per uploaded part,
//	                                 its name carrying the part's
//	                                 plaintext MD5 sealed under the data key
//	.cloak/manifests/<token>         the sealed manifest of a completed
//	                                 multipart object
//
// <id> is derived from the object key and the upload id. Keeping this
// state in the backend is what lets any instance serve any part of any
// upload, with no database beside the store.
const internalPrefix = ".cloak/"

var errReservedKey = s3err.ErrAccessDenied.WithMessage("Keys under .cloak/ are reserved for Cloak.")

func isInternal(key string) bool { return strings.HasPrefix(key, internalPrefix) }

// uploadDir is the prefix of a multipart upload's state objects.
func uploadDir(key, uploadID string) string {
	h := sha256.Sum256([]byte(key + "\x00" + uploadID))
	return internalPrefix + "uploads/" + hex.EncodeToString(h[:16]) + "/"
}

func manifestKey(token string) string { return internalPrefix + "manifests/" + token }

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// putInternal stores a small internal object.
func (s *Server) putInternal(ctx context.Context, bucket, key string, body []byte) error {
	_, err := s.opts.Store.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), backend.PutOptions{})
	return err
}

// getInternal reads a small internal object whole (at most 1 MiB).
func (s *Server) getInternal(ctx context.Context, bucket, key string) ([]byte, error) {
	return readInternal(ctx, s.opts.Store, bucket, key)
}

// readInternal reads a small internal object of store whole (at most
// 1 MiB).
func readInternal(ctx context.Context, store backend.Store, bucket, key string) ([]byte, error) {
	rc, _, err := store.GetObject(ctx, bucket, key, 0, -1, backend.GetOptions{})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 1<<20))
}

// deletePrefix removes every object under prefix, best effort: it is used
// for state that is garbage once an upload ends.
func (s *Server) deletePrefix(ctx context.Context, bucket, prefix string) error {
	token := ""
	for range 10_000 {
		res, err := s.opts.Store.ListObjects(ctx, bucket, backend.ListOptions{Prefix: prefix, ContinuationToken: token})
		if err != nil {
			return err
		}
		var errs []error
		for _, o := range res.Objects {
			errs = append(errs, s.opts.Store.DeleteObject(ctx, bucket, o.Key))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if !res.IsTruncated {
			return nil
		}
		token = res.NextToken
	}
	return fmt.Errorf("delete %s: too many objects", prefix)
}

// uploadState is what UploadPart and Complete need to know about an
// upload: stored at CreateMultipartUpload, immutable afterwards.
type uploadState struct {
	Envelope string `json:"env"`
	Token    string `json:"token"`
	// Key and UploadID name the upload, so that the garbage collector
	// can ask the store whether it still exists (states written before
	// they were recorded lack them).
	Key      string `json:"key,omitempty"`
	UploadID string `json:"upload,omitempty"`
}

// stateCache remembers upload states by upload directory; they never
// change, so entries need no invalidation.
type stateCache = lru.Cache[string, uploadState]

func newStateCache() *stateCache {
	c, _ := lru.New[string, uploadState](10_000)
	return c
}

func (s *Server) saveUploadState(ctx context.Context, bucket, dir string, st uploadState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return s.putInternal(ctx, bucket, dir+"state", b)
}

// loadUploadState returns the state of an upload, or NoSuchUpload.
func (s *Server) loadUploadState(ctx context.Context, bucket, dir string) (uploadState, error) {
	if st, ok := s.states.Get(bucket + "/" + dir); ok {
		return st, nil
	}
	var st uploadState
	b, err := s.getInternal(ctx, bucket, dir+"state")
	if errors.Is(err, backend.ErrNoSuchKey) {
		return st, s3err.ErrNoSuchUpload
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("upload state: %w", err)
	}
	s.states.Add(bucket+"/"+dir, st)
	return st, nil
}

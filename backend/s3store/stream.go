package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
)

// partBuffers pools part buffers by size, so puts of unknown size do not
// allocate a fresh part each time.
var partBuffers sync.Map // int64 -> *sync.Pool of *[]byte

func getPartBuffer(size int64) *[]byte {
	p, _ := partBuffers.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool).Get().(*[]byte)
}

func putPartBuffer(b *[]byte) {
	if p, ok := partBuffers.Load(int64(len(*b))); ok {
		p.(*sync.Pool).Put(b)
	}
}

// putStream uploads a body of unknown (or more than 5 GiB) size: it reads
// one part at a time into a pooled buffer of s.partSize bytes and sends
// the parts one after another. A body that fits in one part goes as a
// single PUT. On failure the multipart upload is aborted.
func (s *Store) putStream(ctx context.Context, bucket, key string, body io.Reader,
	md map[string]string, opts backend.PutOptions) (backend.ObjectInfo, error) {
	bufp := getPartBuffer(s.partSize)
	defer putPartBuffer(bufp)
	buf := *bufp
	n, err := io.ReadFull(body, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return s.putSingle(ctx, bucket, key, bytes.NewReader(buf[:n]), int64(n), md, opts)
	}
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	id, err := s.core.NewMultipartUpload(ctx, bucket, key, putOptions(md, backend.PutOptions{}))
	if err != nil {
		return backend.ObjectInfo{}, mapErr(err)
	}
	info, err := s.streamParts(ctx, bucket, key, id, body, buf, n, opts)
	if err != nil {
		s.abortQuietly(bucket, key, id)
		return backend.ObjectInfo{}, err
	}
	info.Metadata = md
	return info, nil
}

// streamParts uploads the part already in buf[:n], then the rest of body
// part by part, and completes the upload under opts' conditions.
func (s *Store) streamParts(ctx context.Context, bucket, key, id string, body io.Reader,
	buf []byte, n int, opts backend.PutOptions) (backend.ObjectInfo, error) {
	var parts []minio.CompletePart
	var total int64
	for num := 1; n > 0; num++ {
		if num > backend.MaxParts {
			return backend.ObjectInfo{}, fmt.Errorf("body needs more than %d parts of %d bytes: %w",
				backend.MaxParts, len(buf), backend.ErrInvalidArgument)
		}
		p, err := s.core.PutObjectPart(ctx, bucket, key, id, num, bytes.NewReader(buf[:n]),
			int64(n), minio.PutObjectPartOptions{DisableContentSha256: true})
		if err != nil {
			return backend.ObjectInfo{}, mapErr(err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
		total += int64(n)
		var rerr error
		n, rerr = io.ReadFull(body, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return backend.ObjectInfo{}, rerr
		}
	}
	up, err := s.core.CompleteMultipartUpload(ctx, bucket, key, id, parts, completeOptions(opts))
	if err != nil {
		return backend.ObjectInfo{}, mapErr(err)
	}
	return backend.ObjectInfo{Key: key, Size: total, ETag: trimETag(up.ETag),
		PartsCount: len(parts)}, nil
}

// completeOptions carries a write's conditions to CompleteMultipartUpload,
// where S3 checks them.
func completeOptions(opts backend.PutOptions) minio.PutObjectOptions {
	var po minio.PutObjectOptions
	if opts.IfMatch != "" {
		po.SetMatchETag(trimETag(opts.IfMatch))
	}
	if opts.IfNoneMatch == "*" {
		po.SetMatchETagExcept("*")
	}
	return po
}

// abortQuietly aborts an upload after a failure, with its own deadline
// since the request's context may be what failed.
func (s *Store) abortQuietly(bucket, key, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.core.AbortMultipartUpload(ctx, bucket, key, id)
}

// exactReader passes on exactly left bytes of r and fails if r holds
// fewer or more. It checks for extra bytes before returning the last
// ones, so a request whose body is too long fails before it is complete
// and the server stores nothing.
//
// The HTTP transport may still read a request body after the request has
// returned (it writes bodies from a goroutine of its own, and a server
// that answers early, such as one out of space, ends the request first).
// The caller's reader must not be touched after the store method returns,
// since the caller then closes or reuses it: a store method calls detach
// before it returns, which waits for a Read in progress and makes later
// ones fail without reaching r.
type exactReader struct {
	mu       sync.Mutex
	detached bool
	r        io.Reader
	left     int64
	err      error // sticky: io.EOF once done, or the failure
}

// errDetached is what the transport reads from a body whose request has
// already returned.
var errDetached = errors.New("request body read after the request returned")

// detach cuts the reader off from r; see exactReader.
func (e *exactReader) detach() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.detached = true
}

func (e *exactReader) Read(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.detached {
		return 0, errDetached
	}
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		if e.err = checkEOF(e.r); e.err == nil {
			e.err = io.EOF
		}
		return 0, e.err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left > 0 && err == io.EOF:
		e.err = fmt.Errorf("body ended %d bytes early: %w", e.left, backend.ErrIncompleteBody)
		return n, e.err
	case e.left > 0 || err != nil && err != io.EOF:
		return n, err
	}
	if e.err = checkEOF(e.r); e.err != nil {
		return 0, e.err
	}
	e.err = io.EOF
	return n, io.EOF
}

// checkEOF fails if r has bytes left.
func checkEOF(r io.Reader) error {
	var one [1]byte
	for range 100 {
		n, err := r.Read(one[:])
		if n > 0 {
			return fmt.Errorf("body longer than its size: %w", backend.ErrInvalidArgument)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return errors.New("body returned no data and no EOF")
}

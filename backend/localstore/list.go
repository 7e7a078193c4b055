package localstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cloakproxy/cloak/backend"
)

// ListObjects collects the keys below the prefix's directory, sorts them
// in memory, and reads the trailers of the page it returns. The cost is
// one directory walk of the prefix's subtree per call.
func (s *Store) ListObjects(ctx context.Context, bucket string,
	opts backend.ListOptions) (backend.ListResult, error) {
	res, err := s.listObjects(ctx, bucket, opts)
	if err != nil {
		return backend.ListResult{}, fmt.Errorf("list %s: %w", bucket, err)
	}
	return res, nil
}

func (s *Store) listObjects(ctx context.Context, bucket string,
	opts backend.ListOptions) (backend.ListResult, error) {
	if err := s.checkBucket(bucket); err != nil {
		return backend.ListResult{}, err
	}
	max, err := pageSize(opts.MaxKeys, backend.MaxListKeys)
	if err != nil {
		return backend.ListResult{}, err
	}
	marker, fromToken, err := listMarker(opts)
	if err != nil {
		return backend.ListResult{}, err
	}
	keys, err := s.collectKeys(ctx, bucket, opts.Prefix)
	if err != nil {
		return backend.ListResult{}, err
	}
	sort.Strings(keys)
	page := paginate(keys, opts.Prefix, opts.Delimiter, marker, fromToken, max)
	return s.fillPage(bucket, page, opts.WithMetadata)
}

// pageSize checks a requested page size: 0 or more than limit means limit.
func pageSize(n, limit int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("page size %d: %w", n, backend.ErrInvalidArgument)
	case n == 0 || n > limit:
		return limit, nil
	}
	return n, nil
}

// Continuation tokens carry the last key or common prefix returned.
const tokenVersion = "1:"

func encodeToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenVersion + last))
}

func listMarker(opts backend.ListOptions) (marker string, fromToken bool, err error) {
	if opts.ContinuationToken == "" {
		return opts.StartAfter, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(opts.ContinuationToken)
	if err != nil || !strings.HasPrefix(string(b), tokenVersion) || !utf8.Valid(b) {
		return "", false, fmt.Errorf("bad continuation token: %w", backend.ErrInvalidArgument)
	}
	return string(b[len(tokenVersion):]), true, nil
}

// page is a listing page before the objects' trailers are read.
type page struct {
	keys, prefixes []string
	truncated      bool
	next           string
}

// paginate picks from sorted keys those after marker, rolls them up by
// delimiter and cuts the page at max entries. With fromToken the marker
// is the last entry of the previous page, which may be a common prefix
// whose keys must not be rolled up again.
func paginate(keys []string, prefix, delim, marker string, fromToken bool, max int) page {
	var p page
	start := sort.SearchStrings(keys, marker)
	count, last := 0, ""
	for _, k := range keys[start:] {
		if k <= marker || !strings.HasPrefix(k, prefix) {
			continue
		}
		entry, isPrefix := k, false
		if i := strings.Index(k[len(prefix):], delim); delim != "" && i >= 0 {
			entry, isPrefix = k[:len(prefix)+i+len(delim)], true
			if entry == last || fromToken && entry <= marker {
				continue
			}
		}
		if count == max {
			p.truncated, p.next = true, encodeToken(last)
			break
		}
		if isPrefix {
			p.prefixes = append(p.prefixes, entry)
		} else {
			p.keys = append(p.keys, entry)
		}
		count, last = count+1, entry
	}
	return p
}

// fillPage reads the trailers of the page's keys. A key deleted since
// the walk is left out.
func (s *Store) fillPage(bucket string, p page, withMetadata bool) (backend.ListResult, error) {
	res := backend.ListResult{
		CommonPrefixes: p.prefixes, IsTruncated: p.truncated, NextToken: p.next,
		Objects: make([]backend.ObjectInfo, 0, len(p.keys)),
	}
	for _, k := range p.keys {
		tr, err := s.statData(objectPath(bucket, k))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return backend.ListResult{}, err
		}
		info := tr.info(k)
		switch {
		case !withMetadata:
			info.Metadata = nil
		case info.Metadata == nil:
			info.Metadata = map[string]string{} // listed, and empty
		}
		res.Objects = append(res.Objects, info)
	}
	return res, nil
}

// collectKeys returns every key in bucket that starts with prefix, by
// walking the directory of prefix's complete segments.
func (s *Store) collectKeys(ctx context.Context, bucket, prefix string) ([]string, error) {
	dir, dec := bucketPath(bucket), keyDecoder{}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		for _, seg := range strings.Split(prefix[:i], "/") {
			for _, name := range segmentNames(escapeSegment(seg), tagDir) {
				dir += "/" + name
			}
		}
		dec.prefix = prefix[:i+1]
	}
	r, err := s.root.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var keys []string
	return keys, walkKeys(ctx, r, dec, prefix, &keys)
}

// walkKeys adds to keys every object below the directory r whose key
// starts with prefix, skipping subdirectories that cannot hold such keys.
// Each level opens its directory relative to its parent, so a deep tree
// costs one open per directory.
func walkKeys(ctx context.Context, r *os.Root, dec keyDecoder, prefix string,
	keys *[]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := fs.ReadDir(r.FS(), ".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		next, key, isObject, ok := dec.child(e.Name())
		switch {
		case !ok || isObject != !e.IsDir():
			continue
		case isObject:
			if strings.HasPrefix(key, prefix) {
				*keys = append(*keys, key)
			}
		case next.pending != "" || related(next.prefix, prefix):
			if err := walkSubdir(ctx, r, e.Name(), next, prefix, keys); err != nil {
				return err
			}
		}
	}
	return nil
}

func walkSubdir(ctx context.Context, r *os.Root, name string, dec keyDecoder, prefix string,
	keys *[]string) error {
	sub, err := r.OpenRoot(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed since the parent was read
	}
	if err != nil {
		return err
	}
	defer sub.Close()
	return walkKeys(ctx, sub, dec, prefix, keys)
}

// related reports whether keys below directory prefix dp can start with
// prefix.
func related(dp, prefix string) bool {
	return strings.HasPrefix(dp, prefix) || strings.HasPrefix(prefix, dp)
}

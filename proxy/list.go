package proxy

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/s3compat"
	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

// Listings report each object's plaintext size and client ETag. The
// store lists ciphertext sizes and its own ETags, so each entry is opened
// from the metadata the listing carries (the local store and MinIO list
// it), or, on stores that cannot (plain S3), through a HEAD per object in
// parallel. Multipart objects also need their manifest. Results are kept
// in a bounded cache keyed by the store's ETag, which changes whenever the
// object does.
const (
	listCacheSize   = 100_000
	listConcurrency = 16
)

type listEntry struct {
	size int64
	etag string
}

type listCache struct {
	c *lru.Cache[string, listEntry]
}

func newListCache() *listCache {
	c, _ := lru.New[string, listEntry](listCacheSize)
	return &listCache{c: c}
}

func listCacheKey(bucket, key, backendETag string) string {
	return bucket + "\x00" + key + "\x00" + backendETag
}

// resolveListing fills in plaintext sizes and client ETags for objs.
func (s *Server) resolveListing(ctx context.Context, bucket string, objs []backend.ObjectInfo) ([]s3xml.Object, error) {
	out := make([]s3xml.Object, len(objs))
	errs := make([]error, len(objs))
	sem := make(chan struct{}, listConcurrency)
	var wg sync.WaitGroup
	for i, o := range objs {
		if e, ok := s.list.c.Get(listCacheKey(bucket, o.Key, o.ETag)); ok {
			out[i] = listObject(o, e)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			e, err := s.resolveEntry(ctx, bucket, o)
			out[i], errs[i] = listObject(o, e), err
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// resolveEntry opens one listed object: from the metadata the listing
// carried, or, where the store cannot list metadata, through a HEAD.
func (s *Server) resolveEntry(ctx context.Context, bucket string, o backend.ObjectInfo) (listEntry, error) {
	info := o
	if info.Metadata == nil {
		var err error
		info, err = s.opts.Store.HeadObject(ctx, bucket, o.Key)
		if errors.Is(err, backend.ErrNoSuchKey) {
			// Deleted since it was listed: show it as listed, as S3's
			// eventual listings may.
			return listEntry{size: o.Size, etag: o.ETag}, nil
		}
		if err != nil {
			return listEntry{}, err
		}
	}
	obj, err := s.openObject(ctx, bucket, o.Key, info)
	if err != nil {
		// An object Cloak cannot open is listed with its stored size;
		// reading it fails with the reason.
		return listEntry{size: info.Size, etag: clientETag("", info.ETag)}, nil
	}
	defer obj.close()
	e := listEntry{size: obj.size(), etag: obj.etag}
	s.list.c.Add(listCacheKey(bucket, o.Key, info.ETag), e)
	return e, nil
}

func listObject(o backend.ObjectInfo, e listEntry) s3xml.Object {
	return s3xml.Object{
		Key:          o.Key,
		LastModified: s3xml.Time{Time: o.LastModified},
		ETag:         s3xml.ETag(e.etag),
		Size:         e.size,
		StorageClass: "STANDARD",
	}
}

// listParams are the query parameters both listing versions share.
type listParams struct {
	prefix, delimiter, encoding string
	maxKeys                     int
}

func parseListParams(q map[string][]string) (listParams, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	p := listParams{prefix: get("prefix"), delimiter: get("delimiter"), encoding: get("encoding-type")}
	if p.encoding != "" && !s3xml.ValidEncodingType(p.encoding) {
		return p, s3err.ErrInvalidArgument.WithMessage("Invalid Encoding Method specified in Request")
	}
	var err error
	p.maxKeys, err = s3compat.ParseMaxKeys("max-keys", get("max-keys"))
	return p, err
}

// listPage lists one page for the client, without Cloak's internal
// objects. A backend page that held nothing but internal objects is
// skipped (a bounded number of times), so clients do not page through
// Cloak's state.
//
// lastRaw is the greatest name the backend returned, internal or not: a
// V1 client needs it as a marker when every entry of a page was hidden.
func (s *Server) listPage(ctx context.Context, bucket string, p listParams, startAfter, token string) (
	res backend.ListResult, objs []s3xml.Object, lastRaw string, err error) {
	if p.maxKeys == 0 {
		return res, nil, "", s.opts.Store.HeadBucket(ctx, bucket)
	}
	for range 10 {
		res, err = s.opts.Store.ListObjects(ctx, bucket, backend.ListOptions{
			Prefix: p.prefix, Delimiter: p.delimiter, StartAfter: startAfter,
			ContinuationToken: token, MaxKeys: p.maxKeys, WithMetadata: true,
		})
		if err != nil {
			return res, nil, "", err
		}
		lastRaw = max(lastRaw, lastName(res.Objects, res.CommonPrefixes))
		hidden := len(res.Objects) + len(res.CommonPrefixes)
		res.Objects = slices.DeleteFunc(res.Objects, func(o backend.ObjectInfo) bool { return isInternal(o.Key) })
		res.CommonPrefixes = slices.DeleteFunc(res.CommonPrefixes, isInternal)
		hidden -= len(res.Objects) + len(res.CommonPrefixes)
		if hidden == 0 || !res.IsTruncated || len(res.Objects)+len(res.CommonPrefixes) > 0 {
			break
		}
		token = res.NextToken
	}
	objs, err = s.resolveListing(ctx, bucket, res.Objects)
	return res, objs, lastRaw, err
}

func prefixes(ps []string) []s3xml.CommonPrefix {
	out := make([]s3xml.CommonPrefix, len(ps))
	for i, p := range ps {
		out[i] = s3xml.CommonPrefix{Prefix: p}
	}
	return out
}

func (s *Server) listObjectsV2(ctx context.Context, rq *request) error {
	q := rq.s3.Query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	token, startAfter := q.Get("continuation-token"), q.Get("start-after")
	res, objs, _, err := s.listPage(ctx, rq.s3.Bucket, p, startAfter, token)
	if err != nil {
		return err
	}
	fetchOwner, _ := strconv.ParseBool(q.Get("fetch-owner"))
	if fetchOwner {
		for i := range objs {
			objs[i].Owner = &owner
		}
	}
	out := s3xml.ListBucketResultV2{
		Name: rq.s3.Bucket, Prefix: p.prefix, Delimiter: p.delimiter, MaxKeys: p.maxKeys,
		ContinuationToken: token, StartAfter: startAfter, EncodingType: p.encoding,
		IsTruncated: res.IsTruncated, Contents: objs, CommonPrefixes: prefixes(res.CommonPrefixes),
		KeyCount: len(objs) + len(res.CommonPrefixes),
	}
	if res.IsTruncated {
		out.NextContinuationToken = res.NextToken
	}
	return s3xml.Write(rq.w, http.StatusOK, out)
}

func (s *Server) listObjectsV1(ctx context.Context, rq *request) error {
	q := rq.s3.Query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	marker := q.Get("marker")
	res, objs, lastRaw, err := s.listPage(ctx, rq.s3.Bucket, p, marker, "")
	if err != nil {
		return err
	}
	for i := range objs {
		objs[i].Owner = &owner
	}
	out := s3xml.ListBucketResult{
		Name: rq.s3.Bucket, Prefix: p.prefix, Delimiter: p.delimiter, MaxKeys: p.maxKeys,
		Marker: marker, EncodingType: p.encoding, IsTruncated: res.IsTruncated,
		Contents: objs, CommonPrefixes: prefixes(res.CommonPrefixes),
	}
	if res.IsTruncated && (p.delimiter != "" || len(objs) == 0) {
		out.NextMarker = lastRaw
	}
	return s3xml.Write(rq.w, http.StatusOK, out)
}

// lastName is the greatest key or common prefix of a page: the marker
// for the next one.
func lastName(objs []backend.ObjectInfo, cps []string) string {
	last := ""
	if len(objs) > 0 {
		last = objs[len(objs)-1].Key
	}
	if len(cps) > 0 && cps[len(cps)-1] > last {
		last = cps[len(cps)-1]
	}
	return last
}

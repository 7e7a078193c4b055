package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// Garbage collection of Cloak's internal state. Two kinds of leftover
// accumulate under .cloak/ when a clean-up fails or is never reached:
//
//   - the state of an ended upload (.cloak/uploads/<id>/): its upload was
//     completed or aborted but deleting the state failed, or the upload
//     was aborted on the store directly, bypassing Cloak;
//   - a manifest that no object names (.cloak/manifests/<token>): its
//     object was overwritten by a single PUT or deleted and the manifest's
//     delete failed, or a Complete stored the manifest and then failed.
//
// CollectGarbage removes both and, when asked (GCOptions.AbortAfter),
// aborts uploads that stalled long ago. It errs on the side of keeping:
// anything younger than GCOptions.MinAge stays, an upload counts as ended
// only when the store says it does not exist, and no manifest is removed
// unless every object of the bucket was accounted for.

// GCOptions configure [CollectGarbage].
type GCOptions struct {
	// MinAge keeps every leftover written less than MinAge ago. It covers
	// the window in which a Complete has stored its manifest but not yet
	// the object, and a CopyObject its manifest copy but not yet the
	// copy. Zero is allowed only where no request is in flight (tests).
	MinAge time.Duration
	// DryRun counts what would be removed and removes nothing.
	DryRun bool
	// Jobs bounds the HEAD requests in flight while walking objects whose
	// listing carries no metadata (plain S3); default 8.
	Jobs int
	// AbortAfter, when positive, aborts uploads still in progress that
	// were started longer ago than that (by the age of their state) and
	// have stored nothing for MinAge, as S3's
	// AbortIncompleteMultipartUpload lifecycle rule does: their
	// parts, stored ciphertext, are removed from the store with their
	// state. Only uploads whose state names them are aborted.
	AbortAfter time.Duration
}

// GCReport is what one bucket's collection found.
type GCReport struct {
	// Objects is the number of client objects walked to find the
	// manifests in use.
	Objects int64
	// Manifests and Uploads count the unused manifests and the ended
	// uploads removed (found, in a dry run); StateObjects the objects
	// under those uploads' prefixes.
	Manifests, Uploads, StateObjects int
	// Young counts leftovers kept because they are younger than MinAge.
	Young int
	// LiveUploads counts uploads still in progress, whose state stays.
	LiveUploads int
	// Aborted counts uploads in progress aborted for their age
	// (GCOptions.AbortAfter); their state objects count in StateObjects.
	Aborted int
	// Unknown counts upload states that do not name their upload (written
	// before states recorded it): kept, since Cloak cannot ask the store
	// whether such an upload still exists.
	Unknown int
}

// uploadsPrefix and manifestsPrefix hold the two kinds of internal state.
const (
	uploadsPrefix   = internalPrefix + "uploads/"
	manifestsPrefix = internalPrefix + "manifests/"
)

// gcPageLimit bounds the pages of one listing (at 1,000 keys a page, ten
// million keys), so that a store that keeps answering "truncated" cannot
// hold a collection forever.
const gcPageLimit = 10_000

// CollectGarbage removes the leftovers of one bucket of store (see above)
// and reports what it found. It needs no keys: it reads no sealed data.
// An error stops the collection; what was removed before it stays
// removed. Nothing in use is removed as long as MinAge is longer than any
// CopyObject of a multipart object takes (see GCOptions.MinAge).
func CollectGarbage(ctx context.Context, store backend.Store, bucket string,
	opts GCOptions) (GCReport, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = 8
	}
	gc := &collector{store: store, bucket: bucket, opts: opts, cutoff: time.Now().Add(-opts.MinAge)}
	// The manifests are listed before the uploads: a manifest stored after
	// this listing is not a candidate, and one stored before it by an
	// upload still in progress is protected by that upload's token.
	candidates, err := gc.manifestCandidates(ctx)
	if err != nil {
		return gc.report, err
	}
	inUse, err := gc.collectUploads(ctx)
	if err != nil {
		return gc.report, err
	}
	for _, token := range inUse {
		delete(candidates, token)
	}
	if err := gc.walkObjects(ctx, candidates); err != nil {
		return gc.report, err
	}
	for token := range candidates {
		if err := gc.remove(ctx, manifestKey(token)); err != nil {
			return gc.report, err
		}
		gc.report.Manifests++
	}
	return gc.report, nil
}

type collector struct {
	store  backend.Store
	bucket string
	opts   GCOptions
	cutoff time.Time // leftovers modified after it are young
	report GCReport
}

func (gc *collector) young(t time.Time) bool { return t.After(gc.cutoff) }

func (gc *collector) remove(ctx context.Context, key string) error {
	if gc.opts.DryRun {
		return nil
	}
	err := gc.store.DeleteObject(ctx, gc.bucket, key)
	if err != nil && !errors.Is(err, backend.ErrNoSuchKey) {
		return fmt.Errorf("remove %s: %w", key, err)
	}
	return nil
}

// list calls fn for every object under prefix, in key order.
func (gc *collector) list(ctx context.Context, prefix string, metadata bool,
	fn func(backend.ObjectInfo) (stop bool, err error)) error {
	token := ""
	for range gcPageLimit {
		res, err := gc.store.ListObjects(ctx, gc.bucket, backend.ListOptions{
			Prefix: prefix, ContinuationToken: token, WithMetadata: metadata})
		if err != nil {
			return err
		}
		for _, o := range res.Objects {
			stop, err := fn(o)
			if err != nil || stop {
				return err
			}
		}
		if !res.IsTruncated {
			return nil
		}
		token = res.NextToken
	}
	return fmt.Errorf("list %s/%s: more than %d pages", gc.bucket, prefix, gcPageLimit)
}

// manifestCandidates lists the manifests old enough to be collected.
func (gc *collector) manifestCandidates(ctx context.Context) (map[string]struct{}, error) {
	out := make(map[string]struct{})
	err := gc.list(ctx, manifestsPrefix, false, func(o backend.ObjectInfo) (bool, error) {
		token := strings.TrimPrefix(o.Key, manifestsPrefix)
		switch {
		case token == "" || strings.ContainsAny(token, "/."):
			// Not a name Cloak writes; leave it alone.
		case gc.young(o.LastModified):
			gc.report.Young++
		default:
			out[token] = struct{}{}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	return out, nil
}

// collectUploads removes the state of ended uploads and returns the
// manifest tokens of the uploads that may still be in progress.
func (gc *collector) collectUploads(ctx context.Context) ([]string, error) {
	var inUse []string
	var dir uploadGroup
	flush := func() error {
		if dir.prefix == "" {
			return nil
		}
		token, err := gc.collectUpload(ctx, &dir)
		if token != "" {
			inUse = append(inUse, token)
		}
		dir = uploadGroup{}
		return err
	}
	// A listing is in key order, so each upload's objects come together.
	err := gc.list(ctx, uploadsPrefix, false, func(o backend.ObjectInfo) (bool, error) {
		rest := strings.TrimPrefix(o.Key, uploadsPrefix)
		i := strings.IndexByte(rest, '/')
		if i <= 0 {
			return false, nil // not a name Cloak writes
		}
		prefix := uploadsPrefix + rest[:i+1]
		if prefix != dir.prefix {
			if err := flush(); err != nil {
				return true, err
			}
			dir.prefix = prefix
		}
		dir.add(o)
		return false, nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, fmt.Errorf("collect uploads: %w", err)
	}
	return inUse, nil
}

// uploadGroup is the state objects of one upload directory.
type uploadGroup struct {
	prefix   string
	keys     []string
	newest   time.Time
	hasState bool
	started  time.Time // when the state was written: the upload's start
}

// maxGroupKeys bounds the keys held for one upload directory (10,000
// part records and the state, with room to spare).
const maxGroupKeys = 20_000

func (g *uploadGroup) add(o backend.ObjectInfo) {
	if o.Key == g.prefix+"state" {
		g.hasState, g.started = true, o.LastModified
	}
	if o.LastModified.After(g.newest) {
		g.newest = o.LastModified
	}
	if len(g.keys) < maxGroupKeys {
		g.keys = append(g.keys, o.Key)
	}
}

// collectUpload decides about one upload directory: it removes the
// directory when its upload has ended, and returns the upload's manifest
// token when the upload may still be in progress.
func (gc *collector) collectUpload(ctx context.Context, g *uploadGroup) (string, error) {
	var st uploadState
	if g.hasState {
		var err error
		if st, err = gc.readState(ctx, g); err != nil {
			return "", err
		}
	}
	if gc.young(g.newest) {
		gc.report.Young++
		return st.Token, nil
	}
	aborted := false
	if g.hasState {
		if st.Key == "" || st.UploadID == "" || uploadDir(st.Key, st.UploadID) != g.prefix {
			gc.report.Unknown++
			return st.Token, nil
		}
		_, err := gc.store.ListParts(ctx, gc.bucket, st.Key, st.UploadID,
			backend.ListPartsOptions{MaxParts: 1})
		switch {
		case err == nil && gc.abortable(g):
			if err := gc.abort(ctx, st); err != nil {
				return st.Token, err
			}
			aborted = true
		case err == nil:
			gc.report.LiveUploads++
			return st.Token, nil
		case !errors.Is(err, backend.ErrNoSuchUpload):
			return "", fmt.Errorf("upload %s: %w", g.prefix, err)
		}
	}
	// The upload has ended (or the directory lost its state, which only
	// an ended upload's clean-up does: the state is written before any
	// part and removed last). The state object goes last here too, so
	// that an interrupted collection leaves a directory it can judge.
	var state string
	for _, k := range g.keys {
		if k == g.prefix+"state" {
			state = k
			continue
		}
		if err := gc.remove(ctx, k); err != nil {
			return "", err
		}
		gc.report.StateObjects++
	}
	if state != "" {
		if err := gc.remove(ctx, state); err != nil {
			return "", err
		}
		gc.report.StateObjects++
	}
	if aborted {
		gc.report.Aborted++
	} else {
		gc.report.Uploads++
	}
	return "", nil
}

// abortable reports whether an upload in progress is old enough to be
// aborted (GCOptions.AbortAfter).
func (gc *collector) abortable(g *uploadGroup) bool {
	return gc.opts.AbortAfter > 0 && g.started.Before(time.Now().Add(-gc.opts.AbortAfter))
}

// abort aborts an upload on the store (its state is removed after).
func (gc *collector) abort(ctx context.Context, st uploadState) error {
	if gc.opts.DryRun {
		return nil
	}
	err := gc.store.AbortMultipartUpload(ctx, gc.bucket, st.Key, st.UploadID)
	if err != nil && !errors.Is(err, backend.ErrNoSuchUpload) {
		return fmt.Errorf("abort upload of %s: %w", st.Key, err)
	}
	return nil
}

func (gc *collector) readState(ctx context.Context, g *uploadGroup) (uploadState, error) {
	var st uploadState
	b, err := readInternal(ctx, gc.store, gc.bucket, g.prefix+"state")
	if err != nil {
		return st, fmt.Errorf("read %sstate: %w", g.prefix, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read %sstate: %w", g.prefix, err)
	}
	return st, nil
}

// walkObjects takes out of candidates every manifest that a client
// object names. It stops early once no candidate is left. Any object it
// cannot account for fails the walk, and with it the collection of
// manifests.
func (gc *collector) walkObjects(ctx context.Context, candidates map[string]struct{}) error {
	if len(candidates) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		headErr error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, gc.opts.Jobs)
	named := func(token string) {
		mu.Lock()
		delete(candidates, token)
		mu.Unlock()
	}
	err := gc.list(ctx, "", true, func(o backend.ObjectInfo) (bool, error) {
		if isInternal(o.Key) {
			return false, nil
		}
		gc.report.Objects++
		if _, ok := o.Metadata[metaEnvelope]; ok {
			// The listing carries the object's metadata, and with it
			// the manifest token if there is one.
			named(o.Metadata[metaManifest])
		} else {
			// No metadata in the listing (plain S3), or an object that
			// is not Cloak's: ask the object itself.
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				info, err := gc.store.HeadObject(ctx, gc.bucket, o.Key)
				switch {
				case err == nil:
					named(info.Metadata[metaManifest])
				case !errors.Is(err, backend.ErrNoSuchKey):
					mu.Lock()
					if headErr == nil {
						headErr = fmt.Errorf("head %s: %w", o.Key, err)
					}
					mu.Unlock()
					cancel()
				}
			}()
		}
		mu.Lock()
		done, failed := len(candidates) == 0, headErr
		mu.Unlock()
		return done, failed
	})
	wg.Wait()
	if headErr != nil {
		err = headErr // the cause, rather than the cancelled listing
	}
	if err != nil {
		return fmt.Errorf("walk objects (no manifest removed): %w", err)
	}
	return nil
}

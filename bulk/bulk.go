// Package bulk runs one operation over every object of some buckets of a
// backend store: in parallel, resumable after an interruption without
// redoing finished objects, with progress shown as a bar on a terminal or
// as plain lines otherwise, and a summary at the end. "cloak keys rewrap"
// and the migration and verification tools are built on it.
//
// # Order and resumption
//
// [Run] lists each bucket in key order and hands the objects to
// [Options.Jobs] workers. Workers finish out of order, so the state that
// makes a run resumable is a watermark: the last key such that it and
// every key before it are finished, plus the keys before the watermark
// that failed. [Options.State] names a small JSON file where the state is
// saved every second and when the run stops; a later run with the same
// operation, buckets and prefix starts after the watermark and first
// retries the failed keys. A run that completes removes the file.
//
// The operation must be idempotent, since an object finished after the
// last save is handed over again on resumption: rewrap skips an object
// already under the active key, migration one already encrypted.
//
// # Bounds
//
// At most [maxWindow] listed objects are held at once (in the queue, in
// a worker, or finished but above the watermark), whatever the size of
// the bucket. At most [MaxFailures] failures are kept for the summary and
// the state file; more are counted.
package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// Func handles one object. It reports whether it changed anything (for
// the summary); an error fails that object only, and the run goes on. obj
// carries the listing's metadata when [Options.WithMetadata] is set and
// the store lists it; otherwise Func must HEAD the object itself.
type Func func(ctx context.Context, bucket string, obj backend.ObjectInfo) (changed bool, err error)

// Options configure a [Run].
type Options struct {
	// Op names the operation ("rewrap", "migrate"): it labels the
	// progress and must match for a state file to be resumed.
	Op string
	// Store is the store to walk.
	Store backend.Store
	// Buckets are walked one after the other, each in key order.
	Buckets []string
	// Prefix restricts every bucket to keys that start with it.
	Prefix string
	// Jobs is the number of objects handled at once; default 4.
	Jobs int
	// WithMetadata lists objects with their metadata where the store can.
	WithMetadata bool
	// Skip, when set, leaves out the keys it returns true for (they are
	// neither counted nor handled). Nil skips Cloak's internal keys, those
	// under ".cloak/".
	Skip func(key string) bool
	// State is the path of the resume file; empty runs without one.
	State string
	// Progress receives the progress display; nil shows none.
	Progress io.Writer
	// Terminal draws a bar rewritten in place; otherwise a plain line is
	// written every Interval (default 10s).
	Terminal bool
	Interval time.Duration
	// Count, when set, counts the objects and bytes to do with a listing
	// of its own beside the work, so that progress shows a percentage and
	// an estimated time left.
	Count bool
}

// MaxFailures is the number of failures a run keeps.
const MaxFailures = 1000

// maxWindow bounds the objects a run holds at once.
const maxWindow = 10_000

// Failure is one object that the operation failed on.
type Failure struct {
	Bucket, Key string
	Err         string
}

// Summary is what a run did.
type Summary struct {
	// Objects and Bytes count the objects handed to the operation (and
	// their stored sizes), resumed runs counting only their own work.
	Objects, Bytes int64
	// Changed, Unchanged and Failed partition Objects.
	Changed, Unchanged, Failed int64
	// Failures are the first MaxFailures failures.
	Failures []Failure
	// Resumed reports that the run continued an interrupted one.
	Resumed bool
	// Complete reports that every bucket was walked to its end.
	Complete bool
	Elapsed  time.Duration
}

// String is a one-paragraph summary for people.
func (s Summary) String() string {
	var b strings.Builder
	state := "complete"
	if !s.Complete {
		state = "interrupted"
	}
	fmt.Fprintf(&b, "%s: %d objects (%s) in %s: %d changed, %d unchanged, %d failed",
		state, s.Objects, formatBytes(s.Bytes), s.Elapsed.Round(time.Millisecond),
		s.Changed, s.Unchanged, s.Failed)
	if s.Resumed {
		b.WriteString(" (resumed)")
	}
	return b.String()
}

// ErrStateMismatch is returned when the state file belongs to another
// operation, other buckets or another prefix.
var ErrStateMismatch = errors.New("bulk: the state file is for another run")

// Run walks opts.Buckets with fn; see the package documentation. It
// returns when every bucket is done, or when ctx ends (then with the
// summary so far, Complete false, and ctx's error), or on a listing or
// state-file error. Failures of fn are in the summary, not the error.
func Run(ctx context.Context, opts Options, fn Func) (Summary, error) {
	if opts.Jobs <= 0 {
		opts.Jobs = 4
	}
	if opts.Skip == nil {
		opts.Skip = func(key string) bool { return strings.HasPrefix(key, ".cloak/") }
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	r := &run{opts: opts, fn: fn, start: time.Now()}
	st, err := r.loadState()
	if err != nil {
		return Summary{}, err
	}
	r.sum.Resumed = st.resumed
	r.failed = make(map[string][]string, len(st.Failed))
	for b, keys := range st.Failed {
		r.failed[b] = keys
	}
	r.resumeIndex, r.resumeAfter = st.bucketIndex, st.After
	stopProgress := r.startProgress(ctx, st)
	defer func() { stopProgress(r.summary().Complete) }()
	for i, bucket := range opts.Buckets {
		bs := bucketState{bucket: bucket, retry: st.Failed[bucket]}
		switch {
		case i < st.bucketIndex:
			bs.retryOnly = true
		case i == st.bucketIndex:
			bs.after = st.After
		}
		if bs.retryOnly && len(bs.retry) == 0 {
			continue
		}
		err := r.walkBucket(ctx, i, bs)
		if err != nil {
			r.sum.Elapsed = time.Since(r.start)
			return r.summary(), err
		}
	}
	r.sum.Complete = true
	r.sum.Elapsed = time.Since(r.start)
	if opts.State != "" {
		if err := removeState(opts.State); err != nil {
			return r.summary(), err
		}
	}
	return r.summary(), nil
}

// run is the state of one Run.
type run struct {
	opts  Options
	fn    Func
	start time.Time

	mu  sync.Mutex
	sum Summary

	// failed holds, for the buckets walked to their end, the keys that
	// failed, kept in the state for a later retry. Guarded by mu.
	failed map[string][]string
	// resumeIndex and resumeAfter are where the run started; the state
	// names them while buckets before it are retried.
	resumeIndex int
	resumeAfter string

	total, totalBytes atomic.Int64 // from the counting listing
	counted           atomic.Bool  // the counting listing finished
	done, doneBytes   atomic.Int64
}

func (r *run) summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sum
	s.Failures = append([]Failure(nil), r.sum.Failures...)
	return s
}

// record adds one handled object to the summary.
func (r *run) record(bucket string, obj backend.ObjectInfo, changed bool, err error) {
	r.done.Add(1)
	r.doneBytes.Add(obj.Size)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Objects++
	r.sum.Bytes += obj.Size
	switch {
	case err != nil:
		r.sum.Failed++
		if len(r.sum.Failures) < MaxFailures {
			r.sum.Failures = append(r.sum.Failures, Failure{Bucket: bucket, Key: obj.Key, Err: err.Error()})
		}
	case changed:
		r.sum.Changed++
	default:
		r.sum.Unchanged++
	}
}

// bucketState is where the walk of one bucket starts.
type bucketState struct {
	bucket    string
	after     string   // resume after this key
	retry     []string // keys before after that failed, to retry first
	retryOnly bool     // the bucket was walked to its end: retry, do not list
}

// failedElsewhere returns the failed keys of the buckets other than
// Buckets[index] that this run walked to their end.
func (r *run) failedElsewhere(index int) map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string][]string, len(r.failed))
	for b, keys := range r.failed {
		if b != r.opts.Buckets[index] {
			m[b] = keys
		}
	}
	return m
}

// item is one listed object on its way to a worker.
type item struct {
	seq int64
	obj backend.ObjectInfo
}

// walkBucket handles the retry keys, then every object after bs.after.
func (r *run) walkBucket(ctx context.Context, index int, bs bucketState) error {
	tr := newTracker(bs.after)
	tr.seedFailed(bs.retry)
	saver := r.startSaver(index, bs.retryOnly, tr)
	work := make(chan item)
	var wg sync.WaitGroup
	for range r.opts.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				changed, err := r.fn(ctx, bs.bucket, it.obj)
				if ctx.Err() != nil && err != nil {
					// Stopped mid-object: not finished, not failed.
					tr.abandon(it.seq)
					continue
				}
				r.record(bs.bucket, it.obj, changed, err)
				tr.finish(it.seq, it.obj.Key, err != nil, isRetry(it.seq))
			}
		}()
	}
	err := r.produce(ctx, bs, tr, work)
	close(work)
	wg.Wait()
	if err == nil && ctx.Err() == nil {
		_, failed := tr.snapshot()
		r.mu.Lock()
		if len(failed) > 0 {
			r.failed[bs.bucket] = failed
		} else {
			delete(r.failed, bs.bucket)
		}
		r.mu.Unlock()
	}
	saveErr := saver.stop()
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = saveErr
	}
	return err
}

// retrySeqBase numbers retried keys apart from listed ones: they are
// below the watermark already and do not move it.
const retrySeqBase = -1 << 62

func isRetry(seq int64) bool { return seq < 0 }

// produce feeds work with the retried keys (from a HEAD each) and then
// the listing, holding at most maxWindow objects.
func (r *run) produce(ctx context.Context, bs bucketState, tr *tracker, work chan<- item) error {
	for i, key := range bs.retry {
		obj, err := r.opts.Store.HeadObject(ctx, bs.bucket, key)
		if errors.Is(err, backend.ErrNoSuchKey) {
			continue // gone since: nothing to do
		}
		if err != nil {
			obj = backend.ObjectInfo{Key: key}
			r.record(bs.bucket, obj, false, err)
			tr.keepFailed(key)
			continue
		}
		seq := retrySeqBase + int64(i)
		if !sendItem(ctx, work, item{seq: seq, obj: obj}) {
			return ctx.Err()
		}
	}
	if bs.retryOnly {
		return nil
	}
	token := ""
	first := true
	for {
		page, err := r.opts.Store.ListObjects(ctx, bs.bucket, backend.ListOptions{
			Prefix: r.opts.Prefix, StartAfter: startAfter(first, bs.after),
			ContinuationToken: token, WithMetadata: r.opts.WithMetadata})
		if err != nil {
			return fmt.Errorf("list %s: %w", bs.bucket, err)
		}
		first = false
		for _, obj := range page.Objects {
			if r.opts.Skip(obj.Key) {
				continue
			}
			seq, ok := tr.admit(ctx, obj.Key)
			if !ok {
				return ctx.Err()
			}
			if !sendItem(ctx, work, item{seq: seq, obj: obj}) {
				tr.abandon(seq)
				return ctx.Err()
			}
		}
		if !page.IsTruncated || page.NextToken == "" {
			return nil
		}
		token = page.NextToken
	}
}

func startAfter(first bool, after string) string {
	if first {
		return after
	}
	return ""
}

func sendItem(ctx context.Context, work chan<- item, it item) bool {
	select {
	case work <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// tracker keeps the watermark of one bucket's walk: the last key such
// that it and every key listed before it are finished.
type tracker struct {
	mu        sync.Mutex
	cond      *sync.Cond
	next      int64            // lowest sequence number not yet finished
	issued    int64            // sequence numbers handed out
	finished  map[int64]string // finished above next, with their keys
	watermark string
	failed    map[string]bool // failed keys before the watermark, to retry
	frozen    bool            // too many failures: the watermark stays
	// stop is the lowest sequence abandoned (its object neither finished
	// nor failed): the watermark never reaches it.
	stop int64
}

func newTracker(after string) *tracker {
	t := &tracker{finished: make(map[int64]string), watermark: after, failed: make(map[string]bool),
		stop: math.MaxInt64}
	t.cond = sync.NewCond(&t.mu)
	return t
}

// admit hands out the next sequence number for key, waiting while
// maxWindow objects are held. It returns false when ctx ends first.
func (t *tracker) admit(ctx context.Context, key string) (int64, bool) {
	stop := context.AfterFunc(ctx, func() {
		t.mu.Lock()
		t.cond.Broadcast()
		t.mu.Unlock()
	})
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.issued-t.next >= maxWindow {
		if ctx.Err() != nil {
			return 0, false
		}
		t.cond.Wait()
	}
	seq := t.issued
	t.issued++
	return seq, true
}

// finish marks seq (for key) finished, failed or not, and moves the
// watermark. A retried key (retry) has no sequence in the listing; its
// success drops it from the failed keys.
func (t *tracker) finish(seq int64, key string, failed, retry bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if retry {
		if !failed {
			delete(t.failed, key)
		}
		return
	}
	if failed {
		if len(t.failed) >= MaxFailures {
			t.frozen = true
		} else {
			t.failed[key] = true
		}
	}
	t.finished[seq] = key
	for !t.frozen && t.next < t.stop {
		k, ok := t.finished[t.next]
		if !ok {
			break
		}
		delete(t.finished, t.next)
		t.watermark = k
		t.next++
	}
	t.cond.Broadcast()
}

// keepFailed keeps a retried key that could not even be read.
func (t *tracker) keepFailed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed[key] = true
}

// seedFailed records the keys to retry, which stay failed until retried
// successfully.
func (t *tracker) seedFailed(keys []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		t.failed[k] = true
	}
}

// abandon gives up seq without finishing it (the run stopped while it
// was queued or in a worker): the watermark stays below it, but still
// moves over objects before it that finish later.
func (t *tracker) abandon(seq int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !isRetry(seq) { // a retried key stays among the failed ones
		t.stop = min(t.stop, seq)
	}
	t.cond.Broadcast()
}

// snapshot returns the watermark and the failed keys, sorted.
func (t *tracker) snapshot() (string, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.failed))
	for k := range t.failed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return t.watermark, keys
}

// stateFile is the JSON of a resume file.
type stateFile struct {
	Op          string   `json:"op"`
	Buckets     []string `json:"buckets"`
	Prefix      string   `json:"prefix,omitempty"`
	BucketIndex int      `json:"bucket_index"`
	After       string   `json:"after,omitempty"`
	// Failed are the keys to retry, by bucket: of the current bucket
	// before After, and of every earlier bucket.
	Failed map[string][]string `json:"failed,omitempty"`
	Saved  string              `json:"saved"`

	resumed     bool
	bucketIndex int
}

// loadState reads opts.State, if set and present, and checks that it
// belongs to this run.
func (r *run) loadState() (stateFile, error) {
	if r.opts.State == "" {
		return stateFile{}, nil
	}
	b, err := os.ReadFile(r.opts.State)
	if errors.Is(err, fs.ErrNotExist) {
		return stateFile{}, nil
	}
	if err != nil {
		return stateFile{}, fmt.Errorf("bulk: read state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return stateFile{}, fmt.Errorf("bulk: state file %s: %w", r.opts.State, err)
	}
	if st.Op != r.opts.Op || st.Prefix != r.opts.Prefix || !slices.Equal(st.Buckets, r.opts.Buckets) ||
		st.BucketIndex < 0 || st.BucketIndex >= len(st.Buckets) {
		return stateFile{}, fmt.Errorf("%w: %s holds %s of %v (prefix %q); remove it to start over",
			ErrStateMismatch, r.opts.State, st.Op, st.Buckets, st.Prefix)
	}
	st.resumed, st.bucketIndex = true, st.BucketIndex
	return st, nil
}

// saver writes the state of one bucket's walk every second and once more
// when stopped.
type saver struct {
	stopOnce sync.Once
	quit     chan struct{}
	done     chan error
}

// startSaver starts saving the state of the walk of Buckets[index]. While
// a bucket before the resume point is retried (retryOnly), the state
// keeps naming the resume point as its position.
func (r *run) startSaver(index int, retryOnly bool, t *tracker) *saver {
	s := &saver{quit: make(chan struct{}), done: make(chan error, 1)}
	if r.opts.State == "" {
		s.done <- nil
		return s
	}
	save := func() error {
		after, failed := t.snapshot()
		all := r.failedElsewhere(index)
		if len(failed) > 0 {
			all[r.opts.Buckets[index]] = failed
		}
		pos := index
		if retryOnly {
			pos, after = r.resumeIndex, r.resumeAfter
		}
		return writeState(r.opts.State, stateFile{Op: r.opts.Op, Buckets: r.opts.Buckets,
			Prefix: r.opts.Prefix, BucketIndex: pos, After: after, Failed: all,
			Saved: time.Now().UTC().Format(time.RFC3339)})
	}
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var firstErr error
		for {
			select {
			case <-tick.C:
				if err := save(); err != nil && firstErr == nil {
					firstErr = err
				}
			case <-s.quit:
				if err := save(); err != nil && firstErr == nil {
					firstErr = err
				}
				s.done <- firstErr
				return
			}
		}
	}()
	return s
}

// stop saves once more and returns the first save error.
func (s *saver) stop() error {
	s.stopOnce.Do(func() { close(s.quit) })
	return <-s.done
}

// writeState replaces the state file atomically.
func writeState(path string, st stateFile) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bulk-state-*")
	if err != nil {
		return fmt.Errorf("bulk: save state: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("bulk: save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("bulk: save state: %w", err)
	}
	return nil
}

func removeState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bulk: remove state: %w", err)
	}
	return nil
}

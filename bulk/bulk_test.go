package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
)

// fill makes a local store with buckets holding n objects each (keys
// k0000..), plus internal objects that a walk must not see.
func fill(t *testing.T, n int, buckets ...string) backend.Store {
	t.Helper()
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, b := range buckets {
		if err := st.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			body := bytes.Repeat([]byte{byte(i)}, i%7)
			if _, err := st.PutObject(ctx, b, fmt.Sprintf("k%04d", i), bytes.NewReader(body),
				int64(len(body)), backend.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.PutObject(ctx, b, ".cloak/manifests/x", strings.NewReader(""), 0,
			backend.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// seen records the objects a Func was given.
type seen struct {
	mu   sync.Mutex
	keys map[string]int
}

func (s *seen) add(bucket, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]int{}
	}
	s.keys[bucket+"/"+key]++
}

func (s *seen) count(bucket, key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[bucket+"/"+key]
}

func TestRun_EveryObjectOnceInParallel(t *testing.T) {
	st := fill(t, 1100, "alpha", "beta")
	var s seen
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Op: "test", Store: st,
		Buckets: []string{"alpha", "beta"}, Jobs: 8, Progress: &out, Count: true},
		func(_ context.Context, bucket string, obj backend.ObjectInfo) (bool, error) {
			s.add(bucket, obj.Key)
			return obj.Size > 3, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"alpha", "beta"} {
		for i := range 1100 {
			if c := s.count(b, fmt.Sprintf("k%04d", i)); c != 1 {
				t.Fatalf("%s/k%04d handled %d times", b, i, c)
			}
		}
		if s.count(b, ".cloak/manifests/x") != 0 {
			t.Fatal("an internal object was handed to the operation")
		}
	}
	if !sum.Complete || sum.Objects != 2200 || sum.Failed != 0 || sum.Changed+sum.Unchanged != 2200 {
		t.Fatalf("summary: %+v", sum)
	}
	if !strings.Contains(out.String(), "test: ") || !strings.Contains(out.String(), "2200/2200 objects") {
		t.Fatalf("progress output:\n%s", out.String())
	}
	if !strings.Contains(sum.String(), "complete: 2200 objects") {
		t.Fatalf("summary text: %s", sum)
	}
}

func TestRun_PrefixAndFailures(t *testing.T) {
	st := fill(t, 300, "alpha")
	state := filepath.Join(t.TempDir(), "state.json")
	sum, err := Run(context.Background(), Options{Op: "test", Store: st, Buckets: []string{"alpha"},
		Prefix: "k01", State: state},
		func(_ context.Context, _ string, obj backend.ObjectInfo) (bool, error) {
			if obj.Key == "k0150" {
				return false, errors.New("cannot")
			}
			return true, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Objects != 100 || sum.Failed != 1 || len(sum.Failures) != 1 ||
		sum.Failures[0].Key != "k0150" || sum.Failures[0].Err != "cannot" {
		t.Fatalf("summary: %+v", sum)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a complete run left its state file: %v", err)
	}
}

// TestRun_InterruptedThenResumed stops a run midway (and with a failure
// before the stop), then resumes it: every object is handled, the failed
// one is retried, and objects before the watermark are not handled again.
func TestRun_InterruptedThenResumed(t *testing.T) {
	st := fill(t, 1200, "alpha", "beta")
	state := filepath.Join(t.TempDir(), "state.json")
	opts := Options{Op: "test", Store: st, Buckets: []string{"alpha", "beta"}, Jobs: 6, State: state}
	var first, second seen
	ctx, cancel := context.WithCancel(context.Background())
	var n sync.Mutex
	handled := 0
	sum1, err := Run(ctx, opts, func(ctx context.Context, bucket string, obj backend.ObjectInfo) (bool, error) {
		if bucket == "alpha" && obj.Key == "k0010" {
			first.add(bucket, obj.Key)
			return false, errors.New("transient")
		}
		n.Lock()
		handled++
		if handled == 1600 {
			cancel()
		}
		n.Unlock()
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		first.add(bucket, obj.Key)
		return true, nil
	})
	if !errors.Is(err, context.Canceled) || sum1.Complete {
		t.Fatalf("interrupted run: %v, %+v", err, sum1)
	}
	saved, rerr := os.ReadFile(state)
	if rerr != nil {
		t.Fatalf("no state after an interruption: %v", rerr)
	}
	if !strings.Contains(string(saved), `"k0010"`) {
		t.Fatalf("the failed key is not kept for a retry:\n%s", saved)
	}

	sum2, err := Run(context.Background(), opts, func(_ context.Context, bucket string, obj backend.ObjectInfo) (bool, error) {
		second.add(bucket, obj.Key)
		return true, nil
	})
	if err != nil || !sum2.Complete || !sum2.Resumed {
		t.Fatalf("resumed run: %v, %+v", err, sum2)
	}
	if second.count("alpha", "k0010") != 1 {
		t.Fatal("the failed object was not retried")
	}
	var saved1 stateFile
	if err := json.Unmarshal(saved, &saved1); err != nil || saved1.BucketIndex != 1 {
		t.Fatalf("state after the stop: %v, %+v", err, saved1)
	}
	for _, b := range []string{"alpha", "beta"} {
		for i := range 1200 {
			k := fmt.Sprintf("k%04d", i)
			c1, c2 := first.count(b, k), second.count(b, k)
			if c1+c2 == 0 {
				t.Fatalf("%s/%s was never handled", b, k)
			}
			// Nothing at or before the watermark is handed over again,
			// but the failed object, which is retried.
			redone := c2 > 0 && (b == "alpha" || k <= saved1.After)
			if redone && !(b == "alpha" && k == "k0010") {
				t.Fatalf("%s/%s, before the watermark %q, was handled again", b, k, saved1.After)
			}
		}
	}
	if sum1.Objects < 1600 || sum1.Objects+sum2.Objects > 2400+maxWindow {
		t.Fatalf("objects handled: %d, then %d", sum1.Objects, sum2.Objects)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the completed resumed run left its state file")
	}
}

func TestRun_RefusesAnotherRunsState(t *testing.T) {
	st := fill(t, 3, "alpha")
	state := filepath.Join(t.TempDir(), "state.json")
	if err := writeState(state, stateFile{Op: "migrate", Buckets: []string{"alpha"}}); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{Op: "rewrap", Store: st, Buckets: []string{"alpha"},
		State: state}, func(context.Context, string, backend.ObjectInfo) (bool, error) { return false, nil })
	if !errors.Is(err, ErrStateMismatch) {
		t.Fatalf("err = %v, want ErrStateMismatch", err)
	}
}

func TestRun_TerminalBar(t *testing.T) {
	st := fill(t, 50, "alpha")
	var out bytes.Buffer
	_, err := Run(context.Background(), Options{Op: "verify", Store: st, Buckets: []string{"alpha"},
		Progress: &out, Terminal: true, Count: true, Interval: time.Millisecond},
		func(context.Context, string, backend.ObjectInfo) (bool, error) { return false, nil })
	if err != nil {
		t.Fatal(err)
	}
	last := out.String()[strings.LastIndex(out.String(), "\r"):]
	if !strings.Contains(last, "[========================] 100% 50/50 objects") || !strings.HasSuffix(last, "\n") {
		t.Fatalf("final bar: %q", last)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB",
		5 << 30: "5.0 GiB", 1536 << 20: "1.5 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestTracker_AbandonedObjectStopsTheWatermarkOnlyAtItself: objects
// before an abandoned one that finish after it still move the watermark
// (a resumed run need not redo them); it never passes the abandoned one.
// A retried key abandoned stops nothing: it is kept among the failed.
func TestTracker_AbandonedObjectStopsTheWatermarkOnlyAtItself(t *testing.T) {
	tr := newTracker("")
	for i := range 8 {
		if seq, ok := tr.admit(context.Background(), fmt.Sprintf("k%d", i)); !ok || seq != int64(i) {
			t.Fatalf("admit %d: %d, %v", i, seq, ok)
		}
	}
	tr.abandon(retrySeqBase + 3)
	tr.abandon(5)
	for _, i := range []int{6, 2, 0, 1, 4, 3, 7} {
		tr.finish(int64(i), fmt.Sprintf("k%d", i), false, false)
	}
	if after, _ := tr.snapshot(); after != "k4" {
		t.Fatalf("watermark %q, want k4: everything before the abandoned k5 finished", after)
	}
}

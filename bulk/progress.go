package bulk

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// barWidth is the width of the bar drawn on a terminal.
const barWidth = 24

// startProgress starts the counting listing (with Options.Count) and the
// progress display, and returns a function that stops both, drawing the
// last state. When the run completed, what was done is the total.
func (r *run) startProgress(ctx context.Context, st stateFile) func(complete bool) {
	ctx, cancel := context.WithCancel(ctx)
	counting := make(chan struct{})
	if r.opts.Count {
		go func() {
			defer close(counting)
			r.count(ctx, st)
		}()
	} else {
		close(counting)
	}
	if r.opts.Progress == nil {
		return func(bool) { cancel(); <-counting }
	}
	every := r.opts.Interval
	if r.opts.Terminal {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				r.draw(false)
			}
		}
	}()
	return func(complete bool) {
		cancel()
		<-done
		<-counting
		if complete && r.opts.Count {
			r.total.Store(r.done.Load())
			r.totalBytes.Store(r.doneBytes.Load())
			r.counted.Store(true)
		}
		r.draw(true)
	}
}

// count lists what the run will do, without metadata, to size the
// progress: objects and bytes after the resume point.
func (r *run) count(ctx context.Context, st stateFile) {
	for i := st.bucketIndex; i < len(r.opts.Buckets); i++ {
		after := ""
		if i == st.bucketIndex {
			after = st.After
		}
		token := ""
		for first := true; ; first = false {
			page, err := r.opts.Store.ListObjects(ctx, r.opts.Buckets[i], backend.ListOptions{
				Prefix: r.opts.Prefix, StartAfter: startAfter(first, after), ContinuationToken: token})
			if err != nil {
				return // the work's own listing reports the error
			}
			for _, o := range page.Objects {
				if !r.opts.Skip(o.Key) {
					r.total.Add(1)
					r.totalBytes.Add(o.Size)
				}
			}
			if !page.IsTruncated || page.NextToken == "" {
				break
			}
			token = page.NextToken
		}
	}
	r.counted.Store(true)
}

// draw writes one progress line: a bar rewritten in place on a terminal
// (final ends it with a newline), a plain line otherwise.
func (r *run) draw(final bool) {
	done, bytes := r.done.Load(), r.doneBytes.Load()
	elapsed := time.Since(r.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(bytes) / s
	}
	r.mu.Lock()
	failed := r.sum.Failed
	r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", r.opts.Op)
	counted := r.counted.Load()
	total, totalBytes := r.total.Load(), r.totalBytes.Load()
	if counted && total > 0 {
		frac := float64(done) / float64(total)
		if totalBytes > 0 {
			frac = float64(bytes) / float64(totalBytes)
		}
		frac = min(frac, 1)
		if r.opts.Terminal {
			n := int(frac * barWidth)
			b.WriteString("[" + strings.Repeat("=", n) + strings.Repeat(" ", barWidth-n) + "] ")
		}
		fmt.Fprintf(&b, "%3.0f%% %d/%d objects, %s/%s", frac*100, done, total,
			formatBytes(bytes), formatBytes(totalBytes))
	} else {
		fmt.Fprintf(&b, "%d objects, %s", done, formatBytes(bytes))
		if r.opts.Count {
			b.WriteString(" (counting)")
		}
	}
	fmt.Fprintf(&b, ", %s/s", formatBytes(int64(rate)))
	if counted && rate > 0 && totalBytes > bytes {
		eta := time.Duration(float64(totalBytes-bytes) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", ETA %s", eta.Round(time.Second))
	}
	if failed > 0 {
		fmt.Fprintf(&b, ", %d failed", failed)
	}
	line := b.String()
	switch {
	case r.opts.Terminal && final:
		fmt.Fprintf(r.opts.Progress, "\r\x1b[K%s\n", line)
	case r.opts.Terminal:
		fmt.Fprintf(r.opts.Progress, "\r\x1b[K%s", line)
	default:
		fmt.Fprintln(r.opts.Progress, line)
	}
}

// formatBytes prints n in binary units.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 5 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i-1])
}

package proxy

import (
	"context"
	"sync"
)

// budget bounds the bytes held in memory by buffered uploads across all
// requests. Acquirers queue one at a time, so a large request cannot be
// starved into deadlock by several small ones holding part of what it
// needs.
type budget struct {
	acquireMu sync.Mutex // serialises acquirers
	mu        sync.Mutex
	free      int64
	changed   chan struct{} // closed and replaced whenever free grows
}

func newBudget(total int64) *budget {
	return &budget{free: total, changed: make(chan struct{})}
}

// acquire waits until n bytes are free and takes them, or returns the
// context's error.
func (b *budget) acquire(ctx context.Context, n int64) error {
	b.acquireMu.Lock()
	defer b.acquireMu.Unlock()
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release returns n bytes.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.free += n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

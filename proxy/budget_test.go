package proxy

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBudget_WaitsForRoomAndHonoursCancel(t *testing.T) {
	b := newBudget(10)
	if err := b.acquire(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.acquire(ctx, 6); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire beyond the budget: %v", err)
	}
	got := make(chan error, 1)
	go func() { got <- b.acquire(context.Background(), 10) }()
	b.release(6)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("acquire did not wake up after release")
	}
	b.release(10)
	if b.free != 10 {
		t.Fatalf("free = %d after all releases", b.free)
	}
}

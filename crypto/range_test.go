package crypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

func rangeCases(total int64, boundaries []int64) [][2]int64 {
	var points []int64
	for _, b := range boundaries {
		for _, d := range []int64{-1, 0, 1} {
			if p := b + d; p >= 0 && p <= total {
				points = append(points, p)
			}
		}
	}
	var cases [][2]int64
	for _, a := range points {
		for _, b := range points {
			if b > a {
				cases = append(cases, [2]int64{a, b - a})
			}
		}
	}
	return cases
}

func TestOpenRange_SinglePartGrid(t *testing.T) {
	dk := testKey(t, 20)
	for _, size := range []int64{1, ChunkSize, 3*ChunkSize + 100} {
		plain := pattern(size, 3)
		ct := encryptSegment(t, dk, 0, plain, nil)
		layout := SinglePart(size)
		var bounds []int64
		for b := int64(0); b <= size; b += ChunkSize {
			bounds = append(bounds, b)
		}
		bounds = append(bounds, size, 100)
		for _, c := range rangeCases(size, bounds) {
			off, n := c[0], c[1]
			o := &bytesOpener{ct: ct}
			r, err := OpenRange(context.Background(), o.open, dk, layout, off, n)
			if err != nil {
				t.Fatalf("size %d range %d+%d: %v", size, off, n, err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("size %d range %d+%d: read: %v", size, off, n, err)
			}
			if !bytes.Equal(got, plain[off:off+n]) {
				t.Fatalf("size %d range %d+%d: wrong plaintext", size, off, n)
			}
			r.Close()
			// Only the covering chunks (plus header and trailer) are fetched.
			span, _ := SegmentChunkSpan(size, off, n)
			limit := span.CipherLength + HeaderSize + TrailerSize
			if o.served > limit {
				t.Fatalf("size %d range %d+%d fetched %d bytes, more than %d", size, off, n, o.served, limit)
			}
		}
	}
}

func TestOpenRange_MultipartGrid(t *testing.T) {
	dk := testKey(t, 21)
	layout := Layout{{1, ChunkSize + 5}, {2, ChunkSize}, {3, 0}, {5, 2*ChunkSize + 1}, {6, 9}}
	total := layout.PlainSize()
	plain := pattern(total, 5)
	ct := encryptObject(t, dk, layout, plain)
	var bounds []int64
	pos := int64(0)
	for _, p := range layout {
		bounds = append(bounds, pos, pos+ChunkSize)
		pos += p.PlainSize
	}
	bounds = append(bounds, total)
	for _, c := range rangeCases(total, bounds) {
		off, n := c[0], c[1]
		t.Run(fmt.Sprintf("%d+%d", off, n), func(t *testing.T) {
			o := &bytesOpener{ct: ct}
			r, err := OpenRange(context.Background(), o.open, dk, layout, off, n)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, plain[off:off+n]) {
				t.Fatal("wrong plaintext")
			}
			if o.calls > 2 {
				t.Fatalf("%d backend calls, want at most 2", o.calls)
			}
		})
	}
}

func TestOpenRange_IOTestAndEmpty(t *testing.T) {
	dk := testKey(t, 22)
	plain := pattern(2*ChunkSize+1, 1)
	ct := encryptSegment(t, dk, 0, plain, nil)
	o := &bytesOpener{ct: ct}
	r, err := OpenRange(context.Background(), o.open, dk, SinglePart(int64(len(plain))), 5, ChunkSize+9)
	if err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(r, plain[5:5+ChunkSize+9]); err != nil {
		t.Fatal(err)
	}

	// A zero-length range of a non-empty object fetches nothing.
	o = &bytesOpener{ct: ct}
	r, _ = OpenRange(context.Background(), o.open, dk, SinglePart(int64(len(plain))), 3, 0)
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 || o.calls != 0 {
		t.Fatalf("empty range: %d bytes, %v, %d calls", len(b), err, o.calls)
	}

	// The whole of an empty object is fetched and verified.
	empty := encryptSegment(t, dk, 0, nil, nil)
	o = &bytesOpener{ct: empty}
	r, _ = OpenRange(context.Background(), o.open, dk, SinglePart(0), 0, 0)
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 || o.served != int64(len(empty)) {
		t.Fatalf("empty object: %d bytes, %v, served %d", len(b), err, o.served)
	}
	empty[len(empty)-1] ^= 1
	o = &bytesOpener{ct: empty}
	r, _ = OpenRange(context.Background(), o.open, dk, SinglePart(0), 0, 0)
	if _, err := io.ReadAll(r); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("tampered empty object: err = %v", err)
	}
}

func TestOpenRange_RejectsOutOfBounds(t *testing.T) {
	dk := testKey(t, 23)
	o := &bytesOpener{}
	for _, c := range [][2]int64{{-1, 1}, {0, 11}, {10, 1}, {5, -1}} {
		if _, err := OpenRange(context.Background(), o.open, dk, SinglePart(10), c[0], c[1]); !errors.Is(err, ErrInvalidSize) {
			t.Errorf("range %v: err = %v", c, err)
		}
	}
}

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

// The streams seal and open whole chunks straight in the caller's slice
// when it is large enough. These tests drive those paths with read and
// write sizes below, at and above one sealed chunk, and check that the
// bytes are exactly those of the staged paths.

// directSteps are read sizes around one sealed chunk (and around one
// sealed chunk after the header, where the first direct read starts).
var directSteps = []int{
	1, 4093,
	sealedChunkSize - 1, sealedChunkSize, sealedChunkSize + 1,
	HeaderSize + sealedChunkSize - 1, HeaderSize + sealedChunkSize,
	2*sealedChunkSize - 1, 2*sealedChunkSize + 1, 3*sealedChunkSize + 100,
}

// directSources wrap a plaintext or ciphertext source in the awkward
// readers a network gives.
var directSources = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"plain", func(r io.Reader) io.Reader { return r }},
	{"one-byte", iotest.OneByteReader},
	{"data-with-eof", iotest.DataErrReader},
	{"half", iotest.HalfReader},
}

func TestEncryptReader_DirectReadsMatchWriter(t *testing.T) {
	dk := testKey(t, 40)
	for _, size := range testSizes {
		plain := pattern(size, byte(size))
		want := encryptSegment(t, dk, 3, plain, testRand(4))
		for _, src := range directSources {
			for _, step := range directSteps {
				if step == 1 && (src.name != "plain" || size > ChunkSize+1) {
					continue // byte-wise reads are slow; one source is enough
				}
				name := fmt.Sprintf("size=%d/%s/step=%d", size, src.name, step)
				t.Run(name, func(t *testing.T) {
					in := src.wrap(bytes.NewReader(plain))
					er, err := NewEncryptReader(in, dk, 3, testRand(4), nil)
					if err != nil {
						t.Fatal(err)
					}
					got, err := readAllStep(er, step)
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("ciphertext differs from Writer output (%d bytes, want %d)",
							len(got), len(want))
					}
				})
			}
		}
	}
}

func TestWriter_DirectWritesMatchStaged(t *testing.T) {
	// Mixed write sizes move the Writer in and out of the direct path:
	// a small write leaves data pending, so the next large one is staged.
	dk := testKey(t, 41)
	plain := pattern(5*ChunkSize+77, 8)
	want := encryptSegment(t, dk, 0, plain, testRand(9))
	patterns := [][]int{
		{2 * ChunkSize},
		{2*ChunkSize + 1},
		{ChunkSize + 1, 1},
		{1, 2 * ChunkSize},
		{ChunkSize, 3*ChunkSize + 5},
		{ChunkSize - 1, 2*ChunkSize + 1, 7},
		{5*ChunkSize + 77},
		{5 * ChunkSize, 77},
	}
	for _, steps := range patterns {
		t.Run(fmt.Sprint(steps), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, dk, 0, testRand(9))
			if err != nil {
				t.Fatal(err)
			}
			p := plain
			for i := 0; len(p) > 0; i++ {
				n := min(steps[i%len(steps)], len(p))
				if k, err := w.Write(p[:n]); err != nil || k != n {
					t.Fatalf("write %d: %d, %v", n, k, err)
				}
				p = p[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatal("ciphertext differs from a single staged write")
			}
			if w.s.size != int64(len(plain)) {
				t.Fatalf("sealed size %d, want %d", w.s.size, len(plain))
			}
		})
	}
}

func TestReader_DirectReadsSizesAndSources(t *testing.T) {
	dk := testKey(t, 42)
	for _, size := range testSizes {
		plain := pattern(size, byte(size))
		ct := encryptSegment(t, dk, 0, plain, nil)
		for _, src := range directSources {
			for _, step := range directSteps {
				if step == 1 && (src.name != "plain" || size > ChunkSize+1) {
					continue
				}
				name := fmt.Sprintf("size=%d/%s/step=%d", size, src.name, step)
				t.Run(name, func(t *testing.T) {
					r, err := NewReader(src.wrap(bytes.NewReader(ct)), dk, SinglePart(size))
					if err != nil {
						t.Fatal(err)
					}
					got, err := readAllStep(r, step)
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					if !bytes.Equal(got, plain) {
						t.Fatalf("plaintext mismatch: %d bytes, want %d", len(got), len(plain))
					}
				})
			}
		}
	}
}

func TestOpenRange_DirectReads(t *testing.T) {
	// Ranges that skip into a chunk or stop inside one must take the
	// staged path for those chunks and the direct one for whole chunks.
	dk := testKey(t, 43)
	size := int64(4*ChunkSize + 100)
	plain := pattern(size, 5)
	ct := encryptSegment(t, dk, 0, plain, nil)
	cases := [][2]int64{
		{0, size}, {1, size - 1}, {0, size - 1}, {ChunkSize, 2 * ChunkSize},
		{ChunkSize - 1, 2*ChunkSize + 2}, {ChunkSize + 1, ChunkSize - 2},
		{3 * ChunkSize, ChunkSize + 100}, {100, 3 * ChunkSize},
	}
	for _, c := range cases {
		for _, step := range []int{sealedChunkSize, 3 * sealedChunkSize} {
			off, n := c[0], c[1]
			o := &bytesOpener{ct: ct}
			r, err := OpenRange(context.Background(), o.open, dk, SinglePart(size), off, n)
			if err != nil {
				t.Fatalf("range %d+%d: %v", off, n, err)
			}
			got, err := readAllStep(r, step)
			if err != nil {
				t.Fatalf("range %d+%d step %d: %v", off, n, step, err)
			}
			if !bytes.Equal(got, plain[off:off+n]) {
				t.Fatalf("range %d+%d step %d: wrong plaintext", off, n, step)
			}
			r.Close()
		}
	}
}

func TestReader_DirectReadLeavesNoPlaintextOfBadChunk(t *testing.T) {
	dk := testKey(t, 44)
	plain := pattern(3*ChunkSize, 6)
	ct := encryptSegment(t, dk, 0, plain, nil)
	// Flip a bit in the second chunk's ciphertext.
	bad := bytes.Clone(ct)
	bad[HeaderSize+sealedChunkSize+100] ^= 1
	r, err := NewReader(bytes.NewReader(bad), dk, SinglePart(int64(len(plain))))
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 2*sealedChunkSize)
	n, err := r.Read(p)
	if err != nil || n != ChunkSize || !bytes.Equal(p[:n], plain[:ChunkSize]) {
		t.Fatalf("first chunk: %d bytes, %v", n, err)
	}
	n, err = r.Read(p)
	if n != 0 || !errors.Is(err, ErrAuthentication) {
		t.Fatalf("bad chunk: %d bytes, %v; want 0 and ErrAuthentication", n, err)
	}
	if bytes.Contains(p, plain[ChunkSize+200:ChunkSize+264]) {
		t.Fatal("plaintext of the failed chunk left in the caller's slice")
	}
	if n, err2 := r.Read(p); n != 0 || err2 != err {
		t.Fatalf("error not sticky: %d, %v", n, err2)
	}
}

func TestReader_DirectReadDetectsTruncation(t *testing.T) {
	dk := testKey(t, 45)
	plain := pattern(2*ChunkSize, 7)
	ct := encryptSegment(t, dk, 0, plain, nil)
	// Drop the trailer and then the last chunk's tag: both must fail.
	for _, cut := range []int{TrailerSize, TrailerSize + 1} {
		r, err := NewReader(bytes.NewReader(ct[:len(ct)-cut]), dk, SinglePart(int64(len(plain))))
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAllStep(r, 3*sealedChunkSize)
		if err == nil {
			t.Fatalf("cut %d: read succeeded", cut)
		}
		if cut > TrailerSize && len(got) > ChunkSize {
			t.Fatalf("cut %d: returned %d bytes of a truncated chunk", cut, len(got))
		}
	}
}

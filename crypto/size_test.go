package crypto

import (
	"errors"
	"testing"
)

func TestSegmentSize_InversePairExhaustive(t *testing.T) {
	// Every plaintext size up to four chunks maps to a ciphertext size
	// that maps back, and every ciphertext size in between that is not
	// an image is rejected.
	limit := int64(4*ChunkSize + 10)
	next := SegmentCiphertextSize(0)
	for p := int64(0); p <= limit; p++ {
		c := SegmentCiphertextSize(p)
		if c < next {
			t.Fatalf("ciphertext size not increasing at %d", p)
		}
		for gap := next; gap < c; gap++ {
			if _, err := SegmentPlaintextSize(gap); !errors.Is(err, ErrInvalidSize) {
				t.Fatalf("ciphertext size %d (between images) accepted", gap)
			}
		}
		got, err := SegmentPlaintextSize(c)
		if err != nil || got != p {
			t.Fatalf("SegmentPlaintextSize(%d) = %d, %v; want %d", c, got, err, p)
		}
		next = c + 1
	}
	for c := int64(-1); c < HeaderSize+TrailerSize; c++ {
		if _, err := SegmentPlaintextSize(c); !errors.Is(err, ErrInvalidSize) {
			t.Fatalf("ciphertext size %d accepted", c)
		}
	}
}

func TestSegmentSize_Large(t *testing.T) {
	for _, p := range []int64{5 << 30, 5<<40 + 1, 1<<50 - 1} {
		got, err := SegmentPlaintextSize(SegmentCiphertextSize(p))
		if err != nil || got != p {
			t.Errorf("round trip of %d: %d, %v", p, got, err)
		}
	}
	if got := SegmentCiphertextSize(0); got != HeaderSize+TrailerSize {
		t.Errorf("empty segment is %d bytes", got)
	}
	if got := SegmentCiphertextSize(ChunkSize); got != HeaderSize+ChunkSize+TagSize+TrailerSize {
		t.Errorf("one-chunk segment is %d bytes", got)
	}
}

func TestSegmentChunkSpan_BruteForce(t *testing.T) {
	// Compare with a chunk-by-chunk walk for every range in a small grid
	// of segment sizes around chunk boundaries.
	sizes := []int64{1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2*ChunkSize + 7}
	for _, plain := range sizes {
		offs := []int64{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, plain - 1}
		for _, off := range offs {
			if off < 0 || off >= plain {
				continue
			}
			for _, n := range []int64{1, 2, ChunkSize - 1, ChunkSize, ChunkSize + 1, plain - off} {
				if n < 1 || off+n > plain {
					continue
				}
				span, err := SegmentChunkSpan(plain, off, n)
				if err != nil {
					t.Fatalf("span(%d,%d,%d): %v", plain, off, n, err)
				}
				var want ChunkSpan
				want.FirstChunk, want.LastChunk = -1, -1
				pos, cpos := int64(0), int64(HeaderSize)
				for i := int64(0); pos < plain; i++ {
					size := min(ChunkSize, plain-pos)
					if pos+size > off && pos < off+n {
						if want.FirstChunk < 0 {
							want.FirstChunk, want.CipherOffset, want.Skip = i, cpos, off-pos
						}
						want.LastChunk = i
						want.CipherLength = cpos + size + TagSize - want.CipherOffset
					}
					pos += size
					cpos += size + TagSize
				}
				if span != want {
					t.Fatalf("span(%d,%d,%d) = %+v, want %+v", plain, off, n, span, want)
				}
			}
		}
	}
}

func TestSegmentChunkSpan_Rejects(t *testing.T) {
	for _, c := range []struct{ plain, off, n int64 }{
		{10, 0, 0}, {10, -1, 2}, {10, 5, 6}, {10, 10, 1}, {0, 0, 1},
	} {
		if _, err := SegmentChunkSpan(c.plain, c.off, c.n); !errors.Is(err, ErrInvalidSize) {
			t.Errorf("span%+v accepted", c)
		}
	}
}

func TestLayout_Validate(t *testing.T) {
	tests := []struct {
		name   string
		layout Layout
		ok     bool
	}{
		{"single", SinglePart(5), true},
		{"empty single", SinglePart(0), true},
		{"multipart", Layout{{1, 5}, {3, 0}, {10000, 1}}, true},
		{"none", Layout{}, false},
		{"zero part in multipart", Layout{{0, 5}, {1, 5}}, false},
		{"descending", Layout{{2, 5}, {1, 5}}, false},
		{"duplicate", Layout{{2, 5}, {2, 5}}, false},
		{"too high", Layout{{10001, 5}}, false},
		{"negative", Layout{{1, -1}}, false},
	}
	for _, tc := range tests {
		err := tc.layout.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

func TestLayout_Sizes(t *testing.T) {
	l := Layout{{1, ChunkSize}, {2, 3}}
	if l.PlainSize() != ChunkSize+3 {
		t.Error("PlainSize")
	}
	if l.CiphertextSize() != SegmentCiphertextSize(ChunkSize)+SegmentCiphertextSize(3) {
		t.Error("CiphertextSize")
	}
	sp, err := SinglePartFromCiphertext(SegmentCiphertextSize(12345))
	if err != nil || sp.PlainSize() != 12345 || sp[0].Number != 0 {
		t.Errorf("SinglePartFromCiphertext = %v, %v", sp, err)
	}
}

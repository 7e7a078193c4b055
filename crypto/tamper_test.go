package crypto

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
)

// decryptSingle decrypts a stored single-part object the way the proxy
// does: layout from the stored size, then a whole-object read.
func decryptSingle(dk *DataKey, stored []byte) ([]byte, error) {
	layout, err := SinglePartFromCiphertext(int64(len(stored)))
	if err != nil {
		return nil, err
	}
	r, err := NewReader(bytes.NewReader(stored), dk, layout)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// assertRejected checks that decryption failed with a detection error and
// released no plaintext from byte badFrom of the plaintext on.
func assertRejected(t *testing.T, plain, got []byte, err error, badFrom int64) {
	t.Helper()
	if err == nil {
		t.Fatal("tampered ciphertext was accepted")
	}
	if !errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrInvalidSize) &&
		!errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("unexpected error kind: %v", err)
	}
	if int64(len(got)) > badFrom {
		t.Fatalf("returned %d plaintext bytes, bad region starts at %d", len(got), badFrom)
	}
	if !bytes.Equal(got, plain[:len(got)]) {
		t.Fatal("returned bytes are not a prefix of the plaintext")
	}
}

func chunkBytes(seg []byte, i int64, plain int64) []byte {
	start := chunkOffset(i)
	return seg[start : start+chunkPlainSize(plain, i)+TagSize]
}

func TestTamper_SinglePart(t *testing.T) {
	dk := testKey(t, 30)
	const size = 3*ChunkSize + 100
	plain := pattern(size, 1)
	ct := encryptSegment(t, dk, 0, plain, nil)
	c0, c1, c2, c3 := chunkBytes(ct, 0, size), chunkBytes(ct, 1, size), chunkBytes(ct, 2, size), chunkBytes(ct, 3, size)
	hdr, trl := ct[:HeaderSize], ct[len(ct)-TrailerSize:]
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }

	tests := []struct {
		name    string
		stored  []byte
		badFrom int64 // first plaintext byte that must not be returned
	}{
		{"flip magic", flip(ct, 0), 0},
		{"flip version", flip(ct, 4), 0},
		{"flip part number", flip(ct, 11), 0},
		{"flip salt", flip(ct, 20), 0},
		{"flip commitment", flip(ct, 50), 0},
		{"flip first chunk data", flip(ct, HeaderSize+10), 0},
		{"flip first chunk tag", flip(ct, HeaderSize+ChunkSize+3), 0},
		{"flip second chunk", flip(ct, HeaderSize+sealedChunkSize+5), ChunkSize},
		{"flip last chunk", flip(ct, len(ct)-TrailerSize-1), 3 * ChunkSize},
		{"flip trailer", flip(ct, len(ct)-5), size},
		{"swap chunks 0 and 1", cat(hdr, c1, c0, c2, c3, trl), 0},
		{"swap chunks 1 and 2", cat(hdr, c0, c2, c1, c3, trl), ChunkSize},
		{"duplicate chunk 1", cat(hdr, c0, c1, c1, c2, c3, trl), 2 * ChunkSize},
		{"drop chunk 1", cat(hdr, c0, c2, c3, trl), ChunkSize},
		{"drop final chunk", cat(hdr, c0, c1, c2, trl), 2 * ChunkSize},
		{"truncate at chunk boundary", cat(hdr, c0, c1), ChunkSize},
		{"truncate mid-chunk", ct[:HeaderSize+sealedChunkSize+100], 0},
		{"drop trailer", ct[:len(ct)-TrailerSize], 2 * ChunkSize},
		{"truncate trailer", ct[:len(ct)-1], 3 * ChunkSize},
		{"append a byte", cat(ct, []byte{0}), size},
		{"append a chunk-sized run", cat(ct, c1), 3 * ChunkSize},
		{"append the trailer again", cat(ct, trl), 3 * ChunkSize},
		{"header only", ct[:HeaderSize], 0},
		{"empty", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decryptSingle(dk, tc.stored)
			assertRejected(t, plain, got, err, tc.badFrom)
		})
	}
}

func flip(b []byte, i int) []byte {
	c := slices.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestTamper_EveryByteOfASmallObject(t *testing.T) {
	// A flipped bit anywhere in a two-chunk object is detected, and the
	// range read of each chunk fails when its bytes were touched.
	dk := testKey(t, 31)
	size := int64(ChunkSize + 33)
	plain := pattern(size, 2)
	ct := encryptSegment(t, dk, 0, plain, nil)
	for i := 0; i < len(ct); i += 97 {
		got, err := decryptSingle(dk, flip(ct, i))
		bad := int64(0)
		if i >= HeaderSize+sealedChunkSize {
			bad = ChunkSize
		}
		if i >= len(ct)-TrailerSize {
			bad = size
		}
		assertRejected(t, plain, got, err, bad)
	}
}

func TestTamper_WrongKeyFailsCommitment(t *testing.T) {
	dk, other := testKey(t, 32), testKey(t, 33)
	plain := pattern(100, 1)
	ct := encryptSegment(t, dk, 0, plain, nil)
	got, err := decryptSingle(other, ct)
	assertRejected(t, plain, got, err, 0)
	if !errors.Is(err, ErrAuthentication) {
		t.Fatalf("err = %v", err)
	}
}

func TestTamper_Multipart(t *testing.T) {
	dk := testKey(t, 34)
	layout := Layout{{1, 2 * ChunkSize}, {2, ChunkSize + 7}, {3, 50}}
	plain := pattern(layout.PlainSize(), 3)
	var segs [][]byte
	for i, p := range layout {
		start := int64(0)
		for _, q := range layout[:i] {
			start += q.PlainSize
		}
		segs = append(segs, encryptSegment(t, dk, p.Number, plain[start:start+p.PlainSize], nil))
	}
	otherDK := testKey(t, 35)
	foreign := encryptSegment(t, otherDK, 2, plain[2*ChunkSize:3*ChunkSize+7], nil)
	p1 := int64(2 * ChunkSize)
	p2 := p1 + ChunkSize + 7

	tests := []struct {
		name    string
		stored  [][]byte
		badFrom int64
	}{
		{"swap parts 1 and 2", [][]byte{segs[1], segs[0], segs[2]}, 0},
		{"part from another upload", [][]byte{segs[0], foreign, segs[2]}, p1},
		{"duplicate part 2", [][]byte{segs[0], segs[1], segs[1], segs[2]}, p2},
		{"drop last part", [][]byte{segs[0], segs[1]}, p2},
		{"drop middle part", [][]byte{segs[0], segs[2]}, p1},
		{"truncate at part boundary", [][]byte{segs[0]}, p1},
		{"truncate inside part 2", [][]byte{segs[0], segs[1][:HeaderSize+sealedChunkSize]}, p1 + ChunkSize},
		{"append a part", [][]byte{segs[0], segs[1], segs[2], segs[2]}, layout.PlainSize()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stored := slices.Concat(tc.stored...)
			// The layout comes from the manifest, never from the store.
			r, err := NewReader(bytes.NewReader(stored), dk, layout)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			assertRejected(t, plain, got, err, tc.badFrom)

			// Range reads of each part fail too where the bytes moved.
			o := &bytesOpener{ct: stored}
			rr, err := OpenRange(context.Background(), o.open, dk, layout, p1, p2-p1)
			if err == nil {
				got, err = io.ReadAll(rr)
			}
			if tc.badFrom < p2 {
				if err == nil {
					t.Fatal("range read of a moved part succeeded")
				}
			} else if err != nil || !bytes.Equal(got, plain[p1:p2]) {
				t.Fatalf("range read of an intact part failed: %v", err)
			}
		})
	}
}

func TestTamper_RangeReadNeverReturnsBadChunk(t *testing.T) {
	dk := testKey(t, 36)
	size := int64(4 * ChunkSize)
	plain := pattern(size, 4)
	ct := encryptSegment(t, dk, 0, plain, nil)
	bad := flip(ct, HeaderSize+2*sealedChunkSize+9) // chunk 2
	for _, c := range [][2]int64{{0, size}, {ChunkSize, 2 * ChunkSize}, {2*ChunkSize + 1, 10}} {
		o := &bytesOpener{ct: bad}
		r, err := OpenRange(context.Background(), o.open, dk, SinglePart(size), c[0], c[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err == nil {
			t.Fatalf("range %v over a damaged chunk succeeded", c)
		}
		if len(got) > 0 && c[0]+int64(len(got)) > 2*ChunkSize || !bytes.Equal(got, plain[c[0]:c[0]+int64(len(got))]) {
			t.Fatalf("range %v returned bytes of the damaged chunk", c)
		}
	}
	// Ranges that avoid the damaged chunk still work.
	o := &bytesOpener{ct: bad}
	r, _ := OpenRange(context.Background(), o.open, dk, SinglePart(size), 3*ChunkSize, ChunkSize)
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain[3*ChunkSize:]) {
		t.Fatalf("range after the damage: %v", err)
	}
}

func TestLooksLikeSegment(t *testing.T) {
	seg := encryptSegment(t, testKey(t, 1), 0, []byte("some plaintext"), testRand(2))
	otherVersion := append([]byte("CLKS\x02"), make([]byte, 10)...)
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"a segment", seg, true},
		{"a segment of a later version", otherVersion, true},
		{"too short", seg[:SegmentPrefixSize-1], false},
		{"plaintext", []byte("%PDF-1.7 a document"), false},
		{"the magic with a bad chunk size", append([]byte("CLKS\x01\x11"), 0, 0), false},
		{"the magic with reserved bytes set", append([]byte("CLKS\x01\x10"), 0, 1), false},
	}
	for _, c := range cases {
		if got := LooksLikeSegment(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

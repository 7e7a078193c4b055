package crypto

import "fmt"

// This file holds the size and offset arithmetic of the format as pure
// functions, in inverse pairs. Every function here is exact: it never
// rounds, and it rejects sizes that no valid ciphertext can have.

// chunkCount returns the number of data chunks of a segment holding
// plain bytes: ceil(plain / ChunkSize), zero for an empty segment.
func chunkCount(plain int64) int64 {
	return (plain + ChunkSize - 1) / ChunkSize
}

// SegmentCiphertextSize returns the ciphertext size of a segment that
// holds plain bytes of plaintext: the header, every chunk with its tag,
// and the trailer. It panics if plain is negative.
func SegmentCiphertextSize(plain int64) int64 {
	if plain < 0 {
		panic("crypto: negative plaintext size")
	}
	return HeaderSize + plain + TagSize*chunkCount(plain) + TrailerSize
}

// SegmentPlaintextSize is the inverse of [SegmentCiphertextSize]. It
// returns [ErrInvalidSize] when cipher is not the size of any segment.
func SegmentPlaintextSize(cipher int64) (int64, error) {
	body := cipher - HeaderSize - TrailerSize
	if body < 0 {
		return 0, fmt.Errorf("segment of %d bytes: %w", cipher, ErrInvalidSize)
	}
	full, rest := body/sealedChunkSize, body%sealedChunkSize
	switch {
	case rest == 0:
		return full * ChunkSize, nil
	case rest <= TagSize:
		return 0, fmt.Errorf("segment of %d bytes: %w", cipher, ErrInvalidSize)
	default:
		return full*ChunkSize + rest - TagSize, nil
	}
}

// Part describes one segment of an object: its part number (0 for a
// single-part object, 1..10000 for the parts of a multipart object, in
// ascending order) and its plaintext size.
type Part struct {
	Number    uint32
	PlainSize int64
}

// Layout is the ordered list of segments that make up an object. A
// single-part object has one segment with part number 0.
type Layout []Part

// SinglePart returns the layout of a single-part object of plain bytes.
func SinglePart(plain int64) Layout { return Layout{{Number: 0, PlainSize: plain}} }

// SinglePartFromCiphertext returns the layout of a single-part object
// whose stored size is cipher bytes.
func SinglePartFromCiphertext(cipher int64) (Layout, error) {
	p, err := SegmentPlaintextSize(cipher)
	if err != nil {
		return nil, err
	}
	return SinglePart(p), nil
}

// PlainSize returns the total plaintext size of the object.
func (l Layout) PlainSize() int64 {
	var n int64
	for _, p := range l {
		n += p.PlainSize
	}
	return n
}

// CiphertextSize returns the total stored size of the object: the sum of
// its segments' ciphertext sizes.
func (l Layout) CiphertextSize() int64 {
	var n int64
	for _, p := range l {
		n += SegmentCiphertextSize(p.PlainSize)
	}
	return n
}

// Validate checks that l is a well-formed layout: one segment numbered 0,
// or segments numbered 1..MaxPartNumber in strictly ascending order, with
// no negative sizes.
func (l Layout) Validate() error {
	if len(l) == 0 {
		return fmt.Errorf("layout has no segments: %w", ErrInvalidSize)
	}
	if len(l) == 1 && l[0].Number == 0 {
		if l[0].PlainSize < 0 {
			return fmt.Errorf("negative segment size: %w", ErrInvalidSize)
		}
		return nil
	}
	prev := uint32(0)
	for _, p := range l {
		if p.Number <= prev || p.Number > MaxPartNumber {
			return fmt.Errorf("part number %d out of order or range: %w", p.Number, ErrInvalidSize)
		}
		if p.PlainSize < 0 {
			return fmt.Errorf("part %d has a negative size: %w", p.Number, ErrInvalidSize)
		}
		prev = p.Number
	}
	return nil
}

// ChunkSpan locates the sealed chunks of one segment that cover a
// plaintext range.
type ChunkSpan struct {
	// FirstChunk and LastChunk are the indexes of the first and last data
	// chunks that hold the range (inclusive).
	FirstChunk, LastChunk int64
	// CipherOffset and CipherLength give the byte range of those sealed
	// chunks within the segment, counted from the segment's first byte
	// (the header).
	CipherOffset, CipherLength int64
	// Skip is how many plaintext bytes of the first chunk precede the
	// range.
	Skip int64
}

// SegmentChunkSpan returns the chunks of a segment of plain bytes that
// cover the plaintext range [off, off+n). It requires 0 <= off, n >= 1 and
// off+n <= plain, and returns [ErrInvalidSize] otherwise.
func SegmentChunkSpan(plain, off, n int64) (ChunkSpan, error) {
	if off < 0 || n < 1 || off > plain-n {
		return ChunkSpan{}, fmt.Errorf("range %d+%d of %d bytes: %w", off, n, plain, ErrInvalidSize)
	}
	first, last := off/ChunkSize, (off+n-1)/ChunkSize
	start := chunkOffset(first)
	end := chunkOffset(last) + TagSize + min(ChunkSize, plain-last*ChunkSize)
	return ChunkSpan{
		FirstChunk:   first,
		LastChunk:    last,
		CipherOffset: start,
		CipherLength: end - start,
		Skip:         off - first*ChunkSize,
	}, nil
}

// chunkOffset is the offset of sealed chunk i within its segment.
func chunkOffset(i int64) int64 { return HeaderSize + i*sealedChunkSize }

// chunkPlainSize is the plaintext size of chunk i of a segment of plain
// bytes.
func chunkPlainSize(plain, i int64) int64 { return min(ChunkSize, plain-i*ChunkSize) }

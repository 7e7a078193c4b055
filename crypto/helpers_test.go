package crypto

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
)

// testRand returns a deterministic randomness source.
func testRand(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(n int64, seed byte) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(testRand(seed^0x5a), b)
	return b
}

func testKey(t testing.TB, seed byte) *DataKey {
	t.Helper()
	dk, err := NewDataKey(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

// encryptSegment encrypts plain as one segment with a Writer.
func encryptSegment(t testing.TB, dk *DataKey, part uint32, plain []byte, random io.Reader) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, dk, part, random)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encryptObject encrypts plain according to layout and returns the
// concatenated ciphertext of all segments.
func encryptObject(t testing.TB, dk *DataKey, layout Layout, plain []byte) []byte {
	t.Helper()
	var out []byte
	var pos int64
	for i, p := range layout {
		seg := encryptSegment(t, dk, p.Number, plain[pos:pos+p.PlainSize], testRand(byte(100+i)))
		if int64(len(seg)) != SegmentCiphertextSize(p.PlainSize) {
			t.Fatalf("segment %d: %d bytes, SegmentCiphertextSize says %d", i, len(seg), SegmentCiphertextSize(p.PlainSize))
		}
		out = append(out, seg...)
		pos += p.PlainSize
	}
	return out
}

// bytesOpener serves ranges of ct and records how many bytes and calls it
// served.
type bytesOpener struct {
	ct     []byte
	served int64
	calls  int
}

func (o *bytesOpener) open(_ context.Context, off, n int64) (io.ReadCloser, error) {
	o.calls++
	if off < 0 || n < 0 || off+n > int64(len(o.ct)) {
		return nil, io.ErrUnexpectedEOF
	}
	o.served += n
	return io.NopCloser(bytes.NewReader(o.ct[off : off+n])), nil
}

// readAllStep reads r to the end in reads of at most step bytes.
func readAllStep(r io.Reader, step int) ([]byte, error) {
	var out []byte
	buf := make([]byte, step)
	for i := 0; i < 1<<30; i++ {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	panic("unreachable")
}

package integration

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// plantedMarker is written into generated data at every markerEvery
// bytes, so that plaintext reaching the store is recognisable in any
// sample of it. Thirty-two bytes never occur in ciphertext by chance.
var plantedMarker = []byte("<cloak-test-plaintext-marker-01>")

const markerEvery = 1 << 20

// genData is a deterministic, seekable stream of size pseudo-random bytes
// (the AES-CTR keystream of a key derived from a seed) with plantedMarker
// at every offset that is a multiple of markerEvery. Any range can be
// regenerated at the cost of reading it, so tests can stream gigabytes
// and check them without holding them. ReadAt is safe for concurrent
// use; Read and Seek are not.
type genData struct {
	block cipher.Block
	size  int64
	off   int64 // for Read and Seek
}

func newGenData(seed string, size int64) *genData {
	key := sha256.Sum256([]byte("cloak integration data " + seed))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	return &genData{block: block, size: size}
}

// ReadAt implements io.ReaderAt.
func (g *genData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("genData: negative offset")
	}
	if off >= g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), g.size-off))
	p = p[:n]
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	ctr := cipher.NewCTR(g.block, iv[:])
	var skip [aes.BlockSize]byte
	ctr.XORKeyStream(skip[:off%aes.BlockSize], skip[:off%aes.BlockSize])
	clear(p)
	ctr.XORKeyStream(p, p)
	for m := off / markerEvery * markerEvery; m < off+int64(n); m += markerEvery {
		plant(p, off, m)
	}
	if n < len(p) || off+int64(n) == g.size {
		return n, io.EOF
	}
	return n, nil
}

// plant writes the part of plantedMarker (placed at offset m of the
// stream) that falls into p, which holds the stream from offset off.
func plant(p []byte, off, m int64) {
	mk := plantedMarker
	start := m - off
	if start < 0 {
		if -start >= int64(len(mk)) {
			return
		}
		mk, start = mk[-start:], 0
	}
	if start < int64(len(p)) {
		copy(p[start:], mk)
	}
}

// Read implements io.Reader.
func (g *genData) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n, err := g.ReadAt(p, g.off)
	g.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker, so SDKs can rewind a body for a retry.
func (g *genData) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += g.off
	case io.SeekEnd:
		offset += g.size
	}
	if offset < 0 {
		return 0, errors.New("genData: negative position")
	}
	g.off = offset
	return offset, nil
}

// bytesAt returns the n bytes at off.
func (g *genData) bytesAt(off, n int64) []byte {
	b := make([]byte, n)
	if k, err := g.ReadAt(b, off); int64(k) != n {
		panic(err) // callers ask only for ranges inside the stream
	}
	return b
}

func TestGenData_IsAConsistentReader(t *testing.T) {
	const size = markerEvery + 1000
	g := newGenData("self-test", size)
	all := g.bytesAt(0, size)
	if err := iotest.TestReader(newGenData("self-test", size), all); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 1, 15, 16, 17, markerEvery - 5, markerEvery + 31, size - 1} {
		for _, n := range []int64{1, 7, 16, 33, 4096} {
			n = min(n, size-off)
			if got := g.bytesAt(off, n); !bytes.Equal(got, all[off:off+n]) {
				t.Fatalf("ReadAt(%d, %d) differs from the stream", off, n)
			}
		}
	}
	if bytes.Count(all, plantedMarker) != 2 {
		t.Fatalf("%d markers planted, want 2", bytes.Count(all, plantedMarker))
	}
	if bytes.Equal(all[:100], newGenData("other seed", size).bytesAt(0, 100)) {
		t.Fatal("different seeds give the same data")
	}
}

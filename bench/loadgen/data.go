package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
)

// Object contents are generated, never stored: byte i of the object with
// seed k is pattern[(i + k*stride) mod len(pattern)]. The pattern is
// random bytes from a fixed seed, and its length is not a power of two, so
// chunks (64 KiB) and parts (MiB multiples) of one object, or of two
// objects, never line up with each other: a chunk served from the wrong
// place fails the comparison. Generating and verifying cost a copy and a
// compare per byte, far less than the work measured.
const (
	patternSize = 1<<20 + 4099
	stride      = 7919
)

var pattern = func() []byte {
	r := rand.NewChaCha8([32]byte{'c', 'l', 'o', 'a', 'k', 'b', 'e', 'n', 'c', 'h'})
	p := make([]byte, patternSize)
	_, _ = r.Read(p)
	return p
}()

// fill writes the bytes of object seed at offset off into b.
func fill(b []byte, seed, off int64) {
	pos := int((off + seed*stride) % patternSize)
	for len(b) > 0 {
		n := copy(b, pattern[pos:])
		b = b[n:]
		pos = 0
	}
}

// object is the generated content of one object: an io.Reader for a
// PUT and an io.ReaderAt for clients that read parts in parallel.
type object struct {
	seed, size, off int64
}

func newObject(seed, size int64) *object { return &object{seed: seed, size: size} }

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), o.size-o.off))
	fill(p[:n], o.seed, o.off)
	o.off += int64(n)
	return n, nil
}

func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), o.size-off))
	fill(p[:n], o.seed, off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.size
	}
	if offset < 0 {
		return 0, errors.New("seek before start")
	}
	o.off = offset
	return offset, nil
}

func (o *object) Size() int64 { return o.size }

// errMismatch is returned when a read returns other bytes than were
// written.
var errMismatch = errors.New("content differs from what was written")

// verify reads r to its end and checks that it holds exactly the n bytes
// of object seed from offset off. buf is scratch space (at least 2 bytes).
func verify(r io.Reader, seed, off, n int64, buf []byte) error {
	half := len(buf) / 2
	got, want := buf[:half], buf[half:2*half]
	var done int64
	for {
		k, err := r.Read(got)
		if k > 0 {
			if done+int64(k) > n {
				return fmt.Errorf("%w: more than %d bytes", errMismatch, n)
			}
			fill(want[:k], seed, off+done)
			if !bytes.Equal(got[:k], want[:k]) {
				return fmt.Errorf("%w: at byte %d", errMismatch, off+done)
			}
			done += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if done != n {
		return fmt.Errorf("%w: %d bytes, want %d", errMismatch, done, n)
	}
	return nil
}

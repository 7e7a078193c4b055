package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

var testSizes = []int64{
	0, 1, 2, 15, 16, 17, 1000,
	ChunkSize - 1, ChunkSize, ChunkSize + 1,
	2*ChunkSize - 1, 2 * ChunkSize, 2*ChunkSize + 1,
	3*ChunkSize + 12345,
}

func TestRoundTrip_WriterSizesAndSteps(t *testing.T) {
	dk := testKey(t, 1)
	steps := []int{1, 7, 4096, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize}
	for _, size := range testSizes {
		plain := pattern(size, byte(size))
		ct := encryptSegment(t, dk, 0, plain, nil)
		for _, step := range steps {
			if size > 2*ChunkSize && step < 7 {
				continue // keep the grid fast; small steps are covered below
			}
			t.Run(fmt.Sprintf("size=%d/step=%d", size, step), func(t *testing.T) {
				r, err := NewReader(bytes.NewReader(ct), dk, SinglePart(size))
				if err != nil {
					t.Fatal(err)
				}
				got, err := readAllStep(r, step)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("plaintext mismatch: got %d bytes, want %d", len(got), len(plain))
				}
			})
		}
	}
}

func TestRoundTrip_WriterWriteSizes(t *testing.T) {
	// Writes of every awkward size must produce the same segment as one
	// big write (same salt, so byte-identical).
	dk := testKey(t, 2)
	plain := pattern(3*ChunkSize+5, 9)
	want := encryptSegment(t, dk, 0, plain, testRand(7))
	for _, step := range []int{1, 3, ChunkSize - 1, ChunkSize, ChunkSize + 1} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, dk, 0, testRand(7))
		if err != nil {
			t.Fatal(err)
		}
		for p := plain; len(p) > 0; {
			n := min(step, len(p))
			if _, err := w.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("step %d: ciphertext differs from a single write", step)
		}
	}
}

func TestEncryptReader_MatchesWriter(t *testing.T) {
	dk := testKey(t, 3)
	for _, size := range testSizes {
		plain := pattern(size, byte(size))
		want := encryptSegment(t, dk, 7, plain, testRand(1))
		// Feed the plaintext through a reader that returns one byte at
		// a time and sometimes data with io.EOF, to exercise look-ahead.
		src := iotest.DataErrReader(iotest.OneByteReader(bytes.NewReader(plain)))
		er, err := NewEncryptReader(src, dk, 7, testRand(1), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(er)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("size %d: EncryptReader output differs from Writer", size)
		}
	}
}

func TestEncryptReader_IOTest(t *testing.T) {
	dk := testKey(t, 4)
	for _, size := range []int64{0, 1, ChunkSize, 2*ChunkSize + 3} {
		plain := pattern(size, 1)
		want := encryptSegment(t, dk, 0, plain, testRand(2))
		er, err := NewEncryptReader(bytes.NewReader(plain), dk, 0, testRand(2), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(er, want); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

func TestReader_IOTest(t *testing.T) {
	dk := testKey(t, 5)
	for _, size := range []int64{0, 1, ChunkSize, 2*ChunkSize + 3} {
		plain := pattern(size, 1)
		ct := encryptSegment(t, dk, 0, plain, nil)
		r, err := NewReader(bytes.NewReader(ct), dk, SinglePart(size))
		if err != nil {
			t.Fatal(err)
		}
		if err := iotest.TestReader(r, plain); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
	}
}

func TestEncryptReader_AttributesSealed(t *testing.T) {
	dk := testKey(t, 6)
	plain := pattern(ChunkSize+1, 1)
	var attrs [AttributesSize]byte
	copy(attrs[:], "md5-goes-here")
	called := 0
	er, err := NewEncryptReader(bytes.NewReader(plain), dk, 0, nil, func() [AttributesSize]byte {
		called++
		return attrs
	})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := io.ReadAll(er)
	if err != nil {
		t.Fatal(err)
	}
	if called != 1 {
		t.Fatalf("attributes callback called %d times", called)
	}
	r, _ := NewReader(bytes.NewReader(ct), dk, SinglePart(int64(len(plain))))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	tr := r.Trailers()
	if len(tr) != 1 || tr[0].Attributes != attrs || tr[0].PlaintextSize != int64(len(plain)) {
		t.Fatalf("trailer = %+v", tr)
	}
}

func TestEncryptReader_SourceErrorIsSticky(t *testing.T) {
	dk := testKey(t, 7)
	boom := errors.New("disk on fire")
	src := io.MultiReader(bytes.NewReader(pattern(ChunkSize+10, 1)), iotest.ErrReader(boom))
	er, _ := NewEncryptReader(src, dk, 0, nil, nil)
	_, err := io.ReadAll(er)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	if _, err2 := er.Read(make([]byte, 10)); !errors.Is(err2, boom) {
		t.Fatalf("second read err = %v, want sticky %v", err2, boom)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("write failed")
	}
	f.after--
	return len(p), nil
}

func TestWriter_ErrorsAreSticky(t *testing.T) {
	dk := testKey(t, 8)
	w, _ := NewWriter(&failWriter{after: 1}, dk, 0, nil) // header succeeds
	_, err := w.Write(pattern(3*ChunkSize, 1))
	if err == nil {
		t.Fatal("write should fail")
	}
	if _, err2 := w.Write([]byte{1}); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("second write err = %v, want %v", err2, err)
	}
	if err3 := w.Close(); err3 == nil {
		t.Fatal("Close after failure should fail")
	}
}

func TestWriter_CloseTwiceAndWriteAfterClose(t *testing.T) {
	dk := testKey(t, 9)
	w, _ := NewWriter(io.Discard, dk, 0, nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close should fail")
	}
}

func TestNewReader_MultipartWholeObject(t *testing.T) {
	dk := testKey(t, 10)
	layout := Layout{{1, ChunkSize + 3}, {2, 0}, {4, 2 * ChunkSize}, {9, 17}}
	plain := pattern(layout.PlainSize(), 4)
	ct := encryptObject(t, dk, layout, plain)
	if int64(len(ct)) != layout.CiphertextSize() {
		t.Fatalf("ciphertext %d bytes, layout says %d", len(ct), layout.CiphertextSize())
	}
	r, err := NewReader(bytes.NewReader(ct), dk, layout)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := io.Copy(&got, r); err != nil { // exercises WriteTo
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), plain) {
		t.Fatal("multipart plaintext mismatch")
	}
	if n := len(r.Trailers()); n != len(layout) {
		t.Fatalf("%d trailers, want %d", n, len(layout))
	}
}

func TestDataKey_NeverPrinted(t *testing.T) {
	dk, _ := DataKeyFromBytes(bytes.Repeat([]byte{0xAB}, 32))
	for _, s := range []string{fmt.Sprint(dk), fmt.Sprintf("%v %+v %#v %s", dk, dk, dk, dk)} {
		if bytes.Contains([]byte(s), []byte("ab")) || bytes.Contains([]byte(s), []byte("171")) {
			t.Errorf("data key bytes printed: %q", s)
		}
	}
	dk.Destroy()
	if dk.k != [32]byte{} {
		t.Error("Destroy did not zero the key")
	}
}

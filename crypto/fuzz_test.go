package crypto

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

func FuzzParseHeader(f *testing.F) {
	dk := testKey(f, 50)
	ct := encryptSegment(f, dk, 3, []byte("hello"), nil)
	f.Add(ct[:HeaderSize])
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		// Whatever parses must re-encode to the same bytes.
		if enc := h.marshal(); !bytes.Equal(enc[:], b) {
			t.Fatalf("header does not round-trip")
		}
	})
}

func FuzzEnvelope(f *testing.F) {
	e := Envelope{Multipart: true, WrappedKey: WrappedKey{KeyID: "k", KeyVersion: 7, Ciphertext: []byte{1, 2}}}
	b, _ := e.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 0, 1, 'x', 0, 0, 0, 0, 0, 1, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Envelope
		if err := e.UnmarshalBinary(b); err != nil {
			return
		}
		again, err := e.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("envelope does not round-trip: %v", err)
		}
	})
}

func FuzzOpenRecord(f *testing.F) {
	dk := testKey(f, 51)
	// Deterministic salts: fuzz workers rebuild the seeds in their own
	// processes and must get the same bytes.
	m, _ := SealMetadata(dk, []byte("meta"), nil, testRand(1))
	man, _ := SealManifest(dk, Layout{{1, 5}, {2, 6}}, []byte("etag"), testRand(2))
	f.Add(m)
	f.Add(man)
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := OpenMetadata(dk, b, nil); err == nil && !bytes.Equal(b, m) {
			t.Fatalf("forged metadata record opened: %q", got)
		}
		if _, _, err := OpenManifest(dk, b); err == nil && !bytes.Equal(b, man) {
			t.Fatal("forged manifest opened")
		}
	})
}

// FuzzDecrypt feeds arbitrary bytes to the decryptor as a stored
// single-part object. It must never panic, and anything it accepts must be
// exactly what the encryptor produces for that plaintext and salt: it never
// returns unauthenticated data.
func FuzzDecrypt(f *testing.F) {
	dk := testKey(f, 52)
	// Every seed's plaintext is a prefix of genuine, so every chunk that
	// can authenticate under dk at index i holds genuine[i*ChunkSize:...].
	genuine := pattern(2*ChunkSize, 1)
	for i, n := range []int{0, 1, 100, ChunkSize + 1} {
		f.Add(encryptSegment(f, dk, 0, genuine[:n], testRand(byte(i))))
	}
	f.Fuzz(func(t *testing.T, stored []byte) {
		got, err := decryptSingle(dk, stored)
		if len(got) > len(genuine) || !bytes.Equal(got, genuine[:len(got)]) {
			t.Fatalf("released %d bytes that are not genuine plaintext", len(got))
		}
		if err != nil {
			return
		}
		// Re-encrypt with the salt from the header: the result must be
		// byte-identical to the accepted input.
		h, herr := parseHeader(stored[:HeaderSize])
		if herr != nil {
			t.Fatal(herr)
		}
		r, _ := decryptSingleReader(dk, stored)
		io.Copy(io.Discard, r)
		var attrs [AttributesSize]byte
		if tr := r.Trailers(); len(tr) == 1 {
			attrs = tr[0].Attributes
		}
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, dk, 0, bytes.NewReader(h.salt[:]))
		w.SetAttributes(attrs)
		w.Write(got)
		w.Close()
		if !bytes.Equal(buf.Bytes(), stored) {
			t.Fatal("accepted a ciphertext the encryptor would not produce")
		}
	})
}

func decryptSingleReader(dk *DataKey, stored []byte) (*Reader, error) {
	layout, err := SinglePartFromCiphertext(int64(len(stored)))
	if err != nil {
		return nil, err
	}
	return NewReader(bytes.NewReader(stored), dk, layout)
}

// FuzzOpenRange decrypts fuzzer-chosen ranges of a multipart object whose
// bytes the fuzzer may also damage: results are either an error or the
// exact plaintext.
func FuzzOpenRange(f *testing.F) {
	dk := testKey(f, 53)
	layout := Layout{{1, ChunkSize + 10}, {2, 20}}
	plain := pattern(layout.PlainSize(), 2)
	ct := encryptObject(f, dk, layout, plain)
	f.Add(int64(0), int64(5), -1, byte(0))
	f.Add(int64(ChunkSize), int64(30), 100, byte(1))
	f.Fuzz(func(t *testing.T, off, n int64, flipAt int, mask byte) {
		stored := bytes.Clone(ct)
		if flipAt >= 0 && flipAt < len(stored) {
			stored[flipAt] ^= mask
		}
		o := &bytesOpener{ct: stored}
		r, err := OpenRange(context.Background(), o.open, dk, layout, off, n)
		if err != nil {
			if !errors.Is(err, ErrInvalidSize) {
				t.Fatalf("open: %v", err)
			}
			return
		}
		got, err := io.ReadAll(r)
		if err == nil && !bytes.Equal(got, plain[off:off+n]) {
			t.Fatal("wrong plaintext returned without error")
		}
		if err != nil && !bytes.Equal(got, plain[off:off+int64(len(got))]) {
			t.Fatal("damaged plaintext returned before the error")
		}
	})
}

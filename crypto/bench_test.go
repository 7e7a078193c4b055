package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"io"
	"testing"
)

// The stream benchmarks encrypt and decrypt 64 MiB; BenchmarkRawGCM seals
// the same bytes with crypto/cipher directly in the same chunk size, as
// the baseline the streams are measured against (target: streams reach
// 90% of its throughput).
//
// Every benchmark works on random bytes: an untouched make([]byte) maps to
// the kernel's shared zero page, which stays in cache and would flatter
// whichever benchmark reads it.
const benchSize = 64 << 20

// benchInput returns benchSize random bytes.
func benchInput(b *testing.B) []byte {
	b.Helper()
	src := make([]byte, benchSize)
	if _, err := rand.Read(src); err != nil {
		b.Fatal(err)
	}
	return src
}

func BenchmarkRawGCM(b *testing.B) {
	key := make([]byte, 32)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	src := benchInput(b)
	out := make([]byte, ChunkSize+TagSize)
	nonce := make([]byte, nonceSize)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		for i := 0; i < benchSize/ChunkSize; i++ {
			nonce[0] = byte(i)
			aead.Seal(out[:0], nonce, src[i*ChunkSize:(i+1)*ChunkSize], nil)
		}
	}
}

func BenchmarkEncryptStream(b *testing.B) {
	dk := testKey(b, 60)
	src := benchInput(b)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		er, err := NewEncryptReader(bytes.NewReader(src), dk, 0, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, er); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptWriter(b *testing.B) {
	dk := testKey(b, 61)
	src := benchInput(b)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		w, _ := NewWriter(io.Discard, dk, 0, nil)
		if _, err := io.Copy(w, bytes.NewReader(src)); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptStream(b *testing.B) {
	dk := testKey(b, 62)
	ct := encryptSegment(b, dk, 0, benchInput(b), nil)
	layout := SinglePart(benchSize)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(ct), dk, layout)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawGCMOpen(b *testing.B) {
	key := make([]byte, 32)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	src := benchInput(b)
	nonce := make([]byte, nonceSize)
	n := benchSize / ChunkSize
	sealed := make([]byte, 0, n*(ChunkSize+TagSize))
	for i := range n {
		nonce[0] = byte(i)
		sealed = aead.Seal(sealed, nonce, src[i*ChunkSize:(i+1)*ChunkSize], nil)
	}
	out := make([]byte, ChunkSize)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		for i := range n {
			nonce[0] = byte(i)
			c := sealed[i*(ChunkSize+TagSize) : (i+1)*(ChunkSize+TagSize)]
			if _, err := aead.Open(out[:0], nonce, c, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

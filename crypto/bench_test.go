package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"io"
	"testing"
)

// The stream benchmarks encrypt and decrypt 64 MiB; BenchmarkRawGCM seals
// the same bytes with crypto/cipher directly in the same chunk size, as
// the baseline the streams are measured against (target: streams reach
// 90% of its throughput).
const benchSize = 64 << 20

func BenchmarkRawGCM(b *testing.B) {
	key := make([]byte, 32)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	src := make([]byte, benchSize)
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
	src := make([]byte, benchSize)
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
	src := make([]byte, benchSize)
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
	ct := encryptSegment(b, dk, 0, make([]byte, benchSize), nil)
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

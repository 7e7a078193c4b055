// Package crypto implements Cloak's encrypted object format, version 1:
// chunked, key-committing AES-256-GCM streams, the size and range
// arithmetic that maps plaintext to ciphertext, sealed records for
// metadata and multipart manifests, and the interface through which data
// keys are wrapped by master keys. docs/FORMAT.md is the normative
// specification; this package is one implementation of it.
//
// The package knows nothing of HTTP, S3 or storage, and never logs.
//
// # Objects and segments
//
// Every object has its own random 256-bit [DataKey]. Its ciphertext is a
// sequence of segments: one (part number 0) for an object written in one
// piece, one per part (numbered 1..10000) for a multipart upload. Each
// segment has its own salt, so its own chunk key, and carries a key
// commitment in its header that is checked before anything is decrypted.
// A segment ends with a sealed trailer that records its plaintext length
// and a caller-defined attribute block.
//
// A [Layout] lists an object's segments and their plaintext sizes. For a
// single-part object it follows from the stored size
// ([SinglePartFromCiphertext]); for a multipart object it comes from the
// sealed manifest ([SealManifest], [OpenManifest]), which is how a
// multipart object proves its part count and length.
//
// # Streams
//
// Encrypt with a [Writer] (push) or an [EncryptReader] (pull); decrypt a
// whole object with [NewReader], or a plaintext range with [OpenRange],
// which asks a [RangeOpener] for exactly the ciphertext bytes it needs.
// All streams hold one chunk of memory, authenticate each chunk before
// releasing any of it, keep the first error, and return buffers to a pool
// cleared. Any authentication failure is reported as [ErrAuthentication],
// with no detail about where it happened.
//
// # Keys
//
// A [KeyWrapper] wraps data keys under master keys with a [WrapContext]
// (bucket, object key, multipart flag) bound in, so a wrapped key moved to
// another object does not open. [MemoryKeyRing] is the in-memory
// implementation; key ring files, AWS KMS and PKCS#11 build on the same
// interface. An [Envelope] is what an object stores beside its ciphertext:
// the wrapped key and its master key id and version.
//
// Derived keys are zeroed after use and [DataKey.Destroy] zeroes a data
// key, but the AES key schedules inside crypto/cipher cannot be cleared
// from Go; they become garbage when the stream is dropped.
package crypto

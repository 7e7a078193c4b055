// Package backend defines Store, the narrow interface through which the
// proxy keeps ciphertext and its envelope (opaque string metadata) in an
// object store, and the errors every store reports.
//
// # The contract
//
// A Store offers buckets, whole-object put, ranged get, head, delete,
// list, server-side copy and the multipart family, with S3 semantics:
//
//   - Keys are 1 to 1024 bytes of UTF-8 without NUL (ValidateKey). A
//     store may refuse, with ErrInvalidKey, a valid key it cannot
//     represent (MinIO refuses "a//b" and "." or ".." segments); it never
//     stores it under another name.
//   - User metadata names are HTTP tokens, returned in lower case;
//     values are UTF-8 and round-trip exactly, including non-ASCII text
//     and leading or trailing spaces; at most MaxMetadataSize bytes in
//     all (NormalizeMetadata).
//   - A put (single or multipart) becomes visible atomically with its
//     data and metadata together, or not at all; a failed or cancelled
//     put leaves the previous object in place. Concurrent puts of one
//     key leave one of them whole (last writer wins).
//   - ETags are unquoted: the hex MD5 of the stored bytes for a single
//     put, "hex-N" for an object completed from N parts.
//   - Readers returned by GetObject are closed by the caller; bodies
//     passed in are never closed by the store.
//   - Errors wrap the sentinels in errors.go, with lowercase context
//     ("get bucket/key: no such key"); callers test with errors.Is and
//     map them to S3 errors. No error carries credentials.
//
// Conditional writes (PutOptions.IfMatch, IfNoneMatch "*", and
// CompleteOptions for multipart uploads) let the migration tool replace
// an object only if it is still the one it read; CopyObject checks
// IfMatch against its source, so a key rewrap (a copy onto itself with
// new metadata) never applies the old key to newer data.
// GetOptions.IfMatch lets a reader that makes several range requests pin
// one version of an object.
//
// # What differs between stores
//
// The conformance suite (package backendtest) names the differences it
// tolerates, each a flag of backendtest.Config: MinIO refuses some keys
// ("a//b", "." and ".." segments, segments over 255 bytes; the S3 store
// also refuses a leading "/", which MinIO would silently drop), lists
// multipart uploads only for one exact key, leaves an object "a/b" out of
// listings when keys below "a/b/" exist, and loops on delimiters other
// than "/" (the S3 store then fails instead of returning the same page).
// The local store has none of these limits.
//
// # Implementations
//
// Package localstore keeps objects in a local directory (one file per
// object with a metadata trailer, temp file then rename, directory
// fsync); it is the zero-configuration store. Package s3store speaks to
// any S3 server through minio-go; a put of unknown size streams as a
// multipart upload holding one part in memory. Both pass the conformance
// suite in package backendtest, the S3 store against a real MinIO.
//
// # Memory
//
// Neither store buffers a whole object. The local store uses one copy
// buffer per stream. The S3 store sends known-size puts of up to 5 GiB
// as one streamed request with no buffer, and buffers one part
// (s3store.Config.PartSize, 16 MiB by default) per put of unknown size
// or larger than 5 GiB.
package backend

// Package sigv4 verifies and produces AWS Signature Version 4 for S3:
// requests signed in the Authorization header, presigned URLs, and
// aws-chunked streaming bodies with per-chunk signatures and trailing
// headers.
//
// # Verifying a request
//
// A [Verifier] looks access keys up in a [CredentialStore] and checks the
// signature of an incoming request against the request as the server
// received it (r.Host, the raw path, the query, the signed headers):
//
//	v := sigv4.NewVerifier(store, sigv4.Config{Region: "us-east-1"})
//	auth, err := v.Verify(r)
//	if err != nil {
//		s3err.Write(w, r, err, ctx) // the right S3 code and status
//		return
//	}
//	body, err := auth.Body(r)
//
// Verify does not read the body. [Auth.Body] returns a [PayloadReader]
// that yields the decoded payload and verifies it as it streams, in the
// [PayloadMode] the request chose in x-amz-content-sha256. A verification
// failure replaces io.EOF, at the latest at the end of the body, so a
// caller must not commit an object before it has read io.EOF. For the
// trailer modes, [PayloadReader.Trailer] then returns the trailing
// headers (x-amz-checksum-*) whose values the caller checks.
//
// All errors are *s3err.Error values from the s3err table; compare them
// with errors.Is. Messages never contain secrets, signing keys or the
// expected signature.
//
// # What is checked
//
//   - The canonical request as S3 builds it: the path encoded once (no
//     double encoding, "//" and ".." kept), the query sorted and encoded,
//     header values trimmed with inner spaces collapsed. Host must be
//     signed, and so must every x-amz-* header sent (as S3 requires).
//   - The credential scope: service "s3", terminal "aws4_request", the
//     date of X-Amz-Date, and the configured region unless it is empty.
//   - Time: header-signed requests within [MaxClockSkew] of the clock;
//     presigned URLs valid for at most [MaxPresignExpiry] and not expired.
//   - Signatures with hmac.Equal. Signing keys are cached in a bounded LRU
//     keyed by a digest of the secret, the date, region and service.
//
// SigV2 and SigV4A (AWS4-ECDSA-P256-SHA256) are refused with InvalidRequest.
//
// # aws-chunked bodies
//
// The decoder holds at most one chunk ([MaxChunkSize]) and releases a
// signed chunk only after its signature, chained from the request's seed
// signature, verified. It checks the zero-length final chunk, that
// nothing but trailing headers follows it, the trailer names against
// x-amz-trailer, the trailer signature, and x-amz-decoded-content-length.
// It does not require Content-Encoding: aws-chunked (the signed
// x-amz-content-sha256 decides), nor the 8 KiB minimum S3 sets for
// non-final chunks.
//
// # Signing
//
// [SignRequest], [Presign] and [SignChunked] produce what the Verifier
// accepts, for tests and for outgoing requests.
package sigv4

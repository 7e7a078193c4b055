// Package s3compat is Cloak's S3 protocol layer: it turns HTTP requests
// into S3 operations and checks them against S3's rules, without knowing
// anything of encryption, storage or access policy, and without making
// network calls.
//
// # The tree
//
//   - s3err: the one table of S3 errors (code, HTTP status, message) and
//     the one function that writes an error response. Every error this
//     tree returns for client input is an *s3err.Error.
//   - sigv4: AWS Signature Version 4: verifying and signing requests,
//     presigned URLs, and the aws-chunked decoder that verifies each chunk
//     and exposes the verified trailing headers after EOF.
//   - checksum: Content-MD5 and the x-amz-checksum-* values, and a reader
//     that hashes a body in one pass and verifies it at EOF.
//   - s3xml: the XML request and response documents, encoding-type=url,
//     and size- and depth-bounded decoding of request bodies.
//   - this package: request routing ([ParseRequest] and [Op]), names
//     ([ValidBucketName], key length), copy sources, Range and conditional
//     headers, user metadata, and the size limits S3 clients expect.
//
// # Contracts
//
// Functions that judge client input return nil or an *s3err.Error with
// the code and status S3 would send, so a handler can pass the error to
// s3err.Write unchanged. Range and conditional evaluation are pure
// functions of the headers and the object's size, ETag and modification
// time, so they can be tested exhaustively and used before any data is
// fetched.
//
// Readers in this tree (the aws-chunked decoder, the checksum reader)
// verify at EOF and return an error in place of io.EOF when verification
// fails. A caller must therefore not commit an object until it has seen
// a clean io.EOF.
//
// # Names
//
// Keys are taken from the request's escaped path and unescaped exactly
// once: a "+" in a path is a plus, "%2B" is a plus, "%20" is a space, and
// "//", "..", "." segments and a trailing "/" are kept as they are. The
// proxy must pass keys to the backend exactly as parsed here.
package s3compat

package awskms

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"unicode/utf8"

	"github.com/cloakproxy/cloak/crypto"
)

// Names of the encryption context entries. Key policies and IAM policies
// can test them, e.g. "kms:EncryptionContext:cloak:bucket".
const (
	// ContextVersion holds [ContextLayout], the version of this layout.
	ContextVersion = "cloak:v"
	// ContextBucket holds the bucket name.
	ContextBucket = "cloak:bucket"
	// ContextKey holds the object key, when it is bound by name.
	ContextKey = "cloak:key"
	// ContextMultipart holds "true" for a multipart upload, else "false".
	ContextMultipart = "cloak:multipart"
	// ContextAADHash holds the lowercase hex SHA-256 of
	// [crypto.WrapContext.AAD], in place of ContextKey, when the object key
	// or bucket cannot be bound by name.
	ContextAADHash = "cloak:aad-sha256"
)

// ContextLayout is the value of the [ContextVersion] entry. It versions
// the layout of the encryption context, not the object format: a wrapped
// key only ever opens under the layout it was made with.
const ContextLayout = "1"

// Bounds on names bound in the clear. KMS caps the size of an encryption
// context and records the context of every call in CloudTrail, so long
// names are bound by hash instead; the hash authenticates them as firmly.
const (
	// maxNamedKeyLen is the longest object key, in bytes, that is bound by
	// name. S3 allows keys of up to 1024 bytes.
	maxNamedKeyLen = 512
	// maxNamedBucketLen is the longest bucket name bound by name (S3
	// allows 63 bytes).
	maxNamedBucketLen = 255
)

// encryptionContext returns the KMS encryption context that binds a data
// key to wc. It is a pure function of wc: Unwrap recomputes it.
//
// The named form is
//
//	cloak:v=1  cloak:bucket=BUCKET  cloak:key=KEY  cloak:multipart=true|false
//
// It is used when the bucket and the object key are both non-empty valid
// UTF-8 within their length bounds. Otherwise cloak:key is replaced by
// cloak:aad-sha256=hex(SHA-256(wc.AAD())), and cloak:bucket is left out
// unless the bucket itself qualifies. The two forms have different key
// sets, so a context of one form never equals one of the other.
// (Invalid UTF-8 is never sent: the JSON encoding of the request would
// replace it, and two different names could then share a context.)
func encryptionContext(wc crypto.WrapContext) map[string]string {
	ec := map[string]string{
		ContextVersion:   ContextLayout,
		ContextMultipart: strconv.FormatBool(wc.Multipart),
	}
	bucketNamed := nameable(wc.Bucket, maxNamedBucketLen)
	if bucketNamed {
		ec[ContextBucket] = wc.Bucket
	}
	if bucketNamed && nameable(wc.Key, maxNamedKeyLen) {
		ec[ContextKey] = wc.Key
		return ec
	}
	sum := sha256.Sum256(wc.AAD())
	ec[ContextAADHash] = hex.EncodeToString(sum[:])
	return ec
}

// nameable reports whether s can be sent in an encryption context as it
// is: non-empty, valid UTF-8 and at most max bytes.
func nameable(s string, max int) bool {
	return s != "" && len(s) <= max && utf8.ValidString(s)
}

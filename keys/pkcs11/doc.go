// Package pkcs11 wraps Cloak's data keys under master keys held in a
// hardware security module (or any other PKCS#11 token, such as SoftHSM).
//
// A [Wrapper] implements [crypto.KeyWrapper]. Master keys never leave the
// token: they are AES-256 secret keys generated inside it with
// CKA_SENSITIVE true, CKA_EXTRACTABLE false and CKA_TOKEN true, and every
// wrap and unwrap is computed by the token.
//
// # Mechanism
//
// A data key is wrapped with CKM_AES_GCM computed by the token, under a
// fresh random 12-byte IV and a 16-byte tag. The associated data is the
// object's [crypto.WrapContext.AAD], the master key label and its version,
// so a wrapped key copied to another bucket, object or upload kind, or
// relabelled as another key version, fails to unwrap with an error
// wrapping [crypto.ErrAuthentication]. The wrapped key stored with the
// object is 61 bytes:
//
//	format (1 byte, 1) | IV (12) | AES-GCM ciphertext (32) | tag (16)
//
// With random IVs, one key version should wrap fewer than 2^32 data keys;
// rotate ([Wrapper.CreateKey]) well before that.
//
// # Labels and versions
//
// A master key is a label and a version (1, 2, ...). Version v of label L
// is the token object whose CKA_LABEL is "L.vV" (for example
// "cloak-master.v3"), and [crypto.WrappedKey] records L as KeyID and v as
// KeyVersion. [Wrapper.Wrap] uses the active version of the label that the
// bucket maps to ([Config.BucketKeys], else [Config.KeyLabel]): the highest
// version on the token, unless [Wrapper.SetActive] pinned one.
// [Wrapper.Unwrap] finds the version that the wrapped key names, on any
// label. [Wrapper.CreateKey] generates the next version inside the token;
// it becomes active at once in the Wrapper that created it, and in other
// processes sharing the token within [Config.RefreshInterval].
//
// Two processes that rotate the same label at the same moment may both
// create the same version. No key is ever destroyed to resolve that:
// both objects stay, Wrap uses either, and Unwrap tries each object with
// the label (GCM tells which one opens the data key).
//
// # Sessions and concurrency
//
// A Wrapper is safe for concurrent use. PKCS#11 sessions are not, so it
// keeps a pool of at most [Config.Sessions] sessions and lends each to one
// operation at a time; a caller waits for a free session (or for its
// context to end). One further session stays open for the Wrapper's
// lifetime to hold the login. A PKCS#11 call, once started, is not
// interrupted by its context.
//
// A module is initialised (C_Initialize) once per process and finalised
// when its last Wrapper closes; it is never unloaded. One process may open
// a given token through one Wrapper at a time: share it.
//
// # Build
//
// PKCS#11 needs cgo. A binary built with CGO_ENABLED=0 still compiles this
// package, but [Open] returns an error saying the provider is unavailable.
package pkcs11

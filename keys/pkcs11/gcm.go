//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// ckrAEADDecryptFailed is CKR_AEAD_DECRYPT_FAILED of PKCS#11 3.0, which
// the Go binding does not name.
const ckrAEADDecryptFailed = 0x35

// errAuth marks a token's refusal to open a sealed data key.
type errAuth struct{ err error }

func (e errAuth) Error() string { return e.err.Error() }
func (e errAuth) Unwrap() error { return e.err }

// seal encrypts dataKey under key h with AES-GCM inside the token and
// returns the wrapped key envelope.
func seal(ctx *p11.Ctx, s p11.SessionHandle, h p11.ObjectHandle, dataKey, aad []byte) (
	[]byte, error) {
	iv := make([]byte, ivSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("pkcs11: draw IV: %w", err)
	}
	params := p11.NewGCMParams(iv, aad, tagSize*8)
	defer params.Free()
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}
	if err := ctx.EncryptInit(s, mech, h); err != nil {
		return nil, fmt.Errorf("pkcs11: start AES-GCM encryption: %w", err)
	}
	out, err := ctx.Encrypt(s, dataKey)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: AES-GCM encryption: %w", err)
	}
	// A token may choose the IV itself; record the one it used.
	return sealEnvelope(params.IV(), out)
}

// open decrypts a sealed data key under key h inside the token. A
// refusal to authenticate is returned as errAuth; the caller turns it
// into crypto.ErrAuthentication.
func open(ctx *p11.Ctx, s p11.SessionHandle, h p11.ObjectHandle, iv, sealed, aad []byte) (
	[]byte, error) {
	params := p11.NewGCMParams(iv, aad, tagSize*8)
	defer params.Free()
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}
	if err := ctx.DecryptInit(s, mech, h); err != nil {
		return nil, fmt.Errorf("pkcs11: start AES-GCM decryption: %w", err)
	}
	pt, err := ctx.Decrypt(s, sealed)
	switch {
	case isCode(err, p11.CKR_ENCRYPTED_DATA_INVALID),
		isCode(err, p11.CKR_ENCRYPTED_DATA_LEN_RANGE),
		isCode(err, ckrAEADDecryptFailed):
		return nil, errAuth{err}
	case isCode(err, p11.CKR_GENERAL_ERROR):
		// SoftHSM 2.6 reports a GCM tag mismatch as CKR_GENERAL_ERROR,
		// which is also what a failing token says. A round trip under
		// the same key tells them apart: if it works, the token is fine
		// and the sealed key did not authenticate.
		if perr := roundTrip(ctx, s, h); perr != nil {
			return nil, fmt.Errorf("pkcs11: AES-GCM decryption: %w (and a test round trip "+
				"under the same key failed: %v)", err, perr)
		}
		return nil, errAuth{err}
	case err != nil:
		return nil, fmt.Errorf("pkcs11: AES-GCM decryption: %w", err)
	case len(pt) != dataKeySize:
		clear(pt)
		return nil, errAuth{fmt.Errorf("unwrapped %d bytes", len(pt))}
	}
	return pt, nil
}

// keyGone reports whether err says the key object no longer exists.
func keyGone(err error) bool {
	return isCode(err, p11.CKR_KEY_HANDLE_INVALID) || isCode(err, p11.CKR_OBJECT_HANDLE_INVALID)
}

// roundTrip seals and opens a fixed test value under key h, to check
// that the token can use the key.
func roundTrip(ctx *p11.Ctx, s p11.SessionHandle, h p11.ObjectHandle) error {
	probe := make([]byte, dataKeySize)
	aad := []byte("cloak pkcs11 round trip")
	env, err := seal(ctx, s, h, probe, aad)
	if err != nil {
		return err
	}
	iv, sealed, _ := openEnvelope(env)
	params := p11.NewGCMParams(iv, aad, tagSize*8)
	defer params.Free()
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}
	if err := ctx.DecryptInit(s, mech, h); err != nil {
		return fmt.Errorf("pkcs11: start AES-GCM decryption: %w", err)
	}
	pt, err := ctx.Decrypt(s, sealed)
	if err != nil {
		return fmt.Errorf("pkcs11: AES-GCM decryption: %w", err)
	}
	if !bytes.Equal(pt, probe) {
		return errors.New("pkcs11: AES-GCM round trip returned other bytes")
	}
	return nil
}

//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/cloakproxy/cloak/crypto"
)

// Wrapper is a [crypto.KeyWrapper] over master keys held in a PKCS#11
// token. Open one per token and process; it is safe for concurrent use.
type Wrapper struct {
	cfg    Config
	mod    *module
	ctx    *p11.Ctx
	slot   uint
	anchor p11.SessionHandle // holds the login; used only by Open and Close
	pool   *sessionPool
	index  *keyIndex

	createMu sync.Mutex // serialises CreateKey within the process

	mu     sync.RWMutex // held to read by every operation, to write by Close
	closed bool
}

// Open loads the module, finds the token, logs in with the PIN and, with
// cfg.Create, generates the first version of every configured label that
// has none. Errors name the module and token but never the PIN; a PIN the
// token refuses gives an error wrapping [ErrLogin].
func Open(cfg Config) (*Wrapper, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	mod, slot, err := acquireModule(cfg.Module, func(ctx *p11.Ctx) (uint, error) {
		return findSlot(ctx, cfg)
	})
	if err != nil {
		return nil, err
	}
	w := &Wrapper{cfg: cfg, mod: mod, ctx: mod.ctx, slot: slot, index: newKeyIndex()}
	if err := w.login(); err != nil {
		return nil, errors.Join(err, mod.release(slot))
	}
	w.pool = newSessionPool(w.ctx, slot, cfg.Sessions)
	if cfg.Create {
		if err := w.createMissing(); err != nil {
			return nil, errors.Join(err, w.Close())
		}
	}
	return w, nil
}

// findSlot returns the slot holding the token that cfg names.
func findSlot(ctx *p11.Ctx, cfg Config) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: list slots: %w", err)
	}
	if cfg.Slot != nil {
		if !slices.Contains(slots, *cfg.Slot) {
			return 0, fmt.Errorf("pkcs11: no token in slot %d", *cfg.Slot)
		}
		slots = []uint{*cfg.Slot}
	}
	var found []uint
	for _, slot := range slots {
		info, err := ctx.GetTokenInfo(slot)
		if err != nil {
			return 0, fmt.Errorf("pkcs11: read token in slot %d: %w", slot, err)
		}
		label := strings.TrimRight(info.Label, " \x00")
		initialised := info.Flags&p11.CKF_TOKEN_INITIALIZED != 0
		if initialised && (cfg.TokenLabel == "" || label == cfg.TokenLabel) {
			found = append(found, slot)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return 0, fmt.Errorf("pkcs11: %d tokens are labelled %q: set Slot", len(found),
			cfg.TokenLabel)
	case cfg.Slot != nil && cfg.TokenLabel != "":
		return 0, fmt.Errorf("pkcs11: token in slot %d is not labelled %q",
			*cfg.Slot, cfg.TokenLabel)
	case cfg.Slot != nil:
		return 0, fmt.Errorf("pkcs11: token in slot %d is not initialised", *cfg.Slot)
	default:
		return 0, fmt.Errorf("pkcs11: no initialised token labelled %q (%d slots with a token)",
			cfg.TokenLabel, len(slots))
	}
}

// login opens the anchor session and logs the user in on it. The login
// holds for every session of the process until the anchor closes.
func (w *Wrapper) login() error {
	s, err := w.ctx.OpenSession(w.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("pkcs11: open session on token in slot %d: %w", w.slot, err)
	}
	if err := w.ctx.Login(s, p11.CKU_USER, w.cfg.PIN); err != nil {
		_ = w.ctx.CloseSession(s) // the login error is the one to report
		return w.loginError(err)
	}
	w.anchor = s
	return nil
}

// loginError explains a failed C_Login. The binding's error holds only
// the return code, never the PIN.
func (w *Wrapper) loginError(err error) error {
	token := fmt.Sprintf("token in slot %d", w.slot)
	switch {
	case isCode(err, p11.CKR_PIN_INCORRECT):
		return fmt.Errorf("%w: %s: PIN incorrect", ErrLogin, token)
	case isCode(err, p11.CKR_PIN_LOCKED):
		return fmt.Errorf("%w: %s: PIN locked (too many wrong tries)", ErrLogin, token)
	case isCode(err, p11.CKR_PIN_EXPIRED), isCode(err, p11.CKR_PIN_LEN_RANGE),
		isCode(err, p11.CKR_PIN_INVALID), isCode(err, p11.CKR_USER_PIN_NOT_INITIALIZED):
		return fmt.Errorf("%w: %s: %v", ErrLogin, token, err)
	case isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN):
		return fmt.Errorf("pkcs11: %s: already logged in by other code in this process, "+
			"so the PIN cannot be checked", token)
	default:
		return fmt.Errorf("pkcs11: log in to %s: %w", token, err)
	}
}

// createMissing generates version 1 of each configured label that has no
// version yet.
func (w *Wrapper) createMissing() error {
	for _, label := range w.cfg.labels() {
		vs, err := w.Versions(label)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			if _, err := w.CreateKey(context.Background(), label); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close logs out, closes the sessions and, if this was the module's last
// Wrapper, finalises the module. It waits for operations in progress.
// Later calls return [ErrClosed]; a second Close returns nil.
func (w *Wrapper) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.pool.close()
	var errs []error
	if err := w.ctx.Logout(w.anchor); err != nil && !isCode(err, p11.CKR_USER_NOT_LOGGED_IN) {
		errs = append(errs, fmt.Errorf("pkcs11: log out: %w", err))
	}
	if err := w.ctx.CloseSession(w.anchor); err != nil {
		errs = append(errs, fmt.Errorf("pkcs11: close session: %w", err))
	}
	errs = append(errs, w.mod.release(w.slot))
	return errors.Join(errs...)
}

// do runs fn on a session from the pool.
func (w *Wrapper) do(ctx context.Context, fn func(s p11.SessionHandle) error) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s, err := w.pool.get(ctx)
	if err != nil {
		return err
	}
	err = fn(s)
	w.pool.put(s, err)
	return err
}

// LabelFor returns the label of the master key that Wrap uses for bucket.
func (w *Wrapper) LabelFor(bucket string) string {
	return w.cfg.labelFor(bucket)
}

// Wrap implements [crypto.KeyWrapper]: it encrypts the 32-byte dataKey
// inside the token under the active version of the bucket's master key.
// With no version of that key on the token the error wraps
// [crypto.ErrUnknownKey].
func (w *Wrapper) Wrap(ctx context.Context, dataKey []byte, wc crypto.WrapContext) (
	crypto.WrappedKey, error) {
	if len(dataKey) != dataKeySize {
		return crypto.WrappedKey{}, fmt.Errorf("pkcs11: wrap: data key is %d bytes, want %d",
			len(dataKey), dataKeySize)
	}
	label := w.cfg.labelFor(wc.Bucket)
	var wk crypto.WrappedKey
	err := w.do(ctx, func(s p11.SessionHandle) error {
		// A key destroyed by another process since it was indexed is
		// forgotten, and the next active version is tried, once.
		for range 2 {
			if err := w.refresh(s, label); err != nil {
				return err
			}
			v, hs, err := w.index.active(label)
			if err != nil {
				return err
			}
			ct, err := seal(w.ctx, s, hs[0], dataKey, wrapAAD(wc, label, v))
			if keyGone(err) {
				w.index.forget(label, v)
				continue
			}
			if err != nil {
				return err
			}
			wk = crypto.WrappedKey{KeyID: label, KeyVersion: v, Ciphertext: ct}
			return nil
		}
		return fmt.Errorf("pkcs11: master key %q was destroyed while in use: %w",
			label, crypto.ErrUnknownKey)
	})
	if err != nil {
		return crypto.WrappedKey{}, fmt.Errorf("pkcs11: wrap: %w", err)
	}
	return wk, nil
}

// refresh rereads label's versions if the index's list is too old.
func (w *Wrapper) refresh(s p11.SessionHandle, label string) error {
	if !w.index.needsList(label, w.cfg.RefreshInterval) {
		return nil
	}
	t := time.Now()
	versions, err := listVersions(w.ctx, s, label)
	if err != nil {
		w.index.listFailed(label)
		return err
	}
	w.index.replace(label, versions, t)
	return nil
}

// Unwrap implements [crypto.KeyWrapper]: it decrypts wk inside the token
// under the master key version it names. The error wraps
// [crypto.ErrUnknownKey] when the token has no such version, and
// [crypto.ErrAuthentication] when the wrapped key does not open under wc
// (tampered, or moved to another object). The caller clears the result.
func (w *Wrapper) Unwrap(ctx context.Context, wk crypto.WrappedKey, wc crypto.WrapContext) (
	[]byte, error) {
	name := fmt.Sprintf("%q version %d", wk.KeyID, wk.KeyVersion)
	if CheckLabel(wk.KeyID) != nil || wk.KeyVersion == 0 {
		return nil, fmt.Errorf("pkcs11: unwrap with %s: %w", name, crypto.ErrUnknownKey)
	}
	iv, sealed, ok := openEnvelope(wk.Ciphertext)
	if !ok {
		return nil, fmt.Errorf("pkcs11: unwrap with %s: %w", name, crypto.ErrAuthentication)
	}
	var dk []byte
	err := w.do(ctx, func(s p11.SessionHandle) error {
		hs, err := w.versionHandles(s, wk.KeyID, wk.KeyVersion)
		if err != nil {
			return err
		}
		dk, err = w.openAny(s, hs, wk, iv, sealed, wrapAAD(wc, wk.KeyID, wk.KeyVersion))
		return err
	})
	var auth errAuth
	switch {
	case errors.As(err, &auth):
		return nil, fmt.Errorf("pkcs11: unwrap with %s: %w", name, crypto.ErrAuthentication)
	case err != nil:
		return nil, fmt.Errorf("pkcs11: unwrap with %s: %w", name, err)
	}
	return dk, nil
}

// versionHandles returns the objects of label version v, from the index
// or else from the token.
func (w *Wrapper) versionHandles(s p11.SessionHandle, label string, v uint32) (
	[]p11.ObjectHandle, error) {
	if hs := w.index.handles(label, v); len(hs) > 0 {
		return hs, nil
	}
	hs, err := findVersion(w.ctx, s, label, v)
	if err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return nil, crypto.ErrUnknownKey
	}
	w.index.add(label, v, hs)
	return hs, nil
}

// openAny tries each object of one key version (normally one; more after
// two processes created the same version at once) until one opens the
// sealed data key.
func (w *Wrapper) openAny(s p11.SessionHandle, hs []p11.ObjectHandle, wk crypto.WrappedKey,
	iv, sealed, aad []byte) ([]byte, error) {
	var last error = crypto.ErrUnknownKey
	for _, h := range hs {
		dk, err := open(w.ctx, s, h, iv, sealed, aad)
		switch {
		case err == nil:
			return dk, nil
		case keyGone(err):
			w.index.forget(wk.KeyID, wk.KeyVersion)
		case errors.As(err, new(errAuth)):
			last = err
		default:
			return nil, err
		}
	}
	return nil, last
}

// CreateKey generates the next version of master key label inside the
// token (version 1 if it has none) and returns it. Unless a version is
// pinned with SetActive, Wrap in this Wrapper uses the new version at
// once; other processes see it within Config.RefreshInterval. This is
// what "cloak keys rotate" calls for the PKCS#11 provider.
func (w *Wrapper) CreateKey(ctx context.Context, label string) (uint32, error) {
	if err := CheckLabel(label); err != nil {
		return 0, fmt.Errorf("pkcs11: create key: %w", err)
	}
	w.createMu.Lock()
	defer w.createMu.Unlock()
	var v uint32
	err := w.do(ctx, func(s p11.SessionHandle) error {
		t := time.Now()
		versions, err := listVersions(w.ctx, s, label)
		if err != nil {
			return err
		}
		if v, err = nextVersion(versions); err != nil {
			return err
		}
		h, err := generateKey(w.ctx, s, ObjectLabel(label, v))
		if err != nil {
			return err
		}
		versions[v] = []p11.ObjectHandle{h}
		w.index.replace(label, versions, t)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("pkcs11: create key %q: %w", label, err)
	}
	return v, nil
}

// Versions lists the versions of master key label on the token, in
// increasing order, read from the token now. A label without versions
// gives an empty list and no error.
func (w *Wrapper) Versions(label string) ([]uint32, error) {
	if err := CheckLabel(label); err != nil {
		return nil, fmt.Errorf("pkcs11: versions: %w", err)
	}
	var versions map[uint32][]p11.ObjectHandle
	err := w.do(context.Background(), func(s p11.SessionHandle) error {
		t := time.Now()
		var err error
		if versions, err = listVersions(w.ctx, s, label); err == nil {
			w.index.replace(label, versions, t)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: versions of %q: %w", label, err)
	}
	return slices.Sorted(maps.Keys(versions)), nil
}

// SetActive makes version v of label the one Wrap uses, whatever newer
// versions exist; v = 0 returns to using the highest. A version the token
// does not have gives an error wrapping [crypto.ErrUnknownKey].
func (w *Wrapper) SetActive(label string, v uint32) error {
	if err := CheckLabel(label); err != nil {
		return fmt.Errorf("pkcs11: set active: %w", err)
	}
	if v != 0 {
		err := w.do(context.Background(), func(s p11.SessionHandle) error {
			_, err := w.versionHandles(s, label, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("pkcs11: set active %q version %d: %w", label, v, err)
		}
	}
	w.index.setPinned(label, v)
	return nil
}

// Active returns the label and version that Wrap uses now for bucket,
// rereading the token when the cached list is older than
// Config.RefreshInterval. A label without versions gives an error
// wrapping [crypto.ErrUnknownKey].
func (w *Wrapper) Active(ctx context.Context, bucket string) (string, uint32, error) {
	label := w.cfg.labelFor(bucket)
	var v uint32
	err := w.do(ctx, func(s p11.SessionHandle) error {
		if err := w.refresh(s, label); err != nil {
			return err
		}
		var err error
		v, _, err = w.index.active(label)
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("pkcs11: active key of bucket %q: %w", bucket, err)
	}
	return label, v, nil
}

// DestroyKey destroys every token object holding version v of master key
// label. Data keys wrapped under it can never be unwrapped again, by this
// or any other process: this is how "cloak keys retire" and "cloak keys
// shred" act on an HSM. Destroying a version the token does not have
// gives an error wrapping [crypto.ErrUnknownKey]. Copies of the token
// (its backups, a cluster's other members) are out of Cloak's reach.
func (w *Wrapper) DestroyKey(ctx context.Context, label string, v uint32) error {
	if err := CheckLabel(label); err != nil {
		return fmt.Errorf("pkcs11: destroy key: %w", err)
	}
	w.createMu.Lock()
	defer w.createMu.Unlock()
	err := w.do(ctx, func(s p11.SessionHandle) error {
		hs, err := findVersion(w.ctx, s, label, v)
		if err != nil {
			return err
		}
		if len(hs) == 0 {
			return crypto.ErrUnknownKey
		}
		for _, h := range hs {
			if err := w.ctx.DestroyObject(s, h); err != nil {
				return err
			}
		}
		w.index.forget(label, v)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pkcs11: destroy %q version %d: %w", label, v, err)
	}
	return nil
}

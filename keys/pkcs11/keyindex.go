//go:build cgo

package pkcs11

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/cloakproxy/cloak/crypto"
)

// Bounds on reading the token's object list.
const (
	findBatch  = 64
	maxObjects = 100_000
)

// keyIndex remembers which token objects hold which master key versions.
// Object handles stay valid for the process until the object is
// destroyed; a handle that the token no longer knows is forgotten.
type keyIndex struct {
	mu     sync.Mutex
	labels map[string]*labelKeys
}

// labelKeys is what the index knows of one master key label.
type labelKeys struct {
	versions map[uint32][]p11.ObjectHandle
	pinned   uint32    // version set by SetActive; 0: the highest
	listed   time.Time // when versions was last read whole; zero: never
	listing  bool      // a goroutine is rereading versions
}

func newKeyIndex() *keyIndex {
	return &keyIndex{labels: make(map[string]*labelKeys)}
}

// entry returns the record of label, creating it. The caller holds mu.
func (x *keyIndex) entry(label string) *labelKeys {
	lk := x.labels[label]
	if lk == nil {
		lk = &labelKeys{versions: make(map[uint32][]p11.ObjectHandle)}
		x.labels[label] = lk
	}
	return lk
}

// replace records a complete list of label's versions read at time t.
func (x *keyIndex) replace(label string, versions map[uint32][]p11.ObjectHandle, t time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	lk := x.entry(label)
	lk.versions, lk.listed, lk.listing = versions, t, false
}

// add records handles of one version found by a direct lookup.
func (x *keyIndex) add(label string, v uint32, hs []p11.ObjectHandle) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.entry(label).versions[v] = hs
}

// handles returns the known objects of label version v.
func (x *keyIndex) handles(label string, v uint32) []p11.ObjectHandle {
	x.mu.Lock()
	defer x.mu.Unlock()
	if lk := x.labels[label]; lk != nil {
		return slices.Clone(lk.versions[v])
	}
	return nil
}

// forget drops label version v, whose objects the token no longer has,
// and marks the label for a reread.
func (x *keyIndex) forget(label string, v uint32) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if lk := x.labels[label]; lk != nil {
		delete(lk.versions, v)
		lk.listed = time.Time{}
	}
}

// needsList reports whether the caller should reread label's versions:
// they were never read, or were read before maxAge and nobody else is
// rereading them (a stale list serves meanwhile). A true result obliges
// the caller to call replace or listFailed.
func (x *keyIndex) needsList(label string, maxAge time.Duration) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	lk := x.entry(label)
	if !lk.listed.IsZero() && (lk.listing || time.Since(lk.listed) <= maxAge) {
		return false
	}
	lk.listing = true
	return true
}

// listFailed ends a reread that needsList granted, without a result.
func (x *keyIndex) listFailed(label string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.entry(label).listing = false
}

// active returns the version of label that Wrap uses and its objects.
func (x *keyIndex) active(label string) (uint32, []p11.ObjectHandle, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	lk := x.entry(label)
	v := lk.pinned
	if v == 0 {
		for have := range lk.versions {
			v = max(v, have)
		}
	}
	hs := lk.versions[v]
	if len(hs) == 0 {
		return 0, nil, fmt.Errorf("pkcs11: no version of master key %q on the token: %w",
			label, crypto.ErrUnknownKey)
	}
	return v, slices.Clone(hs), nil
}

// setPinned makes v the active version of label (0: the highest).
func (x *keyIndex) setPinned(label string, v uint32) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.entry(label).pinned = v
}

// aesKeyTemplate matches the 256-bit AES secret keys on a token; with a
// label it matches those with that CKA_LABEL.
func aesKeyTemplate(objLabel string) []*p11.Attribute {
	t := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
	}
	if objLabel != "" {
		t = append(t, p11.NewAttribute(p11.CKA_LABEL, objLabel))
	}
	return t
}

// findObjects returns the objects matching template, at most maxObjects.
func findObjects(ctx *p11.Ctx, s p11.SessionHandle, template []*p11.Attribute) (
	[]p11.ObjectHandle, error) {
	if err := ctx.FindObjectsInit(s, template); err != nil {
		return nil, fmt.Errorf("pkcs11: find keys: %w", err)
	}
	var all []p11.ObjectHandle
	for len(all) <= maxObjects {
		hs, _, err := ctx.FindObjects(s, findBatch)
		if err != nil {
			_ = ctx.FindObjectsFinal(s) // the search failed already
			return nil, fmt.Errorf("pkcs11: find keys: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	if err := ctx.FindObjectsFinal(s); err != nil {
		return nil, fmt.Errorf("pkcs11: find keys: %w", err)
	}
	if len(all) > maxObjects {
		return nil, fmt.Errorf("pkcs11: find keys: more than %d AES keys on the token",
			maxObjects)
	}
	return all, nil
}

// valueLen256 is CKA_VALUE_LEN of a 256-bit key as the token encodes it.
var valueLen256 = p11.NewAttribute(p11.CKA_VALUE_LEN, dataKeySize).Value

// listVersions reads from the token every version of label: the 256-bit
// AES keys whose CKA_LABEL is ObjectLabel(label, v) for some v.
func listVersions(ctx *p11.Ctx, s p11.SessionHandle, label string) (
	map[uint32][]p11.ObjectHandle, error) {
	hs, err := findObjects(ctx, s, aesKeyTemplate(""))
	if err != nil {
		return nil, err
	}
	out := make(map[uint32][]p11.ObjectHandle)
	for _, h := range hs {
		attrs, err := ctx.GetAttributeValue(s, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_LABEL, nil),
			p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("pkcs11: read key label: %w", err)
		}
		v, ok := parseObjectLabel(label, string(attrs[0].Value))
		if ok && bytes.Equal(attrs[1].Value, valueLen256) {
			out[v] = append(out[v], h)
		}
	}
	return out, nil
}

// findVersion looks up the objects of label version v by their CKA_LABEL.
func findVersion(ctx *p11.Ctx, s p11.SessionHandle, label string, v uint32) (
	[]p11.ObjectHandle, error) {
	hs, err := findObjects(ctx, s, aesKeyTemplate(ObjectLabel(label, v)))
	if err != nil {
		return nil, err
	}
	out := hs[:0]
	for _, h := range hs {
		attrs, err := ctx.GetAttributeValue(s, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("pkcs11: read key length: %w", err)
		}
		if bytes.Equal(attrs[0].Value, valueLen256) {
			out = append(out, h)
		}
	}
	return out, nil
}

// nextVersion returns the version after the highest in versions.
func nextVersion(versions map[uint32][]p11.ObjectHandle) (uint32, error) {
	var top uint32
	for v := range versions {
		top = max(top, v)
	}
	if top == math.MaxUint32 {
		return 0, fmt.Errorf("pkcs11: no version left after %d", top)
	}
	return top + 1, nil
}

// generateKey creates a 256-bit AES key labelled objLabel inside the
// token, where it stays: sensitive, never extractable, usable only to
// encrypt and decrypt. It checks that the token kept those attributes and
// destroys the key if not.
func generateKey(ctx *p11.Ctx, s p11.SessionHandle, objLabel string) (p11.ObjectHandle, error) {
	template := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, dataKeySize),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_WRAP, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
		p11.NewAttribute(p11.CKA_SIGN, false),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
		p11.NewAttribute(p11.CKA_MODIFIABLE, false),
		p11.NewAttribute(p11.CKA_LABEL, objLabel),
		p11.NewAttribute(p11.CKA_ID, objLabel),
	}
	mech := []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}
	h, err := ctx.GenerateKey(s, mech, template)
	if err != nil {
		return 0, fmt.Errorf("pkcs11: generate key %s: %w", objLabel, err)
	}
	if err := checkKeyAttributes(ctx, s, h); err != nil {
		if derr := ctx.DestroyObject(s, h); derr != nil {
			err = fmt.Errorf("%w (and destroying it failed: %v)", err, derr)
		}
		return 0, fmt.Errorf("pkcs11: generate key %s: %w", objLabel, err)
	}
	return h, nil
}

// checkKeyAttributes reports an error unless key h is a token object that
// is sensitive and not extractable.
func checkKeyAttributes(ctx *p11.Ctx, s p11.SessionHandle, h p11.ObjectHandle) error {
	want := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
	}
	got, err := ctx.GetAttributeValue(s, h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_TOKEN, nil),
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
	})
	if err != nil {
		return fmt.Errorf("read key attributes: %w", err)
	}
	for i := range want {
		if !bytes.Equal(got[i].Value, want[i].Value) {
			return fmt.Errorf("token did not keep attribute 0x%x of the new key", want[i].Type)
		}
	}
	return nil
}

//go:build cgo

package pkcs11_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys/pkcs11"
	"github.com/cloakproxy/cloak/keys/pkcs11/hsmtest"
)

// open opens a Wrapper on cfg and closes it when the test ends.
func open(t *testing.T, cfg pkcs11.Config) *pkcs11.Wrapper {
	t.Helper()
	w, err := pkcs11.Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return w
}

func newDataKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func wrapUnwrap(t *testing.T, w *pkcs11.Wrapper, wc crypto.WrapContext) crypto.WrappedKey {
	t.Helper()
	ctx := context.Background()
	dk := newDataKey(t)
	wk, err := w.Wrap(ctx, dk, wc)
	if err != nil {
		t.Fatalf("wrap: %v", err)
	}
	if bytes.Contains(wk.Ciphertext, dk) {
		t.Fatal("the wrapped key holds the data key in the clear")
	}
	got, err := w.Unwrap(ctx, wk, wc)
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	if !bytes.Equal(got, dk) {
		t.Fatal("unwrap returned another key")
	}
	return wk
}

func TestWrapUnwrap_RoundTripAndRotation(t *testing.T) {
	cfg := hsmtest.Start(t)
	cfg.Create = true
	w := open(t, cfg)
	ctx := context.Background()
	wc := crypto.WrapContext{Bucket: "matters", Key: "case-17/brief.pdf"}

	wk1 := wrapUnwrap(t, w, wc)
	if wk1.KeyID != hsmtest.KeyLabel || wk1.KeyVersion != 1 {
		t.Fatalf("first wrap under %q v%d, want %q v1", wk1.KeyID, wk1.KeyVersion, hsmtest.KeyLabel)
	}
	if len(wk1.Ciphertext) != 61 {
		t.Errorf("wrapped key is %d bytes, the documented layout has 61", len(wk1.Ciphertext))
	}

	v, err := w.CreateKey(ctx, hsmtest.KeyLabel)
	if err != nil || v != 2 {
		t.Fatalf("rotate: version %d, %v; want 2", v, err)
	}
	if id, av, err := w.Active(ctx, "matters"); err != nil || id != hsmtest.KeyLabel || av != 2 {
		t.Fatalf("active after rotation: %q v%d, %v", id, av, err)
	}
	wk2 := wrapUnwrap(t, w, wc)
	if wk2.KeyVersion != 2 {
		t.Fatalf("wrap after rotation used v%d, want v2", wk2.KeyVersion)
	}
	// The old version still opens what it wrapped.
	if _, err := w.Unwrap(ctx, wk1, wc); err != nil {
		t.Fatalf("unwrap under v1 after rotation: %v", err)
	}
	if vs, err := w.Versions(hsmtest.KeyLabel); err != nil || len(vs) != 2 {
		t.Fatalf("versions: %v, %v", vs, err)
	}

	// Pinning v1 makes it the one new wraps use again.
	if err := w.SetActive(hsmtest.KeyLabel, 1); err != nil {
		t.Fatal(err)
	}
	if wk := wrapUnwrap(t, w, wc); wk.KeyVersion != 1 {
		t.Fatalf("wrap with v1 pinned used v%d", wk.KeyVersion)
	}
	if err := w.SetActive(hsmtest.KeyLabel, 9); !errors.Is(err, crypto.ErrUnknownKey) {
		t.Fatalf("pin a missing version: %v, want ErrUnknownKey", err)
	}
}

func TestUnwrap_BoundToObjectAndVersion(t *testing.T) {
	cfg := hsmtest.Start(t)
	cfg.Create = true
	w := open(t, cfg)
	ctx := context.Background()
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	wk := wrapUnwrap(t, w, wc)

	others := []struct {
		name string
		wc   crypto.WrapContext
	}{
		{"other key", crypto.WrapContext{Bucket: "b", Key: "k2"}},
		{"other bucket", crypto.WrapContext{Bucket: "b2", Key: "k"}},
		{"multipart", crypto.WrapContext{Bucket: "b", Key: "k", Multipart: true}},
	}
	for _, o := range others {
		if _, err := w.Unwrap(ctx, wk, o.wc); !errors.Is(err, crypto.ErrAuthentication) {
			t.Errorf("%s: %v, want ErrAuthentication", o.name, err)
		}
	}
	for i := range wk.Ciphertext {
		bad := wk
		bad.Ciphertext = bytes.Clone(wk.Ciphertext)
		bad.Ciphertext[i] ^= 0x01
		if _, err := w.Unwrap(ctx, bad, wc); err == nil {
			t.Fatalf("a flipped bit at byte %d unwrapped", i)
		}
	}
	// Relabelling as another version of the same key fails too, once that
	// version exists.
	if _, err := w.CreateKey(ctx, hsmtest.KeyLabel); err != nil {
		t.Fatal(err)
	}
	relabelled := wk
	relabelled.KeyVersion = 2
	if _, err := w.Unwrap(ctx, relabelled, wc); !errors.Is(err, crypto.ErrAuthentication) {
		t.Errorf("relabelled version: %v, want ErrAuthentication", err)
	}
	missing := wk
	missing.KeyVersion = 7
	if _, err := w.Unwrap(ctx, missing, wc); !errors.Is(err, crypto.ErrUnknownKey) {
		t.Errorf("missing version: %v, want ErrUnknownKey", err)
	}
	unknown := wk
	unknown.KeyID = "no-such-label"
	if _, err := w.Unwrap(ctx, unknown, wc); !errors.Is(err, crypto.ErrUnknownKey) {
		t.Errorf("unknown label: %v, want ErrUnknownKey", err)
	}
}

func TestBucketKeys_AndDestroy(t *testing.T) {
	cfg := hsmtest.Start(t)
	cfg.Create = true
	cfg.BucketKeys = map[string]string{"matter-42": "cloak-matter-42"}
	w := open(t, cfg)
	ctx := context.Background()

	inMatter := crypto.WrapContext{Bucket: "matter-42", Key: "evidence.bin"}
	elsewhere := crypto.WrapContext{Bucket: "general", Key: "evidence.bin"}
	wkMatter := wrapUnwrap(t, w, inMatter)
	wkOther := wrapUnwrap(t, w, elsewhere)
	if wkMatter.KeyID != "cloak-matter-42" || wkOther.KeyID != hsmtest.KeyLabel {
		t.Fatalf("bucket key ids: %q and %q", wkMatter.KeyID, wkOther.KeyID)
	}
	if w.LabelFor("matter-42") != "cloak-matter-42" || w.LabelFor("x") != hsmtest.KeyLabel {
		t.Fatal("LabelFor does not follow BucketKeys")
	}

	// Shredding the matter: destroy its only version.
	if err := w.DestroyKey(ctx, "cloak-matter-42", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Unwrap(ctx, wkMatter, inMatter); !errors.Is(err, crypto.ErrUnknownKey) {
		t.Fatalf("unwrap after destroy: %v, want ErrUnknownKey", err)
	}
	if _, err := w.Wrap(ctx, newDataKey(t), inMatter); !errors.Is(err, crypto.ErrUnknownKey) {
		t.Fatalf("wrap after destroy: %v, want ErrUnknownKey", err)
	}
	if err := w.DestroyKey(ctx, "cloak-matter-42", 1); !errors.Is(err, crypto.ErrUnknownKey) {
		t.Fatalf("destroy twice: %v, want ErrUnknownKey", err)
	}
	// Other buckets are unaffected.
	if _, err := w.Unwrap(ctx, wkOther, elsewhere); err != nil {
		t.Fatalf("other bucket after destroy: %v", err)
	}
}

func TestKeysPersistAcrossOpen(t *testing.T) {
	cfg := hsmtest.Start(t)
	create := cfg
	create.Create = true
	w, err := pkcs11.Open(create)
	if err != nil {
		t.Fatal(err)
	}
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	wk := wrapUnwrap(t, w, wc)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Wrap(context.Background(), newDataKey(t), wc); !errors.Is(err, pkcs11.ErrClosed) {
		t.Fatalf("wrap after close: %v, want ErrClosed", err)
	}
	// Reopened without Create: the key is on the token.
	w2 := open(t, cfg)
	if _, err := w2.Unwrap(context.Background(), wk, wc); err != nil {
		t.Fatalf("unwrap after reopening: %v", err)
	}
}

func TestOpen_WrongPINAndMissingToken(t *testing.T) {
	cfg := hsmtest.Start(t)
	bad := cfg
	bad.PIN = "not-the-pin-but-long-73194"
	_, err := pkcs11.Open(bad)
	if !errors.Is(err, pkcs11.ErrLogin) {
		t.Fatalf("wrong PIN: %v, want ErrLogin", err)
	}
	if strings.Contains(err.Error(), bad.PIN) || strings.Contains(err.Error(), hsmtest.PIN) {
		t.Fatalf("the error names a PIN: %v", err)
	}
	missing := cfg
	missing.TokenLabel = "no-such-token"
	if _, err := pkcs11.Open(missing); err == nil || !strings.Contains(err.Error(), "no-such-token") {
		t.Fatalf("missing token: %v", err)
	}
	// Without Create and without keys, wrapping fails clearly.
	w := open(t, cfg)
	_, err = w.Wrap(context.Background(), newDataKey(t), crypto.WrapContext{Bucket: "b", Key: "k"})
	if !errors.Is(err, crypto.ErrUnknownKey) {
		t.Fatalf("wrap with no key on the token: %v, want ErrUnknownKey", err)
	}
}

func TestConcurrentWrapUnwrap(t *testing.T) {
	cfg := hsmtest.Start(t)
	cfg.Create = true
	cfg.Sessions = 3
	w := open(t, cfg)
	ctx := context.Background()
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wc := crypto.WrapContext{Bucket: "b", Key: strings.Repeat("k", i+1)}
			for range rounds {
				dk := make([]byte, 32)
				rand.Read(dk)
				wk, err := w.Wrap(ctx, dk, wc)
				if err != nil {
					errs <- err
					return
				}
				got, err := w.Unwrap(ctx, wk, wc)
				if err != nil || !bytes.Equal(got, dk) {
					errs <- errors.Join(errors.New("round trip failed"), err)
					return
				}
			}
		}()
	}
	// A rotation in the middle of the traffic.
	if _, err := w.CreateKey(ctx, hsmtest.KeyLabel); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRotation_SeenByAnotherProcess rotates the key from a second process
// (this test binary run again) and waits for the first to wrap under the
// new version, as a running server does after "cloak keys rotate".
func TestRotation_SeenByAnotherProcess(t *testing.T) {
	if os.Getenv("CLOAK_PKCS11_ROTATE_CHILD") == "1" {
		return // the child's work is done in TestMain
	}
	cfg := hsmtest.Start(t)
	cfg.Create = true
	cfg.RefreshInterval = 200 * time.Millisecond
	w := open(t, cfg)
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	if wk := wrapUnwrap(t, w, wc); wk.KeyVersion != 1 {
		t.Fatalf("first wrap under v%d", wk.KeyVersion)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRotation_SeenByAnotherProcess$")
	cmd.Env = append(os.Environ(), "CLOAK_PKCS11_ROTATE_CHILD=1",
		"CLOAK_PKCS11_CHILD_MODULE="+cfg.Module)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		wk := wrapUnwrap(t, w, wc)
		if wk.KeyVersion == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still wrapping under v%d 10s after another process rotated", wk.KeyVersion)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMain runs the rotating child of TestRotation_SeenByAnotherProcess
// when asked to, and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("CLOAK_PKCS11_ROTATE_CHILD") == "1" {
		os.Exit(rotateChild())
	}
	os.Exit(m.Run())
}

// rotateChild opens the token that the parent test set up (SOFTHSM2_CONF
// is inherited) and creates the next version of the test key.
func rotateChild() int {
	w, err := pkcs11.Open(pkcs11.Config{Module: os.Getenv("CLOAK_PKCS11_CHILD_MODULE"),
		TokenLabel: hsmtest.TokenLabel, PIN: hsmtest.PIN, KeyLabel: hsmtest.KeyLabel})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		return 1
	}
	defer w.Close()
	if v, err := w.CreateKey(context.Background(), hsmtest.KeyLabel); err != nil || v != 2 {
		fmt.Fprintf(os.Stderr, "child: create key: v%d, %v\n", v, err)
		return 1
	}
	return 0
}

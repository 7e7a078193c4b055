package awskms

// Tests against a real KMS API: local-kms, started by kmstest.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys/awskms/kmstest"
)

// maxCiphertext bounds a wrapped data key: it goes into S3 user metadata.
const maxCiphertext = 512

// newWrapper returns a Wrapper on srv with the given keys.
func newWrapper(t *testing.T, srv *kmstest.Server, keyID string,
	bucketKeys map[string]string) *Wrapper {
	t.Helper()
	isolateAWSEnv(t)
	w, err := New(context.Background(), Config{
		Endpoint: srv.Endpoint, Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		KeyID: keyID, BucketKeys: bucketKeys, Timeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return w
}

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, dataKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// missingKeyARN is the ARN of a key that does not exist on srv.
func missingKeyARN(srv *kmstest.Server) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/00000000-0000-4000-8000-000000000000",
		srv.Region, srv.AccountID)
}

func TestWrapUnwrap_RoundTrip(t *testing.T) {
	srv := kmstest.Start(t)
	arn := srv.CreateKey(t)
	w := newWrapper(t, srv, arn, nil)
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		wc   crypto.WrapContext
	}{
		{"simple", crypto.WrapContext{Bucket: "bucket", Key: "a/b.txt"}},
		{"multipart", crypto.WrapContext{Bucket: "bucket", Key: "a/b.txt", Multipart: true}},
		{"unicode", crypto.WrapContext{Bucket: "bucket", Key: "Akte/Müller – 日本.pdf"}},
		{"control characters", crypto.WrapContext{Bucket: "bucket", Key: "a\nb\tc\"d\\e"}},
		{"key at named bound", crypto.WrapContext{Bucket: "b", Key: long(maxNamedKeyLen)}},
		{"key bound by hash", crypto.WrapContext{Bucket: "b", Key: long(maxNamedKeyLen + 1)}},
		{"1024-byte key", crypto.WrapContext{Bucket: "b", Key: long(1024)}},
		{"invalid UTF-8 key", crypto.WrapContext{Bucket: "b", Key: "bad\xff\xfe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dk := randomKey(t)
			wk, err := w.Wrap(ctx, dk, tt.wc)
			if err != nil {
				t.Fatalf("Wrap: %v", err)
			}
			if wk.KeyID != arn || wk.KeyVersion != 0 {
				t.Errorf("wrapped under %q version %d, want %q version 0", wk.KeyID,
					wk.KeyVersion, arn)
			}
			if len(wk.Ciphertext) > maxCiphertext || bytes.Contains(wk.Ciphertext, dk) {
				t.Errorf("ciphertext is %d bytes or holds the key", len(wk.Ciphertext))
			}
			got, err := w.Unwrap(ctx, wk, tt.wc)
			if err != nil {
				t.Fatalf("Unwrap: %v", err)
			}
			if !bytes.Equal(got, dk) {
				t.Fatal("Unwrap returned another key")
			}
			again, err := w.Wrap(ctx, dk, tt.wc)
			if err != nil {
				t.Fatalf("second Wrap: %v", err)
			}
			if bytes.Equal(again.Ciphertext, wk.Ciphertext) {
				t.Error("two wraps of one key gave the same ciphertext")
			}
		})
	}
}

// TestWrap_AliasRecordsKeyARN checks that a key configured by alias
// wraps under the key's ARN, so renaming the alias later cannot orphan
// the object.
func TestWrap_AliasRecordsKeyARN(t *testing.T) {
	srv := kmstest.Start(t)
	arn := srv.CreateKey(t)
	srv.CreateAlias(t, "alias/cloak-default", arn)
	w := newWrapper(t, srv, "alias/cloak-default", nil)
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	dk := randomKey(t)
	wk, err := w.Wrap(context.Background(), dk, wc)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if wk.KeyID != arn {
		t.Fatalf("KeyID = %q, want the key's ARN %q", wk.KeyID, arn)
	}
	got, err := w.Unwrap(context.Background(), wk, wc)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("Unwrap: %v", err)
	}
}

func TestGenerateDataKey_RoundTrip(t *testing.T) {
	srv := kmstest.Start(t)
	arn := srv.CreateKey(t)
	w := newWrapper(t, srv, arn, nil)
	ctx := context.Background()
	var seen [][]byte
	for _, wc := range []crypto.WrapContext{
		{Bucket: "b", Key: "one"},
		{Bucket: "b", Key: "two", Multipart: true},
		{Bucket: "b", Key: strings.Repeat("h", 700)},
	} {
		plain, wk, err := w.GenerateDataKey(ctx, wc)
		if err != nil {
			t.Fatalf("GenerateDataKey(%q): %v", wc.Key[:3], err)
		}
		if len(plain) != dataKeySize || bytes.Equal(plain, make([]byte, dataKeySize)) {
			t.Fatalf("data key of %d bytes, or all zero", len(plain))
		}
		for _, s := range seen {
			if bytes.Equal(s, plain) {
				t.Fatal("GenerateDataKey repeated a key")
			}
		}
		seen = append(seen, plain)
		if wk.KeyID != arn || wk.KeyVersion != 0 || len(wk.Ciphertext) > maxCiphertext {
			t.Errorf("wrapped key %q version %d, %d bytes", wk.KeyID, wk.KeyVersion,
				len(wk.Ciphertext))
		}
		got, err := w.Unwrap(ctx, wk, wc)
		if err != nil {
			t.Fatalf("Unwrap: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatal("Unwrap of a generated key returned another key")
		}
		// The context binds generated keys as it binds wrapped ones.
		other := wc
		other.Multipart = !other.Multipart
		if _, err := w.Unwrap(ctx, wk, other); !errors.Is(err, crypto.ErrAuthentication) {
			t.Errorf("Unwrap with multipart flipped: %v, want ErrAuthentication", err)
		}
	}
}

// TestUnwrap_OtherContextFails moves a wrapped key to another object.
func TestUnwrap_OtherContextFails(t *testing.T) {
	srv := kmstest.Start(t)
	w := newWrapper(t, srv, srv.CreateKey(t), nil)
	named := crypto.WrapContext{Bucket: "matter-a", Key: "contract.pdf"}
	hashed := crypto.WrapContext{Bucket: "matter-a", Key: strings.Repeat("q", maxNamedKeyLen+1)}
	tests := []struct {
		name       string
		wrap, open crypto.WrapContext
	}{
		{"other bucket", named, crypto.WrapContext{Bucket: "matter-b", Key: "contract.pdf"}},
		{"other key", named, crypto.WrapContext{Bucket: "matter-a", Key: "contract2.pdf"}},
		{"key case", named, crypto.WrapContext{Bucket: "matter-a", Key: "Contract.pdf"}},
		{"multipart set", named,
			crypto.WrapContext{Bucket: "matter-a", Key: "contract.pdf", Multipart: true}},
		{"multipart cleared", crypto.WrapContext{Bucket: "matter-a", Key: "k", Multipart: true},
			crypto.WrapContext{Bucket: "matter-a", Key: "k"}},
		// JSON would carry both as U+FFFD; bound by hash, they differ.
		{"other invalid UTF-8 byte", crypto.WrapContext{Bucket: "matter-a", Key: "a\xff"},
			crypto.WrapContext{Bucket: "matter-a", Key: "a\xfe"}},
		{"hashed, other bucket", hashed,
			crypto.WrapContext{Bucket: "matter-b", Key: hashed.Key}},
		{"hashed, other key", hashed,
			crypto.WrapContext{Bucket: "matter-a", Key: hashed.Key + "q"}},
		{"hashed, multipart set", hashed,
			crypto.WrapContext{Bucket: "matter-a", Key: hashed.Key, Multipart: true}},
		{"hashed to named prefix", hashed,
			crypto.WrapContext{Bucket: "matter-a", Key: hashed.Key[:maxNamedKeyLen]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dk := randomKey(t)
			wk, err := w.Wrap(ctx, dk, tt.wrap)
			if err != nil {
				t.Fatalf("Wrap: %v", err)
			}
			got, err := w.Unwrap(ctx, wk, tt.open)
			if !errors.Is(err, crypto.ErrAuthentication) {
				t.Fatalf("Unwrap under another context: %v, want ErrAuthentication", err)
			}
			if got != nil {
				t.Fatal("Unwrap returned a key with its error")
			}
			if strings.Contains(err.Error(), fmt.Sprintf("%x", dk)) {
				t.Fatal("error holds the data key")
			}
			if _, err := w.Unwrap(ctx, wk, tt.wrap); err != nil {
				t.Fatalf("Unwrap under the right context after a failure: %v", err)
			}
		})
	}
}

// TestUnwrap_TamperedCiphertextFails damages the wrapped key.
//
// local-kms lays out its ciphertext as: length of the key ARN (1 byte),
// the ARN, the key material version (4 bytes), then AES-GCM nonce (12),
// ciphertext (32) and tag (16). It does not authenticate the embedded
// ARN when the caller names the key, as Unwrap does, so a flip there
// goes unnoticed by local-kms (AWS KMS ciphertexts are opaque and
// authenticated throughout). The test therefore flips the first byte and
// every byte of the final 64, which any KMS must reject.
func TestUnwrap_TamperedCiphertextFails(t *testing.T) {
	srv := kmstest.Start(t)
	w := newWrapper(t, srv, srv.CreateKey(t), nil)
	ctx := context.Background()
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	wk, err := w.Wrap(ctx, randomKey(t), wc)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	ct := wk.Ciphertext
	if len(ct) < 65 {
		t.Fatalf("ciphertext of %d bytes is shorter than expected", len(ct))
	}
	damaged := map[string][]byte{
		"truncated by one": ct[:len(ct)-1],
		"truncated to 64":  ct[len(ct)-64:],
		"extended by one":  append(append([]byte(nil), ct...), 0),
		"empty":            nil,
	}
	positions := []int{0}
	for i := len(ct) - 64; i < len(ct); i++ {
		positions = append(positions, i)
	}
	for _, i := range positions {
		for _, bit := range []byte{0x01, 0x80} {
			b := append([]byte(nil), ct...)
			b[i] ^= bit
			damaged[fmt.Sprintf("byte %d bit %#x", i, bit)] = b
		}
	}
	for name, b := range damaged {
		bad := wk
		bad.Ciphertext = b
		got, err := w.Unwrap(ctx, bad, wc)
		if !errors.Is(err, crypto.ErrAuthentication) || got != nil {
			t.Errorf("%s: Unwrap gave %d bytes, error %v; want ErrAuthentication", name,
				len(got), err)
		}
	}
}

// TestBucketKeys_UseTheirOwnKMSKey checks per-bucket isolation: a
// bucket's objects are wrapped under its own KMS key, which the default
// key cannot stand in for.
func TestBucketKeys_UseTheirOwnKMSKey(t *testing.T) {
	srv := kmstest.Start(t)
	defaultARN, matterARN := srv.CreateKey(t), srv.CreateKey(t)
	srv.CreateAlias(t, "alias/matter-a", matterARN)
	w := newWrapper(t, srv, defaultARN, map[string]string{"matter-a": "alias/matter-a"})
	ctx := context.Background()
	tests := []struct {
		bucket, wantARN, otherARN string
	}{
		{"matter-a", matterARN, defaultARN},
		{"general", defaultARN, matterARN},
	}
	for _, tt := range tests {
		t.Run(tt.bucket, func(t *testing.T) {
			wc := crypto.WrapContext{Bucket: tt.bucket, Key: "file"}
			dk := randomKey(t)
			wk, err := w.Wrap(ctx, dk, wc)
			if err != nil {
				t.Fatalf("Wrap: %v", err)
			}
			if wk.KeyID != tt.wantARN {
				t.Fatalf("wrapped under %q, want %q", wk.KeyID, tt.wantARN)
			}
			_, gwk, err := w.GenerateDataKey(ctx, wc)
			if err != nil || gwk.KeyID != tt.wantARN {
				t.Fatalf("GenerateDataKey under %q (%v), want %q", gwk.KeyID, err, tt.wantARN)
			}
			swapped := wk
			swapped.KeyID = tt.otherARN
			if _, err := w.Unwrap(ctx, swapped, wc); !errors.Is(err, crypto.ErrAuthentication) {
				t.Fatalf("Unwrap naming the other key: %v, want ErrAuthentication", err)
			}
			got, err := w.Unwrap(ctx, wk, wc)
			if err != nil || !bytes.Equal(got, dk) {
				t.Fatalf("Unwrap: %v", err)
			}
		})
	}
	// A Wrapper configured without the bucket key still reads the
	// bucket's objects: the wrapped key names its KMS key.
	wc := crypto.WrapContext{Bucket: "matter-a", Key: "file"}
	dk := randomKey(t)
	wk, err := w.Wrap(ctx, dk, wc)
	if err != nil {
		t.Fatal(err)
	}
	plain := newWrapper(t, srv, defaultARN, nil)
	if got, err := plain.Unwrap(ctx, wk, wc); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("Unwrap by a Wrapper without the bucket key: %v", err)
	}
}

func TestUnwrap_UnknownKey(t *testing.T) {
	srv := kmstest.Start(t)
	arn := srv.CreateKey(t)
	w := newWrapper(t, srv, arn, nil)
	ctx := context.Background()
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	wk, err := w.Wrap(ctx, randomKey(t), wc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		wk   crypto.WrappedKey
	}{
		{"missing key ARN", crypto.WrappedKey{KeyID: missingKeyARN(srv),
			Ciphertext: wk.Ciphertext}},
		{"missing alias", crypto.WrappedKey{KeyID: "alias/none", Ciphertext: wk.Ciphertext}},
		{"key ring version", crypto.WrappedKey{KeyID: arn, KeyVersion: 3,
			Ciphertext: wk.Ciphertext}},
		{"no key id", crypto.WrappedKey{Ciphertext: wk.Ciphertext}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := w.Unwrap(ctx, tt.wk, wc); !errors.Is(err, crypto.ErrUnknownKey) {
				t.Fatalf("Unwrap: %v, want ErrUnknownKey", err)
			}
		})
	}
	t.Run("wrap under missing key", func(t *testing.T) {
		missing := newWrapper(t, srv, missingKeyARN(srv), nil)
		if _, err := missing.Wrap(ctx, randomKey(t), wc); !errors.Is(err, crypto.ErrUnknownKey) {
			t.Fatalf("Wrap: %v, want ErrUnknownKey", err)
		}
		if _, _, err := missing.GenerateDataKey(ctx, wc); !errors.Is(err, crypto.ErrUnknownKey) {
			t.Fatalf("GenerateDataKey: %v, want ErrUnknownKey", err)
		}
	})
	t.Run("bucket without key", func(t *testing.T) {
		only := newWrapper(t, srv, "", map[string]string{"a": arn})
		if _, err := only.Wrap(ctx, randomKey(t), wc); !errors.Is(err, crypto.ErrUnknownKey) {
			t.Fatalf("Wrap: %v, want ErrUnknownKey", err)
		}
	})
}

// TestUnusableKeys disables one key and schedules another for deletion,
// after objects were wrapped under them.
func TestUnusableKeys(t *testing.T) {
	srv := kmstest.Start(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		disable func(t testing.TB, keyID string)
		want    error
		text    string
	}{
		{"disabled", srv.DisableKey, ErrKeyDisabled, "disabled"},
		{"pending deletion", srv.ScheduleKeyDeletion, ErrKeyUnusable, "PendingDeletion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := srv.CreateKey(t)
			w := newWrapper(t, srv, arn, nil)
			wc := crypto.WrapContext{Bucket: "b", Key: "k"}
			wk, err := w.Wrap(ctx, randomKey(t), wc)
			if err != nil {
				t.Fatal(err)
			}
			tt.disable(t, arn)
			_, errUnwrap := w.Unwrap(ctx, wk, wc)
			_, errWrap := w.Wrap(ctx, randomKey(t), wc)
			_, _, errGen := w.GenerateDataKey(ctx, wc)
			errCheck := w.Check(ctx)
			for op, err := range map[string]error{"Unwrap": errUnwrap, "Wrap": errWrap,
				"GenerateDataKey": errGen, "Check": errCheck} {
				if !errors.Is(err, tt.want) {
					t.Errorf("%s: %v, want %v", op, err, tt.want)
					continue
				}
				if errors.Is(err, crypto.ErrAuthentication) || errors.Is(err, crypto.ErrUnknownKey) {
					t.Errorf("%s: %v also reads as a bad ciphertext or unknown key", op, err)
				}
				if msg := err.Error(); !strings.Contains(msg, arn) ||
					!strings.Contains(msg, tt.text) {
					t.Errorf("%s: %q does not name the key and %q", op, msg, tt.text)
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	srv := kmstest.Start(t)
	good, other := srv.CreateKey(t), srv.CreateKey(t)
	srv.CreateAlias(t, "alias/good", good)
	rsa := srv.CreateKeySpec(t, types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt)
	disabled := srv.CreateKey(t)
	srv.DisableKey(t, disabled)
	missing := missingKeyARN(srv)
	ctx := context.Background()

	t.Run("all usable", func(t *testing.T) {
		w := newWrapper(t, srv, "alias/good", map[string]string{"a": other, "b": good})
		if err := w.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})
	t.Run("problems", func(t *testing.T) {
		w := newWrapper(t, srv, good, map[string]string{
			"matter-missing": missing, "matter-alias": "alias/none",
			"matter-rsa": rsa, "matter-off": disabled, "matter-ok": other,
		})
		err := w.Check(ctx)
		if err == nil {
			t.Fatal("Check passed with a missing, an asymmetric and a disabled key")
		}
		msg := err.Error()
		for _, want := range []string{missing, `"matter-missing"`, `"alias/none"`,
			`"matter-alias"`, rsa, `"matter-rsa"`, "RSA_2048", disabled, `"matter-off"`} {
			if !strings.Contains(msg, want) {
				t.Errorf("Check error does not name %s:\n%s", want, msg)
			}
		}
		for _, ok := range []string{good, other, `"matter-ok"`} {
			if strings.Contains(msg, ok) {
				t.Errorf("Check error names the usable %s:\n%s", ok, msg)
			}
		}
		for _, s := range []error{crypto.ErrUnknownKey, ErrKeyDisabled, ErrKeyUnusable} {
			if !errors.Is(err, s) {
				t.Errorf("Check error does not wrap %v", s)
			}
		}
		if lines := strings.Count(msg, "\n") + 1; lines != 4 {
			t.Errorf("Check reported %d problems, want 4:\n%s", lines, msg)
		}
	})
}

// TestConcurrentUse runs wraps, unwraps and generated keys from many
// goroutines on one Wrapper; run it with -race.
func TestConcurrentUse(t *testing.T) {
	srv := kmstest.Start(t)
	a, b := srv.CreateKey(t), srv.CreateKey(t)
	w := newWrapper(t, srv, a, map[string]string{"b": b})
	const workers, rounds = 8, 20
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			for i := range rounds {
				wc := crypto.WrapContext{Bucket: []string{"a", "b"}[(g+i)%2],
					Key: fmt.Sprintf("w%d/o%d", g, i), Multipart: i%3 == 0}
				if err := roundTrip(ctx, w, wc, i%2 == 0); err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// roundTrip makes a data key for wc (by Wrap, or by GenerateDataKey) and
// checks that it unwraps, and does not under a neighbouring context.
func roundTrip(ctx context.Context, w *Wrapper, wc crypto.WrapContext, generate bool) error {
	var dk []byte
	var wk crypto.WrappedKey
	var err error
	if generate {
		dk, wk, err = w.GenerateDataKey(ctx, wc)
	} else {
		dk = make([]byte, dataKeySize)
		rand.Read(dk)
		wk, err = w.Wrap(ctx, dk, wc)
	}
	if err != nil {
		return err
	}
	got, err := w.Unwrap(ctx, wk, wc)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, dk) {
		return errors.New("unwrapped another key")
	}
	wc.Key += "-moved"
	if _, err := w.Unwrap(ctx, wk, wc); !errors.Is(err, crypto.ErrAuthentication) {
		return fmt.Errorf("unwrap under a moved key: %v", err)
	}
	return nil
}

// TestActive_ResolvesAliasesToARNs checks that Active names the key by
// the ARN that Wrap records, for the default key and a bucket's own.
func TestActive_ResolvesAliasesToARNs(t *testing.T) {
	srv := kmstest.Start(t)
	def := srv.CreateKey(t)
	matter := srv.CreateKey(t)
	srv.CreateAlias(t, "alias/cloak-matter", matter)
	w := newWrapper(t, srv, def, map[string]string{"matter-42": "alias/cloak-matter"})
	ctx := context.Background()
	for bucket, want := range map[string]string{"general": def, "matter-42": matter} {
		id, v, err := w.Active(ctx, bucket)
		if err != nil || id != want || v != 0 {
			t.Errorf("Active(%q) = %q v%d, %v; want %q v0", bucket, id, v, err, want)
		}
		wk, err := w.Wrap(ctx, randomKey(t), crypto.WrapContext{Bucket: bucket, Key: "k"})
		if err != nil || wk.KeyID != id {
			t.Errorf("Wrap in %q under %q (%v), Active says %q", bucket, wk.KeyID, err, id)
		}
	}
	bare := newWrapper(t, srv, "", map[string]string{"matter-42": matter})
	if _, _, err := bare.Active(ctx, "general"); !errors.Is(err, crypto.ErrUnknownKey) {
		t.Errorf("Active with no key for the bucket: %v, want ErrUnknownKey", err)
	}
}

// TestShred_DisablesTheBucketKeyOnly shreds one matter's key: its objects
// no longer unwrap, the key is pending deletion, and other buckets are
// unaffected. Shared and default keys are refused.
func TestShred_DisablesTheBucketKeyOnly(t *testing.T) {
	srv := kmstest.Start(t)
	def := srv.CreateKey(t)
	matter := srv.CreateKey(t)
	w := newWrapper(t, srv, def, map[string]string{"matter-42": matter, "shares-default": def})
	ctx := context.Background()
	inMatter := crypto.WrapContext{Bucket: "matter-42", Key: "k"}
	elsewhere := crypto.WrapContext{Bucket: "general", Key: "k"}
	wkMatter, err := w.Wrap(ctx, randomKey(t), inMatter)
	if err != nil {
		t.Fatal(err)
	}
	wkOther, err := w.Wrap(ctx, randomKey(t), elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Shred(ctx, "general"); err == nil {
		t.Fatal("shredded a bucket without its own key")
	}
	if _, err := w.Shred(ctx, "shares-default"); err == nil {
		t.Fatal("shredded the default key through a bucket that shares it")
	}
	arn, err := w.Shred(ctx, "matter-42")
	if err != nil || arn != matter {
		t.Fatalf("shred: %q, %v", arn, err)
	}
	if _, err := w.Unwrap(ctx, wkMatter, inMatter); err == nil {
		t.Fatal("an object of the shredded bucket still unwraps")
	}
	if st, err := w.KeyState(ctx, matter); err != nil || st != "PendingDeletion" {
		t.Fatalf("state after shred: %q, %v", st, err)
	}
	if _, err := w.Unwrap(ctx, wkOther, elsewhere); err != nil {
		t.Fatalf("another bucket after the shred: %v", err)
	}
}

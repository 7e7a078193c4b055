package keys

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloakproxy/cloak/crypto"
)

func TestOpenRing_CreateThenReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "keyring")
	if _, _, err := OpenRing(path, false); err == nil {
		t.Fatal("missing ring opened without create")
	}
	ring, created, err := OpenRing(path, true)
	if err != nil || !created {
		t.Fatalf("create: %v, created=%v", err, created)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	dk := bytes.Repeat([]byte{7}, 32)
	wk, err := ring.Wrap(context.Background(), dk, wc)
	if err != nil {
		t.Fatal(err)
	}
	again, created, err := OpenRing(path, true)
	if err != nil || created {
		t.Fatalf("reopen: %v, created=%v", err, created)
	}
	got, err := again.Unwrap(context.Background(), wk, wc)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("a key wrapped before reopening does not unwrap: %v", err)
	}
}

func TestOpenRing_RefusesReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring")
	if _, _, err := OpenRing(path, true); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o640)
	if _, _, err := OpenRing(path, true); !errors.Is(err, ErrInsecureFile) {
		t.Fatalf("err = %v, want ErrInsecureFile", err)
	}
}

func TestOpenRing_RejectsDamage(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not json":      "{",
		"wrong format":  `{"format":"x","keys":[]}`,
		"short key":     `{"format":"cloak-keyring-v1","active":{"id":"a","version":1},"keys":[{"id":"a","version":1,"key":"AAAA"}]}`,
		"no active key": `{"format":"cloak-keyring-v1","active":{"id":"b","version":1},"keys":[]}`,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(body), 0o600)
		if _, _, err := OpenRing(path, false); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRootCredentials_GeneratedOnceThenReused(t *testing.T) {
	dir := t.TempDir()
	ring, _, err := OpenRing(filepath.Join(dir, "keyring"), true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "root.json")
	a1, s1, created, err := RootCredentials(context.Background(), path, ring)
	if err != nil || !created || a1 == "" || len(s1) < 40 {
		t.Fatalf("first: %q %d %v %v", a1, len(s1), created, err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(s1)) {
		t.Fatal("secret stored in the clear")
	}
	a2, s2, created, err := RootCredentials(context.Background(), path, ring)
	if err != nil || created || a2 != a1 || s2 != s1 {
		t.Fatalf("second: %v created=%v same=%v", err, created, a2 == a1 && s2 == s1)
	}
	other := crypto.NewMemoryKeyRing(nil)
	other.Add("x", 1, bytes.Repeat([]byte{1}, 32))
	if _, _, _, err := RootCredentials(context.Background(), path, other); err == nil {
		t.Fatal("root credentials opened under another key ring")
	}
}

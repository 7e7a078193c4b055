package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cloakproxy/cloak/crypto"
)

func memRing(t *testing.T) *crypto.MemoryKeyRing {
	ring := crypto.NewMemoryKeyRing(rand.Reader)
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	if err := ring.Add("m", 1, kek); err != nil {
		t.Fatal(err)
	}
	return ring
}

func TestAuditSigningKey(t *testing.T) {
	ctx := context.Background()
	ring := memRing(t)
	path := filepath.Join(t.TempDir(), "audit-key.json")
	var wg sync.WaitGroup
	keys := make([]ed25519.PrivateKey, 4)
	created := make([]bool, 4)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			keys[i], created[i], err = AuditSigningKey(ctx, path, ring)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range keys {
		if !keys[i].Equal(keys[0]) {
			t.Fatal("racing creators got different keys")
		}
	}
	again, wasCreated, err := AuditSigningKey(ctx, path, ring)
	if err != nil || wasCreated || !again.Equal(keys[0]) {
		t.Fatalf("reopen: created %v err %v", wasCreated, err)
	}
	pub, err := AuditPublicKey(path)
	if err != nil || !pub.Equal(keys[0].Public()) {
		t.Fatalf("public key %v", err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), string(keys[0].Seed())) {
		t.Fatal("seed in the clear")
	}
	if _, _, err := AuditSigningKey(ctx, path, memRing(t)); err == nil {
		t.Fatal("opened under another key ring")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("left behind %v", entries)
	}
}

func TestAuditSigningKeySurvivesRotationAndRetirement(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ring, _, err := OpenRing(filepath.Join(dir, "keyring"), true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit-key.json")
	key, _, err := AuditSigningKey(ctx, path, ring)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Rotate(""); err != nil {
		t.Fatal(err)
	}
	// Opening it again moves it onto version 2, so version 1 can go.
	if again, _, err := AuditSigningKey(ctx, path, ring); err != nil || !again.Equal(key) {
		t.Fatalf("after rotation: %v", err)
	}
	if err := ring.Retire(DefaultKeyID, 1); err != nil {
		t.Fatal(err)
	}
	again, created, err := AuditSigningKey(ctx, path, ring)
	if err != nil || created || !again.Equal(key) {
		t.Fatalf("after retiring version 1: created %v err %v", created, err)
	}
}

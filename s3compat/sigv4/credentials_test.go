package sigv4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

func TestCredentialDoesNotPrintSecret(t *testing.T) {
	c := Credential{AccessKey: "AKIDPRINT", SecretKey: "very-secret-key", Identity: "alice"}
	a := &Auth{Credential: c, signingKey: []byte("signing-key-bytes"), seed: []byte("seedseed")}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("auth", "cred", c, "cred_ptr", &c)
	outs := []string{logs.String()}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outs = append(outs, fmt.Sprintf(f, c), fmt.Sprintf(f, &c), fmt.Sprintf(f, a),
			fmt.Sprintf(f, []Credential{c}))
	}
	for _, out := range outs {
		if strings.Contains(out, c.SecretKey) || strings.Contains(out, "signing-key") {
			t.Fatalf("secret printed: %s", out)
		}
		if !strings.Contains(out, "AKIDPRINT") {
			t.Fatalf("access key not printed: %s", out)
		}
	}
}

func TestStaticCredentials(t *testing.T) {
	s := StaticCredentials{"AK": "SK"}
	c, err := s.Lookup(context.Background(), "AK")
	if err != nil || c.SecretKey != "SK" || c.AccessKey != "AK" {
		t.Fatalf("lookup: %v %v", c, err)
	}
	if _, err := s.Lookup(context.Background(), "NONE"); !errors.Is(err, s3err.ErrInvalidAccessKeyID) {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestErrorsDoNotLeakSecrets(t *testing.T) {
	r := newRequest("GET", "/bucket/key", nil)
	SignRequest(r, testCred, testRegion, "s3", testTime, sha256Hex(nil))
	v := NewVerifier(StaticCredentials{testCred.AccessKey: "another-secret"},
		Config{Region: testRegion, Now: func() time.Time { return testTime }})
	_, err := v.Verify(r)
	if err == nil || strings.Contains(err.Error(), "another-secret") {
		t.Fatalf("error %v", err)
	}
	key := deriveSigningKey("another-secret", "20240524", testRegion, "s3")
	if strings.Contains(err.Error(), fmt.Sprintf("%x", key)) {
		t.Fatal("error contains the signing key")
	}
}

func TestKeyCacheBoundedAndKeyedBySecret(t *testing.T) {
	c := newKeyCache(2)
	k1 := c.signingKey("s1", "20240524", "r", "s3")
	k2 := c.signingKey("s2", "20240524", "r", "s3")
	if bytes.Equal(k1, k2) {
		t.Fatal("different secrets share a key")
	}
	c.signingKey("s3", "20240524", "r", "s3")
	if c.lru.Len() != 2 {
		t.Fatalf("cache holds %d keys", c.lru.Len())
	}
	if !bytes.Equal(c.signingKey("s1", "20240524", "r", "s3"),
		deriveSigningKey("s1", "20240524", "r", "s3")) {
		t.Fatal("cached key differs from derived key")
	}
	for _, id := range c.lru.Keys() {
		if strings.Contains(fmt.Sprintf("%v", id), "s1") {
			t.Fatal("cache key holds the secret")
		}
	}
}

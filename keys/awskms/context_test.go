package awskms

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/crypto"
)

func TestEncryptionContext_Forms(t *testing.T) {
	long := func(n int) string { return strings.Repeat("k", n) }
	tests := []struct {
		name   string
		wc     crypto.WrapContext
		named  bool // cloak:key holds the key, else cloak:aad-sha256
		bucket bool // cloak:bucket present
	}{
		{"plain", crypto.WrapContext{Bucket: "b", Key: "docs/a.pdf"}, true, true},
		{"multipart", crypto.WrapContext{Bucket: "b", Key: "k", Multipart: true}, true, true},
		{"unicode", crypto.WrapContext{Bucket: "b", Key: "Akte/Müller – 日本.txt"}, true, true},
		{"control characters", crypto.WrapContext{Bucket: "b", Key: "a\nb\x00c\"d"}, true, true},
		{"key at bound", crypto.WrapContext{Bucket: "b", Key: long(maxNamedKeyLen)}, true, true},
		{"key over bound", crypto.WrapContext{Bucket: "b", Key: long(maxNamedKeyLen + 1)},
			false, true},
		{"S3 maximum key", crypto.WrapContext{Bucket: "b", Key: long(1024)}, false, true},
		{"invalid UTF-8 key", crypto.WrapContext{Bucket: "b", Key: "a\xffb"}, false, true},
		{"empty key", crypto.WrapContext{Bucket: "b"}, false, true},
		{"invalid UTF-8 bucket", crypto.WrapContext{Bucket: "b\xfe", Key: "k"}, false, false},
		{"bucket over bound", crypto.WrapContext{Bucket: long(256), Key: "k"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ec := encryptionContext(tt.wc)
			if ec[ContextVersion] != ContextLayout {
				t.Errorf("%s = %q, want %q", ContextVersion, ec[ContextVersion], ContextLayout)
			}
			wantMP := map[bool]string{true: "true", false: "false"}[tt.wc.Multipart]
			if ec[ContextMultipart] != wantMP {
				t.Errorf("%s = %q, want %q", ContextMultipart, ec[ContextMultipart], wantMP)
			}
			if b, ok := ec[ContextBucket]; ok != tt.bucket || (ok && b != tt.wc.Bucket) {
				t.Errorf("%s = %q (present %v), want present %v", ContextBucket, b, ok, tt.bucket)
			}
			k, hasKey := ec[ContextKey]
			h, hasHash := ec[ContextAADHash]
			if tt.named {
				if !hasKey || k != tt.wc.Key || hasHash {
					t.Errorf("want named form, got %q", ec)
				}
				return
			}
			sum := sha256.Sum256(tt.wc.AAD())
			if hasKey || !hasHash || h != hex.EncodeToString(sum[:]) {
				t.Errorf("want hashed form with SHA-256 of AAD, got %q", ec)
			}
		})
	}
}

// TestEncryptionContext_Distinct checks that contexts that should differ
// do, including across the named and hashed forms, and that the context
// is a pure function of the wrap context.
func TestEncryptionContext_Distinct(t *testing.T) {
	base := strings.Repeat("x", maxNamedKeyLen)
	wcs := []crypto.WrapContext{
		{Bucket: "a", Key: "k"},
		{Bucket: "b", Key: "k"},
		{Bucket: "a", Key: "k2"},
		{Bucket: "a", Key: "k", Multipart: true},
		{Bucket: "ak", Key: ""},
		{Bucket: "a", Key: base},
		{Bucket: "a", Key: base + "y"},
		{Bucket: "a", Key: base + "z"},
		{Bucket: "a", Key: "\xff"},
		{Bucket: "a", Key: "\xfe"},
		{Bucket: "a\xff", Key: "k"},
		{Bucket: "a\xfe", Key: "k"},
	}
	for i, a := range wcs {
		if !maps.Equal(encryptionContext(a), encryptionContext(a)) {
			t.Errorf("context of %#v is not stable", a)
		}
		for _, b := range wcs[i+1:] {
			if maps.Equal(encryptionContext(a), encryptionContext(b)) {
				t.Errorf("%#v and %#v share an encryption context", a, b)
			}
		}
	}
}

// TestEncryptionContext_Size checks that the largest context, an S3
// bucket name at its 63-byte limit with a key at the bound, stays well
// under a kilobyte.
func TestEncryptionContext_Size(t *testing.T) {
	wc := crypto.WrapContext{Bucket: strings.Repeat("b", 63),
		Key: strings.Repeat("é", maxNamedKeyLen/2), Multipart: true}
	size := 0
	for k, v := range encryptionContext(wc) {
		size += len(k) + len(v)
	}
	if size > 700 {
		t.Errorf("context is %d bytes", size)
	}
}

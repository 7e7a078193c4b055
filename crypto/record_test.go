package crypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestMetadata_RoundTripAndTamper(t *testing.T) {
	dk := testKey(t, 40)
	plain := []byte(`{"content-type":"application/pdf","x-amz-meta-client":"Acme v. Smith"}`)
	aad := []byte("bucket/key")
	sealed, err := SealMetadata(dk, plain, aad, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != SealedMetadataSize(len(plain)) {
		t.Fatalf("sealed size %d, SealedMetadataSize says %d", len(sealed), SealedMetadataSize(len(plain)))
	}
	if bytes.Contains(sealed, []byte("Acme")) {
		t.Fatal("plaintext visible in sealed metadata")
	}
	got, err := OpenMetadata(dk, sealed, aad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q, %v", got, err)
	}
	for i := range sealed {
		if _, err := OpenMetadata(dk, flip(sealed, i), aad); err == nil {
			t.Fatalf("flipped byte %d accepted", i)
		}
	}
	if _, err := OpenMetadata(dk, sealed, []byte("bucket/other")); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("wrong aad: %v", err)
	}
	if _, err := OpenMetadata(testKey(t, 41), sealed, aad); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := OpenMetadata(dk, sealed[:10], aad); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("short record: %v", err)
	}
	// A record sealed for one purpose never opens as another.
	if _, _, err := OpenManifest(dk, sealed); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("metadata opened as a manifest: %v", err)
	}
}

func TestManifest_RoundTripAndLimits(t *testing.T) {
	dk := testKey(t, 42)
	layout := Layout{{1, 5 << 20}, {2, 5 << 20}, {7, 12}}
	sealed, err := SealManifest(dk, layout, []byte("etag-attrs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, attrs, err := OpenManifest(dk, sealed)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(layout) || string(attrs) != "etag-attrs" {
		t.Fatalf("open: %v, %q, %v", got, attrs, err)
	}
	if _, _, err := OpenManifest(dk, flip(sealed, len(sealed)-1)); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("tampered manifest: %v", err)
	}
	if _, err := SealManifest(dk, SinglePart(10), nil, nil); err == nil {
		t.Fatal("manifest of a single-part layout accepted")
	}
	if _, err := SealManifest(dk, Layout{{2, 1}, {1, 1}}, nil, nil); err == nil {
		t.Fatal("unordered layout accepted")
	}
	big := make(Layout, MaxPartNumber)
	for i := range big {
		big[i] = Part{Number: uint32(i + 1), PlainSize: 5 << 20}
	}
	if _, err := SealManifest(dk, layout, make([]byte, MaxManifestAttributes+1), nil); err == nil {
		t.Fatal("oversized attributes accepted")
	}
	sealed, err = SealManifest(dk, big, make([]byte, MaxManifestAttributes), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, attrs, err := OpenManifest(dk, sealed); err != nil || len(got) != MaxPartNumber ||
		len(attrs) != MaxManifestAttributes {
		t.Fatalf("10000-part manifest: %d parts, %v", len(got), err)
	}
}

func TestParseManifest_Rejects(t *testing.T) {
	good := []byte{'C', 'L', 'K', 'M', 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 1, 'x'}
	if _, _, err := parseManifest(good); err != nil {
		t.Fatalf("good manifest rejected: %v", err)
	}
	bad := map[string][]byte{
		"magic":          append([]byte{'X'}, good[1:]...),
		"count 0":        append(append([]byte{}, good[:8]...), 0, 0, 0, 0, 0, 0),
		"short":          good[:20],
		"no attr length": good[:24],
		"long":           append(append([]byte{}, good...), 0),
		"reserved":       append([]byte{'C', 'L', 'K', 'M', 1, 0, 1, 0}, good[8:]...),
		"part 0":         append(append([]byte{}, good[:12]...), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0),
	}
	for name, b := range bad {
		if _, _, err := parseManifest(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMemoryKeyRing_WrapBindsContext(t *testing.T) {
	ctx := context.Background()
	ring := NewMemoryKeyRing(nil)
	if err := ring.Add("master", 1, bytes.Repeat([]byte{1}, 32)); err != nil {
		t.Fatal(err)
	}
	dk := testKey(t, 43)
	wc := WrapContext{Bucket: "matters", Key: "2026/acme/brief.pdf"}
	wk, err := ring.Wrap(ctx, dk.Bytes(), wc)
	if err != nil {
		t.Fatal(err)
	}
	if wk.KeyID != "master" || wk.KeyVersion != 1 {
		t.Fatalf("wrapped under %s/%d", wk.KeyID, wk.KeyVersion)
	}
	got, err := ring.Unwrap(ctx, wk, wc)
	if err != nil || !bytes.Equal(got, dk.Bytes()) {
		t.Fatalf("unwrap: %v", err)
	}
	others := map[string]WrapContext{
		"other key":       {Bucket: "matters", Key: "2026/acme/brief.pdf2"},
		"other bucket":    {Bucket: "matters2", Key: "2026/acme/brief.pdf"},
		"multipart flag":  {Bucket: "matters", Key: "2026/acme/brief.pdf", Multipart: true},
		"boundary shift":  {Bucket: "matters2", Key: "026/acme/brief.pdf"},
		"empty everthing": {},
	}
	for name, o := range others {
		if _, err := ring.Unwrap(ctx, wk, o); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s: unwrap err = %v", name, err)
		}
	}
	// The key id and version are bound too.
	ring.Add("master", 2, bytes.Repeat([]byte{1}, 32)) // same bytes, other version
	moved := wk
	moved.KeyVersion = 2
	if _, err := ring.Unwrap(ctx, moved, wc); !errors.Is(err, ErrAuthentication) {
		t.Errorf("version swap: %v", err)
	}
	moved.KeyVersion = 9
	if _, err := ring.Unwrap(ctx, moved, wc); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown version: %v", err)
	}
}

func TestMemoryKeyRing_Rotation(t *testing.T) {
	ctx := context.Background()
	ring := NewMemoryKeyRing(nil)
	ring.Add("k", 1, bytes.Repeat([]byte{1}, 32))
	ring.Add("k", 2, bytes.Repeat([]byte{2}, 32))
	wc := WrapContext{Bucket: "b", Key: "k"}
	old, _ := ring.Wrap(ctx, make([]byte, 32), wc)
	if err := ring.SetActive("k", 2); err != nil {
		t.Fatal(err)
	}
	nw, _ := ring.Wrap(ctx, make([]byte, 32), wc)
	if old.KeyVersion != 1 || nw.KeyVersion != 2 {
		t.Fatalf("versions %d, %d", old.KeyVersion, nw.KeyVersion)
	}
	for _, wk := range []WrappedKey{old, nw} {
		if _, err := ring.Unwrap(ctx, wk, wc); err != nil {
			t.Fatalf("unwrap v%d: %v", wk.KeyVersion, err)
		}
	}
	if err := ring.SetActive("k", 3); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("SetActive unknown: %v", err)
	}
	if err := ring.Add("k", 3, []byte("short")); err == nil {
		t.Fatal("short master key accepted")
	}
}

func TestEnvelope_RoundTripAndSize(t *testing.T) {
	ring := NewMemoryKeyRing(nil)
	ring.Add("cloak-master", 4, bytes.Repeat([]byte{9}, 32))
	dk := testKey(t, 44)
	wk, _ := ring.Wrap(context.Background(), dk.Bytes(), WrapContext{Bucket: "b", Key: "k", Multipart: true})
	env := Envelope{Multipart: true, WrappedKey: wk}
	text, err := env.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	// The whole envelope must sit comfortably inside S3's 2 KiB of user
	// metadata, next to sealed user metadata.
	if len(text) > 300 {
		t.Fatalf("envelope text is %d bytes", len(text))
	}
	var back Envelope
	if err := back.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(env) {
		t.Fatalf("round trip: %+v != %+v", back, env)
	}
	if _, err := ring.Unwrap(context.Background(), back.WrappedKey, back.WrapContext("b", "k")); err != nil {
		t.Fatalf("unwrap after round trip: %v", err)
	}
}

func TestEnvelope_Rejects(t *testing.T) {
	good := Envelope{WrappedKey: WrappedKey{KeyID: "k", KeyVersion: 1, Ciphertext: []byte{1, 2, 3}}}
	b, _ := good.MarshalBinary()
	cases := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{2}, b[1:]...),
		"flags":         append([]byte{1, 4}, b[2:]...),
		"truncated":     b[:len(b)-1],
		"extended":      append(append([]byte{}, b...), 0),
		"zero key id":   {1, 0, 0},
		"zero wrapped":  {1, 0, 1, 'k', 0, 0, 0, 1, 0, 0},
		"wrapped > max": {1, 0, 1, 'k', 0, 0, 0, 1, 0xff, 0xff},
	}
	for name, c := range cases {
		var e Envelope
		if err := e.UnmarshalBinary(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var e Envelope
	if err := e.UnmarshalText([]byte("not base64!")); !errors.Is(err, ErrMalformedEnvelope) {
		t.Errorf("bad text: %v", err)
	}
	if _, err := (&Envelope{}).MarshalBinary(); err == nil {
		t.Error("envelope without key id marshalled")
	}
}

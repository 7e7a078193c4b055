package backend

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateBucketName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"abc", true}, {"my-bucket.v2", true}, {"a1b", true}, {strings.Repeat("a", 63), true},
		{"ab", false}, {strings.Repeat("a", 64), false}, {"ABC", false}, {"a_b", false},
		{"-ab", false}, {"ab-", false}, {".ab", false}, {"a..b", false}, {"a.-b", false},
		{"a-.b", false}, {"10.0.0.1", false}, {"xn--abc", false}, {"abc-s3alias", false},
		{"a/b", false}, {"a b", false}, {"", false}, {"é-bucket", false},
	}
	for _, tc := range cases {
		err := ValidateBucketName(tc.name)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalidBucketName) {
			t.Errorf("ValidateBucketName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestValidateKey(t *testing.T) {
	cases := []struct {
		key string
		ok  bool
	}{
		{"a", true}, {"../x", true}, {"/", true}, {"ü", true}, {strings.Repeat("k", 1024), true},
		{"", false}, {strings.Repeat("k", 1025), false}, {"a\x00b", false}, {"\xc3", false},
	}
	for _, tc := range cases {
		err := ValidateKey(tc.key)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ok %v", tc.key, err, tc.ok)
		}
	}
}

func TestNormalizeMetadata(t *testing.T) {
	got, err := NormalizeMetadata(map[string]string{"Cloak-Env": "v", "x": "ü\tz"})
	if err != nil || got["cloak-env"] != "v" || got["x"] != "ü\tz" || len(got) != 2 {
		t.Errorf("NormalizeMetadata = %v, %v", got, err)
	}
	if got, err := NormalizeMetadata(nil); got != nil || err != nil {
		t.Errorf("NormalizeMetadata(nil) = %v, %v", got, err)
	}
	bad := []struct {
		md   map[string]string
		want error
	}{
		{map[string]string{"": "v"}, ErrInvalidArgument},
		{map[string]string{"a b": "v"}, ErrInvalidArgument},
		{map[string]string{"a:b": "v"}, ErrInvalidArgument},
		{map[string]string{"ü": "v"}, ErrInvalidArgument},
		{map[string]string{"a": "x\r\ny"}, ErrInvalidArgument},
		{map[string]string{"a": "\x7f"}, ErrInvalidArgument},
		{map[string]string{"a": "\xff"}, ErrInvalidArgument},
		{map[string]string{"A": "1", "a": "2"}, ErrInvalidArgument},
		{map[string]string{"a": strings.Repeat("x", MaxMetadataSize)}, ErrMetadataTooLarge},
	}
	for _, tc := range bad {
		if _, err := NormalizeMetadata(tc.md); !errors.Is(err, tc.want) {
			t.Errorf("NormalizeMetadata(%q) = %v, want %v", tc.md, err, tc.want)
		}
	}
	exact := map[string]string{"a": strings.Repeat("x", MaxMetadataSize-1)}
	if _, err := NormalizeMetadata(exact); err != nil {
		t.Errorf("metadata of exactly %d bytes: %v", MaxMetadataSize, err)
	}
}

package localstore

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cloakproxy/cloak/backend"
)

// decodePath decodes a path made by keyPath back to its key, as the
// listing walk does, one component at a time.
func decodePath(t testing.TB, p string) string {
	t.Helper()
	var dec keyDecoder
	comps := strings.Split(p, "/")
	for i, c := range comps {
		next, key, isObject, ok := dec.child(c)
		if !ok {
			t.Fatalf("component %q of %q does not decode", c, p)
		}
		if isObject != (i == len(comps)-1) {
			t.Fatalf("component %q of %q: object %v at position %d", c, p, isObject, i)
		}
		if isObject {
			return key
		}
		dec = next
	}
	t.Fatalf("path %q has no object component", p)
	return ""
}

// checkPathSafe fails if a path component could leave its directory, is
// hidden, or is too long for common file systems.
func checkPathSafe(t testing.TB, key, p string) {
	t.Helper()
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "" || c == "." || c == "..":
			t.Fatalf("key %q: path %q has component %q", key, p, c)
		case len(c) > 255:
			t.Fatalf("key %q: component of %d bytes", key, len(c))
		case c[0] == '.' || c[0] == '_':
			t.Fatalf("key %q: component %q clashes with internal names", key, c)
		case strings.Trim(c, "abcdefghijklmnopqrstuvwxyz0123456789-_.%ABCDEF") != "":
			t.Fatalf("key %q: component %q has unsafe characters", key, c)
		}
	}
}

func TestKeyPathRoundTrip(t *testing.T) {
	keys := []string{
		"a", "A", "a/b", "a/b/", "a//b", "/", "//", "/a", ".", "..", "../..", "a/../b", "%",
		"%2F", "%2f", "a\\b", "ü", "世界/x", strings.Repeat("x", 1024),
		strings.Repeat("é", 512), strings.Repeat("%", 1024), strings.Repeat("/", 1024),
		strings.Repeat("ab/", 341), "l", "d", "o", "lx", "_bucket.json", ".hidden",
	}
	seen := map[string]string{}
	for _, k := range keys {
		p := keyPath(k)
		checkPathSafe(t, k, p)
		if got := decodePath(t, p); got != k {
			t.Errorf("key %q -> %q -> %q", k, p, got)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("keys %q and %q share path %q", k, other, p)
		}
		seen[p] = k
	}
}

func FuzzKeyPath(f *testing.F) {
	for _, k := range []string{"a", "a/b/", "../x", strings.Repeat("é", 300), "%41"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if backend.ValidateKey(key) != nil {
			return
		}
		p := keyPath(key)
		checkPathSafe(t, key, p)
		if got := decodePath(t, p); got != key {
			t.Fatalf("key %q -> %q -> %q", key, p, got)
		}
	})
}

func TestUnescapeRejectsNonCanonical(t *testing.T) {
	for _, s := range []string{"%61", "%2", "%zz", "%2f", "A", " ", "%"} {
		if got, err := unescapeSegment(s); err == nil {
			t.Errorf("unescapeSegment(%q) = %q, want an error", s, got)
		}
	}
	for _, s := range []string{"", "abc", "%2F", "%C3%BC"} {
		got, err := unescapeSegment(s)
		if err != nil || escapeSegment(got) != s || !utf8.ValidString(got) && s != "%2F" {
			t.Errorf("unescapeSegment(%q) = %q, %v", s, got, err)
		}
	}
}

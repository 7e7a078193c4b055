package backendtest

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/backend"
)

// awkwardKeys are keys that break naive path mapping: they must all
// coexist, read back unchanged, and list in byte order.
func awkwardKeys() []string {
	return []string{
		"plain", "with space", "plus+sign", "percent%41", "percent%2F", "A", "a",
		"a//b", "a/./b", "a/../b", "/leading", "//double-leading",
		"trailing/", ".", "..", "../escape", "..%2F..", "dot.", "~tilde", "unicode/ü/世界",
		"emoji-🔐", "tab\there", "back\\slash", "question?mark", "hash#mark", "amp&er",
		"_underscore", "-dash", "UPPER/lower", "x" + strings.Repeat("y", 1023), "leading",
		"double-leading", "escape", "b",
		strings.Repeat("é", 512), strings.Repeat("z/", 511) + "zz",
	}
}

func testAwkwardKeys(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	var keys, refused []string
	for i, k := range awkwardKeys() {
		if len(k) > backend.MaxKeyLength {
			t.Fatalf("test key %d is %d bytes", i, len(k))
		}
		_, err := st.PutObject(ctx(t), b, k, strings.NewReader(k), int64(len(k)),
			backend.PutOptions{})
		if errors.Is(err, backend.ErrInvalidKey) && !cfg.AllKeys {
			t.Logf("store refuses key %q", short(k))
			refused = append(refused, k)
			continue
		}
		if err != nil {
			t.Fatalf("PutObject(%q): %v", short(k), err)
		}
		keys = append(keys, k)
	}
	// A refused key must not reach another object through a read or a
	// delete (as "/a" would reach "a" on a server that drops the slash).
	for _, k := range refused {
		if _, err := st.HeadObject(ctx(t), b, k); err == nil {
			t.Errorf("refused key %q can be read", short(k))
		}
		st.DeleteObject(ctx(t), b, k)
	}
	for _, k := range keys {
		got, info := get(t, st, b, k, 0, -1)
		if !bytes.Equal(got, []byte(k)) || info.Key != k {
			t.Errorf("key %q read back %q (info key %q)", short(k), short(string(got)), short(info.Key))
		}
	}
	listed := listAll(t, st, b, backend.ListOptions{MaxKeys: 7})
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if strings.Join(listed, "\x00") != strings.Join(want, "\x00") {
		t.Errorf("listed keys differ from the stored ones:\n got %q\nwant %q", listed, want)
	}
}

// testNestedKeys stores an object whose key is also the directory of
// other keys ("n/b" next to "n/b/" and "n/b/c"). Every store must hold and
// read them; only stores with Config.ListsNestedKeys must list them.
func testNestedKeys(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	keys := []string{"n", "n/b", "n/b/", "n/b/c", "n/b/c/d", "o/", "o/p"}
	for _, k := range keys {
		put(t, st, b, k, []byte(k), nil)
	}
	for _, k := range keys {
		if got, _ := get(t, st, b, k, 0, -1); string(got) != k {
			t.Errorf("key %q read back %q", k, got)
		}
	}
	if !cfg.ListsNestedKeys {
		return
	}
	cases := []struct{ prefix, delim string }{
		{"", ""}, {"", "/"}, {"n/", "/"}, {"n/b", ""}, {"o/", "/"},
	}
	for _, tc := range cases {
		want := modelList(keys, tc.prefix, tc.delim, "")
		got := listAll(t, st, b, backend.ListOptions{Prefix: tc.prefix, Delimiter: tc.delim,
			MaxKeys: 2})
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("prefix %q delimiter %q:\n got %q\nwant %q", tc.prefix, tc.delim, got, want)
		}
	}
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func testInvalidKeys(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	for _, k := range []string{"", strings.Repeat("k", backend.MaxKeyLength+1), "nul\x00byte",
		"bad\xffutf8"} {
		_, err := st.PutObject(ctx(t), b, k, strings.NewReader("x"), 1, backend.PutOptions{})
		wantErr(t, "PutObject("+short(k)+")", err, backend.ErrInvalidKey)
	}
}

package backendtest

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/backend"
)

// listAll pages through a listing and returns its entries in order:
// keys, and common prefixes marked with a trailing "(prefix)" tag.
func listAll(t *testing.T, st backend.Store, bucket string, opts backend.ListOptions) []string {
	t.Helper()
	var out []string
	tokens := map[string]bool{}
	for range 10_000 {
		res, err := st.ListObjects(ctx(t), bucket, opts)
		if err != nil {
			t.Fatalf("ListObjects(%+v): %v", opts, err)
		}
		page := len(res.Objects) + len(res.CommonPrefixes)
		if opts.MaxKeys > 0 && page > opts.MaxKeys {
			t.Fatalf("page of %d entries, MaxKeys %d", page, opts.MaxKeys)
		}
		out = append(out, mergePage(res)...)
		if !res.IsTruncated {
			return out
		}
		if res.NextToken == "" || page == 0 || tokens[res.NextToken] {
			t.Fatalf("ListObjects(%+v): truncated page without progress: %+v", opts, res)
		}
		tokens[res.NextToken] = true
		opts.ContinuationToken = res.NextToken
	}
	t.Fatalf("ListObjects(%+v): listing did not end", opts)
	return nil
}

// mergePage interleaves a page's keys and prefixes in byte order.
func mergePage(res backend.ListResult) []string {
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.Key)
	}
	for _, p := range res.CommonPrefixes {
		out = append(out, p+" (prefix)")
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.TrimSuffix(out[i], " (prefix)") < strings.TrimSuffix(out[j], " (prefix)")
	})
	return out
}

// modelList is the S3 listing of keys, computed the obvious way.
func modelList(keys []string, prefix, delim, startAfter string) []string {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	var out []string
	seen := map[string]bool{}
	for _, k := range sorted {
		if !strings.HasPrefix(k, prefix) || k <= startAfter {
			continue
		}
		rest := k[len(prefix):]
		if i := strings.Index(rest, delim); delim != "" && i >= 0 {
			cp := prefix + rest[:i+len(delim)]
			if !seen[cp] {
				seen[cp] = true
				out = append(out, cp+" (prefix)")
			}
			continue
		}
		out = append(out, k)
	}
	return out
}

// listKeys are keys for the listing tests. None is also the directory
// of others (see testNestedKeys), and no StartAfter of the cases falls
// inside a group of keys rolled up by the delimiter, where S3 servers
// disagree.
func listKeys() []string {
	return []string{
		"a/1", "a/2", "a/b/1", "a/b/2", "a/c", "a0", "a+b", "a b", "ab/x",
		"b/c", "c/d/e/f", "photos/2024/jan/1.jpg", "photos/2024/jan/2.jpg",
		"photos/2024/feb/1.jpg", "photos/2025/x.jpg", "photos/readme", "zz", "ü/1", "ü2",
	}
}

func testListPagination(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	keys := listKeys()
	for _, k := range keys {
		put(t, st, b, k, []byte(k), nil)
	}
	cases := []struct{ prefix, delim, startAfter string }{
		{"", "", ""}, {"", "/", ""}, {"a", "", ""}, {"a", "/", ""}, {"a/", "/", ""},
		{"photos/", "/", ""}, {"photos/2024/", "/", ""}, {"photos/", "", ""},
		{"b/", "/", ""}, {"", "", "a/b/1"}, {"", "/", "ab/x"}, {"photos/", "/", "photos/2024/zzz"},
		{"nomatch", "/", ""}, {"ü", "/", ""}, {"", "/", "zz"},
	}
	if cfg.ListsAnyDelimiter {
		cases = append(cases, struct{ prefix, delim, startAfter string }{"", "b", ""},
			struct{ prefix, delim, startAfter string }{"a", "/b", ""})
	}
	for _, tc := range cases {
		want := modelList(keys, tc.prefix, tc.delim, tc.startAfter)
		for _, max := range []int{1, 2, 3, 1000} {
			name := fmt.Sprintf("prefix=%q,delim=%q,after=%q,max=%d",
				tc.prefix, tc.delim, tc.startAfter, max)
			got := listAll(t, st, b, backend.ListOptions{Prefix: tc.prefix, Delimiter: tc.delim,
				StartAfter: tc.startAfter, MaxKeys: max})
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s:\n got %q\nwant %q", name, got, want)
			}
		}
	}
	res, err := st.ListObjects(ctx(t), b, backend.ListOptions{Prefix: "a/b/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		if o.Size != int64(len(o.Key)) || o.ETag != md5hex([]byte(o.Key)) || o.LastModified.IsZero() {
			t.Errorf("listed %+v, want size %d etag %s", o, len(o.Key), md5hex([]byte(o.Key)))
		}
	}
}

func testListErrors(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	res, err := st.ListObjects(ctx(t), b, backend.ListOptions{})
	if err != nil || len(res.Objects) != 0 || res.IsTruncated {
		t.Errorf("listing an empty bucket: %+v, %v", res, err)
	}
	_, err = st.ListObjects(ctx(t), "ct-missing-bucket", backend.ListOptions{})
	wantErr(t, "ListObjects of a missing bucket", err, backend.ErrNoSuchBucket)
}

// testListMetadata checks ListOptions.WithMetadata: listed metadata, where
// the store lists it, equals what HeadObject returns, for objects with and
// without metadata, across pages; and plain listings carry none.
func testListMetadata(t *testing.T, cfg Config) {
	st := cfg.NewStore(t)
	b := newBucket(t, st)
	want := map[string]map[string]string{
		"a":      {"env": "v1-abc", "meta": "sealed_base64url-value"},
		"b/c d":  nil,
		"b/e+f":  {"only": "one"},
		"z/last": {"k": "value with spaces"},
	}
	for k, md := range want {
		put(t, st, b, k, []byte(k), md)
	}
	listed := map[string]map[string]string{}
	opts := backend.ListOptions{WithMetadata: true, MaxKeys: 2}
	for range 10 {
		res, err := st.ListObjects(ctx(t), b, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Objects {
			listed[o.Key] = o.Metadata
			if cfg.ListsMetadata && o.Metadata == nil {
				t.Errorf("%s: listed without metadata", o.Key)
			}
		}
		if !res.IsTruncated {
			break
		}
		opts.ContinuationToken = res.NextToken
	}
	if len(listed) != len(want) {
		t.Fatalf("listed %d objects, want %d", len(listed), len(want))
	}
	for k, md := range listed {
		if md == nil {
			continue // the store cannot list metadata
		}
		head, err := st.HeadObject(ctx(t), b, k)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(md) != fmt.Sprint(head.Metadata) && !(len(md) == 0 && len(head.Metadata) == 0) {
			t.Errorf("%s: listed metadata %v, HEAD %v", k, md, head.Metadata)
		}
	}
	res, err := st.ListObjects(ctx(t), b, backend.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Objects {
		if o.Metadata != nil {
			t.Errorf("%s: metadata in a listing that did not ask for it", o.Key)
		}
	}
}

package s3compat

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

func TestParseRange(t *testing.T) {
	const size = 100
	type want struct {
		start, length int64
		ok            bool
		err           bool
	}
	cases := []struct {
		h    string
		size int64
		want want
	}{
		{"", size, want{}},
		{"bytes=0-0", size, want{0, 1, true, false}},
		{"bytes=0-99", size, want{0, 100, true, false}},
		{"bytes=0-100", size, want{0, 100, true, false}},
		{"bytes=0-1000", size, want{0, 100, true, false}},
		{"bytes=98-99", size, want{98, 2, true, false}},
		{"bytes=99-99", size, want{99, 1, true, false}},
		{"bytes=99-", size, want{99, 1, true, false}},
		{"bytes=100-", size, want{err: true}},
		{"bytes=100-100", size, want{err: true}},
		{"bytes=101-200", size, want{err: true}},
		{"bytes=0-", size, want{0, 100, true, false}},
		{"bytes=-1", size, want{99, 1, true, false}},
		{"bytes=-99", size, want{1, 99, true, false}},
		{"bytes=-100", size, want{0, 100, true, false}},
		{"bytes=-101", size, want{0, 100, true, false}},
		{"bytes=-0", size, want{err: true}},
		{"bytes=5-4", size, want{}},     // invalid: ignored
		{"bytes=0-1,5-6", size, want{}}, // several ranges: ignored
		{"bytes=a-b", size, want{}},     // not numbers
		{"bytes=-", size, want{}},       // empty
		{"bytes=1", size, want{}},       // no dash
		{"bytes=+1-2", size, want{}},    // sign
		{"items=0-1", size, want{}},     // other unit
		{"bytes=0x1-2", size, want{}},   // hex
		{" bytes= 3 - 4 ", size, want{3, 2, true, false}},
		{"bytes=99999999999999999999-", size, want{}}, // overflows int64
		{"bytes=0-0", 0, want{err: true}},
		{"bytes=0-", 0, want{err: true}},
		{"bytes=-5", 0, want{err: true}},
		{"bytes=0-0", 1, want{0, 1, true, false}},
		{"bytes=-5", 1, want{0, 1, true, false}},
		{"bytes=1-", 1, want{err: true}},
	}
	for _, c := range cases {
		r, ok, err := ParseRange(c.h, c.size)
		if c.want.err {
			if !errors.Is(err, s3err.ErrInvalidRange) || s3err.From(err).HTTPStatus != 416 {
				t.Errorf("%q size %d: err %v, want InvalidRange", c.h, c.size, err)
			}
			continue
		}
		if err != nil || ok != c.want.ok || r.Start != c.want.start || r.Length != c.want.length {
			t.Errorf("%q size %d: %+v %v %v, want %+v", c.h, c.size, r, ok, err, c.want)
		}
	}
	r, _, _ := ParseRange("bytes=10-19", size)
	if got := r.ContentRange(size); got != "bytes 10-19/100" {
		t.Errorf("ContentRange = %q", got)
	}
}

// TestParseRangeExhaustive checks every a-b, a- and -n range of small
// objects against a direct definition.
func TestParseRangeExhaustive(t *testing.T) {
	for size := int64(0); size <= 8; size++ {
		for a := int64(0); a <= 10; a++ {
			for b := a; b <= 10; b++ {
				r, ok, err := ParseRange(fmt.Sprintf("bytes=%d-%d", a, b), size)
				checkSpan(t, size, a, min(b, size-1), r, ok, err, a < size)
			}
			r, ok, err := ParseRange(fmt.Sprintf("bytes=%d-", a), size)
			checkSpan(t, size, a, size-1, r, ok, err, a < size)
		}
		for n := int64(1); n <= 10; n++ {
			r, ok, err := ParseRange(fmt.Sprintf("bytes=-%d", n), size)
			checkSpan(t, size, max(size-n, 0), size-1, r, ok, err, size > 0)
		}
	}
}

func checkSpan(t *testing.T, size, first, last int64, r Range, ok bool, err error, sat bool) {
	t.Helper()
	if !sat {
		if err == nil {
			t.Errorf("size %d [%d,%d]: satisfiable %+v", size, first, last, r)
		}
		return
	}
	if err != nil || !ok || r.Start != first || r.End() != last || r.Length < 1 ||
		r.End() >= size {
		t.Errorf("size %d: got %+v %v %v, want [%d,%d]", size, r, ok, err, first, last)
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add("bytes=0-10", int64(5))
	f.Add("bytes=-3", int64(0))
	f.Add("bytes=5-", int64(5))
	f.Add("bytes=1-2,3-4", int64(9))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		r, ok, err := ParseRange(h, size)
		if err != nil {
			if !errors.Is(err, s3err.ErrInvalidRange) || ok {
				t.Fatalf("%q: %v %v", h, ok, err)
			}
			return
		}
		if ok && (r.Start < 0 || r.Length < 1 || r.End() >= size) {
			t.Fatalf("%q size %d: span %+v outside object", h, size, r)
		}
		if !ok && r != (Range{}) {
			t.Fatalf("range %+v without ok", r)
		}
	})
}

func TestParseCopySourceRange(t *testing.T) {
	cases := []struct {
		v    string
		want Range
		code string
	}{
		{"bytes=0-9", Range{0, 10}, ""},
		{"bytes=5-5", Range{5, 1}, ""},
		{"bytes=0-99", Range{0, 100}, ""},
		{"bytes=0-100", Range{}, "InvalidRange"},
		{"bytes=5-", Range{}, "InvalidArgument"},
		{"bytes=-5", Range{}, "InvalidArgument"},
		{"bytes=9-5", Range{}, "InvalidArgument"},
		{"0-5", Range{}, "InvalidArgument"},
	}
	for _, c := range cases {
		got, err := ParseCopySourceRange(c.v, 100)
		if c.code != "" {
			if s3err.From(err).Code != c.code {
				t.Errorf("%q: %v, want %s", c.v, err, c.code)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v %v", c.v, got, err)
		}
	}
}

func TestEvalConditions(t *testing.T) {
	mod := time.Date(2026, 5, 1, 12, 0, 0, 500_000_000, time.UTC) // sub-second part ignored
	obj := ObjectState{Exists: true, ETag: `"abc"`, LastModified: mod}
	before := mod.Add(-time.Hour).Format(http.TimeFormat)
	same := mod.Format(http.TimeFormat) // second precision: equal to mod
	after := mod.Add(time.Hour).Format(http.TimeFormat)
	cases := []struct {
		name   string
		method string
		h      map[string]string
		obj    ObjectState
		want   string // "", "PreconditionFailed" or "NotModified"
	}{
		{"none", "GET", nil, obj, ""},
		{"if-match hit", "GET", map[string]string{"If-Match": `"abc"`}, obj, ""},
		{"if-match unquoted", "GET", map[string]string{"If-Match": `abc`}, obj, ""},
		{"if-match list", "GET", map[string]string{"If-Match": `"x", "abc"`}, obj, ""},
		{"if-match star", "GET", map[string]string{"If-Match": `*`}, obj, ""},
		{"if-match miss", "GET", map[string]string{"If-Match": `"x"`}, obj, "PreconditionFailed"},
		{"if-match weak", "GET", map[string]string{"If-Match": `W/"abc"`}, obj, "PreconditionFailed"},
		{"if-match absent object", "PUT", map[string]string{"If-Match": `*`},
			ObjectState{}, "PreconditionFailed"},
		{"if-unmodified-since ok", "GET", map[string]string{"If-Unmodified-Since": after}, obj, ""},
		{"if-unmodified-since same second", "GET",
			map[string]string{"If-Unmodified-Since": same}, obj, ""},
		{"if-unmodified-since fail", "GET",
			map[string]string{"If-Unmodified-Since": before}, obj, "PreconditionFailed"},
		{"if-match wins over if-unmodified-since", "GET", map[string]string{
			"If-Match": `"abc"`, "If-Unmodified-Since": before}, obj, ""},
		{"if-none-match hit get", "GET", map[string]string{"If-None-Match": `"abc"`}, obj,
			"NotModified"},
		{"if-none-match hit head", "HEAD", map[string]string{"If-None-Match": `W/"abc"`}, obj,
			"NotModified"},
		{"if-none-match hit put", "PUT", map[string]string{"If-None-Match": `"abc"`}, obj,
			"PreconditionFailed"},
		{"if-none-match star put exists", "PUT", map[string]string{"If-None-Match": `*`}, obj,
			"PreconditionFailed"},
		{"if-none-match star put absent", "PUT", map[string]string{"If-None-Match": `*`},
			ObjectState{}, ""},
		{"if-none-match miss", "GET", map[string]string{"If-None-Match": `"x"`}, obj, ""},
		{"if-modified-since not modified", "GET",
			map[string]string{"If-Modified-Since": after}, obj, "NotModified"},
		{"if-modified-since same second", "GET",
			map[string]string{"If-Modified-Since": same}, obj, "NotModified"},
		{"if-modified-since modified", "GET",
			map[string]string{"If-Modified-Since": before}, obj, ""},
		{"if-modified-since ignored on put", "PUT",
			map[string]string{"If-Modified-Since": after}, obj, ""},
		{"if-none-match miss wins over if-modified-since", "GET", map[string]string{
			"If-None-Match": `"x"`, "If-Modified-Since": after}, obj, ""},
		{"if-none-match hit with modified since", "GET", map[string]string{
			"If-None-Match": `"abc"`, "If-Modified-Since": before}, obj, "NotModified"},
		{"if-match hit and if-none-match hit", "GET", map[string]string{
			"If-Match": `"abc"`, "If-None-Match": `"abc"`}, obj, "NotModified"},
		{"if-match miss beats not modified", "GET", map[string]string{
			"If-Match": `"x"`, "If-Modified-Since": after}, obj, "PreconditionFailed"},
		{"if-match hit and if-modified-since not modified", "GET", map[string]string{
			"If-Match": `"abc"`, "If-Modified-Since": after}, obj, "NotModified"},
		{"bad date ignored", "GET", map[string]string{"If-Unmodified-Since": "yesterday"}, obj, ""},
		{"empty etag matches nothing", "GET", map[string]string{"If-Match": `""`},
			ObjectState{Exists: true}, "PreconditionFailed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
			err := EvalConditions(h, c.method, c.obj)
			got := ""
			if err != nil {
				got = s3err.From(err).Code
			}
			if got != c.want {
				t.Errorf("got %q (%v), want %q", got, err, c.want)
			}
		})
	}
}

func TestEvalCopySourceConditions(t *testing.T) {
	mod := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	src := ObjectState{Exists: true, ETag: "abc", LastModified: mod}
	cases := []struct {
		h    map[string]string
		fail bool
	}{
		{nil, false},
		{map[string]string{"X-Amz-Copy-Source-If-Match": `"abc"`}, false},
		{map[string]string{"X-Amz-Copy-Source-If-Match": `"x"`}, true},
		{map[string]string{"X-Amz-Copy-Source-If-None-Match": `"abc"`}, true},
		{map[string]string{"X-Amz-Copy-Source-If-Modified-Since": mod.Add(time.Hour).
			Format(http.TimeFormat)}, false}, // copies are never "not modified"
		{map[string]string{"X-Amz-Copy-Source-If-Unmodified-Since": mod.Add(-time.Hour).
			Format(http.TimeFormat)}, true},
		{map[string]string{"If-Match": `"x"`}, false}, // the request's own headers are not read
	}
	for i, c := range cases {
		h := http.Header{}
		for k, v := range c.h {
			h.Set(k, v)
		}
		err := EvalCopySourceConditions(h, src)
		if c.fail != (err != nil) || (err != nil && !errors.Is(err, s3err.ErrPreconditionFailed)) {
			t.Errorf("case %d %v: %v", i, c.h, err)
		}
	}
}

func TestUserMetadata(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Meta-Author", "Ada")
	h.Add("X-Amz-Meta-Tags", "a")
	h.Add("X-Amz-Meta-Tags", "b")
	h["x-amz-meta-lower"] = []string{"raw"}
	h.Set("X-Amz-Meta-", "ignored")
	h.Set("Content-Type", "text/plain")
	m, err := UserMetadata(h)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"author": "Ada", "tags": "a,b", "lower": "raw"}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("metadata %v, want %v", m, want)
	}
	if n := UserMetadataSize(m); n != len("authorAdatagsa,blowerraw") {
		t.Errorf("size %d", n)
	}
	out := http.Header{}
	SetUserMetadata(out, m)
	back, err := UserMetadata(out)
	if err != nil || fmt.Sprint(back) != fmt.Sprint(m) {
		t.Errorf("round trip %v %v", back, err)
	}
	if out.Get("X-Amz-Meta-Author") != "Ada" {
		t.Errorf("header %v", out)
	}
	if m, err := UserMetadata(http.Header{"Content-Type": {"x"}}); m != nil || err != nil {
		t.Errorf("no metadata: %v %v", m, err)
	}
}

func TestUserMetadataLimit(t *testing.T) {
	for _, extra := range []int{-1, 0, 1} {
		name := "k"
		h := http.Header{}
		h.Set("X-Amz-Meta-"+name, strings.Repeat("v", MaxUserMetadataBytes-len(name)+extra))
		_, err := UserMetadata(h)
		if (extra > 0) != errors.Is(err, s3err.ErrMetadataTooLarge) {
			t.Errorf("extra %d: %v", extra, err)
		}
	}
	// Multi-byte characters count as their UTF-8 bytes.
	h := http.Header{}
	h.Set("X-Amz-Meta-K", strings.Repeat("é", MaxUserMetadataBytes/2))
	if _, err := UserMetadata(h); !errors.Is(err, s3err.ErrMetadataTooLarge) {
		t.Errorf("UTF-8 bytes not counted: %v", err)
	}
}

func TestSizeLimits(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want *s3err.Error
	}{
		{"put at limit", CheckPutSize(MaxPutObjectSize), nil},
		{"put over", CheckPutSize(MaxPutObjectSize + 1), s3err.ErrEntityTooLarge},
		{"part at limit", CheckPartSize(MaxPartSize), nil},
		{"part over", CheckPartSize(MaxPartSize + 1), s3err.ErrEntityTooLarge},
		{"small middle part", CheckCompletedPartSize(MinPartSize-1, false), s3err.ErrEntityTooSmall},
		{"min middle part", CheckCompletedPartSize(MinPartSize, false), nil},
		{"small last part", CheckCompletedPartSize(1, true), nil},
		{"empty last part", CheckCompletedPartSize(0, true), nil},
	}
	for _, c := range cases {
		if c.want == nil && c.err != nil || c.want != nil && !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v", c.name, c.err)
		}
	}
	h := http.Header{}
	h.Set("X-Pad", strings.Repeat("x", MaxHeaderBytes-len("X-Pad")))
	if err := CheckHeaderSize(h); err != nil {
		t.Errorf("header at limit: %v", err)
	}
	h.Set("A", "")
	if err := CheckHeaderSize(h); !errors.Is(err, s3err.ErrRequestHeaderSectionTooLarge) {
		t.Errorf("header over limit: %v", err)
	}
}

func TestValidKey(t *testing.T) {
	if !ValidKey(strings.Repeat("k", MaxKeyLength)) || ValidKey(strings.Repeat("k", MaxKeyLength+1)) ||
		ValidKey("") || ValidKey("bad\xff") || !ValidKey("ключ") {
		t.Errorf("ValidKey boundaries wrong")
	}
}

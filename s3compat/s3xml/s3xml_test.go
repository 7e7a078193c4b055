package s3xml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/checksum"
	"github.com/cloakproxy/cloak/s3compat/s3err"
)

func TestTimeFormat(t *testing.T) {
	tm := Time{time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("x", 3600))}
	b, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"T"`
		V       Time     `xml:"V"`
	}{V: tm})
	if err != nil {
		t.Fatal(err)
	}
	if want := "<T><V>2026-03-04T04:06:07.891Z</V></T>"; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	var back Time
	if err := back.UnmarshalText([]byte("2026-03-04T04:06:07.891Z")); err != nil ||
		!back.Equal(tm.Truncate(time.Millisecond)) {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

func TestETagQuoting(t *testing.T) {
	for _, in := range []string{"abc", `"abc"`} {
		e := ETag(in)
		if e.Quoted() != `"abc"` || e.Unquoted() != "abc" {
			t.Errorf("%q: quoted %q unquoted %q", in, e.Quoted(), e.Unquoted())
		}
		b, _ := xml.Marshal(CopyPartResult{ETag: e})
		if !strings.Contains(string(b), "<ETag>&#34;abc&#34;</ETag>") {
			t.Errorf("%q marshalled as %s", in, b)
		}
		var back CopyPartResult
		if err := xml.Unmarshal(b, &back); err != nil || back.ETag != "abc" {
			t.Errorf("unmarshal: %q %v", back.ETag, err)
		}
	}
	for _, in := range []string{`"`, `""`, `"a`} {
		if q := ETag(in).Quoted(); q[0] != '"' || q[len(q)-1] != '"' || len(q) < 2 {
			t.Errorf("%q quoted as %q", in, q)
		}
	}
}

func TestEncodeName(t *testing.T) {
	cases := map[string]string{
		"plain":         "plain",
		"a b":           "a+b",
		"a+b":           "a%2Bb",
		"dir/sub/":      "dir/sub/",
		"100%":          "100%25",
		"ключ":          "%D0%BA%D0%BB%D1%8E%D1%87",
		"a&b=c?d#e":     "a%26b%3Dc%3Fd%23e",
		"\x01ctl":       "%01ctl",
		"tilde~-_.ok":   "tilde~-_.ok",
		"//double/../x": "//double/../x",
	}
	for in, want := range cases {
		got := EncodeName(in)
		if got != want {
			t.Errorf("EncodeName(%q) = %q, want %q", in, got, want)
		}
		if back, err := url.QueryUnescape(got); err != nil || back != in {
			t.Errorf("QueryUnescape(%q) = %q, %v", got, back, err)
		}
	}
}

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	err := Write(w, http.StatusOK, &InitiateMultipartUploadResult{
		Bucket: "b", Key: "k & <x>", UploadID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	body := w.Body.String()
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/xml" ||
		w.Header().Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Fatalf("status %d headers %v", w.Code, w.Header())
	}
	want := xml.Header + `<InitiateMultipartUploadResult xmlns="` + Namespace + `">` +
		`<Bucket>b</Bucket><Key>k &amp; &lt;x&gt;</Key><UploadId>u1</UploadId>` +
		`</InitiateMultipartUploadResult>`
	if body != want {
		t.Fatalf("body\n%s\nwant\n%s", body, want)
	}
	if err := Write(httptest.NewRecorder(), 200, make(chan int)); err == nil {
		t.Fatalf("unmarshallable value accepted")
	}
}

func TestListEncodingTypeURL(t *testing.T) {
	key := "dir/a b+c%ü"
	enc := "dir/a+b%2Bc%25%C3%BC"
	cases := []struct {
		name string
		v    any
		want []string // substrings that must appear
		not  []string
	}{
		{"v1", &ListBucketResult{Prefix: "dir/ ", Marker: "m+", NextMarker: "n ",
			Delimiter: " ", Contents: []Object{{Key: key}},
			CommonPrefixes: []CommonPrefix{{Prefix: "dir/x y/"}}, EncodingType: "url"},
			[]string{"<Prefix>dir/+</Prefix>", "<Marker>m%2B</Marker>",
				"<NextMarker>n+</NextMarker>", "<Delimiter>+</Delimiter>",
				"<Key>" + enc + "</Key>", "<Prefix>dir/x+y/</Prefix>",
				"<EncodingType>url</EncodingType>"}, nil},
		{"v2", ListBucketResultV2{Prefix: "p q", StartAfter: "s+t",
			ContinuationToken: "tok+en", NextContinuationToken: "n/ext+",
			Contents: []Object{{Key: key}}, EncodingType: "url"},
			[]string{"<Prefix>p+q</Prefix>", "<StartAfter>s%2Bt</StartAfter>",
				"<ContinuationToken>tok+en</ContinuationToken>",
				"<NextContinuationToken>n/ext+</NextContinuationToken>",
				"<Key>" + enc + "</Key>"}, nil},
		{"v2 plain", ListBucketResultV2{Prefix: "p q", Contents: []Object{{Key: key}}},
			[]string{"<Prefix>p q</Prefix>", "<Key>dir/a b+c%ü</Key>"},
			[]string{"EncodingType"}},
		{"versions", &ListVersionsResult{KeyMarker: "k m", NextKeyMarker: "n+",
			VersionIDMarker: "v+1", Versions: []ObjectVersion{{Key: key},
				{Key: key, DeleteMarker: true}}, EncodingType: "url"},
			[]string{"<KeyMarker>k+m</KeyMarker>", "<NextKeyMarker>n%2B</NextKeyMarker>",
				"<VersionIdMarker>v+1</VersionIdMarker>", "<Version><Key>" + enc,
				"<DeleteMarker><Key>" + enc}, nil},
		{"uploads", &ListMultipartUploadsResult{KeyMarker: "k m", NextKeyMarker: "a+",
			UploadIDMarker: "u+", Uploads: []Upload{{Key: key, UploadID: "x+y"}},
			EncodingType: "url"},
			[]string{"<KeyMarker>k+m</KeyMarker>", "<NextKeyMarker>a%2B</NextKeyMarker>",
				"<UploadIdMarker>u+</UploadIdMarker>", "<Key>" + enc + "</Key>",
				"<UploadId>x+y</UploadId>"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			for _, w := range c.want {
				if !strings.Contains(s, w) {
					t.Errorf("missing %s in\n%s", w, s)
				}
			}
			for _, w := range c.not {
				if strings.Contains(s, w) {
					t.Errorf("unexpected %s in\n%s", w, s)
				}
			}
		})
	}
	// The caller's value is left alone.
	r := &ListBucketResult{Prefix: "a b", EncodingType: "url", Contents: []Object{{Key: "x y"}}}
	if _, err := Marshal(r); err != nil || r.Prefix != "a b" || r.Contents[0].Key != "x y" {
		t.Errorf("Marshal modified its argument: %+v", r)
	}
}

func TestVersionsOrderAndShape(t *testing.T) {
	b, err := Marshal(ListVersionsResult{Versions: []ObjectVersion{
		{Key: "a", VersionID: "3", DeleteMarker: true, IsLatest: true},
		{Key: "a", VersionID: "2", ETag: "e", Size: 5},
		{Key: "b", VersionID: "1", ETag: "f", Size: 0},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i1 := strings.Index(s, "<DeleteMarker><Key>a</Key><VersionId>3</VersionId><IsLatest>true")
	i2 := strings.Index(s, "<Version><Key>a</Key><VersionId>2</VersionId>")
	i3 := strings.Index(s, "<Version><Key>b</Key>")
	if i1 < 0 || i2 < i1 || i3 < i2 {
		t.Fatalf("entries out of order or malformed:\n%s", s)
	}
	if dm := s[i1:i2]; strings.Contains(dm, "<Size>") || strings.Contains(dm, "<ETag>") {
		t.Errorf("delete marker carries object fields: %s", dm)
	}
	if !strings.Contains(s[i3:], "<Size>0</Size>") {
		t.Errorf("zero size omitted: %s", s[i3:])
	}
}

func TestChecksumsElements(t *testing.T) {
	var c CompleteMultipartUploadResult
	for _, a := range checksum.Algorithms {
		c.Checksums.Set(a, "v-"+a.String())
	}
	b, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range checksum.Algorithms {
		want := "<" + a.XMLElement() + ">v-" + a.String() + "</" + a.XMLElement() + ">"
		if !strings.Contains(string(b), want) {
			t.Errorf("missing %s in %s", want, b)
		}
		if c.Get(a) != "v-"+a.String() {
			t.Errorf("Get(%v) = %q", a, c.Get(a))
		}
	}
	if c.Only() != checksum.None {
		t.Errorf("Only() with five values = %v", c.Only())
	}
	var one Checksums
	one.Set(checksum.SHA1, "x")
	if one.Only() != checksum.SHA1 {
		t.Errorf("Only() = %v", one.Only())
	}
	empty, _ := Marshal(CopyPartResult{})
	if strings.Contains(string(empty), "Checksum") {
		t.Errorf("empty checksums written: %s", empty)
	}
}

func deleteBody(n int) string {
	var b strings.Builder
	b.WriteString(`<Delete xmlns="` + Namespace + `"><Quiet>true</Quiet>`)
	for i := range n {
		fmt.Fprintf(&b, "<Object><Key>k%d</Key></Object>", i)
	}
	b.WriteString("</Delete>")
	return b.String()
}

func TestDecode(t *testing.T) {
	nested := strings.Repeat("<a>", MaxDepth+1) + strings.Repeat("</a>", MaxDepth+1)
	cases := []struct {
		name  string
		body  string
		limit int64
		v     any
		code  string
	}{
		{"delete ok", deleteBody(3), MaxDeleteBody, &Delete{}, ""},
		{"delete 1000", deleteBody(1000), MaxDeleteBody, &Delete{}, ""},
		{"delete 1001", deleteBody(1001), MaxDeleteBody, &Delete{}, "MalformedXML"},
		{"delete none", "<Delete></Delete>", MaxDeleteBody, &Delete{}, "MalformedXML"},
		{"delete no namespace", "<Delete><Object><Key>a</Key></Object></Delete>",
			MaxDeleteBody, &Delete{}, ""},
		{"too big", deleteBody(3), 20, &Delete{}, "MaxMessageLengthExceeded"},
		{"exactly the limit", deleteBody(3), int64(len(deleteBody(3))), &Delete{}, ""},
		{"empty", "", 100, &Delete{}, "MalformedXML"},
		{"whitespace", "  \n", 100, &Delete{}, "MalformedXML"},
		{"not xml", "{}", 100, &Delete{}, "MalformedXML"},
		{"truncated", "<Delete><Object><Key>a</Key>", 100, &Delete{}, "MalformedXML"},
		{"wrong root", "<Remove><Object><Key>a</Key></Object></Remove>", 100,
			&Delete{}, "MalformedXML"},
		{"two roots", "<Delete><Object><Key>a</Key></Object></Delete><Delete/>", 100,
			&Delete{}, "MalformedXML"},
		{"too deep", nested, 1000, &Delete{}, "MalformedXML"},
		{"doctype", `<!DOCTYPE d [<!ENTITY a "aaaa">]><Delete><Object><Key>&a;</Key>` +
			`</Object></Delete>`, 1000, &Delete{}, "MalformedXML"},
		{"complete ok", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>" +
			"<ETag>\"e1\"</ETag></Part><Part><PartNumber>3</PartNumber>" +
			"<ETag>&quot;e3&quot;</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32>" +
			"</Part></CompleteMultipartUpload>", 1000, &CompleteMultipartUpload{}, ""},
		{"complete empty", "<CompleteMultipartUpload/>", 1000,
			&CompleteMultipartUpload{}, "MalformedXML"},
		{"complete order", "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber>" +
			"</Part><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
			1000, &CompleteMultipartUpload{}, "InvalidPartOrder"},
		{"complete duplicate", "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber>" +
			"</Part><Part><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>",
			1000, &CompleteMultipartUpload{}, "InvalidPartOrder"},
		{"complete part 0", "<CompleteMultipartUpload><Part><PartNumber>0</PartNumber>" +
			"</Part></CompleteMultipartUpload>", 1000, &CompleteMultipartUpload{},
			"InvalidArgument"},
		{"complete part 10001", "<CompleteMultipartUpload><Part><PartNumber>10001" +
			"</PartNumber></Part></CompleteMultipartUpload>", 1000,
			&CompleteMultipartUpload{}, "InvalidArgument"},
		{"complete bad number", "<CompleteMultipartUpload><Part><PartNumber>x" +
			"</PartNumber></Part></CompleteMultipartUpload>", 1000,
			&CompleteMultipartUpload{}, "MalformedXML"},
		{"bucket config", "<CreateBucketConfiguration xmlns=\"" + Namespace + "\">" +
			"<LocationConstraint>eu-west-1</LocationConstraint>" +
			"</CreateBucketConfiguration>", MaxCreateBucketBody,
			&CreateBucketConfiguration{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Decode(strings.NewReader(c.body), c.limit, c.v)
			if c.code == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var se *s3err.Error
			if !errors.As(err, &se) || se.Code != c.code {
				t.Fatalf("err = %v, want %s", err, c.code)
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	var c CompleteMultipartUpload
	body := "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>" +
		"<ETag>&quot;e1&quot;</ETag><ChecksumSHA256>abc=</ChecksumSHA256></Part>" +
		"</CompleteMultipartUpload>"
	if err := Decode(strings.NewReader(body), 1000, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Parts) != 1 || c.Parts[0].ETag != "e1" || c.Parts[0].ChecksumSHA256 != "abc=" {
		t.Fatalf("decoded %+v", c)
	}
	var d Delete
	body = "<Delete><Quiet>true</Quiet><Object><Key>a b+c</Key><VersionId>v1</VersionId>" +
		"</Object><Object><Key> spaced </Key></Object></Delete>"
	if err := Decode(strings.NewReader(body), 1000, &d); err != nil {
		t.Fatal(err)
	}
	if !d.Quiet || len(d.Objects) != 2 || d.Objects[0].Key != "a b+c" ||
		d.Objects[0].VersionID != "v1" || d.Objects[1].Key != " spaced " {
		t.Fatalf("decoded %+v", d)
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

func TestDecodeReadErrors(t *testing.T) {
	err := Decode(failingReader{s3err.ErrSignatureDoesNotMatch}, 100, &Delete{})
	if !errors.Is(err, s3err.ErrSignatureDoesNotMatch) {
		t.Errorf("S3 error not passed through: %v", err)
	}
	err = Decode(failingReader{errors.New("reset")}, 100, &Delete{})
	if s3err.From(err).Code != "InternalError" {
		t.Errorf("read error = %v", err)
	}
}

func FuzzDecodeDelete(f *testing.F) {
	f.Add(deleteBody(2))
	f.Add("<Delete><Object><Key>&lt;x&gt;</Key><VersionId>1</VersionId></Object></Delete>")
	f.Add("<Delete><Quiet>maybe</Quiet></Delete>")
	f.Fuzz(func(t *testing.T, body string) {
		var d Delete
		err := Decode(strings.NewReader(body), MaxDeleteBody, &d)
		if err != nil {
			if se := s3err.From(err); se.HTTPStatus != 400 {
				t.Fatalf("status %d for %v", se.HTTPStatus, err)
			}
			return
		}
		if len(d.Objects) < 1 || len(d.Objects) > MaxDeleteObjects {
			t.Fatalf("accepted %d objects", len(d.Objects))
		}
	})
}

func FuzzDecodeCompleteMultipartUpload(f *testing.F) {
	f.Add("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag>" +
		"</Part></CompleteMultipartUpload>")
	f.Add("<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part>" +
		"<Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>")
	f.Fuzz(func(t *testing.T, body string) {
		var c CompleteMultipartUpload
		err := Decode(strings.NewReader(body), MaxCompleteMultipartUploadBody, &c)
		if err != nil {
			if se := s3err.From(err); se.HTTPStatus != 400 {
				t.Fatalf("status %d for %v", se.HTTPStatus, err)
			}
			return
		}
		prev := 0
		for _, p := range c.Parts {
			if p.PartNumber <= prev || p.PartNumber > MaxParts {
				t.Fatalf("accepted parts %+v", c.Parts)
			}
			prev = p.PartNumber
		}
		// What decodes must survive a round trip.
		b, err := xml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back CompleteMultipartUpload
		if err := Decode(strings.NewReader(string(b)), int64(len(b)), &back); err != nil {
			t.Fatalf("re-decode of %s: %v", b, err)
		}
		if len(back.Parts) != len(c.Parts) {
			t.Fatalf("round trip lost parts")
		}
	})
}

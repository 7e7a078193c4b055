package checksum

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

// Check values from the CRC catalogue ("123456789") and FIPS 180 ("abc").
var vectors = []struct {
	alg   Algorithm
	input string
	hex   string
}{
	{CRC32, "123456789", "cbf43926"},
	{CRC32C, "123456789", "e3069283"},
	{CRC64NVME, "123456789", "ae8b14860a799888"},
	{SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
	{SHA256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	{CRC32, "", "00000000"},
	{CRC64NVME, "", "0000000000000000"},
	{SHA256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
}

func TestAlgorithmVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.alg.String()+"/"+v.input, func(t *testing.T) {
			h := v.alg.New()
			h.Write([]byte(v.input))
			got := h.Sum(nil)
			if hex.EncodeToString(got) != v.hex {
				t.Fatalf("sum = %x, want %s", got, v.hex)
			}
			if len(got) != v.alg.Size() {
				t.Fatalf("size %d, Size() %d", len(got), v.alg.Size())
			}
			enc := v.alg.Encode(got)
			dec, err := v.alg.Decode(enc)
			if err != nil || !bytes.Equal(dec, got) {
				t.Fatalf("round trip %q: %x, %v", enc, dec, err)
			}
		})
	}
}

func TestAlgorithmNames(t *testing.T) {
	for _, a := range Algorithms {
		for _, name := range []string{a.String(), strings.ToLower(a.String())} {
			if got, ok := ParseAlgorithm(name); !ok || got != a {
				t.Errorf("ParseAlgorithm(%q) = %v, %v", name, got, ok)
			}
		}
		for _, name := range []string{a.Header(), strings.ToUpper(a.Header())} {
			if got, ok := FromHeader(name); !ok || got != a {
				t.Errorf("FromHeader(%q) = %v, %v", name, got, ok)
			}
		}
		if a.XMLElement() != "Checksum"+a.String() {
			t.Errorf("XMLElement = %q", a.XMLElement())
		}
	}
	for _, bad := range []string{"", "md5", "crc", "CRC32 ", "sha512"} {
		if _, ok := ParseAlgorithm(bad); ok {
			t.Errorf("ParseAlgorithm(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"x-amz-checksum-algorithm", "x-amz-checksum-type",
		"x-amz-checksum-mode", "x-amz-checksum-", "content-md5", "x-amz-crc32"} {
		if _, ok := FromHeader(bad); ok {
			t.Errorf("FromHeader(%q) accepted", bad)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	crc := base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4})
	cases := []struct {
		alg Algorithm
		v   string
	}{
		{CRC32, ""},
		{CRC32, "AQIDBA"},                 // unpadded
		{CRC32, "AQIDBAU="},               // 5 bytes
		{CRC32, "AQID"},                   // 3 bytes
		{CRC32, "AQ!DBA=="},               // not base64
		{CRC32, "AQIDBQ=="[:7] + "x"},     // bad padding
		{CRC64NVME, crc},                  // right for CRC32, wrong for CRC64
		{SHA256, strings.Repeat("A", 44)}, // 44 chars but no padding: 33 bytes
		{None, crc},
	}
	for _, c := range cases {
		if b, err := c.alg.Decode(c.v); err == nil {
			t.Errorf("%v.Decode(%q) = %x, want error", c.alg, c.v, b)
		}
	}
	if _, err := CRC32.Decode(crc); err != nil {
		t.Fatalf("valid value rejected: %v", err)
	}
}

func b64(a Algorithm, s string) string {
	h := a.New()
	h.Write([]byte(s))
	return a.Encode(h.Sum(nil))
}

func md5b64(s string) string {
	sum := md5.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func TestParseRequest(t *testing.T) {
	crc := b64(CRC32, "x")
	sha := b64(SHA256, "x")
	cases := []struct {
		name    string
		h       map[string]string
		want    Spec // compared on Algorithm, Trailer, Type and presence of values
		wantErr *s3err.Error
		msg     string
	}{
		{name: "none", h: nil},
		{name: "md5", h: map[string]string{"Content-MD5": md5b64("x")},
			want: Spec{MD5: []byte{1}}},
		{name: "md5 empty", h: map[string]string{"Content-MD5": ""},
			wantErr: s3err.ErrInvalidDigest},
		{name: "md5 short", h: map[string]string{"Content-MD5": "AQID"},
			wantErr: s3err.ErrInvalidDigest},
		{name: "crc32", h: map[string]string{"X-Amz-Checksum-Crc32": crc},
			want: Spec{Algorithm: CRC32, Expected: []byte{1}}},
		{name: "sha256 with sdk algorithm", h: map[string]string{
			"X-Amz-Checksum-Sha256": sha, "X-Amz-Sdk-Checksum-Algorithm": "SHA256"},
			want: Spec{Algorithm: SHA256, Expected: []byte{1}}},
		{name: "md5 and crc32", h: map[string]string{
			"Content-MD5": md5b64("x"), "X-Amz-Checksum-Crc32": crc},
			want: Spec{MD5: []byte{1}, Algorithm: CRC32, Expected: []byte{1}}},
		{name: "crc32 bad", h: map[string]string{"X-Amz-Checksum-Crc32": "AQIDBAU="},
			wantErr: s3err.ErrInvalidRequest,
			msg:     "Value for x-amz-checksum-crc32 header is invalid."},
		{name: "sha1 given crc size", h: map[string]string{"X-Amz-Checksum-Sha1": crc},
			wantErr: s3err.ErrInvalidRequest,
			msg:     "Value for x-amz-checksum-sha1 header is invalid."},
		{name: "two headers", h: map[string]string{
			"X-Amz-Checksum-Crc32": crc, "X-Amz-Checksum-Sha256": sha},
			wantErr: s3err.ErrInvalidRequest, msg: errMultipleChecksums.Message},
		{name: "trailer", h: map[string]string{
			"X-Amz-Trailer":                "x-amz-checksum-crc64nvme",
			"X-Amz-Sdk-Checksum-Algorithm": "CRC64NVME"},
			want: Spec{Algorithm: CRC64NVME, Trailer: true}},
		{name: "trailer and header", h: map[string]string{
			"X-Amz-Trailer": "x-amz-checksum-crc32", "X-Amz-Checksum-Crc32": crc},
			wantErr: s3err.ErrInvalidRequest, msg: errMultipleChecksums.Message},
		{name: "two trailers", h: map[string]string{
			"X-Amz-Trailer": "x-amz-checksum-crc32, x-amz-checksum-sha1"},
			wantErr: s3err.ErrInvalidRequest, msg: errMultipleChecksums.Message},
		{name: "unknown trailer", h: map[string]string{"X-Amz-Trailer": "x-foo"},
			wantErr: s3err.ErrInvalidRequest, msg: errBadTrailer.Message},
		{name: "empty trailer", h: map[string]string{"X-Amz-Trailer": ""},
			wantErr: s3err.ErrInvalidRequest, msg: errBadTrailer.Message},
		{name: "sdk algorithm disagrees", h: map[string]string{
			"X-Amz-Checksum-Crc32": crc, "X-Amz-Sdk-Checksum-Algorithm": "SHA256"},
			wantErr: s3err.ErrInvalidRequest, msg: errBadSDKAlgorithm.Message},
		{name: "sdk algorithm unknown", h: map[string]string{
			"X-Amz-Checksum-Crc32": crc, "X-Amz-Sdk-Checksum-Algorithm": "MD5"},
			wantErr: s3err.ErrInvalidRequest, msg: errBadSDKAlgorithm.Message},
		{name: "sdk algorithm alone", h: map[string]string{
			"X-Amz-Sdk-Checksum-Algorithm": "CRC32"},
			wantErr: s3err.ErrInvalidRequest, msg: errSDKAlgorithmAlone.Message},
		{name: "create multipart", h: map[string]string{
			"X-Amz-Checksum-Algorithm": "crc32c", "X-Amz-Checksum-Type": "FULL_OBJECT"},
			want: Spec{Algorithm: CRC32C, Type: TypeFullObject}},
		{name: "create multipart composite", h: map[string]string{
			"X-Amz-Checksum-Algorithm": "SHA1", "X-Amz-Checksum-Type": "COMPOSITE"},
			want: Spec{Algorithm: SHA1, Type: TypeComposite}},
		{name: "create multipart bad algorithm", h: map[string]string{
			"X-Amz-Checksum-Algorithm": "MD5"},
			wantErr: s3err.ErrInvalidRequest, msg: errBadUploadAlgorithm.Message},
		{name: "bad type", h: map[string]string{
			"X-Amz-Checksum-Algorithm": "CRC32", "X-Amz-Checksum-Type": "PARTIAL"},
			wantErr: s3err.ErrInvalidRequest, msg: errBadType.Message},
		{name: "full object sha256", h: map[string]string{
			"X-Amz-Checksum-Algorithm": "SHA256", "X-Amz-Checksum-Type": "FULL_OBJECT"},
			wantErr: s3err.ErrInvalidRequest},
		{name: "composite crc64nvme", h: map[string]string{
			"X-Amz-Checksum-Algorithm": "CRC64NVME", "X-Amz-Checksum-Type": "COMPOSITE"},
			wantErr: s3err.ErrInvalidRequest},
		{name: "full object crc64nvme", h: map[string]string{
			"X-Amz-Checksum-Algorithm": "CRC64NVME", "X-Amz-Checksum-Type": "FULL_OBJECT"},
			want: Spec{Algorithm: CRC64NVME, Type: TypeFullObject}},
		{name: "unknown checksum header ignored", h: map[string]string{
			"X-Amz-Checksum-Md5": "whatever", "X-Amz-Checksum-Mode": "ENABLED"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
			got, err := ParseRequest(h)
			if c.wantErr != nil {
				var se *s3err.Error
				if !errors.As(err, &se) || !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %s", err, c.wantErr.Code)
				}
				if c.msg != "" && se.Message != c.msg {
					t.Errorf("message %q, want %q", se.Message, c.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if got.Algorithm != c.want.Algorithm || got.Trailer != c.want.Trailer ||
				got.Type != c.want.Type || (got.MD5 != nil) != (c.want.MD5 != nil) ||
				(got.Expected != nil) != (c.want.Expected != nil) {
				t.Errorf("spec = %+v, want like %+v", got, c.want)
			}
			if got.Verifies() != (got.MD5 != nil || got.Expected != nil || got.Trailer) {
				t.Errorf("Verifies() = %v for %+v", got.Verifies(), got)
			}
			if got.Expected != nil && got.Algorithm.Encode(got.Expected) != h.Get(got.Algorithm.Header()) {
				t.Errorf("expected value does not round-trip")
			}
		})
	}
}

// readAll reads r to the end and returns its data and the final error
// (nil for a clean io.EOF), as io.ReadAll would.
func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func TestReaderVerifies(t *testing.T) {
	body := "The quick brown fox jumps over the lazy dog"
	for _, a := range Algorithms {
		t.Run(a.String(), func(t *testing.T) {
			h := http.Header{}
			h.Set("Content-MD5", md5b64(body))
			h.Set(a.Header(), b64(a, body))
			spec, err := ParseRequest(h)
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(strings.NewReader(body), spec, nil)
			got, err := readAll(r)
			if err != nil || string(got) != body {
				t.Fatalf("read %q, %v", got, err)
			}
			if !r.Done() {
				t.Errorf("Done() = false after clean EOF")
			}
			sums := r.Sums()
			if sums["content-md5"] != md5b64(body) || sums[a.Header()] != b64(a, body) {
				t.Errorf("Sums() = %v", sums)
			}
			if alg, sum := r.Sum(); alg != a || a.Encode(sum) != b64(a, body) {
				t.Errorf("Sum() = %v %x", alg, sum)
			}
			want := md5.Sum([]byte(body))
			if !bytes.Equal(r.MD5(), want[:]) {
				t.Errorf("MD5() = %x", r.MD5())
			}
		})
	}
}

func TestReaderMismatch(t *testing.T) {
	body := "hello, world"
	for _, a := range Algorithms {
		t.Run(a.String(), func(t *testing.T) {
			h := http.Header{}
			h.Set(a.Header(), b64(a, body+"!"))
			spec, err := ParseRequest(h)
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(strings.NewReader(body), spec, nil)
			got, err := readAll(r)
			if !errors.Is(err, s3err.ErrBadDigest) {
				t.Fatalf("err = %v, want BadDigest", err)
			}
			want := "The " + a.String() + " you specified did not match the calculated checksum."
			if se := s3err.From(err); se.Message != want || se.HTTPStatus != 400 {
				t.Errorf("error %q %d", se.Message, se.HTTPStatus)
			}
			if string(got) != body {
				t.Errorf("data passed through = %q", got)
			}
			if r.Done() {
				t.Errorf("Done() after mismatch")
			}
			// Sticky.
			if n, err2 := r.Read(make([]byte, 4)); n != 0 || err2 != err {
				t.Errorf("second read = %d, %v", n, err2)
			}
			// The computed values are still those of the data.
			if r.Sums()[a.Header()] != b64(a, body) {
				t.Errorf("Sums after mismatch = %v", r.Sums())
			}
		})
	}
	t.Run("MD5", func(t *testing.T) {
		h := http.Header{}
		h.Set("Content-MD5", md5b64(body+"!"))
		h.Set("X-Amz-Checksum-Crc32", b64(CRC32, body))
		spec, err := ParseRequest(h)
		if err != nil {
			t.Fatal(err)
		}
		_, err = readAll(NewReader(strings.NewReader(body), spec, nil))
		se := s3err.From(err)
		if se.Code != "BadDigest" || !strings.Contains(se.Message, "Content-MD5") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestReaderTrailer(t *testing.T) {
	body := strings.Repeat("trailer body ", 1000)
	h := http.Header{}
	h.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
	spec, err := ParseRequest(h)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		trailer func() http.Header
		code    string
	}{
		{"match", func() http.Header {
			return http.Header{"X-Amz-Checksum-Crc32c": {b64(CRC32C, body)}}
		}, ""},
		{"mismatch", func() http.Header {
			return http.Header{"X-Amz-Checksum-Crc32c": {b64(CRC32C, "other")}}
		}, "BadDigest"},
		{"malformed", func() http.Header {
			return http.Header{"X-Amz-Checksum-Crc32c": {"nope"}}
		}, "InvalidRequest"},
		{"absent", func() http.Header { return http.Header{} }, "MalformedTrailerError"},
		{"nil callback", nil, "MalformedTrailerError"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			cb := c.trailer
			if cb != nil {
				cb = func() http.Header { calls++; return c.trailer() }
			}
			_, err := readAll(NewReader(strings.NewReader(body), spec, cb))
			if c.code == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
			} else if s3err.From(err).Code != c.code {
				t.Fatalf("err = %v, want %s", err, c.code)
			}
			if cb != nil && calls != 1 {
				t.Errorf("trailer callback called %d times", calls)
			}
		})
	}
}

// trailerAfterEOF mimics an aws-chunked decoder: its trailers exist only
// once it has returned io.EOF.
type trailerAfterEOF struct {
	r   io.Reader
	eof bool
	h   http.Header
}

func (d *trailerAfterEOF) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err == io.EOF {
		d.eof = true
	}
	return n, err
}

func (d *trailerAfterEOF) Trailer() http.Header {
	if !d.eof {
		return nil
	}
	return d.h
}

func TestReaderAsksForTrailerOnlyAtEOF(t *testing.T) {
	body := "abc"
	d := &trailerAfterEOF{r: iotest.OneByteReader(strings.NewReader(body)),
		h: http.Header{"X-Amz-Checksum-Sha256": {b64(SHA256, body)}}}
	spec := Spec{Algorithm: SHA256, Trailer: true}
	if _, err := readAll(NewReader(d, spec, d.Trailer)); err != nil {
		t.Fatal(err)
	}
}

func TestReaderIOTest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 63, 64, 65, 4096, 100_000} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		sum := md5.Sum(data)
		h := CRC64NVME.New()
		h.Write(data)
		spec := Spec{MD5: sum[:], Algorithm: CRC64NVME, Expected: h.Sum(nil)}
		if err := iotest.TestReader(NewReader(bytes.NewReader(data), spec, nil), data); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
		// One byte at a time and with errors mid-way from the source.
		r := NewReader(iotest.HalfReader(iotest.OneByteReader(bytes.NewReader(data))), spec, nil)
		if got, err := readAll(r); err != nil || !bytes.Equal(got, data) {
			t.Errorf("size %d one byte: %v", size, err)
		}
	}
}

func TestReaderPassesSourceErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(iotest.ErrReader(boom), Spec{Algorithm: CRC32}, nil)
	if _, err := r.Read(make([]byte, 8)); err != boom {
		t.Fatalf("err = %v", err)
	}
	if r.MD5() != nil || r.Sums() != nil {
		t.Errorf("sums available after a failed read")
	}
	if _, err := r.Read(make([]byte, 8)); err != boom {
		t.Fatalf("not sticky: %v", err)
	}
}

func TestReaderSkipMD5(t *testing.T) {
	body := "skip the md5 of this body"
	t.Run("none declared", func(t *testing.T) {
		r := NewReader(strings.NewReader(body), Spec{Algorithm: CRC32C}, nil)
		r.SkipMD5()
		if got, err := readAll(r); err != nil || string(got) != body {
			t.Fatalf("read %q, %v", got, err)
		}
		if r.MD5() != nil {
			t.Errorf("MD5 computed after SkipMD5")
		}
		sums := r.Sums()
		if _, ok := sums["content-md5"]; ok || sums[CRC32C.Header()] != b64(CRC32C, body) {
			t.Errorf("Sums = %v", sums)
		}
	})
	t.Run("Content-MD5 declared", func(t *testing.T) {
		wrong := md5.Sum([]byte("another body"))
		r := NewReader(strings.NewReader(body), Spec{MD5: wrong[:]}, nil)
		r.SkipMD5()
		if _, err := readAll(r); !errors.Is(err, s3err.ErrBadDigest) {
			t.Fatalf("declared MD5 not checked after SkipMD5: %v", err)
		}
	})
}

func TestReaderNoAllocsPerRead(t *testing.T) {
	data := make([]byte, 1<<20)
	r := NewReader(bytes.NewReader(data), Spec{Algorithm: SHA256}, nil)
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Read", allocs)
	}
}

func TestComposite(t *testing.T) {
	parts := []string{"part one", "part two", "part three"}
	for _, a := range Algorithms {
		var raw [][]byte
		var concat []byte
		for _, p := range parts {
			h := a.New()
			h.Write([]byte(p))
			raw = append(raw, h.Sum(nil))
			concat = append(concat, raw[len(raw)-1]...)
		}
		got, err := Composite(a, raw)
		if err != nil {
			t.Fatal(err)
		}
		h := a.New()
		h.Write(concat)
		if want := a.Encode(h.Sum(nil)) + "-3"; got != want {
			t.Errorf("%v: %q, want %q", a, got, want)
		}
		if _, err := Composite(a, [][]byte{raw[0][:1]}); err == nil {
			t.Errorf("%v: short part accepted", a)
		}
	}
	if _, err := Composite(SHA1, nil); err == nil {
		t.Errorf("no parts accepted")
	}
}

func TestCombineCRCMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 20_000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, a := range []Algorithm{CRC32, CRC32C, CRC64NVME} {
		whole := a.New()
		whole.Write(data)
		want := whole.Sum(nil)
		for trial := range 50 {
			// Random cut points, including empty parts.
			nparts := 1 + rng.IntN(6)
			cuts := []int{0}
			for range nparts - 1 {
				cuts = append(cuts, rng.IntN(len(data)+1))
			}
			cuts = append(cuts, len(data))
			sortInts(cuts)
			var parts []Part
			for i := 0; i+1 < len(cuts); i++ {
				h := a.New()
				h.Write(data[cuts[i]:cuts[i+1]])
				parts = append(parts, Part{Sum: h.Sum(nil), Size: int64(cuts[i+1] - cuts[i])})
			}
			got, err := CombineCRC(a, parts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%v trial %d cuts %v: %x, want %x", a, trial, cuts, got, want)
			}
		}
	}
	if _, err := CombineCRC(SHA256, []Part{{Sum: make([]byte, 32)}}); err == nil {
		t.Errorf("SHA256 combine accepted")
	}
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("Content-MD5", md5b64("x"), "X-Amz-Checksum-Crc32", b64(CRC32, "x"))
	f.Add("X-Amz-Trailer", "x-amz-checksum-sha1", "X-Amz-Sdk-Checksum-Algorithm", "SHA1")
	f.Add("X-Amz-Checksum-Algorithm", "CRC64NVME", "X-Amz-Checksum-Type", "FULL_OBJECT")
	f.Add("X-Amz-Checksum-Sha256", "====", "x-amz-checksum-crc32c", "AAAAAA==")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := http.Header{}
		h.Add(k1, v1)
		h.Add(k2, v2)
		spec, err := ParseRequest(h)
		if err != nil {
			if se := s3err.From(err); se.HTTPStatus != 400 {
				t.Fatalf("error %v has status %d", err, se.HTTPStatus)
			}
			return
		}
		if spec.MD5 != nil && len(spec.MD5) != md5.Size {
			t.Fatalf("MD5 of %d bytes", len(spec.MD5))
		}
		if spec.Expected != nil {
			if len(spec.Expected) != spec.Algorithm.Size() {
				t.Fatalf("%v value of %d bytes", spec.Algorithm, len(spec.Expected))
			}
			if spec.Trailer {
				t.Fatalf("both a value and a trailer")
			}
		}
	})
}

func BenchmarkReader(b *testing.B) {
	data := make([]byte, 1<<20)
	buf := make([]byte, 64<<10)
	for _, a := range []Algorithm{None, CRC32C, CRC64NVME, SHA256} {
		b.Run("MD5+"+a.String(), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r := NewReader(bytes.NewReader(data), Spec{Algorithm: a}, nil)
				for {
					if _, err := r.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}

package sigv4

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cloakproxy/cloak/s3compat/s3err"
)

const testChunk = 1000

type streamKind struct {
	name    string
	trailer bool
	opts    ChunkedOptions
	mode    PayloadMode
}

var streamKinds = []streamKind{
	{name: "signed", opts: ChunkedOptions{ChunkSize: testChunk}, mode: PayloadStreaming},
	{name: "signed-trailer", trailer: true, mode: PayloadStreamingTrailer,
		opts: ChunkedOptions{ChunkSize: testChunk,
			Trailer: http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}}},
	{name: "unsigned-trailer", trailer: true, mode: PayloadStreamingUnsignedTrailer,
		opts: ChunkedOptions{ChunkSize: testChunk, Unsigned: true,
			Trailer: http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}}},
}

func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// streamRequest returns a request signed for an aws-chunked upload of
// data, and its encoded body.
func streamRequest(t testing.TB, k streamKind, data []byte) (*http.Request, []byte) {
	t.Helper()
	r := newRequest("PUT", "/bucket/stream", nil)
	SignChunked(r, testCred, testRegion, testTime, bytes.NewReader(data), int64(len(data)), k.opts)
	enc, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(enc)) != r.ContentLength {
		t.Fatalf("encoded %d bytes, ContentLength says %d", len(enc), r.ContentLength)
	}
	return r, enc
}

// withBody returns a copy of r with body. The signed Content-Length is
// kept, so that a changed body tests the decoder, not the seed signature.
func withBody(r *http.Request, body []byte) *http.Request {
	c := r.Clone(r.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	return c
}

func TestChunkedRoundTrip(t *testing.T) {
	sizes := []int{0, 1, testChunk - 1, testChunk, testChunk + 1, 3*testChunk + 5}
	for _, k := range streamKinds {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("%s/%d", k.name, n), func(t *testing.T) {
				data := payloadOf(n)
				r, enc := streamRequest(t, k, data)
				a, err := verifierAt(testTime).Verify(withBody(r, enc))
				wantS3(t, err, nil)
				if a.PayloadMode != k.mode {
					t.Fatalf("mode %v, want %v", a.PayloadMode, k.mode)
				}
				pr, err := a.Body(withBody(r, enc))
				wantS3(t, err, nil)
				if pr.DecodedLength() != int64(n) {
					t.Fatalf("decoded length %d", pr.DecodedLength())
				}
				if err := iotest.TestReader(pr, data); err != nil {
					t.Fatal(err)
				}
				tr := pr.Trailer()
				if k.trailer && tr.Get("X-Amz-Checksum-Crc32") != "AAAAAA==" {
					t.Fatalf("trailer %v", tr)
				}
			})
		}
	}
}

func TestChunkedOneByteReads(t *testing.T) {
	data := payloadOf(2*testChunk + 3)
	for _, k := range streamKinds {
		r, enc := streamRequest(t, k, data)
		req := withBody(r, nil)
		req.Body = io.NopCloser(iotest.OneByteReader(bytes.NewReader(enc)))
		got, _, err := readBody(verifierAt(testTime), req)
		wantS3(t, err, nil)
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: decoded payload differs", k.name)
		}
	}
}

// finalChunkAt returns the offset of the zero-length chunk header.
func finalChunkAt(enc []byte, signed bool) int {
	if signed {
		return bytes.LastIndex(enc, []byte("0;chunk-signature="))
	}
	return bytes.LastIndex(enc, []byte("\r\n0\r\n")) + 2
}

func TestChunkedTampered(t *testing.T) {
	data := payloadOf(2*testChunk + 10)
	type change func(k streamKind, enc []byte) []byte
	flipAt := func(off func(enc []byte) int) change {
		return func(_ streamKind, enc []byte) []byte {
			i := off(enc)
			enc[i] = flipByte(enc[i])
			return enc
		}
	}
	cases := []struct {
		name   string
		kinds  string // which stream kinds the case applies to
		change change
		want   map[string]*s3err.Error // by kind; missing: the "" entry
	}{
		{name: "changed body byte", kinds: "signed signed-trailer",
			change: flipAt(func(enc []byte) int { return bytes.Index(enc, []byte("\r\n")) + 10 }),
			want:   map[string]*s3err.Error{"": s3err.ErrSignatureDoesNotMatch}},
		{name: "changed chunk signature", kinds: "signed signed-trailer",
			change: flipAt(func(enc []byte) int { return bytes.Index(enc, []byte("=")) + 5 }),
			want:   map[string]*s3err.Error{"": s3err.ErrSignatureDoesNotMatch}},
		{name: "changed final chunk signature", kinds: "signed signed-trailer",
			change: flipAt(func(enc []byte) int {
				return bytes.LastIndex(enc, []byte("0;chunk-signature=")) + 20
			}),
			want: map[string]*s3err.Error{"": s3err.ErrSignatureDoesNotMatch}},
		{name: "dropped final chunk", kinds: "signed signed-trailer unsigned-trailer",
			change: func(k streamKind, enc []byte) []byte {
				return enc[:finalChunkAt(enc, !k.opts.Unsigned)]
			},
			want: map[string]*s3err.Error{"": s3err.ErrIncompleteBody}},
		{name: "dropped middle chunk", kinds: "signed signed-trailer",
			change: func(k streamKind, enc []byte) []byte {
				first := bytes.Index(enc, []byte(";chunk"))
				second := bytes.Index(enc[first+1:], []byte("\r\n3e8;")) + first + 3
				third := bytes.Index(enc[second:], []byte("\r\na;")) + second + 2
				return append(enc[:second:second], enc[third:]...)
			},
			want: map[string]*s3err.Error{"": s3err.ErrSignatureDoesNotMatch}},
		{name: "truncated in chunk data", kinds: "signed signed-trailer unsigned-trailer",
			change: func(_ streamKind, enc []byte) []byte { return enc[:testChunk/2] },
			want:   map[string]*s3err.Error{"": s3err.ErrIncompleteBody}},
		{name: "extra data after final chunk", kinds: "signed signed-trailer unsigned-trailer",
			change: func(_ streamKind, enc []byte) []byte { return append(enc, "junk\r\n"...) },
			want: map[string]*s3err.Error{"signed": s3err.ErrInvalidRequest,
				"": s3err.ErrMalformedTrailer}},
		{name: "extra chunk after final chunk", kinds: "signed",
			change: func(_ streamKind, enc []byte) []byte { return append(enc, "5\r\nhello\r\n"...) },
			want:   map[string]*s3err.Error{"": s3err.ErrInvalidRequest}},
		{name: "wrong trailer signature", kinds: "signed-trailer",
			change: flipAt(func(enc []byte) int {
				return bytes.Index(enc, []byte("x-amz-trailer-signature:")) + 30
			}),
			want: map[string]*s3err.Error{"": s3err.ErrSignatureDoesNotMatch}},
		{name: "changed trailer value", kinds: "signed-trailer",
			change: flipAt(func(enc []byte) int {
				return bytes.Index(enc, []byte("x-amz-checksum-crc32:")) + 22
			}),
			want: map[string]*s3err.Error{"": s3err.ErrSignatureDoesNotMatch}},
		{name: "missing trailer signature", kinds: "signed-trailer",
			change: func(_ streamKind, enc []byte) []byte {
				return enc[:bytes.Index(enc, []byte("x-amz-trailer-signature:"))]
			},
			want: map[string]*s3err.Error{"": s3err.ErrMalformedTrailer}},
		{name: "trailer name not declared", kinds: "signed-trailer unsigned-trailer",
			change: func(_ streamKind, enc []byte) []byte {
				i := bytes.Index(enc, []byte("x-amz-checksum-crc32:"))
				return append(enc[:i:i], append([]byte("x-amz-checksum-sha1:AA==\r\n"),
					enc[i:]...)...)
			},
			want: map[string]*s3err.Error{"": s3err.ErrMalformedTrailer}},
		{name: "declared trailer missing", kinds: "unsigned-trailer",
			change: func(_ streamKind, enc []byte) []byte {
				return enc[:bytes.Index(enc, []byte("x-amz-checksum-crc32:"))]
			},
			want: map[string]*s3err.Error{"": s3err.ErrMalformedTrailer}},
		{name: "chunk too large", kinds: "signed unsigned-trailer",
			change: func(k streamKind, enc []byte) []byte {
				i := bytes.IndexAny(enc, ";\r")
				return append([]byte("1000001"), enc[i:]...)
			},
			want: map[string]*s3err.Error{"": s3err.ErrInvalidRequest}},
		{name: "chunk header line too long", kinds: "signed unsigned-trailer",
			change: func(_ streamKind, enc []byte) []byte {
				return append(bytes.Repeat([]byte("0"), 2*maxLineLen), enc...)
			},
			want: map[string]*s3err.Error{"": s3err.ErrInvalidRequest}},
		{name: "chunk data not followed by CRLF", kinds: "unsigned-trailer",
			change: flipAt(func(enc []byte) int { return bytes.Index(enc, []byte("\r\n")) + 2 + testChunk }),
			want:   map[string]*s3err.Error{"": s3err.ErrInvalidRequest}},
		{name: "chunk signature on unsigned stream", kinds: "unsigned-trailer",
			change: func(_ streamKind, enc []byte) []byte {
				i := bytes.Index(enc, []byte("\r\n"))
				return append(append(enc[:i:i], ";chunk-signature="+strings.Repeat("0", 64)...),
					enc[i:]...)
			},
			want: map[string]*s3err.Error{"": s3err.ErrInvalidRequest}},
	}
	for _, tc := range cases {
		for _, k := range streamKinds {
			if !strings.Contains(" "+tc.kinds+" ", " "+k.name+" ") {
				continue
			}
			t.Run(tc.name+"/"+k.name, func(t *testing.T) {
				r, enc := streamRequest(t, k, data)
				bad := tc.change(k, bytes.Clone(enc))
				want, ok := tc.want[k.name]
				if !ok {
					want = tc.want[""]
				}
				got, _, err := readBody(verifierAt(testTime), withBody(r, bad))
				wantS3(t, err, want)
				if k.opts.Unsigned {
					return
				}
				if !bytes.HasPrefix(data, got) {
					t.Fatalf("released bytes that were not signed")
				}
			})
		}
	}
}

func TestChunkedDecodedLengthMismatch(t *testing.T) {
	data := payloadOf(2500)
	for _, k := range streamKinds {
		for _, declared := range []int64{2499, 2501} {
			r := newRequest("PUT", "/bucket/stream", nil)
			SignChunked(r, testCred, testRegion, testTime, bytes.NewReader(data), declared, k.opts)
			_, _, err := readBody(verifierAt(testTime), r)
			wantS3(t, err, s3err.ErrIncompleteBody)
		}
	}
}

func TestChunkedBadDecodedLengthHeader(t *testing.T) {
	r := newRequest("PUT", "/bucket/stream", nil)
	SignChunked(r, testCred, testRegion, testTime, bytes.NewReader(nil), 0, streamKinds[0].opts)
	r.Header.Set("X-Amz-Decoded-Content-Length", "-1")
	r.Header.Set("Authorization", "") // the header is signed; test the parser alone
	a := &Auth{PayloadMode: PayloadStreaming}
	_, err := a.Body(r)
	wantS3(t, err, s3err.ErrInvalidArgument)
}

func BenchmarkChunkVerify(b *testing.B) {
	data := payloadOf(8 << 20)
	k := streamKind{opts: ChunkedOptions{ChunkSize: 64 << 10}}
	r, enc := streamRequest(b, k, data)
	v := verifierAt(testTime)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		req := withBody(r, enc)
		a, err := v.Verify(req)
		if err != nil {
			b.Fatal(err)
		}
		pr, _ := a.Body(req)
		if _, err := io.Copy(io.Discard, pr); err != nil {
			b.Fatal(err)
		}
	}
}

package sigv4

import (
	"bytes"
	"io"
	"net/url"
	"testing"
	"time"
)

func FuzzParseAuthHeader(f *testing.F) {
	r := newRequest("GET", "/bucket/key", nil)
	SignRequest(r, testCred, testRegion, "s3", testTime, sha256Hex(nil))
	f.Add(r.Header.Get("Authorization"))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=host,Signature=00")
	f.Add("AWS AKID:sig")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseAuthHeader(s)
		if err != nil {
			return
		}
		if len(p.signature) != 32 || p.accessKey == "" || len(p.signedHeaders) == 0 {
			t.Fatalf("accepted incomplete header %q: %+v", s, p)
		}
	})
}

func FuzzParsePresignQuery(f *testing.F) {
	r := newRequest("GET", "/bucket/key?versionId=1", nil)
	Presign(r, testCred, testRegion, "s3", testTime, time.Hour)
	f.Add(r.URL.RawQuery)
	f.Add("X-Amz-Expires=604801")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parsePresignQuery(q)
		if err != nil {
			return
		}
		if p.expires > MaxPresignExpiry || p.expires < 0 || len(p.signature) != 32 {
			t.Fatalf("accepted bad query %q: %+v", raw, p)
		}
	})
}

// FuzzChunkedDecoder feeds random bodies to a request whose headers were
// validly signed for one known payload. Whatever the body, the decoder
// must not panic, and in the signed modes it must never release a byte
// that is not a prefix of the payload the signer signed.
func FuzzChunkedDecoder(f *testing.F) {
	data := payloadOf(2*testChunk + 10)
	for i, k := range streamKinds {
		_, enc := streamRequest(f, k, data)
		f.Add(uint8(i), enc)
		f.Add(uint8(i), enc[:len(enc)/2])
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		k := streamKinds[int(kind)%len(streamKinds)]
		r, _ := streamRequest(t, k, data)
		req := withBody(r, body)
		a, err := verifierAt(testTime).Verify(req)
		if err != nil {
			t.Fatalf("headers no longer verify: %v", err)
		}
		pr, err := a.Body(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(io.LimitReader(pr, int64(len(data))+1))
		if k.opts.Unsigned {
			if err == nil && len(got) != len(data) {
				t.Fatalf("accepted %d bytes, declared %d", len(got), len(data))
			}
			return
		}
		if !bytes.HasPrefix(data, got) {
			t.Fatalf("released %d bytes the signer did not sign", len(got))
		}
		if err == nil && !bytes.Equal(got, data) {
			t.Fatal("accepted a different payload")
		}
	})
}

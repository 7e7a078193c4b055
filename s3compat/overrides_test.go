package s3compat

import (
	"net/url"
	"testing"
)

func TestResponseOverrides(t *testing.T) {
	q, err := url.ParseQuery("response-content-type=text%2Fplain&response-content-language=de" +
		"&response-expires=Thu%2C%2001%20Dec%201994%2016%3A00%3A00%20GMT&response-cache-control=no-cache" +
		"&response-content-disposition=attachment%3B%20filename%3D%22a%20b.pdf%22" +
		"&response-content-encoding=gzip&response-content-length=5&x-id=GetObject&response-cache=")
	if err != nil {
		t.Fatal(err)
	}
	h := ResponseOverrides(q)
	want := map[string]string{
		"Content-Type": "text/plain", "Content-Language": "de",
		"Expires": "Thu, 01 Dec 1994 16:00:00 GMT", "Cache-Control": "no-cache",
		"Content-Disposition": `attachment; filename="a b.pdf"`, "Content-Encoding": "gzip",
	}
	if len(h) != len(want) {
		t.Fatalf("got %d headers %v, want %d", len(h), h, len(want))
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s: got %q, want %q", k, h.Get(k), v)
		}
	}
	if len(ResponseOverrides(url.Values{"response-content-type": {""}})) != 0 {
		t.Error("an empty override was applied")
	}
}

package s3compat

import (
	"net/http"
	"net/url"
)

// responseOverrides maps the query parameters of a GET or HEAD that
// override a response header to the header each sets.
var responseOverrides = []struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// ResponseOverrides returns the response headers that the query of a
// signed GET or HEAD asks to override (response-content-type and its
// five siblings), canonically named, for the caller to set over the
// object's own. Presigned download links use them to give a file name
// (Content-Disposition) or a type. Empty values are ignored.
func ResponseOverrides(q url.Values) http.Header {
	h := http.Header{}
	for _, o := range responseOverrides {
		if v := q.Get(o.param); v != "" {
			h.Set(o.header, v)
		}
	}
	return h
}

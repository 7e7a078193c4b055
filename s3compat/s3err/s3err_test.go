package s3err

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWrite_XMLBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/bucket/some%20key", nil)
	w := httptest.NewRecorder()
	got := Write(w, r, ErrNoSuchKey, Context{RequestID: "req-1", Bucket: "bucket", Key: "some key"})
	if got.Code != "NoSuchKey" {
		t.Fatalf("returned code %q", got.Code)
	}
	if w.Code != http.StatusNotFound {
		t.Errorf("status = %d, want 404", w.Code)
	}
	if w.Header().Get("X-Amz-Request-Id") != "req-1" {
		t.Errorf("missing x-amz-request-id")
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/xml" {
		t.Errorf("content type %q", ct)
	}
	var body errorBody
	if err := xml.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body is not XML: %v\n%s", err, w.Body.String())
	}
	if body.Code != "NoSuchKey" || body.RequestID != "req-1" || body.Resource != "/bucket/some key" ||
		body.Key != "some key" || body.BucketName != "bucket" {
		t.Errorf("unexpected body %+v", body)
	}
	if !strings.HasPrefix(w.Body.String(), "<?xml") {
		t.Errorf("body lacks XML declaration")
	}
}

func TestWrite_HeadHasNoBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodHead, "/b/k", nil)
	w := httptest.NewRecorder()
	Write(w, r, ErrNoSuchKey, Context{RequestID: "x"})
	if w.Code != 404 || w.Body.Len() != 0 {
		t.Errorf("HEAD error: status %d body %q", w.Code, w.Body.String())
	}
}

func TestWrite_ForeignErrorIsInternal(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/b/k", nil)
	w := httptest.NewRecorder()
	secret := errors.New("dial tcp 10.0.0.1: password=hunter2")
	got := Write(w, r, fmt.Errorf("backend: %w", secret), Context{})
	if got.Code != "InternalError" || w.Code != 500 {
		t.Fatalf("got %s / %d", got.Code, w.Code)
	}
	if strings.Contains(w.Body.String(), "hunter2") {
		t.Errorf("internal error text leaked into the response: %s", w.Body.String())
	}
	if !errors.Is(got, secret) {
		t.Errorf("cause not kept for logs")
	}
}

func TestIs_MatchesByCode(t *testing.T) {
	custom := ErrInvalidArgument.WithMessage("part number out of range")
	wrapped := fmt.Errorf("upload part: %w", custom)
	if !errors.Is(wrapped, ErrInvalidArgument) {
		t.Error("errors.Is should match a customised error by code")
	}
	if errors.Is(wrapped, ErrNoSuchKey) {
		t.Error("errors.Is matched a different code")
	}
	if ErrInvalidArgument.Message == custom.Message {
		t.Error("WithMessage modified the table entry")
	}
}

func TestTable_Sane(t *testing.T) {
	for _, e := range []*Error{ErrAccessDenied, ErrBadDigest, ErrInvalidRange, ErrNoSuchUpload,
		ErrSignatureDoesNotMatch, ErrRequestTimeTooSkewed, ErrMissingContentLength} {
		if e.Code == "" || e.Message == "" || e.HTTPStatus < 300 {
			t.Errorf("bad table entry %+v", e)
		}
	}
}

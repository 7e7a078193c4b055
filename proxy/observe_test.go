package proxy

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// refusingObserver refuses every request and keeps the summaries.
type refusingObserver struct{ done []*Summary }

func (o *refusingObserver) Admit(*http.Request) error { return errors.New("audit sink is failing") }
func (o *refusingObserver) Done(s *Summary)           { o.done = append(o.done, s) }

func TestObserverRefusalIsServiceUnavailable(t *testing.T) {
	store, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	obs := &refusingObserver{}
	srv, err := New(Options{Store: store, Keys: crypto.NewMemoryKeyRing(rand.Reader),
		Credentials: sigv4.StaticCredentials{}, Observer: obs,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/bucket/key", nil))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "<Code>ServiceUnavailable</Code>") ||
		!strings.Contains(w.Body.String(), "audit log is unavailable") {
		t.Fatalf("status %d body %s", w.Code, w.Body.String())
	}
	if len(obs.done) != 1 || obs.done[0].Admitted || obs.done[0].Status != 503 ||
		obs.done[0].Code != "ServiceUnavailable" || obs.done[0].Bucket != "bucket" ||
		obs.done[0].Op != "GetObject" {
		t.Fatalf("summaries %+v", obs.done)
	}
}

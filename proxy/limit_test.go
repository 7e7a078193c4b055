package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// heldStore is a store whose HeadBucket calls report that they started
// and then wait until release is closed, so that a test can hold a known
// number of requests in flight.
type heldStore struct {
	backend.Store
	entered chan struct{}
	release chan struct{}
}

func (h *heldStore) HeadBucket(ctx context.Context, bucket string) error {
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return h.Store.HeadBucket(ctx, bucket)
}

// TestMaxRequests_OneMoreIsSlowDown holds MaxRequests requests inside the
// store, checks that one more is answered 503 SlowDown at once without
// reaching the store, and that the held ones then all succeed and free
// their slots.
func TestMaxRequests_OneMoreIsSlowDown(t *testing.T) {
	const limit = 3
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := local.CreateBucket(context.Background(), "held"); err != nil {
		t.Fatal(err)
	}
	store := &heldStore{Store: local, entered: make(chan struct{}, limit+1),
		release: make(chan struct{})}
	ring := crypto.NewMemoryKeyRing(nil)
	if err := ring.Add("test", 1, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	cred := sigv4.Credential{AccessKey: "limit-test", SecretKey: "limit-test-secret"}
	srv, err := New(Options{Store: store, Keys: ring, MaxRequests: limit,
		Credentials: sigv4.StaticCredentials{cred.AccessKey: cred.SecretKey},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ts.Client().Timeout = 10 * time.Second
	var once sync.Once
	release := func() { once.Do(func() { close(store.release) }) }
	defer release() // before ts.Close, which waits for the held requests
	headBucket := func() (*http.Response, error) {
		req, err := http.NewRequest(http.MethodHead, ts.URL+"/held", nil)
		if err != nil {
			return nil, err
		}
		sigv4.SignRequest(req, cred, "us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)
		return ts.Client().Do(req)
	}

	statuses := make(chan int, limit)
	for range limit {
		go func() {
			resp, err := headBucket()
			if err != nil {
				t.Error(err)
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	deadline := time.After(10 * time.Second)
	for range limit {
		select {
		case <-store.entered:
		case <-deadline:
			t.Fatal("the held requests did not reach the store")
		}
	}

	over, err := rawGet(ts, cred)
	if err != nil {
		t.Fatal(err)
	}
	if over.status != http.StatusServiceUnavailable || !strings.Contains(over.body, "<Code>SlowDown</Code>") {
		t.Errorf("request %d: status %d, body %s; want 503 SlowDown", limit+1, over.status, over.body)
	}
	select {
	case <-store.entered:
		t.Error("the refused request reached the store")
	default:
	}

	release()
	for range limit {
		select {
		case st := <-statuses:
			if st != http.StatusOK {
				t.Errorf("held request: status %d, want 200", st)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("held requests did not finish")
		}
	}
	// Their slots are free again: the next request is served.
	resp, err := headBucket()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("request after the others finished: status %d, want 200", resp.StatusCode)
	}
}

type rawResponse struct {
	status int
	body   string
}

// rawGet sends a signed GetBucketLocation, which would reach the store's
// HeadBucket if it were served, and returns the status and body.
func rawGet(ts *httptest.Server, cred sigv4.Credential) (rawResponse, error) {
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/held?location", nil)
	if err != nil {
		return rawResponse{}, err
	}
	sigv4.SignRequest(req, cred, "us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)
	resp, err := ts.Client().Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return rawResponse{status: resp.StatusCode, body: string(b)}, err
}

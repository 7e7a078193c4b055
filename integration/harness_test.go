// Package integration runs Cloak end to end: the real proxy pipeline in
// front of real stores (the embedded local directory store and a real
// MinIO server started by the tests), driven by the real SDKs.
package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/backend/s3store"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/integration/miniotest"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

const (
	testAccess = "AKIACLOAKTEST"
	testSecret = "cloak-test-secret-key-0123456789"
)

// env is one running Cloak with its store and clients.
type env struct {
	store  backend.Store
	srv    *httptest.Server
	aws    *s3.Client
	minio  *minio.Client
	region string
}

// backends are the stores every scenario runs against.
var backends = []struct {
	name string
	open func(t *testing.T) backend.Store
}{
	{"local", func(t *testing.T) backend.Store {
		st, err := localstore.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
	{"minio", func(t *testing.T) backend.Store {
		m := miniotest.Start(t)
		st, err := s3store.New(s3store.Config{
			Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
			Lookup: "path", Region: "us-east-1",
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
}

// forEachBackend runs fn against a fresh Cloak over each store.
func forEachBackend(t *testing.T, opts proxy.Options, fn func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			fn(t, newEnv(t, b.open(t), opts))
		})
	}
}

func newEnv(t testing.TB, store backend.Store, opts proxy.Options) *env {
	t.Helper()
	if opts.Keys == nil {
		ring := crypto.NewMemoryKeyRing(nil)
		kek := make([]byte, 32)
		rand.Read(kek)
		if err := ring.Add("test-master", 1, kek); err != nil {
			t.Fatal(err)
		}
		opts.Keys = ring
	}
	opts.Store = store
	opts.Credentials = sigv4.StaticCredentials{testAccess: testSecret}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := proxy.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return envFor(t, store, h)
}

// envFor serves h (Cloak over store, perhaps wrapped) on TLS and returns
// the env with clients for it.
func envFor(t testing.TB, store backend.Store, h http.Handler) *env {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	e := &env{store: store, srv: srv, region: "us-east-1"}
	e.aws = s3.New(s3.Options{
		Region:       e.region,
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		HTTPClient:   srv.Client(),
		Credentials:  credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
	})
	u, _ := url.Parse(srv.URL)
	var err error
	e.minio, err = minio.New(u.Host, &minio.Options{
		Creds:     mcreds.NewStaticV4(testAccess, testSecret, ""),
		Secure:    true,
		Transport: srv.Client().Transport.(*http.Transport),
		Region:    e.region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// mkBucket creates a bucket through Cloak.
func (e *env) mkBucket(t *testing.T, name string) {
	t.Helper()
	if _, err := e.aws.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

// raw returns what the store holds for bucket/key: body and metadata.
func (e *env) raw(t *testing.T, bucket, key string) ([]byte, map[string]string) {
	t.Helper()
	rc, info, err := e.store.GetObject(context.Background(), bucket, key, 0, -1, backend.GetOptions{})
	if err != nil {
		t.Fatalf("raw get: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	head, err := e.store.HeadObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	_ = info
	return b, head.Metadata
}

// randomBytes returns n random bytes (incompressible, and unlikely to
// appear in ciphertext by chance).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// containsWindow reports whether any 32-byte window of needle (or all of
// it, when shorter but long enough not to occur by chance) occurs in
// haystack.
func containsWindow(haystack, needle []byte) bool {
	const w = 32
	if len(needle) <= w {
		return len(needle) >= 8 && bytes.Contains(haystack, needle)
	}
	for i := 0; i+w <= len(needle); i += 4096 {
		if bytes.Contains(haystack, needle[i:i+w]) {
			return true
		}
	}
	return false
}

package s3store

import (
	"io"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/backendtest"
	"github.com/cloakproxy/cloak/integration/miniotest"
)

func TestConformanceMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	st, err := New(Config{Endpoint: srv.Endpoint, Region: "us-east-1",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Lookup: LookupPath,
		PartSize: MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	backendtest.Run(t, backendtest.Config{
		NewStore:         func(t *testing.T) backend.Store { return st },
		PartSize:         MinPartSize,
		UnknownSizeBytes: 3*MinPartSize + 12345,
		ListsMetadata:    true,
	})
}

// TestTLSWithCAFile talks HTTPS to a MinIO with a self-signed
// certificate, trusted only through Config.CAFile.
func TestTLSWithCAFile(t *testing.T) {
	srv := miniotest.StartTLS(t)
	cfg := Config{Endpoint: srv.Endpoint, Region: "us-east-1", AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey, Lookup: LookupPath, MaxRetries: 1}
	untrusted, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = untrusted.CreateBucket(t.Context(), "tls-bucket")
	if err == nil {
		t.Fatal("CreateBucket over TLS without the CA succeeded")
	}
	if strings.Contains(err.Error(), srv.SecretKey) {
		t.Errorf("error shows the secret key: %v", err)
	}
	cfg.CAFile = srv.CAFile
	st, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := t.Context()
	if err := st.CreateBucket(c, "tls-bucket"); err != nil {
		t.Fatalf("CreateBucket over TLS: %v", err)
	}
	body := "over tls"
	if _, err := st.PutObject(c, "tls-bucket", "k", strings.NewReader(body), int64(len(body)),
		backend.PutOptions{Metadata: map[string]string{"m": "ü"}}); err != nil {
		t.Fatal(err)
	}
	rc, info, err := st.GetObject(c, "tls-bucket", "k", 0, -1, backend.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != body || info.Metadata["m"] != "ü" {
		t.Errorf("read %q meta %v", got, info.Metadata)
	}
}

// TestWrongCredentials checks that a signature failure is reported
// without the secret.
func TestWrongCredentials(t *testing.T) {
	srv := miniotest.Start(t)
	const wrong = "wrong-secret-value-123"
	st, err := New(Config{Endpoint: srv.Endpoint, Region: "us-east-1", AccessKey: srv.AccessKey,
		SecretKey: wrong, Lookup: LookupPath, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.ListBuckets(t.Context())
	if err == nil {
		t.Fatal("ListBuckets with a wrong secret succeeded")
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error shows the secret: %v", err)
	}
}

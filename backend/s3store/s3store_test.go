package s3store

import (
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
	})
}

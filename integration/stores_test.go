package integration

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/backend/s3store"
	"github.com/cloakproxy/cloak/integration/miniotest"
	"github.com/cloakproxy/cloak/proxy"
)

// The helpers below open the same stores as backends, but hand the test
// what it needs beyond the store: the local store's directory (to look
// for temp files) or the MinIO server (to stop it).

// newLocalEnv runs Cloak over a local store and returns the store's
// directory.
func newLocalEnv(t *testing.T, opts proxy.Options) (*env, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := localstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, st, opts), dir
}

// newMinioEnv runs Cloak over a fresh MinIO server. maxRetries bounds the
// store's attempts per request (0 is the s3store default of 10, which
// retries a dead server for seconds).
func newMinioEnv(t *testing.T, opts proxy.Options, maxRetries int) (*env, *miniotest.Server) {
	t.Helper()
	m := miniotest.Start(t)
	st, err := s3store.New(s3store.Config{
		Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		Lookup: "path", Region: "us-east-1", MaxRetries: maxRetries,
	})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, st, opts), m
}

// noRetries returns the env's AWS client without SDK retries, so a test
// sees the first answer to each request.
func (e *env) noRetries() *s3.Client {
	return s3.New(e.aws.Options(), func(o *s3.Options) { o.Retryer = aws.NopRetryer{} })
}

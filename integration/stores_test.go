package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/backend/s3store"
	"github.com/cloakproxy/cloak/integration/miniotest"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
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
// sees the first answer to each request. Like the SDK's default HTTP
// client (and unlike httptest's), it waits up to a second for 100 Continue
// before it sends a large body.
func (e *env) noRetries() *s3.Client {
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = time.Second
	return s3.New(e.aws.Options(), func(o *s3.Options) {
		o.Retryer = aws.NopRetryer{}
		o.HTTPClient = &http.Client{Transport: tr}
	})
}

// signForTest signs req as the test user, with an unsigned payload.
func signForTest(req *http.Request, region string) {
	cred := sigv4.Credential{AccessKey: testAccess, SecretKey: testSecret}
	sigv4.SignRequest(req, cred, region, "s3", time.Now(), sigv4.UnsignedPayload)
}

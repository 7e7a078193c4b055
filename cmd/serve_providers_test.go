package cmd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/keys/awskms/kmstest"
	"github.com/cloakproxy/cloak/keys/pkcs11/hsmtest"
	"github.com/cloakproxy/cloak/proxy"
)

// TestServe_KeyProviders starts cloak serve with master keys in real
// local-kms and in a real SoftHSM token, writes and reads an object, and
// checks that the stored envelope names the provider's key.
func TestServe_KeyProviders(t *testing.T) {
	t.Run("awskms", func(t *testing.T) {
		srv := kmstest.Start(t)
		arn := srv.CreateKey(t)
		serveAndCheck(t, map[string]string{
			"CLOAK_KEYS_PROVIDER": "awskms", "CLOAK_KEYS_AWSKMS_KEY_ID": arn,
			"CLOAK_KEYS_AWSKMS_ENDPOINT": srv.Endpoint, "CLOAK_KEYS_AWSKMS_REGION": srv.Region,
			"CLOAK_KEYS_AWSKMS_ACCESS_KEY": srv.AccessKey, "CLOAK_KEYS_AWSKMS_SECRET_KEY": srv.SecretKey,
		}, arn)
	})
	t.Run("pkcs11", func(t *testing.T) {
		h := hsmtest.Start(t)
		serveAndCheck(t, map[string]string{
			"CLOAK_KEYS_PROVIDER": "pkcs11", "CLOAK_KEYS_PKCS11_MODULE": h.Module,
			"CLOAK_KEYS_PKCS11_TOKEN_LABEL": h.TokenLabel, "CLOAK_KEYS_PKCS11_PIN": h.PIN,
			"CLOAK_KEYS_PKCS11_KEY_LABEL": h.KeyLabel,
		}, h.KeyLabel)
	})
}

// serveAndCheck runs serve over plain HTTP on loopback with env, puts and
// gets an object, and checks its envelope names wantKeyID.
func serveAndCheck(t *testing.T, env map[string]string, wantKeyID string) {
	t.Helper()
	data := t.TempDir()
	env["CLOAK_ROOT_ACCESS_KEY"], env["CLOAK_ROOT_SECRET_KEY"] = "provider-test", "provider-test-secret-key"
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError),
		[]string{"--data", data, "--listen", "127.0.0.1:0", "--insecure-http"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, cfg)
	ctx, endpoint := srv.ctx, srv.endpoint()
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("provider-test", "provider-test-secret-key", "")})
	putGetRoundTrip(t, ctx, client, "prov", bytes.Repeat([]byte("provider "), 500))
	st, err := localstore.New(filepath.Join(data, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.HeadObject(ctx, "prov", "doc")
	if err != nil {
		t.Fatal(err)
	}
	ref, _, ok, err := proxy.StoredKey(head.Metadata)
	if err != nil || !ok || ref.ID != wantKeyID {
		t.Fatalf("stored under %+v (%v), want key %s", ref, err, wantKeyID)
	}
	if _, err := os.Stat(filepath.Join(data, "keyring")); err == nil {
		t.Error("a key ring file was created although another provider is configured")
	}
	if _, err := srv.stop(t); err != nil {
		t.Fatalf("serve returned %v after shutdown", err)
	}
}

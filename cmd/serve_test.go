package cmd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/config"
)

// TestServe_ZeroConfigStartsAWorkingProxy runs the serve command the way
// the README's first command does (no configuration but a data directory
// and a free port), reads what it prints, and uses it with the AWS SDK
// over TLS, trusting only the self-signed certificate it generated.
func TestServe_ZeroConfigStartsAWorkingProxy(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError),
		[]string{"--data", data, "--listen", "127.0.0.1:0"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, cfg)
	ctx, printed, endpoint := srv.ctx, srv.printed, srv.endpoint()
	access := regexp.MustCompile(`access key: (\S+)`).FindStringSubmatch(printed)
	secret := regexp.MustCompile(`secret key: (\S+)`).FindStringSubmatch(printed)
	if access == nil || secret == nil || !strings.Contains(printed, "SHA-256 fingerprint") {
		t.Fatalf("start-up output lacks credentials or fingerprint:\n%s", printed)
	}
	if st, err := os.Stat(filepath.Join(data, "keyring")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key ring not created with mode 0600: %v", err)
	}

	pem, err := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		HTTPClient:  &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Credentials: credentials.NewStaticCredentialsProvider(access[1], secret[1], ""),
	})
	putGetRoundTrip(t, ctx, client, "first", bytes.Repeat([]byte("confidential "), 1000))
	// Nothing readable under the data directory.
	filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte("confidential confidential")) || bytes.Contains(b, []byte(secret[1])) {
				t.Errorf("plaintext or the root secret found in %s", p)
			}
		}
		return nil
	})

	if _, err := srv.stop(t); err != nil {
		t.Fatalf("serve returned %v after shutdown", err)
	}
}

// putGetRoundTrip creates bucket, puts body as "doc" and reads it back.
func putGetRoundTrip(t *testing.T, ctx context.Context, client *s3.Client, bucket string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("doc"),
		Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("doc")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatal("read back different bytes")
	}
}

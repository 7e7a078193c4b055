package cmd

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
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
	"github.com/aws/smithy-go"

	"github.com/cloakproxy/cloak/config"
)

// runCLI runs the cloak command line and returns its exit code and output.
func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestAdmin_OfflineAndOnline adds a read-only user with "cloak admin"
// offline (on the store, while a server runs), sees the running server
// pick it up, checks what the user may do, then disables it online
// through the server's admin endpoint, signed by root.
func TestAdmin_OfflineAndOnline(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"CLOAK_ROOT_ACCESS_KEY": "rootaccess",
		"CLOAK_ROOT_SECRET_KEY": "rootsecret-rootsecret"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError),
		[]string{"--data", data, "--listen", "127.0.0.1:0", "--access-reload-interval", "200ms",
			"--access-auth-failures-per-key", "-1"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, cfg)
	ctx, endpoint := srv.ctx, srv.endpoint()
	caFile := filepath.Join(data, "tls", "cert.pem")
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := func(ak, sk string) *s3.Client {
		return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
			HTTPClient:       &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
			Credentials:      credentials.NewStaticCredentialsProvider(ak, sk, ""),
			RetryMaxAttempts: 1})
	}
	root := client("rootaccess", "rootsecret-rootsecret")
	putGetRoundTrip(t, ctx, root, "docs", []byte("case file"))

	code, out, errOut := runCLI("admin", "user", "add", "reader", "--policy", "readonly", "--data", data)
	if code != 0 {
		t.Fatalf("offline user add: exit %d: %s", code, errOut)
	}
	ak := regexp.MustCompile(`access key: (\S+)`).FindStringSubmatch(out)
	sk := regexp.MustCompile(`secret key: (\S+)`).FindStringSubmatch(out)
	if ak == nil || sk == nil {
		t.Fatalf("user add printed no key:\n%s", out)
	}
	reader := client(ak[1], sk[1])
	get := func() error {
		o, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("docs"), Key: aws.String("doc")})
		if err == nil {
			o.Body.Close()
		}
		return err
	}
	// The server learns of the new user within its reload interval.
	deadline := time.Now().Add(20 * time.Second)
	for err := get(); err != nil; err = get() {
		if time.Now().After(deadline) {
			t.Fatalf("new user still refused: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String("x"),
		Body: strings.NewReader("no")})
	if apiCode(err) != "AccessDenied" {
		t.Fatalf("readonly PUT: want AccessDenied, got %v", err)
	}

	// Online, as the reader: not an admin.
	online := []string{"--endpoint", endpoint, "--ca-bundle", caFile, "--data", data}
	t.Setenv("CLOAK_ADMIN_ACCESS_KEY", ak[1])
	t.Setenv("CLOAK_ADMIN_SECRET_KEY", sk[1])
	if code, _, errOut := runCLI(append([]string{"admin", "user", "list"}, online...)...); code != 1 ||
		!strings.Contains(errOut, "AccessDenied") {
		t.Fatalf("user list as reader: exit %d: %s", code, errOut)
	}
	// Online, as root: disable the reader; it is refused at once.
	t.Setenv("CLOAK_ADMIN_ACCESS_KEY", "rootaccess")
	t.Setenv("CLOAK_ADMIN_SECRET_KEY", "rootsecret-rootsecret")
	code, _, errOut = runCLI(append([]string{"admin", "user", "disable", "reader"}, online...)...)
	if code != 0 {
		t.Fatalf("online disable: exit %d: %s", code, errOut)
	}
	if err := get(); apiCode(err) != "AccessDenied" {
		t.Fatalf("disabled user's GET: want AccessDenied, got %v", err)
	}
	code, out, errOut = runCLI(append([]string{"admin", "user", "list", "--json"}, online...)...)
	if code != 0 || !strings.Contains(out, `"enabled": false`) || strings.Contains(out, sk[1]) {
		t.Fatalf("online user list: exit %d: %s%s", code, out, errOut)
	}
	// Unknown names are clear errors.
	code, _, errOut = runCLI(append([]string{"admin", "user", "enable", "nobody"}, online...)...)
	if code != 1 || !strings.Contains(errOut, `user "nobody": not found`) {
		t.Fatalf("enable nobody: exit %d: %s", code, errOut)
	}
	// The state holds no secret in the clear.
	filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(sk[1])) {
				t.Errorf("the user's secret is in the clear in %s", p)
			}
		}
		return nil
	})
	srv.stop(t)
}

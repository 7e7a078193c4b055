package awskms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/crypto"
)

// Canary credentials and key material that must never show in an error.
const (
	canarySecret  = "SECRET-canary-7f3a9c1e-must-not-leak"
	canaryToken   = "TOKEN-canary-2b8d4e6f-must-not-leak"
	canaryKeyByte = 0xA7
)

var canaryDataKey = bytes.Repeat([]byte{canaryKeyByte}, dataKeySize)

// leaks returns the forms of a secret found in s.
func leaks(s string) []string {
	forms := map[string]string{
		"secret key":            canarySecret,
		"session token":         canaryToken,
		"data key (raw)":        string(canaryDataKey),
		"data key (hex)":        hex.EncodeToString(canaryDataKey),
		"data key (base64)":     base64.StdEncoding.EncodeToString(canaryDataKey),
		"data key (base64 url)": base64.RawURLEncoding.EncodeToString(canaryDataKey),
	}
	var found []string
	for name, form := range forms {
		if strings.Contains(s, form) {
			found = append(found, name)
		}
	}
	return found
}

// hostileKMS answers every request on 127.0.0.1 with the KMS error code,
// its message echoing the whole request (headers and body), or, for
// code "", with a success whose plaintext is 16 bytes of the canary.
func hostileKMS(t *testing.T, code string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if code == "" {
			json.NewEncoder(w).Encode(map[string]any{
				"KeyId":          "arn:aws:kms:eu-west-1:111122223333:key/x",
				"Plaintext":      canaryDataKey[:16],
				"CiphertextBlob": []byte("blob"),
				"KeyMetadata":    map[string]any{"KeyState": "Enabled"},
			})
			return
		}
		var echo strings.Builder
		r.Header.Write(&echo)
		echo.Write(body)
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": echo.String()})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// closedEndpoint returns a 127.0.0.1 URL where nothing listens.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestErrors_HoldNoSecrets drives every operation into every kind of
// failure and checks that no error text holds the secret key, the
// session token or the data key, in any common encoding.
func TestErrors_HoldNoSecrets(t *testing.T) {
	isolateAWSEnv(t)
	endpoints := map[string]string{"connection refused": closedEndpoint(t)}
	for _, code := range []string{"AccessDeniedException", "KMSInvalidStateException",
		"KeyUnavailableException", "ValidationException", "InvalidCiphertextException",
		"NotFoundException", "UnrecognizedClientException", "InvalidSignatureException",
		"InternalFailureException"} {
		endpoints[code] = hostileKMS(t, code)
	}
	endpoints["short plaintext"] = hostileKMS(t, "")
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	wk := crypto.WrappedKey{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/x",
		Ciphertext: []byte("blob")}
	for name, endpoint := range endpoints {
		t.Run(name, func(t *testing.T) {
			w, err := New(context.Background(), Config{Endpoint: endpoint, Region: "eu-west-1",
				AccessKey: "AKIDCANARY", SecretKey: canarySecret, SessionToken: canaryToken,
				KeyID: "alias/cloak", MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, errWrap := w.Wrap(ctx, canaryDataKey, wc)
			_, errUnwrap := w.Unwrap(ctx, wk, wc)
			_, _, errGen := w.GenerateDataKey(ctx, wc)
			errCheck := w.Check(ctx)
			for op, err := range map[string]error{"Wrap": errWrap, "Unwrap": errUnwrap,
				"GenerateDataKey": errGen} {
				if err == nil {
					// The success with a short plaintext is a fine Encrypt.
					if name != "short plaintext" || op != "Wrap" {
						t.Errorf("%s succeeded", op)
					}
					continue
				}
				if found := leaks(err.Error()); len(found) > 0 {
					t.Errorf("%s error holds the %v: %v", op, found, err)
				}
			}
			if errCheck != nil {
				if found := leaks(errCheck.Error()); len(found) > 0 {
					t.Errorf("Check error holds the %v: %v", found, errCheck)
				}
			}
		})
	}
}

// TestErrors_Sentinels checks the mapping of KMS error codes to the
// errors callers branch on.
func TestErrors_Sentinels(t *testing.T) {
	isolateAWSEnv(t)
	tests := []struct {
		code string
		want error
	}{
		{"InvalidCiphertextException", crypto.ErrAuthentication},
		{"IncorrectKeyException", crypto.ErrAuthentication},
		{"NotFoundException", crypto.ErrUnknownKey},
		{"DisabledException", ErrKeyDisabled},
		{"KMSInvalidStateException", ErrKeyUnusable},
		{"AccessDeniedException", nil},
	}
	wc := crypto.WrapContext{Bucket: "b", Key: "k"}
	wk := crypto.WrappedKey{KeyID: "arn:aws:kms:eu-west-1:111122223333:key/x",
		Ciphertext: []byte("blob")}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			w, err := New(context.Background(), Config{Endpoint: hostileKMS(t, tt.code),
				Region: "eu-west-1", AccessKey: "AKID", SecretKey: "secret", KeyID: "k",
				MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.Unwrap(context.Background(), wk, wc)
			if err == nil || !strings.Contains(err.Error(), tt.code) {
				t.Fatalf("Unwrap error %v does not name %s", err, tt.code)
			}
			for _, s := range []error{crypto.ErrAuthentication, crypto.ErrUnknownKey,
				ErrKeyDisabled, ErrKeyUnusable} {
				if errors.Is(err, s) != (s == tt.want) {
					t.Errorf("errors.Is(err, %v) = %v", s, errors.Is(err, s))
				}
			}
		})
	}
}

func TestConfig_RedactsSecrets(t *testing.T) {
	cfg := Config{Region: "eu-west-1", AccessKey: "AKIDCANARY", SecretKey: canarySecret,
		SessionToken: canaryToken, KeyID: "alias/cloak"}
	var js bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "kms", cfg)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg),
		"%#v": fmt.Sprintf("%#v", cfg), "%s": fmt.Sprintf("%s", cfg),
		"pointer %v": fmt.Sprintf("%v", &cfg), "slog": js.String(),
	}
	for name, out := range outputs {
		if found := leaks(out); len(found) > 0 {
			t.Errorf("%s holds the %v: %s", name, found, out)
		}
		if !strings.Contains(out, "AKIDCANARY") || !strings.Contains(out, "alias/cloak") {
			t.Errorf("%s lost the fields that are not secret: %s", name, out)
		}
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	isolateAWSEnv(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Config{Region: "eu-west-1", AccessKey: "AKID", SecretKey: canarySecret, KeyID: "k"}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no key", func(c *Config) { c.KeyID = "" }, "no KMS key"},
		{"secret without access key", func(c *Config) { c.AccessKey = "" }, "both"},
		{"access key without secret", func(c *Config) { c.SecretKey = "" }, "both"},
		{"token without keys", func(c *Config) {
			c.AccessKey, c.SecretKey, c.SessionToken =
				"", "", canaryToken
		}, "SessionToken"},
		{"empty bucket key", func(c *Config) { c.BucketKeys = map[string]string{"b": ""} },
			"bucket"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "negative"},
		{"no region", func(c *Config) { c.Region = "" }, "region"},
		{"missing CA file", func(c *Config) { c.CAFile = filepath.Join(dir, "none.pem") },
			"CA bundle"},
		{"CA file without PEM", func(c *Config) { c.CAFile = notPEM }, "no PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			_, err := New(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %v, want one containing %q", err, tt.want)
			}
			if found := leaks(err.Error()); len(found) > 0 {
				t.Errorf("error holds the %v", found)
			}
		})
	}
}

// isolateAWSEnv keeps the caller's AWS settings and files out of New.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for _, name := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"} {
		t.Setenv(name, "")
	}
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

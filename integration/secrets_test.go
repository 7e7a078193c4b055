package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// recordingWrapper hands every data key it wraps or unwraps to the test.
type recordingWrapper struct {
	next crypto.KeyWrapper
	mu   sync.Mutex
	dks  [][]byte
}

func (r *recordingWrapper) keep(dk []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dks = append(r.dks, bytes.Clone(dk))
}

func (r *recordingWrapper) Wrap(ctx context.Context, dk []byte,
	wc crypto.WrapContext) (crypto.WrappedKey, error) {
	r.keep(dk)
	return r.next.Wrap(ctx, dk, wc)
}

func (r *recordingWrapper) Unwrap(ctx context.Context, wk crypto.WrappedKey,
	wc crypto.WrapContext) ([]byte, error) {
	dk, err := r.next.Unwrap(ctx, wk, wc)
	if err == nil {
		r.keep(dk)
	}
	return dk, err
}

func (r *recordingWrapper) dataKeys() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.dks...)
}

// responseLog keeps every response's status line, headers and body.
type responseLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *responseLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&teeWriter{ResponseWriter: w, log: l}, r)
	})
}

func (l *responseLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type teeWriter struct {
	http.ResponseWriter
	log         *responseLog
	wroteHeader bool
}

func (w *teeWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.log.mu.Lock()
		fmt.Fprintf(&w.log.b, "\n%d\n", code)
		for k, vs := range w.Header() {
			fmt.Fprintf(&w.log.b, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		w.log.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.log.mu.Lock()
	w.log.b.Write(p)
	w.log.mu.Unlock()
	return w.ResponseWriter.Write(p)
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// secretForms returns the ways a secret could be printed: raw, hex and
// base64 in its variants.
func secretForms(secret []byte) []string {
	return []string{string(secret), hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)),
		base64.StdEncoding.EncodeToString(secret), base64.RawStdEncoding.EncodeToString(secret),
		base64.URLEncoding.EncodeToString(secret), base64.RawURLEncoding.EncodeToString(secret),
		fmt.Sprint(secret)}
}

// TestSecrets_NeverLeak runs a full scenario with debug logging (PUT, GET,
// multipart, copy, a rotation of the master key and reads under both
// versions, failures of every kind) and searches every log line, response
// header and response body, and every file of the store, for the secret
// key, every data key used and both master keys.
func TestSecrets_NeverLeak(t *testing.T) {
	dir := t.TempDir()
	st, err := localstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ring := crypto.NewMemoryKeyRing(nil)
	kek1, kek2 := randomBytes(32), randomBytes(32)
	if err := ring.Add("master", 1, kek1); err != nil {
		t.Fatal(err)
	}
	rec := &recordingWrapper{next: ring}
	logs := &logBuffer{}
	handler := slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	cache := keys.NewCache(rec, 100, time.Minute)
	h, err := proxy.New(proxy.Options{Store: st, Keys: cache,
		Credentials: sigv4.StaticCredentials{testAccess: testSecret}, SmallObjectLimit: smallLimit,
		Logger: slog.New(handler)})
	if err != nil {
		t.Fatal(err)
	}
	responses := &responseLog{}
	e := envFor(t, st, responses.wrap(h))
	runSecretScenario(t, e, ring, kek2, cache.Purge)

	dks := rec.dataKeys()
	if len(dks) < 5 {
		t.Fatalf("only %d data keys seen: the scenario did not run", len(dks))
	}
	secrets := map[string][]byte{"secret key": []byte(testSecret), "master key v1": kek1, "master key v2": kek2}
	for i, dk := range dks {
		secrets[fmt.Sprintf("data key %d", i)] = dk
	}
	haystacks := map[string]string{"log": logs.String(), "responses": responses.String()}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			haystacks[p] = string(b)
		}
		return nil
	})
	if !strings.Contains(haystacks["log"], "level=") || !strings.Contains(haystacks["responses"], "<Code>") {
		t.Fatal("nothing was captured")
	}
	for name, secret := range secrets {
		for _, form := range secretForms(secret) {
			for where, text := range haystacks {
				if strings.Contains(text, form) {
					t.Errorf("the %s appears in %s", name, where)
				}
			}
		}
	}
}

func runSecretScenario(t *testing.T, e *env, ring *crypto.MemoryKeyRing, kek2 []byte, purge func()) {
	ctx := context.Background()
	e.mkBucket(t, "vault")
	put := func(key string, data []byte) {
		if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String(key),
			Body: bytes.NewReader(data), Metadata: map[string]string{"case": "42"}}); err != nil {
			t.Fatal(err)
		}
	}
	small, large := randomBytes(10_000), randomBytes(smallLimit+100_000)
	put("small", small)
	put("large", large)
	expectContent(t, e, "vault", "small", small)
	uploadParts(t, e, "vault", "multi", [][]byte{randomBytes(5 * mib), randomBytes(1000)})
	if _, err := e.aws.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("vault"), Key: aws.String("copy"),
		CopySource: aws.String("vault/multi")}); err != nil {
		t.Fatal(err)
	}
	// Rotation: new writes use version 2, old objects still read.
	if err := ring.Add("master", 2, kek2); err != nil {
		t.Fatal(err)
	}
	if err := ring.SetActive("master", 2); err != nil {
		t.Fatal(err)
	}
	put("after-rotation", small)
	for _, k := range []string{"small", "after-rotation"} {
		expectContent(t, e, "vault", k, small)
	}
	if _, err := e.aws.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("vault"), Key: aws.String("copy2"),
		CopySource: aws.String("vault/small")}); err != nil {
		t.Fatal(err)
	}
	e.aws.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("vault")})

	// Failures: a wrong secret, a tampered object, a missing key, a
	// presigned URL that expired.
	bad := s3.New(s3.Options{Region: e.region, BaseEndpoint: aws.String(e.srv.URL), UsePathStyle: true,
		HTTPClient:  e.srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider(testAccess, "not-the-secret", "")})
	_, err := bad.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("small")})
	assertS3Code(t, err, "SignatureDoesNotMatch")
	raw, meta := e.raw(t, "vault", "small")
	raw[len(raw)/2] ^= 1
	if _, err := e.store.PutObject(ctx, "vault", "small", bytes.NewReader(raw), int64(len(raw)),
		backend.PutOptions{Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	_, err = e.noRetries().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("small")})
	assertS3Code(t, err, "InternalError")
	_, err = e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("none")})
	assertS3Code(t, err, "NoSuchKey")
	ring.Remove("master", 1)
	purge()
	_, err = e.noRetries().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("large")})
	if err == nil {
		t.Fatal("an object read after its master key was removed")
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/vault/copy2", nil)
	u := sigv4.Presign(req, testCred, e.region, "s3", time.Now().Add(-time.Hour), time.Minute)
	resp, err := e.srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("expired presigned URL: %s", resp.Status)
	}
}

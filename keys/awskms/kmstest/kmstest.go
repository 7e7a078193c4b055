// Package kmstest starts a real local-kms server (an implementation of
// the AWS KMS API that keeps its keys on disk) for tests.
//
// [Start] runs the binary named by CLOAK_LOCALKMS_BIN (else "local-kms"
// on PATH; scripts/localkms.sh builds and caches one) on a free port with
// a fresh data directory, waits until it answers a KMS request, and stops
// it when the test ends. Its output is kept and logged if the test fails.
//
// local-kms is configured only through its environment: PORT (it listens
// on ":PORT", all interfaces; it offers no way to bind loopback alone),
// KMS_DATA_PATH (its LevelDB directory), KMS_REGION and KMS_ACCOUNT_ID
// (which make up key ARNs), and KMS_SEED_PATH (a YAML file of keys to
// create at startup; pointed at a file that does not exist, so none are).
// It does not check request signatures, so any credentials are accepted.
// Tests reach it on 127.0.0.1 only.
//
// When no binary is found the test is skipped, unless CI=true or
// CLOAK_REQUIRE_INTEGRATION=1, where it fails: tests against the real
// server must not silently vanish from CI.
package kmstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Fixed identity of the test server and fixed credentials for clients.
// local-kms ignores the credentials; they protect nothing.
const (
	Region    = "eu-west-1"
	AccountID = "111122223333"
	AccessKey = "cloak-test-kms"
	SecretKey = "cloak-test-kms-secret"
)

// startTimeout bounds how long Start waits for the server to answer.
const startTimeout = 30 * time.Second

// Server is a running local-kms server.
type Server struct {
	// Endpoint is the server's URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Region and AccountID appear in the ARNs of the server's keys.
	Region, AccountID string
	// AccessKey and SecretKey are credentials a client may sign with.
	AccessKey, SecretKey string
	// DataDir is the server's data directory, removed after the test.
	DataDir string
	// Client is a KMS client of the server, for test setup.
	Client *kms.Client

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	out  *syncBuffer
}

// Binary returns the path of the local-kms binary to run, or "" if none
// is found.
func Binary() string {
	if p := os.Getenv("CLOAK_LOCALKMS_BIN"); p != "" {
		return p
	}
	p, _ := exec.LookPath("local-kms")
	return p
}

// Required reports whether a missing binary must fail the test rather
// than skip it.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("CLOAK_REQUIRE_INTEGRATION") == "1"
}

// Start runs a local-kms server for the test t and stops it in
// t.Cleanup, logging its output if t failed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); bin == "" || err != nil {
		msg := "kmstest: no local-kms binary (set CLOAK_LOCALKMS_BIN, or run scripts/localkms.sh)"
		if Required() {
			t.Fatal(msg + "; integration tests are required here " +
				"(CI or CLOAK_REQUIRE_INTEGRATION=1)")
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := range 3 {
		s, err := start(bin, dir, attempt)
		if err == nil {
			t.Cleanup(func() {
				s.stop()
				if t.Failed() {
					t.Logf("local-kms output:\n%s", s.Output())
				}
			})
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("kmstest: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

// start launches one server process and waits until it answers.
func start(bin, dir string, attempt int) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint: "http://127.0.0.1:" + port, Region: Region, AccountID: AccountID,
		AccessKey: AccessKey, SecretKey: SecretKey,
		DataDir: fmt.Sprintf("%s/data%d", dir, attempt),
		done:    make(chan struct{}), out: &syncBuffer{},
	}
	s.Client = kms.New(kms.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}, nil
		}),
	})
	s.cmd = exec.Command(bin)
	s.cmd.Env = serverEnv(port, s.DataDir, dir+"/no-seed.yaml")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(); err != nil {
		s.stop()
		out := s.out.String()
		if !strings.Contains(out, "Local KMS started") {
			// local-kms crashes (a nil dereference) rather than report a
			// port it cannot bind; another process may have taken the
			// port after freePort let go of it.
			return nil, fmt.Errorf("%w? local-kms did not start listening; output:\n%s",
				errPortTaken, out)
		}
		return nil, fmt.Errorf("%w; server output:\n%s", err, out)
	}
	return s, nil
}

// serverEnv is the environment of the server: its port, data directory,
// identity and (absent) seed file, and the caller's environment less any
// setting local-kms reads (including the unprefixed names it still
// honours) or proxy setting.
func serverEnv(port, dataDir, seedPath string) []string {
	env := []string{
		"PORT=" + port,
		"KMS_DATA_PATH=" + dataDir,
		"KMS_SEED_PATH=" + seedPath,
		"KMS_REGION=" + Region,
		"KMS_ACCOUNT_ID=" + AccountID,
	}
	drop := map[string]bool{"PORT": true, "ACCOUNT_ID": true, "REGION": true,
		"DATA_PATH": true, "SEED_PATH": true}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if drop[name] || strings.HasPrefix(name, "KMS_") ||
			strings.Contains(strings.ToLower(name), "proxy") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// waitReady polls the server with a ListKeys request until it answers
// 200, the process exits, or startTimeout passes.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/",
			strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return errors.New("local-kms exited before it answered")
		case <-ctx.Done():
			return fmt.Errorf("local-kms not answering after %v", startTimeout)
		case <-tick.C:
		}
	}
}

// stop ends the server: SIGINT, then SIGKILL if it has not exited in ten
// seconds.
func (s *Server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Output returns what the server has printed so far (at most 1 MiB).
func (s *Server) Output() string { return s.out.String() }

// CreateKey creates a symmetric encryption key (SYMMETRIC_DEFAULT,
// ENCRYPT_DECRYPT) and returns its ARN. It fails t on error.
func (s *Server) CreateKey(t testing.TB) string {
	t.Helper()
	return s.CreateKeySpec(t, types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt)
}

// CreateKeySpec creates a key of the given spec and usage and returns
// its ARN. It fails t on error.
func (s *Server) CreateKeySpec(t testing.TB, spec types.KeySpec, usage types.KeyUsageType) string {
	t.Helper()
	out, err := s.Client.CreateKey(context.Background(), &kms.CreateKeyInput{
		KeySpec: spec, KeyUsage: usage, Description: aws.String("cloak test key"),
	})
	if err != nil {
		t.Fatalf("kmstest: create key: %v", err)
	}
	if out.KeyMetadata == nil || aws.ToString(out.KeyMetadata.Arn) == "" {
		t.Fatal("kmstest: create key: no ARN in the response")
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// CreateAlias points alias ("alias/NAME") at the key keyID. It fails t
// on error.
func (s *Server) CreateAlias(t testing.TB, alias, keyID string) {
	t.Helper()
	_, err := s.Client.CreateAlias(context.Background(), &kms.CreateAliasInput{
		AliasName: aws.String(alias), TargetKeyId: aws.String(keyID),
	})
	if err != nil {
		t.Fatalf("kmstest: create alias %s: %v", alias, err)
	}
}

// DisableKey disables the key keyID. It fails t on error.
func (s *Server) DisableKey(t testing.TB, keyID string) {
	t.Helper()
	_, err := s.Client.DisableKey(context.Background(),
		&kms.DisableKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("kmstest: disable key: %v", err)
	}
}

// ScheduleKeyDeletion puts the key keyID in the PendingDeletion state
// (deletion in 7 days, after the test). It fails t on error.
func (s *Server) ScheduleKeyDeletion(t testing.TB, keyID string) {
	t.Helper()
	_, err := s.Client.ScheduleKeyDeletion(context.Background(),
		&kms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		t.Fatalf("kmstest: schedule key deletion: %v", err)
	}
}

// syncBuffer collects process output, bounded, for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 1<<20 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Kill stops the server at once (SIGKILL), as a crash or an unreachable
// KMS would look to its clients. Its keys stay in DataDir; Restart brings
// them back.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// Restart starts the server again after Kill, on the same port and with
// the same data directory, and waits until it answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	env := s.cmd.Env
	s.cmd = exec.Command(s.cmd.Path)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.done = make(chan struct{})
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("kmstest: restart: %v", err)
	}
	done := s.done
	go func() { s.cmd.Wait(); close(done) }()
	if err := s.waitReady(); err != nil {
		t.Fatalf("kmstest: restart: %v\n%s", err, s.out.String())
	}
}

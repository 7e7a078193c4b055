// Package miniotest starts a real MinIO server for tests.
//
// [Start] runs the MinIO binary named by CLOAK_MINIO_BIN (else "minio"
// on PATH; scripts/minio.sh builds and caches one) on a free loopback
// port with a fresh data directory and fixed root credentials, waits
// until it answers its readiness probe, and stops it when the test ends.
//
// When no binary is found the test is skipped, unless CI=true or
// CLOAK_REQUIRE_INTEGRATION=1, where it fails: tests against the real
// server must not silently vanish from CI.
//
// # Outages
//
// [Server.Kill] ends the server at once, as a crash or a lost machine
// would, and [Server.Restart] starts it again on the same address and
// data directory, so tests can check what a client sees while the store
// is down and what the store holds afterwards.
package miniotest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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
)

// Fixed test credentials of the server's root user. They protect only a
// throw-away server on a loopback port.
const (
	AccessKey = "cloak-test-root"
	SecretKey = "cloak-test-root-secret"
)

// startTimeout bounds how long Start waits for the server to be ready.
const startTimeout = 60 * time.Second

// Server is a running MinIO server.
type Server struct {
	// Endpoint is the server's URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Addr is the server's host:port.
	Addr      string
	AccessKey string
	SecretKey string
	// DataDir is the server's data directory, removed after the test.
	DataDir string
	// CAFile is the PEM certificate the server presents, for clients to
	// trust, when started with StartTLS; else empty.
	CAFile string

	bin      string
	certsDir string
	out      *syncBuffer

	mu   sync.Mutex // guards cmd and done, which Restart replaces
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// Binary returns the path of the MinIO binary to run, or "" if none is
// found.
func Binary() string {
	if p := os.Getenv("CLOAK_MINIO_BIN"); p != "" {
		return p
	}
	p, _ := exec.LookPath("minio")
	return p
}

// Required reports whether a missing binary must fail the test rather
// than skip it.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("CLOAK_REQUIRE_INTEGRATION") == "1"
}

// Start runs a MinIO server for the test t and stops it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	return startServer(t, false)
}

// StartTLS is Start with HTTPS: the server presents a fresh self-signed
// certificate for 127.0.0.1, written to Server.CAFile.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return startServer(t, true)
}

// StartIn is Start with the server's files under dir (a file system the
// test prepared, such as a small tmpfs) instead of a fresh temporary
// directory.
func StartIn(t testing.TB, dir string) *Server {
	t.Helper()
	return startServerIn(t, false, dir)
}

func startServer(t testing.TB, useTLS bool) *Server {
	t.Helper()
	return startServerIn(t, useTLS, t.TempDir())
}

func startServerIn(t testing.TB, useTLS bool, dir string) *Server {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); bin == "" || err != nil {
		msg := "miniotest: no MinIO binary (set CLOAK_MINIO_BIN, or run scripts/minio.sh)"
		if Required() {
			t.Fatal(msg + "; integration tests are required here (CI or CLOAK_REQUIRE_INTEGRATION=1)")
		}
		t.Skip(msg)
	}
	caFile := ""
	if useTLS {
		var err error
		if caFile, err = writeCert(dir + "/certs"); err != nil {
			t.Fatalf("miniotest: %v", err)
		}
	}
	var lastErr error
	for attempt := range 3 {
		s, err := start(bin, dir, attempt, caFile)
		if err == nil {
			t.Cleanup(s.stop)
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("miniotest: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

// start launches one server process and waits until it is ready.
func start(bin, dir string, attempt int, caFile string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr: "127.0.0.1:" + port, AccessKey: AccessKey, SecretKey: SecretKey,
		DataDir: fmt.Sprintf("%s/data%d", dir, attempt), bin: bin,
		certsDir: fmt.Sprintf("%s/nocerts%d", dir, attempt), out: &syncBuffer{},
	}
	s.Endpoint = "http://" + s.Addr
	if caFile != "" {
		s.Endpoint, s.CAFile, s.certsDir = "https://"+s.Addr, caFile, dir+"/certs"
	}
	if err := s.launch(); err != nil {
		return nil, err
	}
	return s, nil
}

// launch runs the server process on s.Addr and s.DataDir and waits until
// it is ready. The console gets a fresh port each time.
func (s *Server) launch() error {
	consolePort, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.Addr,
		"--console-address", "127.0.0.1:"+consolePort, "--certs-dir", s.certsDir, s.DataDir)
	cmd.Env = serverEnv()
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.waitReady(done); err != nil {
		s.stop()
		if strings.Contains(s.out.String(), "address already in use") {
			return errPortTaken
		}
		return fmt.Errorf("%w; server output:\n%s", err, s.out.String())
	}
	return nil
}

// Kill ends the server at once with SIGKILL, as a crash would: requests
// in flight are cut and nothing is flushed. It returns once the process
// has exited. The data directory stays for Restart.
func (s *Server) Kill() {
	cmd, done := s.process()
	cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same address and data directory
// after Kill, and waits until it is ready. It fails t if the server is
// still running or cannot start (for example because another process took
// the port in the meantime).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	_, done := s.process()
	select {
	case <-done:
	default:
		t.Fatal("miniotest: Restart of a server that is still running")
	}
	if err := s.launch(); err != nil {
		t.Fatalf("miniotest: restart: %v", err)
	}
}

// process returns the current server process and its exit channel.
func (s *Server) process() (*exec.Cmd, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd, s.done
}

// serverEnv is the environment of the server: credentials, no console,
// no update checks or call-home, and deleted objects purged quickly so
// write-heavy tests do not fill the disk.
func serverEnv() []string {
	env := []string{
		"MINIO_ROOT_USER=" + AccessKey,
		"MINIO_ROOT_PASSWORD=" + SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
		"MINIO_CI_CD=on",
		"MINIO_API_DELETE_CLEANUP_INTERVAL=5s",
		"MINIO_API_STALE_UPLOADS_CLEANUP_INTERVAL=1m",
	}
	for _, kv := range os.Environ() {
		// Keep PATH, HOME, TMPDIR and the like; drop any MINIO_ or proxy
		// setting of the caller that could change the server.
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "MINIO_") && !strings.Contains(strings.ToLower(name), "proxy") {
			env = append(env, kv)
		}
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

// waitReady polls the readiness endpoint until it answers 200, the
// process exits (done is closed), or startTimeout passes. The liveness
// probe answers earlier, while S3 requests still get 503
// XMinioServerNotInitialized.
func (s *Server) waitReady(done chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client, err := s.probeClient()
	if err != nil {
		return err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			s.Endpoint+"/minio/health/ready", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && s.initialized(ctx, client) {
				return nil
			}
		}
		select {
		case <-done:
			return errors.New("minio exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("minio not ready after %v", startTimeout)
		case <-tick.C:
		}
	}
}

// initialized reports whether the server answers S3 requests. The
// readiness probe can pass a moment before the object layer is up, while
// S3 requests still get 503 XMinioServerNotInitialized; an anonymous
// ListBuckets gets 403 AccessDenied once it is.
func (s *Server) initialized(ctx context.Context, client *http.Client) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusServiceUnavailable
}

// probeClient returns an HTTP client that trusts the server.
func (s *Server) probeClient() (*http.Client, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	if s.CAFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return c, nil
}

// stop ends the server: SIGTERM, then SIGKILL if it has not exited in
// ten seconds. A server that was killed is already stopped.
func (s *Server) stop() {
	cmd, done := s.process()
	select {
	case <-done:
		return
	default:
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Output returns what the server has printed so far (at most 1 MiB).
func (s *Server) Output() string { return s.out.String() }

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

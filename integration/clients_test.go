package integration

// The real-client tests run the command-line clients that users point at
// Cloak (Debian's awscli v2, s3cmd, rclone, restic, and boto3 through
// Debian's python3), each in its own process with a private HOME, an
// environment built from scratch (none of the caller's AWS_*, *_CA_BUNDLE
// or proxy settings) and a timeout, against an in-process Cloak over TLS
// whose certificate the client is given. scripts/clients.sh installs the
// clients and names them in CLOAK_*_BIN; without a client the test skips,
// unless CLOAK_REQUIRE_INTEGRATION=1 or CI=true, where it fails.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/integration/miniotest"
	"github.com/cloakproxy/cloak/proxy"
)

// clientTool returns the path of a client program: the value of the
// environment variable envName (set by scripts/clients.sh), else Debian's
// path def. A missing program skips the test, or fails it where
// integration tests are required.
func clientTool(t testing.TB, envName, def string) string {
	t.Helper()
	p := os.Getenv(envName)
	if p == "" {
		p = def
	}
	if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return p
	}
	msg := fmt.Sprintf("client %s not found (set %s, or run scripts/clients.sh)", p, envName)
	if miniotest.Required() {
		t.Fatal(msg + "; integration tests are required here (CI or CLOAK_REQUIRE_INTEGRATION=1)")
	}
	t.Skip(msg)
	return ""
}

// requirePython returns Debian's python3 after checking that it can
// import boto3.
func requirePython(t testing.TB) string {
	t.Helper()
	py := clientTool(t, "CLOAK_PYTHON_BIN", "/usr/bin/python3")
	if out, err := exec.Command(py, "-c", "import boto3").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("%s cannot import boto3 (run scripts/clients.sh): %v %s", py, err, out)
		if miniotest.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

// clientEnv is a running Cloak prepared for client processes.
type clientEnv struct {
	*env
	// endpoint is Cloak's URL, "https://127.0.0.1:PORT".
	endpoint string
	// hostPort is endpoint without the scheme.
	hostPort string
	// caFile is the PEM certificate Cloak presents, for clients to trust.
	caFile string
	// home is the clients' private HOME, and dir a scratch directory.
	home, dir string
}

// forEachClientBackend runs fn against a fresh Cloak over each store,
// prepared for client processes.
func forEachClientBackend(t *testing.T, fn func(t *testing.T, c *clientEnv)) {
	forEachBackend(t, proxy.Options{}, func(t *testing.T, e *env) {
		fn(t, newClientEnv(t, e))
	})
}

func newClientEnv(t *testing.T, e *env) *clientEnv {
	t.Helper()
	c := &clientEnv{env: e, endpoint: e.srv.URL, home: t.TempDir(), dir: t.TempDir()}
	c.hostPort = strings.TrimPrefix(e.srv.URL, "https://")
	c.caFile = filepath.Join(c.dir, "cloak-ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	if err := os.WriteFile(c.caFile, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// clientTimeout bounds every client process.
const clientTimeout = 5 * time.Minute

// run runs a client program with a clean environment (PATH, HOME,
// TMPDIR, locale and extra) and returns its standard output. It fails the
// test if the program fails or times out, showing the end of its output.
func (c *clientEnv) run(t *testing.T, extra []string, prog string, args ...string) string {
	t.Helper()
	out, errOut, err := c.tryRun(t, extra, prog, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(prog),
			strings.Join(args, " "), err, tail(out), tail(errOut))
	}
	return out
}

// tryRun is run that returns the failure instead, with standard error.
// It logs each command with the time it took.
func (c *clientEnv) tryRun(t testing.TB, extra []string, prog string,
	args ...string) (string, string, error) {
	t.Helper()
	return c.tryRunIn(t, nil, extra, prog, args...)
}

// tryRunIn is tryRun with stdin as the program's standard input.
//
// A client that dies of SIGSEGV is run once more when it reads no
// standard input: Debian's aws cli (a Python program) has been seen to
// crash as it exits, after its transfer completed. That is the client's
// fault, not Cloak's, and the test still checks every byte afterwards.
func (c *clientEnv) tryRunIn(t testing.TB, stdin io.Reader, extra []string, prog string,
	args ...string) (string, string, error) {
	t.Helper()
	out, errOut, err := c.runOnce(t, stdin, extra, prog, args...)
	var exit *exec.ExitError
	if stdin == nil && errors.As(err, &exit) {
		ws, ok := exit.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() && ws.Signal() == syscall.SIGSEGV {
			t.Logf("%s crashed (%v); running it once more", filepath.Base(prog), err)
			out, errOut, err = c.runOnce(t, nil, extra, prog, args...)
		}
	}
	return out, errOut, err
}

// runOnce runs a client program once; see tryRunIn.
func (c *clientEnv) runOnce(t testing.TB, stdin io.Reader, extra []string, prog string,
	args ...string) (string, string, error) {
	t.Helper()
	start := time.Now()
	defer func() {
		t.Logf("%s %s (%v)", filepath.Base(prog), strings.Join(args, " "),
			time.Since(start).Round(time.Millisecond))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = c.dir
	cmd.Env = append([]string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + c.home,
		"TMPDIR=" + os.TempDir(),
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
	}, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", clientTimeout, err)
	}
	return stdout.String(), stderr.String(), err
}

// tail returns the last few KiB of a program's output.
func tail(s string) string {
	const max = 8 << 10
	if len(s) > max {
		return "..." + s[len(s)-max:]
	}
	return s
}

// writeGenFile writes size bytes of generated data (plantedMarker at
// every MiB, starting at offset 0) to path.
func writeGenFile(t testing.TB, path, seed string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, newGenData(seed, size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// fileSum returns the SHA-256 of a file, or fails the test.
func fileSum(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// assertSameFile fails the test unless the files hold the same bytes.
func assertSameFile(t testing.TB, got, want string) {
	t.Helper()
	if fileSum(t, got) != fileSum(t, want) {
		gs, _ := os.Stat(got)
		ws, _ := os.Stat(want)
		t.Fatalf("%s (%d bytes) differs from %s (%d bytes)", got, size(gs), want, size(ws))
	}
}

func size(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}

// assertSameTree fails the test unless the regular files under got and
// want have the same relative names and contents. It returns how many
// files it compared.
func assertSameTree(t testing.TB, got, want string) int {
	t.Helper()
	gotFiles, wantFiles := treeFiles(t, got), treeFiles(t, want)
	if len(gotFiles) != len(wantFiles) {
		t.Fatalf("%s has %d files, %s has %d", got, len(gotFiles), want, len(wantFiles))
	}
	for rel := range wantFiles {
		if !gotFiles[rel] {
			t.Fatalf("%s is missing %s", got, rel)
		}
		assertSameFile(t, filepath.Join(got, rel), filepath.Join(want, rel))
	}
	return len(wantFiles)
}

func treeFiles(t testing.TB, root string) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = true
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// treeNames are the first names writeTree gives, with characters that
// clients and servers encode differently in paths, queries and listings.
var treeNames = []string{
	"names/with space.txt", "names/plus+sign.bin", "names/ümlaut-ß-日本.bin",
	"names/percent%20literal.bin", "names/tilde~and=equals&amp.bin",
	"names/semi;colon,comma'quote.bin", "names/empty",
}

// writeTree writes n small generated files (sizes from 0 bytes to a few
// KiB) in nested directories under root, the first ones named as
// treeNames.
func writeTree(t testing.TB, root, seed string, n int) {
	t.Helper()
	for i := range n {
		rel := fmt.Sprintf("d%02d/e%d/file-%04d.bin", i%17, i%5, i)
		size := int64(1 + (i*7919)%6000)
		if i < len(treeNames) {
			rel = treeNames[i]
			if strings.HasSuffix(rel, "/empty") {
				size = 0
			}
		}
		writeGenFile(t, filepath.Join(root, filepath.FromSlash(rel)), fmt.Sprintf("%s-%d", seed, i), size)
	}
}

// storedMetadataNames are the only user metadata names Cloak stores with
// an object; anything else is a client's metadata leaking in the clear.
var storedMetadataNames = map[string]bool{"cloak-env": true, "cloak-meta": true, "cloak-mpu": true}

// maxPlaintextCheck bounds the objects whose plaintext is sampled in
// assertBucketCiphertext; larger ones are checked for plantedMarker only.
const maxPlaintextCheck = 32 << 20

// assertBucketCiphertext reads every object of a bucket twice, through
// Cloak and straight from the store, and fails the test if the store
// holds any of it in the clear: a planted marker or a 32-byte window of
// the plaintext in a stored body (including Cloak's own records under
// .cloak/), or the plaintext's MD5 (raw, hex or base64) or a client's
// metadata name in stored metadata. It returns how many objects it
// checked.
func assertBucketCiphertext(t testing.TB, e *env, bucket string) int {
	t.Helper()
	ctx := context.Background()
	var checked int
	p := s3.NewListObjectsV2Paginator(e.aws, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s through Cloak: %v", bucket, err)
		}
		for _, o := range page.Contents {
			assertObjectCiphertext(t, e, bucket, aws.ToString(o.Key))
			checked++
		}
	}
	assertNoMarkerStored(t, e, bucket)
	t.Logf("%s: %d objects checked against the store", bucket, checked)
	return checked
}

// assertObjectCiphertext checks one object as assertBucketCiphertext
// describes.
func assertObjectCiphertext(t testing.TB, e *env, bucket, key string) {
	t.Helper()
	ctx := context.Background()
	out, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s through Cloak: %v", key, err)
	}
	defer out.Body.Close()
	h := md5.New()
	var sample bytes.Buffer
	n, err := io.Copy(io.MultiWriter(h, &limitedBuffer{&sample, maxPlaintextCheck}), out.Body)
	if err != nil {
		t.Fatalf("read %s through Cloak: %v", key, err)
	}
	sum := h.Sum(nil)
	head, err := e.store.HeadObject(ctx, bucket, key)
	if err != nil {
		t.Fatalf("head %s in the store: %v", key, err)
	}
	if head.Metadata["cloak-env"] == "" {
		t.Errorf("%s is stored without an envelope", key)
	}
	stored := ""
	for name, v := range head.Metadata {
		if !storedMetadataNames[name] {
			t.Errorf("%s: metadata %q stored in the clear", key, name)
		}
		stored += v + "\n"
	}
	forms := []string{string(sum), hex.EncodeToString(sum), base64.StdEncoding.EncodeToString(sum)}
	for _, s := range forms {
		if n > 0 && strings.Contains(stored, s) {
			t.Errorf("%s: the plaintext MD5 is in the stored metadata", key)
		}
	}
	if n <= maxPlaintextCheck && n >= 8 {
		rc, _, err := e.store.GetObject(ctx, bucket, key, 0, -1, backend.GetOptions{})
		if err != nil {
			t.Fatalf("get %s from the store: %v", key, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s from the store: %v", key, err)
		}
		if containsSampledWindow(body, sample.Bytes()) {
			t.Errorf("%s: plaintext found in the stored body", key)
		}
	}
}

// containsSampledWindow reports whether any of at most 64 windows of 32
// bytes, spread evenly over needle, occurs in haystack: containsWindow's
// test at a cost that does not grow with the square of the size.
func containsSampledWindow(haystack, needle []byte) bool {
	const w, samples = 32, 64
	if len(needle) <= w {
		return containsWindow(haystack, needle)
	}
	step := max(1, (len(needle)-w)/(samples-1))
	for i := 0; i+w <= len(needle); i += step {
		if bytes.Contains(haystack, needle[i:i+w]) {
			return true
		}
	}
	return false
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// assertNoMarkerStored streams every object the store holds in bucket,
// Cloak's own records included, and fails the test if one contains
// plantedMarker.
func assertNoMarkerStored(t testing.TB, e *env, bucket string) {
	t.Helper()
	ctx := context.Background()
	opts := backend.ListOptions{}
	for range 10000 {
		res, err := e.store.ListObjects(ctx, bucket, opts)
		if err != nil {
			t.Fatalf("list %s in the store: %v", bucket, err)
		}
		for _, o := range res.Objects {
			if storedContainsMarker(t, e, bucket, o.Key) {
				t.Errorf("stored object %s holds plaintext (a planted marker)", o.Key)
			}
		}
		if !res.IsTruncated {
			return
		}
		opts.ContinuationToken = res.NextToken
	}
	t.Fatal("store listing did not end")
}

// storedContainsMarker reads a stored object in 1 MiB steps, keeping
// enough overlap to find a marker that straddles two reads.
func storedContainsMarker(t testing.TB, e *env, bucket, key string) bool {
	t.Helper()
	rc, _, err := e.store.GetObject(context.Background(), bucket, key, 0, -1, backend.GetOptions{})
	if err != nil {
		t.Fatalf("get %s from the store: %v", key, err)
	}
	defer rc.Close()
	keep := len(plantedMarker) - 1
	buf := make([]byte, keep+1<<20)
	have := 0
	for {
		n, err := io.ReadFull(rc, buf[have:])
		window := buf[:have+n]
		if bytes.Contains(window, plantedMarker) {
			return true
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false
		}
		if err != nil {
			t.Fatalf("read %s from the store: %v", key, err)
		}
		have = copy(buf, window[len(window)-keep:])
	}
}

// failRecorder is a testing.TB that records failures instead of
// reporting them, to test the checks above. Fatal ends the goroutine.
type failRecorder struct {
	testing.TB
	failures []string
}

func (f *failRecorder) Errorf(format string, args ...any) {
	f.failures = append(f.failures, fmt.Sprintf(format, args...))
}

func (f *failRecorder) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}

func (f *failRecorder) Error(args ...any) { f.failures = append(f.failures, fmt.Sprint(args...)) }

func (f *failRecorder) Fatal(args ...any) {
	f.Error(args...)
	runtime.Goexit()
}

func (f *failRecorder) Logf(string, ...any) {}

// check runs fn with the recorder in a goroutine of its own, so that a
// Fatalf ends only that goroutine, and returns the failures.
func (f *failRecorder) check(fn func(tb testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return strings.Join(f.failures, "\n")
}

// TestClients_CiphertextCheckFindsPlaintext shows that the store check
// the client tests rely on fails where it should: on an object stored as
// plaintext with its MD5 in clear metadata (served by Cloak as a bucket
// being migrated), and not on the same data written through Cloak.
func TestClients_CiphertextCheckFindsPlaintext(t *testing.T) {
	e, _ := newLocalEnv(t, proxy.Options{Migrating: func(string, string) bool { return true }})
	ctx := context.Background()
	e.mkBucket(t, "check")
	const size = 3<<20 + 5
	data := newGenData("check", size).bytesAt(0, size)
	if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("check"),
		Key: aws.String("through-cloak"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	if got := (&failRecorder{TB: t}).check(func(tb testing.TB) {
		assertBucketCiphertext(tb, e, "check")
	}); got != "" {
		t.Fatalf("the check failed on an object written through Cloak:\n%s", got)
	}

	sum := md5.Sum(data)
	if _, err := e.store.PutObject(ctx, "check", "plain", bytes.NewReader(data), size,
		backend.PutOptions{Metadata: map[string]string{"md5": hex.EncodeToString(sum[:])}}); err != nil {
		t.Fatal(err)
	}
	got := (&failRecorder{TB: t}).check(func(tb testing.TB) {
		assertBucketCiphertext(tb, e, "check")
	})
	for _, want := range []string{
		"plain is stored without an envelope", `plain: metadata "md5" stored in the clear`,
		"plain: the plaintext MD5 is in the stored metadata", "plain: plaintext found in the stored body",
		"stored object plain holds plaintext (a planted marker)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the check did not report %q; it reported:\n%s", want, got)
		}
	}
	if strings.Contains(got, "through-cloak") {
		t.Errorf("the check reported the object written through Cloak:\n%s", got)
	}
}

// TestClients_CrashedClientRunsOnceMore checks that a client killed by
// SIGSEGV is run a second time, and that one crashing every time still
// fails.
func TestClients_CrashedClientRunsOnceMore(t *testing.T) {
	c := &clientEnv{home: t.TempDir(), dir: t.TempDir()}
	const crashOnce = `if [ -e crashed ]; then echo second; else touch crashed; kill -SEGV $$; fi`
	out, _, err := c.tryRun(t, nil, "/bin/sh", "-c", crashOnce)
	if err != nil || out != "second\n" {
		t.Fatalf("crashing once: %q, %v; want the second run's output", out, err)
	}
	if _, _, err := c.tryRun(t, nil, "/bin/sh", "-c", `kill -SEGV $$`); err == nil {
		t.Fatal("a client that crashes every time succeeded")
	}
	if _, _, err := c.tryRun(t, nil, "/bin/sh", "-c", `exit 3`); err == nil {
		t.Fatal("a failing client succeeded")
	}
}

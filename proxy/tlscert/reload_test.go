package tlscert

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPair is a generated certificate and key in PEM.
type testPair struct {
	certPEM, keyPEM []byte
	leaf            *x509.Certificate
}

func newTestPair(t *testing.T, hosts ...string) testPair {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, _, err := EnsureSelfSigned(dir, hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := testPair{leaf: loadLeaf(t, certFile, keyFile)}
	p.certPEM, _ = os.ReadFile(certFile)
	p.keyPEM, _ = os.ReadFile(keyFile)
	return p
}

// install writes p to the pair of files and gives both the modification
// time mtime, so that a watcher sees a change whatever the file system's
// timestamp granularity.
func (p testPair) install(t *testing.T, certFile, keyFile string, mtime time.Time) {
	t.Helper()
	writeWithTime(t, certFile, p.certPEM, mtime)
	writeWithTime(t, keyFile, p.keyPEM, mtime)
}

// writeWithTime replaces name with data, modified at mtime, in one
// rename so that a watcher never sees an intermediate state.
func writeWithTime(t *testing.T, name string, data []byte, mtime time.Time) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

func pairFiles(t *testing.T) (certFile, keyFile string) {
	dir := t.TempDir()
	return filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
}

func served(t *testing.T, r *Reloader) *x509.Certificate {
	t.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

func TestNewReloaderErrors(t *testing.T) {
	a := newTestPair(t)
	b := newTestPair(t)
	certFile, keyFile := pairFiles(t)
	if _, err := NewReloader(certFile, keyFile); err == nil {
		t.Error("no error for missing files")
	}
	writeWithTime(t, certFile, a.certPEM, time.Now())
	writeWithTime(t, keyFile, b.keyPEM, time.Now())
	_, err := NewReloader(certFile, keyFile)
	if err == nil {
		t.Fatal("no error for a mismatched pair")
	}
	if !strings.Contains(err.Error(), certFile) {
		t.Errorf("error %q does not name the certificate file", err)
	}
	if strings.Contains(err.Error(), string(b.keyPEM[30:60])) {
		t.Error("error holds key material")
	}
}

func TestReloadFailureKeepsOldCertificate(t *testing.T) {
	a := newTestPair(t)
	b := newTestPair(t)
	certFile, keyFile := pairFiles(t)
	a.install(t, certFile, keyFile, time.Now())
	r, err := NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	spoils := []struct {
		name          string
		cert, key     []byte
		removeCertToo bool
	}{
		{"mismatched key", b.certPEM, a.keyPEM, false},
		{"garbage certificate", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n"), a.keyPEM, false},
		{"empty key", b.certPEM, nil, false},
		{"missing certificate", nil, b.keyPEM, true},
	}
	for _, s := range spoils {
		writeWithTime(t, certFile, s.cert, time.Now())
		writeWithTime(t, keyFile, s.key, time.Now())
		if s.removeCertToo {
			os.Remove(certFile)
		}
		if err := r.Reload(); err == nil {
			t.Errorf("%s: Reload succeeded", s.name)
		}
		if !served(t, r).Equal(a.leaf) {
			t.Errorf("%s: old certificate no longer served", s.name)
		}
	}
	b.install(t, certFile, keyFile, time.Now())
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if !served(t, r).Equal(b.leaf) {
		t.Error("new certificate not served after a good reload")
	}
	if !r.Certificate().Leaf.Equal(b.leaf) {
		t.Error("Certificate disagrees with GetCertificate")
	}
}

// waitFor polls cond every few milliseconds until it holds or the
// deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	a := newTestPair(t)
	b := newTestPair(t)
	c := newTestPair(t)
	certFile, keyFile := pairFiles(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	a.install(t, certFile, keyFile, base)
	r, err := NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var errs []error
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Watch(ctx, time.Millisecond, func(err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	}()
	numErrs := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(errs)
	}

	// A whole new pair is picked up.
	b.install(t, certFile, keyFile, base.Add(time.Minute))
	waitFor(t, "pair b", func() bool { return served(t, r).Equal(b.leaf) })

	// A pair written in two steps: the certificate alone fails to match
	// (reported once, old one kept), then the key completes it.
	// (Installing pair b writes two files too, so the watcher may already
	// have reported its half-written state; count from here.)
	before := numErrs()
	writeWithTime(t, certFile, c.certPEM, base.Add(2*time.Minute))
	waitFor(t, "mismatch error", func() bool { return numErrs() >= before+1 })
	// Several more polls of the same unchanged, failing state.
	time.Sleep(20 * time.Millisecond)
	if n := numErrs() - before; n != 1 {
		t.Errorf("%d errors reported for one bad state, want 1", n)
	}
	if !served(t, r).Equal(b.leaf) {
		t.Error("half-written pair replaced the served certificate")
	}
	writeWithTime(t, keyFile, c.keyPEM, base.Add(3*time.Minute))
	waitFor(t, "pair c", func() bool { return served(t, r).Equal(c.leaf) })
}

// echoServer accepts TLS connections on a loopback listener and echoes
// each line back until the client closes. It returns the address.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(conn, conn)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn, nil
}

func echo(t *testing.T, conn *tls.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(conn, msg+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != msg+"\n" {
		t.Fatalf("echo = %q, %v", line, err)
	}
}

func TestReloadKeepsOpenConnections(t *testing.T) {
	a := newTestPair(t)
	b := newTestPair(t)
	certFile, keyFile := pairFiles(t)
	a.install(t, certFile, keyFile, time.Now())
	r, err := NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, ServerConfig(r, tls.VersionTLS12))

	roots := x509.NewCertPool()
	roots.AddCert(a.leaf)
	roots.AddCert(b.leaf)
	client := &tls.Config{RootCAs: roots, ServerName: "localhost"}

	old, err := dial(addr, client)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	echo(t, old, "before")
	if got := old.ConnectionState().PeerCertificates[0]; !got.Equal(a.leaf) {
		t.Fatal("first connection did not see certificate a")
	}

	b.install(t, certFile, keyFile, time.Now().Add(time.Second))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}

	echo(t, old, "after")
	if got := old.ConnectionState().PeerCertificates[0]; !got.Equal(a.leaf) {
		t.Error("open connection changed certificate")
	}
	fresh, err := dial(addr, client)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	echo(t, fresh, "new")
	if got := fresh.ConnectionState().PeerCertificates[0]; !got.Equal(b.leaf) {
		t.Error("new connection did not see certificate b")
	}
	echo(t, old, "still")

	// A client that trusts only the old certificate is now refused.
	onlyA := x509.NewCertPool()
	onlyA.AddCert(a.leaf)
	_, err = dial(addr, &tls.Config{RootCAs: onlyA, ServerName: "localhost"})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("client trusting only a: err = %v, want unknown authority", err)
	}
}

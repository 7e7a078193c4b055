package cmd

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/config"
)

// tlsProbe is one handshake attempted with openssl s_client.
type tlsProbe struct {
	name string
	args []string
	ok   bool // whether Cloak must accept it
}

// tlsProbes are the handshakes tried against a certificate of kind "RSA"
// or "ECDSA". SECLEVEL=0 lets openssl offer what its defaults no longer
// do, so a refusal is Cloak's.
func tlsProbes(kind string) []tlsProbe {
	legacy := "DEFAULT:@SECLEVEL=0"
	ecdhe := "ECDHE-" + kind + "-"
	p := []tlsProbe{
		{"TLS 1.3", []string{"-tls1_3"}, true},
		{"TLS 1.2 with ECDHE and AES-GCM", []string{"-tls1_2", "-cipher", ecdhe + "AES128-GCM-SHA256"},
			true},
		{"TLS 1.2 with ChaCha20-Poly1305", []string{"-tls1_2", "-cipher", ecdhe + "CHACHA20-POLY1305"},
			true},
		{"TLS 1.0", []string{"-tls1", "-cipher", legacy}, false},
		{"TLS 1.1", []string{"-tls1_1", "-cipher", legacy}, false},
		{"TLS 1.2 with CBC and SHA-1", []string{"-tls1_2", "-cipher", ecdhe + "AES128-SHA@SECLEVEL=0"},
			false},
		{"TLS 1.2 with CBC and SHA-256",
			[]string{"-tls1_2", "-cipher", ecdhe + "AES128-SHA256@SECLEVEL=0"}, false},
	}
	if kind == "RSA" {
		p = append(p,
			tlsProbe{"TLS 1.2 without ECDHE (RSA key exchange)",
				[]string{"-tls1_2", "-cipher", "AES128-GCM-SHA256@SECLEVEL=0"}, false},
		)
		// Finite-field DHE is not probed: Go's crypto/tls does not
		// implement it at all, so no configuration could offer it.
	}
	return p
}

// openssl returns the openssl binary, which scripts/openssl.sh installs
// for the test command.
func openssl(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		msg := "openssl not found (scripts/openssl.sh installs it)"
		if os.Getenv("CI") == "true" || os.Getenv("CLOAK_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// handshake runs openssl s_client against addr and reports whether the
// handshake completed, with openssl's output.
func handshake(t *testing.T, bin, addr string, args []string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all := append([]string{"s_client", "-connect", addr, "-servername", "localhost", "-brief"}, args...)
	c := exec.CommandContext(ctx, bin, all...)
	c.Stdin = strings.NewReader("")
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("openssl %v did not finish", args)
	}
	return err == nil && strings.Contains(string(out), "Protocol version"), string(out)
}

// TestServe_TLSRefusesOldProtocolsAndWeakSuites starts "cloak serve" with
// an RSA certificate and with its self-signed ECDSA one, and connects with
// openssl: TLS 1.2 with ECDHE and an AEAD, and TLS 1.3, work; TLS 1.0 and
// 1.1, CBC suites, RSA and finite-field DH key exchange are refused. Each
// refused handshake is first shown to work against a permissive server
// with the same certificate, so the refusal is Cloak's, not openssl's.
func TestServe_TLSRefusesOldProtocolsAndWeakSuites(t *testing.T) {
	bin := openssl(t)
	certs := map[string][]string{"RSA": rsaCertFlags(t), "ECDSA": nil}
	for _, kind := range []string{"RSA", "ECDSA"} {
		t.Run(kind, func(t *testing.T) {
			data := t.TempDir()
			addr := serveTLSArgs(t, append([]string{"--data", data, "--listen", "127.0.0.1:0"}, certs[kind]...))
			cert := filepath.Join(data, "tls", "cert.pem")
			key := filepath.Join(data, "tls", "key.pem")
			if kind == "RSA" {
				cert, key = certs[kind][1], certs[kind][3]
			}
			control := permissiveServer(t, cert, key)
			for _, p := range tlsProbes(kind) {
				ok, out := handshake(t, bin, addr, p.args)
				if ok != p.ok {
					t.Errorf("%s: handshake ok=%v, want %v\n%s", p.name, ok, p.ok, out)
				}
				if !p.ok {
					if works, out := handshake(t, bin, control, p.args); !works {
						t.Errorf("%s: openssl cannot make this handshake even with a permissive server, "+
							"so its refusal proves nothing\n%s", p.name, out)
					}
				}
			}
			goClientProbes(t, addr, control)
		})
	}
}

// goClientProbes offers suites this machine's openssl no longer builds
// (RC4, 3DES) with Go's client: Cloak must refuse every one that the
// permissive control server accepts, and the control must accept some.
func goClientProbes(t *testing.T, addr, control string) {
	dial := func(addr string, id uint16) bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true,
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{id}})
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	tried := 0
	for _, s := range tls.InsecureCipherSuites() {
		if !strings.Contains(s.Name, "RC4") && !strings.Contains(s.Name, "3DES") || !dial(control, s.ID) {
			continue
		}
		tried++
		if dial(addr, s.ID) {
			t.Errorf("a handshake offering only %s succeeded", s.Name)
		}
	}
	if tried == 0 {
		t.Error("no RC4 or 3DES suite could be negotiated even with the permissive server")
	}
}

// serveTLSArgs runs serve with args until the test ends and returns the
// address it listens on.
func serveTLSArgs(t *testing.T, args []string) string {
	t.Helper()
	cfg, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError), args,
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(startServe(t, cfg).endpoint(), "https://")
}

// permissiveServer serves TLS 1.0 to 1.3 with every suite Go has, with
// the given certificate, and returns its address.
func permissiveServer(t *testing.T, certFile, keyFile string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var suites []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		suites = append(suites, s.ID)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
		MinVersion: tls.VersionTLS10, CipherSuites: suites})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.(*tls.Conn).Handshake()
				io.Copy(io.Discard, c)
			}(c)
		}
	}()
	return ln.Addr().String()
}

// rsaCertFlags writes a self-signed RSA certificate for localhost and
// returns the flags that make serve use it.
func rsaCertFlags(t *testing.T) []string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	return []string{"--tls-cert", certFile, "--tls-key", keyFile}
}

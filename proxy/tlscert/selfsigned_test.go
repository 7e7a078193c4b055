package tlscert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func loadLeaf(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("load pair: %v", err)
	}
	return pair.Leaf
}

func TestEnsureSelfSignedGenerates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	certFile, keyFile, created, err := EnsureSelfSigned(dir,
		[]string{"cloak.example", "192.0.2.7", "", "0.0.0.0", "::", "LOCALHOST", "[2001:db8::1]"},
		t0)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Error("created = false for an empty directory")
	}
	if certFile != filepath.Join(dir, "cert.pem") || keyFile != filepath.Join(dir, "key.pem") {
		t.Errorf("paths = %s, %s", certFile, keyFile)
	}
	leaf := loadLeaf(t, certFile, keyFile)

	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if !leaf.NotBefore.Before(t0) || !leaf.NotAfter.Equal(t0.Add(Validity)) {
		t.Errorf("validity %v to %v, want from before %v to %v",
			leaf.NotBefore, leaf.NotAfter, t0, t0.Add(Validity))
	}
	if leaf.SerialNumber.Sign() <= 0 || leaf.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %v is not a large positive random number", leaf.SerialNumber)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("ext key usage %v, want server auth", leaf.ExtKeyUsage)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature || leaf.IsCA {
		t.Errorf("key usage %v, CA %v", leaf.KeyUsage, leaf.IsCA)
	}
	if want := []string{"localhost", "cloak.example"}; !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("DNS names %v, want %v", leaf.DNSNames, want)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"127.0.0.1", "::1", "192.0.2.7", "2001:db8::1"}; !slices.Equal(ips, want) {
		t.Errorf("IP addresses %v, want %v", ips, want)
	}

	// The certificate verifies as its own root for each name at t0.
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "cloak.example"} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots,
			CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if err := leaf.VerifyHostname("other.example"); err == nil {
		t.Error("certificate also valid for other.example")
	}
}

func TestEnsureSelfSignedFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "tls")
	certFile, keyFile, _, err := EnsureSelfSigned(dir, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want os.FileMode
	}{{dir, 0o700 | os.ModeDir}, {keyFile, 0o600}, {certFile, 0o644}} {
		fi, err := os.Stat(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(c.name), fi.Mode(), c.want)
		}
	}
	// No temporary file is left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2", len(entries))
	}

	// An existing, too open directory is restricted when a pair is written.
	open := t.TempDir()
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := EnsureSelfSigned(open, nil, t0); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(open); fi.Mode().Perm() != 0o700 {
		t.Errorf("existing directory mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestEnsureSelfSignedReuseAndRenew(t *testing.T) {
	// Days after t0 at which the next call runs, and whether it must
	// generate a new pair. Validity is 365 days, renewal 30 days before.
	tests := []struct {
		name    string
		later   time.Duration
		hosts   []string
		created bool
	}{
		{"same moment", 0, nil, false},
		{"a day later", 24 * time.Hour, nil, false},
		{"31 days left", Validity - RenewBefore - 24*time.Hour, nil, false},
		{"exactly 30 days left", Validity - RenewBefore, nil, false},
		{"a second under 30 days left", Validity - RenewBefore + time.Second, nil, true},
		{"29 days left", Validity - RenewBefore + 24*time.Hour, nil, true},
		{"expired", Validity + time.Hour, nil, true},
		{"clock went back before NotBefore", -2 * clockSkew, nil, true},
		{"a default host again", 0, []string{"127.0.0.1"}, false},
		{"new host", 0, []string{"cloak.example"}, true},
		{"new address", 0, []string{"192.0.2.9"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile, _, err := EnsureSelfSigned(dir, nil, t0)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(certFile)
			beforeKey, _ := os.ReadFile(keyFile)
			_, _, created, err := EnsureSelfSigned(dir, tt.hosts, t0.Add(tt.later))
			if err != nil {
				t.Fatal(err)
			}
			if created != tt.created {
				t.Fatalf("created = %v, want %v", created, tt.created)
			}
			after, _ := os.ReadFile(certFile)
			afterKey, _ := os.ReadFile(keyFile)
			if same := bytes.Equal(before, after); same == tt.created {
				t.Errorf("certificate unchanged = %v, created = %v", same, tt.created)
			}
			if same := bytes.Equal(beforeKey, afterKey); same == tt.created {
				t.Errorf("key unchanged = %v, created = %v", same, tt.created)
			}
			leaf := loadLeaf(t, certFile, keyFile)
			if tt.created && !leaf.NotAfter.Equal(t0.Add(tt.later).Add(Validity)) {
				t.Errorf("new certificate expires %v", leaf.NotAfter)
			}
		})
	}
}

func TestEnsureSelfSignedReplacesBadFiles(t *testing.T) {
	other := t.TempDir()
	otherCert, otherKey, _, err := EnsureSelfSigned(other, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyPEM, _ := os.ReadFile(otherKey)
	otherCertPEM, _ := os.ReadFile(otherCert)

	tests := []struct {
		name  string
		spoil func(certFile, keyFile string) error
	}{
		{"key missing", func(_, k string) error { return os.Remove(k) }},
		{"cert missing", func(c, _ string) error { return os.Remove(c) }},
		{"cert corrupt", func(c, _ string) error { return os.WriteFile(c, []byte("junk"), 0o644) }},
		{"key truncated", func(_, k string) error { return os.Truncate(k, 40) }},
		{"key of another pair", func(_, k string) error {
			return os.WriteFile(k, otherKeyPEM, 0o600)
		}},
		{"cert of another pair", func(c, _ string) error {
			return os.WriteFile(c, otherCertPEM, 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile, _, err := EnsureSelfSigned(dir, nil, t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.spoil(certFile, keyFile); err != nil {
				t.Fatal(err)
			}
			_, _, created, err := EnsureSelfSigned(dir, nil, t0)
			if err != nil {
				t.Fatal(err)
			}
			if !created {
				t.Error("spoilt pair was reused")
			}
			loadLeaf(t, certFile, keyFile)
		})
	}
}

func TestEnsureSelfSignedUnwritableDir(t *testing.T) {
	parent := t.TempDir()
	blocker := filepath.Join(parent, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := EnsureSelfSigned(filepath.Join(blocker, "tls"), nil, t0); err == nil {
		t.Error("no error for a directory below a regular file")
	}
}

func TestFingerprint(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2, on a certificate whose DER is "abc".
	got := Fingerprint(&x509.Certificate{Raw: []byte("abc")})
	want := "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:" +
		"B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
	if got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}

	dir := t.TempDir()
	certFile, keyFile, _, err := EnsureSelfSigned(dir, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	fp := Fingerprint(loadLeaf(t, certFile, keyFile))
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp) {
		t.Errorf("fingerprint %q is not 32 colon-separated hex bytes", fp)
	}
}

func TestSANNames(t *testing.T) {
	got := sanNames([]string{" Host.Example ", "[::1]", "0:0:0:0:0:0:0:1", "127.0.0.1",
		"host.example"})
	want := []string{"localhost", "127.0.0.1", "::1", "host.example"}
	if !slices.Equal(got, want) {
		t.Errorf("sanNames = %v, want %v", got, want)
	}
	if net.ParseIP(got[2]) == nil {
		t.Error("::1 not kept as an address")
	}
}

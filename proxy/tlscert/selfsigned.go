package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names of the self-signed pair inside the directory given to
// EnsureSelfSigned.
const (
	CertFileName = "cert.pem"
	KeyFileName  = "key.pem"
)

// Validity is how long a generated certificate is valid.
const Validity = 365 * 24 * time.Hour

// RenewBefore is how long before expiry EnsureSelfSigned replaces a
// certificate rather than reusing it.
const RenewBefore = 30 * 24 * time.Hour

// clockSkew backdates NotBefore so that a client whose clock runs a
// little behind still accepts a certificate generated a moment ago.
const clockSkew = time.Hour

// defaultHosts are the names every self-signed certificate covers.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// EnsureSelfSigned returns the paths of a self-signed certificate and its
// key in dir, generating them if needed; created reports whether it
// generated a new pair.
//
// The existing dir/cert.pem and dir/key.pem are reused when they parse,
// match each other, cover every name in hosts and are valid from now
// until at least RenewBefore from now. Otherwise (missing, unreadable,
// corrupt, mismatched, near expiry or lacking a host) both are replaced
// by a new ECDSA P-256 certificate valid for Validity from now, for
// server authentication, with a random 128-bit serial and subject
// alternative names localhost, 127.0.0.1, ::1 and hosts.
//
// hosts are DNS names or IP addresses without a port; empty entries and
// unspecified addresses (0.0.0.0, ::) are ignored, since no client
// connects to them. dir is created with mode 0700 if missing, and an
// existing dir is restricted to 0700 when a pair is written; the key
// file has mode 0600 and the certificate 0644. Each file is written to a
// temporary name, synced and renamed, so a crash leaves either the old
// or the new file, never a partial one; a crash between the two renames
// leaves a mismatched pair, which the next call replaces.
//
// EnsureSelfSigned does not lock dir: two processes calling it at once
// for the same dir may each write a pair, and the last renames win.
func EnsureSelfSigned(dir string, hosts []string, now time.Time) (
	certFile, keyFile string, created bool, err error) {
	certFile = filepath.Join(dir, CertFileName)
	keyFile = filepath.Join(dir, KeyFileName)
	names := sanNames(hosts)
	if reusable(certFile, keyFile, names, now) {
		return certFile, keyFile, false, nil
	}
	certPEM, keyPEM, err := generate(names, now)
	if err != nil {
		return "", "", false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("failed to create certificate directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("failed to restrict certificate directory: %w", err)
	}
	// The key goes first: a certificate on disk never names a key that
	// was not yet written.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", false, err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", false, err
	}
	if err := syncDir(dir); err != nil {
		return "", "", false, err
	}
	return certFile, keyFile, true, nil
}

// sanNames returns the default hosts followed by hosts, without empty,
// unspecified or repeated entries; IP addresses are in canonical form.
func sanNames(hosts []string) []string {
	var out []string
	for _, h := range append(slices.Clone(defaultHosts), hosts...) {
		h = strings.TrimSpace(h)
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if ip := net.ParseIP(h); ip != nil {
			if ip.IsUnspecified() {
				continue
			}
			h = ip.String()
		} else {
			h = strings.ToLower(h)
		}
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// reusable reports whether the pair on disk can serve names at now.
func reusable(certFile, keyFile string, names []string, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil || pair.Leaf == nil {
		return false
	}
	leaf := pair.Leaf
	if now.Before(leaf.NotBefore) || leaf.NotAfter.Sub(now) < RenewBefore {
		return false
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}

// generate makes a new self-signed certificate for names and returns it
// and its key in PEM.
func generate(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("failed to generate serial number: %w", err)
	}
	if serial.Sign() == 0 {
		serial.SetInt64(1) // RFC 5280 wants a positive serial
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"Cloak"},
			CommonName:   "Cloak self-signed",
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to encode key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeFileAtomic writes data to a temporary file next to name with mode
// perm, syncs it and renames it over name. The caller syncs the
// directory.
func writeFileAtomic(name string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", filepath.Base(name), err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("failed to write %s: %w", filepath.Base(name), err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("failed to write %s: %w", filepath.Base(name), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("failed to sync %s: %w", filepath.Base(name), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", filepath.Base(name), err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("failed to rename %s into place: %w", filepath.Base(name), err)
	}
	return nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to sync certificate directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("failed to sync certificate directory: %w", err)
	}
	return nil
}

// Fingerprint returns the SHA-256 digest of cert's DER encoding as
// upper-case hex bytes separated by colons ("AB:CD:..."), the form
// openssl x509 -fingerprint -sha256 prints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	b.Grow(len(sum) * 3)
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

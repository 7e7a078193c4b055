package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestServerConfigHandshakes(t *testing.T) {
	p := newTestPair(t)
	certFile, keyFile := pairFiles(t)
	p.install(t, certFile, keyFile, time.Now())
	r, err := NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr12 := echoServer(t, ServerConfig(r, tls.VersionTLS12))
	addr13 := echoServer(t, ServerConfig(r, tls.VersionTLS13))
	roots := x509.NewCertPool()
	roots.AddCert(p.leaf)

	tests := []struct {
		name        string
		addr        string
		min, max    uint16
		suites      []uint16
		protos      []string
		ok          bool
		wantVersion uint16
		wantProto   string
	}{
		{name: "default client", addr: addr12, ok: true, wantVersion: tls.VersionTLS13},
		{name: "TLS 1.2 GCM", addr: addr12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			ok:     true, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.2 ChaCha20", addr: addr12, max: tls.VersionTLS12,
			suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
			ok:     true, wantVersion: tls.VersionTLS12},
		{name: "TLS 1.1", addr: addr12, min: tls.VersionTLS11, max: tls.VersionTLS11},
		{name: "TLS 1.0", addr: addr12, min: tls.VersionTLS10, max: tls.VersionTLS10},
		{name: "TLS 1.2 CBC only", addr: addr12, max: tls.VersionTLS12,
			suites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			}},
		{name: "ALPN h2", addr: addr12, protos: []string{"h2", "http/1.1"},
			ok: true, wantVersion: tls.VersionTLS13, wantProto: "h2"},
		{name: "ALPN http/1.1", addr: addr12, protos: []string{"http/1.1"},
			ok: true, wantVersion: tls.VersionTLS13, wantProto: "http/1.1"},
		{name: "1.3 minimum, TLS 1.2 client", addr: addr13, max: tls.VersionTLS12},
		{name: "1.3 minimum, TLS 1.3 client", addr: addr13, ok: true,
			wantVersion: tls.VersionTLS13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := dial(tt.addr, &tls.Config{
				RootCAs: roots, ServerName: "localhost",
				MinVersion: tt.min, MaxVersion: tt.max,
				CipherSuites: tt.suites, NextProtos: tt.protos,
			})
			if !tt.ok {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st := conn.ConnectionState()
			if st.Version != tt.wantVersion {
				t.Errorf("version %x, want %x", st.Version, tt.wantVersion)
			}
			if st.NegotiatedProtocol != tt.wantProto {
				t.Errorf("ALPN %q, want %q", st.NegotiatedProtocol, tt.wantProto)
			}
			echo(t, conn, "hello")
		})
	}
}

func TestServerConfigFields(t *testing.T) {
	r := &Reloader{}
	for _, c := range []struct{ in, want uint16 }{
		{0, tls.VersionTLS12},
		{tls.VersionTLS10, tls.VersionTLS12},
		{tls.VersionTLS11, tls.VersionTLS12},
		{tls.VersionTLS12, tls.VersionTLS12},
		{tls.VersionTLS13, tls.VersionTLS13},
	} {
		if got := ServerConfig(r, c.in).MinVersion; got != c.want {
			t.Errorf("ServerConfig(%x).MinVersion = %x, want %x", c.in, got, c.want)
		}
	}
	cfg := ServerConfig(r, tls.VersionTLS12)
	if !slices.Equal(cfg.NextProtos, []string{"h2", "http/1.1"}) {
		t.Errorf("NextProtos = %v", cfg.NextProtos)
	}
	insecure := map[uint16]bool{}
	for _, s := range tls.InsecureCipherSuites() {
		insecure[s.ID] = true
	}
	for _, id := range cfg.CipherSuites {
		name := tls.CipherSuiteName(id)
		if insecure[id] || !(strings.Contains(name, "_ECDHE_") &&
			(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305"))) {
			t.Errorf("suite %s is not ECDHE with an AEAD", name)
		}
	}
	// Changing one Config does not change the next.
	cfg.CipherSuites[0] = 0
	if ServerConfig(r, tls.VersionTLS12).CipherSuites[0] == 0 {
		t.Error("configs share the cipher suite slice")
	}
}

// TestServerConfigResumesSessions: a client that reconnects resumes its
// TLS session (TLS 1.3 tickets, TLS 1.2 session tickets) instead of a full
// handshake with a fresh key exchange and the certificate again, which
// is what makes many short connections (one per small request, as some
// clients open them) cheap.
func TestServerConfigResumesSessions(t *testing.T) {
	p := newTestPair(t)
	certFile, keyFile := pairFiles(t)
	p.install(t, certFile, keyFile, time.Now())
	r, err := NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, ServerConfig(r, tls.VersionTLS12))
	roots := x509.NewCertPool()
	roots.AddCert(p.leaf)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: version,
			ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		for i, wantResumed := range []bool{false, true} {
			conn, err := dial(addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The echo lets a TLS 1.3 client read the ticket the
			// server sends after the handshake.
			echo(t, conn, "hello")
			if got := conn.ConnectionState().DidResume; got != wantResumed {
				t.Errorf("TLS %x, connection %d: resumed %v, want %v", version, i+1, got, wantResumed)
			}
			conn.Close()
		}
	}
}

package tlscert

import "crypto/tls"

// tls12Suites are the cipher suites offered to TLS 1.2 clients: ECDHE key
// exchange (forward secrecy) with an AEAD cipher. TLS 1.3 suites are not
// configurable in crypto/tls and are all AEAD.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig returns the TLS settings the proxy serves with: the
// certificate from r, minVersion as the lowest protocol version
// (tls.VersionTLS12 or tls.VersionTLS13; anything lower is raised to
// TLS 1.2), TLS 1.2 limited to ECDHE with AES-GCM or ChaCha20-Poly1305,
// and ALPN offering h2 then http/1.1. Each call returns a new Config the
// caller may adjust.
func ServerConfig(r *Reloader, minVersion uint16) *tls.Config {
	if minVersion < tls.VersionTLS12 {
		minVersion = tls.VersionTLS12
	}
	return &tls.Config{
		GetCertificate: r.GetCertificate,
		MinVersion:     minVersion,
		CipherSuites:   append([]uint16(nil), tls12Suites...),
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

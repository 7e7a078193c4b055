// Package tlscert provides the server certificate of the proxy: a
// self-signed default for local use, a reloader that swaps the
// certificate when its files change, and the TLS settings the proxy
// serves with.
//
// It imports nothing else from the proxy, so the serve command can set
// up TLS before the proxy exists.
//
// # Self-signed default
//
// [EnsureSelfSigned] keeps an ECDSA P-256 certificate and key as
// cert.pem and key.pem in a directory (the serve command uses one under
// the data directory). It reuses them while they parse, match, name
// every requested host and stay valid for at least [RenewBefore];
// otherwise it writes a new pair valid for [Validity]. Files are written
// atomically (temp file, fsync, rename, directory fsync); the key is
// mode 0600 and the directory 0700. [Fingerprint] formats the SHA-256
// of a certificate as colon-separated hex, as openssl prints it, so a
// client can pin or compare it.
//
// # Reloading
//
// A [Reloader] holds the current certificate of a cert/key file pair
// and hands it to new handshakes through [Reloader.GetCertificate].
// [Reloader.Reload] replaces it only with a pair that parses and
// matches; on any error the old certificate stays in service. The serve
// command calls Reload on SIGHUP, and [Reloader.Watch] polls the files
// and reloads when their size or modification time changes. Open
// connections keep the certificate they were established with; only new
// handshakes see the new one, so a reload drops no connection.
//
// # Server settings
//
// [ServerConfig] builds the tls.Config the proxy listens with: TLS 1.2
// or 1.3 as the minimum, for TLS 1.2 only ECDHE key exchange with AEAD
// ciphers (AES-GCM and ChaCha20-Poly1305), and ALPN for h2 and
// http/1.1.
package tlscert

package config

import (
	"crypto/tls"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole configuration of cloak serve. The yaml tags are the
// field names of the configuration file; the path of a field (used in
// errors and to derive its environment variable) joins them with dots.
type Config struct {
	// Listen is the address the proxy listens on, host:port. An empty
	// host means every interface.
	Listen string `yaml:"listen"`
	// Data is the data directory: the embedded backend's objects, the
	// key ring and the self-signed certificate live under it by default.
	Data string `yaml:"data"`
	// TLS configures the listener's certificate and protocol versions.
	TLS TLS `yaml:"tls"`
	// InsecureHTTP serves plain HTTP instead of TLS. It is refused on an
	// address other than loopback unless InsecureHTTPForce is set too.
	InsecureHTTP      bool `yaml:"insecure_http"`
	InsecureHTTPForce bool `yaml:"insecure_http_force"`
	// S3 is how Cloak presents itself to clients.
	S3 S3 `yaml:"s3"`
	// Root holds the credentials of the root user. Both empty means
	// unset: the serve command then generates and prints a pair.
	Root Credentials `yaml:"root"`
	// Backend is where encrypted objects are kept.
	Backend Backend `yaml:"backend"`
	// KeyRing is the path of the local key ring file; empty means
	// <data>/keyring.
	KeyRing string `yaml:"keyring"`
	// Keys configures the master key provider and the data key cache.
	Keys Keys `yaml:"keys"`
	// Access configures users, groups and policies (docs/SECURITY.md).
	Access Access `yaml:"access"`
	// Migrating lists buckets ("bucket") and prefixes ("bucket/prefix")
	// whose plaintext objects are served while they are being encrypted
	// in place. Elsewhere an object without a valid envelope is refused.
	Migrating []string `yaml:"migrating,omitempty"`
	// ShutdownTimeout bounds how long a graceful shutdown waits for
	// requests in flight before closing their connections.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MaxRequests bounds the requests served at once; a request beyond
	// it is answered 503 SlowDown at once, which S3 clients retry with
	// backoff, instead of taking memory. 0 means no limit.
	MaxRequests int `yaml:"max_requests"`
	// Log configures the server's structured log.
	Log Log `yaml:"log"`
	// Audit configures the audit log; Alerts the alert rules; Metrics
	// the Prometheus and health listener.
	Audit   Audit   `yaml:"audit"`
	Alerts  Alerts  `yaml:"alerts"`
	Metrics Metrics `yaml:"metrics"`
}

// TLS configures the listener's certificate.
type TLS struct {
	// Cert and Key are PEM files; both empty means a self-signed
	// certificate kept in SelfSignedDir. They are reloaded when they
	// change.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// MinVersion is the lowest TLS version accepted: "1.2" or "1.3".
	MinVersion string `yaml:"min_version"`
}

// S3 is how Cloak presents itself to S3 clients.
type S3 struct {
	// Region is the region Cloak answers as; clients sign for it.
	Region string `yaml:"region"`
	// Domains are base domains for virtual-host-style requests: with
	// "s3.example.com", a request to "photos.s3.example.com" addresses
	// bucket photos. Path-style requests work whatever this is.
	Domains []string `yaml:"domains,omitempty"`
}

// Credentials are an access key and its secret key.
type Credentials struct {
	AccessKey string `yaml:"access_key"`
	SecretKey Secret `yaml:"secret_key"`
}

// Backend selects and configures the store that holds ciphertext.
type Backend struct {
	// Type is "local" (a directory, the default) or "s3". When left
	// empty it is "s3" if S3.Endpoint is set and "local" otherwise.
	Type  string       `yaml:"type"`
	Local LocalBackend `yaml:"local"`
	S3    S3Backend    `yaml:"s3"`
}

// LocalBackend is the embedded local-directory store.
type LocalBackend struct {
	// Dir holds the objects; empty means <data>/objects.
	Dir string `yaml:"dir"`
}

// S3Backend is an S3-compatible server that holds the ciphertext.
type S3Backend struct {
	// Endpoint is the server's http or https URL, without path, query
	// or credentials.
	Endpoint string `yaml:"endpoint"`
	// Region of the buckets; empty lets the client discover it.
	Region string `yaml:"region"`
	// Credentials for the server; both empty means anonymous requests.
	AccessKey string `yaml:"access_key"`
	SecretKey Secret `yaml:"secret_key"`
	// Lookup is the bucket addressing style: "path", "dns" (virtual
	// host) or "auto" (virtual host for AWS, path elsewhere).
	Lookup string `yaml:"lookup"`
	// CAFile is a PEM bundle of CAs trusted, besides the system's, for
	// an https endpoint.
	CAFile string `yaml:"ca_file"`
}

// Keys configures how data keys are wrapped and cached.
type Keys struct {
	// Provider wraps data keys under master keys: "ring", the key ring
	// file (see Config.KeyRing); "awskms", AWS KMS (see AWSKMS);
	// "pkcs11", a PKCS#11 token such as an HSM (see PKCS11).
	Provider string `yaml:"provider"`
	// BucketKeys gives buckets their own master key, so that one client
	// matter can be isolated and crypto-shredded. With the key ring an
	// entry is a bucket name (its key is created on start when missing);
	// with awskms and pkcs11 it is "bucket=KEY", KEY being the KMS key
	// (id, ARN or alias) or the token key label.
	BucketKeys []string `yaml:"bucket_keys,omitempty"`
	// AWSKMS configures the awskms provider.
	AWSKMS AWSKMS `yaml:"awskms"`
	// PKCS11 configures the pkcs11 provider.
	PKCS11 PKCS11 `yaml:"pkcs11"`
	// Passphrase seals the key ring file (Argon2id, then AES-256-GCM).
	// Empty leaves the file in the clear, protected by its mode only.
	Passphrase Secret `yaml:"passphrase"`
	// ReloadInterval is how often a running server checks the key ring
	// file for changes (rotation, shredding) made by "cloak keys".
	ReloadInterval Duration `yaml:"reload_interval"`
	// CacheSize bounds the cache of unwrapped data keys, in keys; 0
	// turns the cache off. CacheTTL bounds how long a key stays in it.
	CacheSize int      `yaml:"cache_size"`
	CacheTTL  Duration `yaml:"cache_ttl"`
}

// Access configures where the users, groups and policies are kept and
// how failed authentications are limited.
type Access struct {
	// Bucket is the system bucket (in the backend) holding the sealed
	// access state; its name must start with "cloak-system". Instances
	// that share a backend and a key provider share their users through
	// it. On AWS S3, where bucket names are global, choose a unique one.
	Bucket string `yaml:"bucket"`
	// ReloadInterval is how often a running server checks the access
	// state for changes made elsewhere (another instance, cloak admin).
	ReloadInterval Duration `yaml:"reload_interval"`
	// FailuresPerKey and FailuresPerAddress are how many failed
	// authentications an access key, or a source address, may have in
	// FailureWindow; past that its requests are refused with SlowDown
	// until the window ends. Negative turns a limit off.
	FailuresPerKey     int      `yaml:"auth_failures_per_key"`
	FailuresPerAddress int      `yaml:"auth_failures_per_address"`
	FailureWindow      Duration `yaml:"auth_failure_window"`
}

// AWSKMS configures master keys held in AWS KMS (or a KMS-compatible
// service at Endpoint).
type AWSKMS struct {
	// KeyID is the default KMS key: id, ARN, alias name or alias ARN.
	KeyID string `yaml:"key_id"`
	// Endpoint overrides the KMS endpoint URL; Region is the keys'
	// region (default: from the environment).
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
	// AccessKey and SecretKey are static credentials; both empty use the
	// AWS SDK's default chain (environment, files, instance role).
	AccessKey string `yaml:"access_key"`
	SecretKey Secret `yaml:"secret_key"`
	// CAFile is a PEM bundle of extra CAs for an https Endpoint.
	CAFile string `yaml:"ca_file"`
}

// PKCS11 configures master keys held in a PKCS#11 token.
type PKCS11 struct {
	// Module is the path of the token's PKCS#11 library.
	Module string `yaml:"module"`
	// TokenLabel selects the token; Slot (a number) may be given instead
	// or as well.
	TokenLabel string `yaml:"token_label"`
	Slot       string `yaml:"slot"`
	// PIN is the user PIN of the token.
	PIN Secret `yaml:"pin"`
	// KeyLabel names the default master key on the token (versions are
	// objects labelled KeyLabel.v1, .v2, ...). Default "cloak-master".
	KeyLabel string `yaml:"key_label"`
}

// Log configures the structured log.
type Log struct {
	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
	// Format is "text" or "json".
	Format string `yaml:"format"`
}

// Defaults of the fields that have one. The local backend directory and
// the key ring default to paths under the data directory instead.
const (
	DefaultListen          = "127.0.0.1:9443"
	DefaultData            = "cloak-data"
	DefaultTLSMinVersion   = "1.2"
	DefaultRegion          = "us-east-1"
	DefaultLookup          = "auto"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultMaxRequests     = 1024
	// MaxRequestsLimit is the largest MaxRequests accepted.
	MaxRequestsLimit      = 1_000_000
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
	DefaultKeyProvider    = "ring"
	DefaultReloadInterval = 2 * time.Second
	DefaultKeyCacheSize   = 10000
	DefaultKeyCacheTTL    = 5 * time.Minute
	DefaultPKCS11KeyLabel = "cloak-master"

	DefaultAccessBucket       = "cloak-system"
	DefaultAccessReload       = time.Second
	DefaultFailuresPerKey     = 10
	DefaultFailuresPerAddress = 50
	DefaultAuthFailureWindow  = time.Minute
)

// Default returns the configuration used when nothing is set. The
// directories derived from Data (Backend.Local.Dir, KeyRing) are left
// empty: Load fills them in once Data is known.
func Default() *Config {
	return &Config{
		Listen:          DefaultListen,
		Data:            DefaultData,
		TLS:             TLS{MinVersion: DefaultTLSMinVersion},
		S3:              S3{Region: DefaultRegion},
		Backend:         Backend{S3: S3Backend{Lookup: DefaultLookup}},
		ShutdownTimeout: Duration(DefaultShutdownTimeout),
		MaxRequests:     DefaultMaxRequests,
		Log:             Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Keys: Keys{Provider: DefaultKeyProvider, ReloadInterval: Duration(DefaultReloadInterval),
			CacheSize: DefaultKeyCacheSize, CacheTTL: Duration(DefaultKeyCacheTTL),
			PKCS11: PKCS11{KeyLabel: DefaultPKCS11KeyLabel}},
		Access: Access{Bucket: DefaultAccessBucket, ReloadInterval: Duration(DefaultAccessReload),
			FailuresPerKey: DefaultFailuresPerKey, FailuresPerAddress: DefaultFailuresPerAddress,
			FailureWindow: Duration(DefaultAuthFailureWindow)},
		Audit:  defaultAudit(),
		Alerts: Alerts{Tampering: true},
	}
}

// resolve fills in the defaults that depend on other fields.
func (c *Config) resolve() {
	if c.Backend.Type == "" {
		c.Backend.Type = "local"
		if c.Backend.S3.Endpoint != "" {
			c.Backend.Type = "s3"
		}
	}
	if c.Backend.Local.Dir == "" && c.Data != "" {
		c.Backend.Local.Dir = filepath.Join(c.Data, "objects")
	}
	if c.KeyRing == "" && c.Data != "" {
		c.KeyRing = filepath.Join(c.Data, "keyring")
	}
}

// HasRootCredentials reports whether the root access and secret keys
// were configured. When not, the serve command generates a pair.
func (c *Config) HasRootCredentials() bool {
	return c.Root.AccessKey != "" && c.Root.SecretKey != ""
}

// UsesSelfSigned reports whether the listener needs a self-signed
// certificate: TLS is on and no certificate file is configured.
func (c *Config) UsesSelfSigned() bool {
	return !c.InsecureHTTP && c.TLS.Cert == "" && c.TLS.Key == ""
}

// SelfSignedDir is the directory of the self-signed certificate:
// <data>/tls.
func (c *Config) SelfSignedDir() string {
	return filepath.Join(c.Data, "tls")
}

// MinVersionID returns the crypto/tls constant for MinVersion, TLS 1.2
// for anything other than "1.3" (Validate refuses other values).
func (t TLS) MinVersionID() uint16 {
	if t.MinVersion == "1.3" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// SlogLevel returns the slog level for Level, info for an unknown one
// (Validate refuses those).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// A MigratingEntry is one parsed entry of Config.Migrating: a whole
// bucket (empty Prefix) or the keys of a bucket that start with Prefix.
type MigratingEntry struct {
	Bucket string
	Prefix string
}

// parseMigrating splits "bucket" or "bucket/prefix".
func parseMigrating(s string) MigratingEntry {
	bucket, prefix, _ := strings.Cut(s, "/")
	return MigratingEntry{Bucket: bucket, Prefix: prefix}
}

// MigratingEntries returns the parsed Migrating list.
func (c *Config) MigratingEntries() []MigratingEntry {
	out := make([]MigratingEntry, 0, len(c.Migrating))
	for _, s := range c.Migrating {
		out = append(out, parseMigrating(s))
	}
	return out
}

// IsMigrating reports whether the object bucket/key lies in a bucket or
// prefix marked as migrating. Prefixes match as in S3 listings, byte for
// byte: "logs/2019" covers "logs/2019-old" too; end a prefix with "/" to
// mean one folder.
func (c *Config) IsMigrating(bucket, key string) bool {
	for _, s := range c.Migrating {
		e := parseMigrating(s)
		if e.Bucket == bucket && strings.HasPrefix(key, e.Prefix) {
			return true
		}
	}
	return false
}

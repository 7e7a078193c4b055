package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testCertFiles writes a self-signed certificate and its key and returns
// their paths.
func testCertFiles(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test CA"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeFile(t, "cert.pem",
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(t, "key.pem",
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
	return certFile, keyFile
}

// valid returns a resolved default Config, which must validate.
func valid(t *testing.T) *Config {
	c := Default()
	c.resolve()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	return c
}

func TestValidateAccepts(t *testing.T) {
	certFile, keyFile := testCertFiles(t)
	tests := []struct {
		name   string
		modify func(c *Config)
	}{
		{"defaults", func(c *Config) {}},
		{"any interface with TLS", func(c *Config) { c.Listen = ":9443" }},
		{"IPv6 loopback", func(c *Config) { c.Listen = "[::1]:0" }},
		{"host name", func(c *Config) { c.Listen = "cloak.internal:443" }},
		{"insecure on loopback", func(c *Config) { c.InsecureHTTP = true }},
		{"insecure on localhost", func(c *Config) {
			c.InsecureHTTP, c.Listen = true, "localhost:8080"
		}},
		{"insecure on IPv6 loopback", func(c *Config) {
			c.InsecureHTTP, c.Listen = true, "[::1]:8080"
		}},
		{"insecure forced", func(c *Config) {
			c.InsecureHTTP, c.InsecureHTTPForce, c.Listen = true, true, "0.0.0.0:8080"
		}},
		{"TLS files", func(c *Config) { c.TLS.Cert, c.TLS.Key = certFile, keyFile }},
		{"TLS 1.3", func(c *Config) { c.TLS.MinVersion = "1.3" }},
		{"domains", func(c *Config) { c.S3.Domains = []string{"s3.example.com", "localhost"} }},
		{"root credentials", func(c *Config) {
			c.Root = Credentials{AccessKey: "abc", SecretKey: "12345678"}
		}},
		{"s3 backend", func(c *Config) {
			c.Backend.Type = "s3"
			c.Backend.S3 = S3Backend{Endpoint: "https://s3.example.com/", Region: "eu-west-1",
				AccessKey: "proxy", SecretKey: "proxy-secret", Lookup: "path", CAFile: certFile}
		}},
		{"anonymous s3 backend", func(c *Config) {
			c.Backend.Type = "s3"
			c.Backend.S3.Endpoint = "http://127.0.0.1:9000"
		}},
		{"migrating", func(c *Config) {
			c.Migrating = []string{"bucket-a", "bucket-a/logs/", "bucket-b/x/y/z"}
		}},
		{"log", func(c *Config) { c.Log = Log{Level: "debug", Format: "json"} }},
		{"longest shutdown", func(c *Config) { c.ShutdownTimeout = Duration(time.Hour) }},
		{"no request limit", func(c *Config) { c.MaxRequests = 0 }},
		{"largest request limit", func(c *Config) { c.MaxRequests = MaxRequestsLimit }},
		{"ring bucket keys", func(c *Config) { c.Keys.BucketKeys = []string{"matter-42", "human-resources"} }},
		{"awskms", func(c *Config) {
			c.Keys.Provider = "awskms"
			c.Keys.AWSKMS = AWSKMS{KeyID: "alias/cloak", Endpoint: "http://127.0.0.1:8080",
				Region: "eu-west-1", AccessKey: "a", SecretKey: "s", CAFile: certFile}
			c.Keys.BucketKeys = []string{"matter-42=alias/matter-42"}
		}},
		{"awskms bucket keys only", func(c *Config) {
			c.Keys.Provider = "awskms"
			c.Keys.BucketKeys = []string{"matter-42=alias/matter-42"}
		}},
		{"pkcs11", func(c *Config) {
			c.Keys.Provider = "pkcs11"
			c.Keys.PKCS11 = PKCS11{Module: "/usr/lib/softhsm/libsofthsm2.so", Slot: "3",
				PIN: "1234", KeyLabel: "cloak"}
			c.Keys.BucketKeys = []string{"matter-42=cloak-matter-42"}
		}},
		{"no key cache", func(c *Config) { c.Keys.CacheSize = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(t)
			tt.modify(c)
			if err := c.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	certFile, keyFile := testCertFiles(t)
	notPEM := writeFile(t, "plain.txt", "not a certificate\n")
	tests := []struct {
		name   string
		modify func(c *Config)
		want   []string // each a whole line of the error
	}{
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" },
			[]string{`listen: must be host:port, such as "127.0.0.1:9443", not "127.0.0.1"`}},
		{"listen bad port", func(c *Config) { c.Listen = "127.0.0.1:https" },
			[]string{`listen: port must be a number from 0 to 65535, not "https"`}},
		{"listen port too large", func(c *Config) { c.Listen = "127.0.0.1:65536" },
			[]string{`listen: port must be a number from 0 to 65535, not "65536"`}},
		{"listen empty port", func(c *Config) { c.Listen = "127.0.0.1:" },
			[]string{`listen: port must be a number from 0 to 65535, not ""`}},
		{"listen bad host", func(c *Config) { c.Listen = "bad_host!:80" },
			[]string{`listen: host must be an IP address or a host name, not "bad_host!"`}},
		{"data empty", func(c *Config) { c.Data = "" }, []string{"data: must not be empty"}},
		{"key provider", func(c *Config) { c.Keys.Provider = "vault" },
			[]string{`keys.provider: must be "ring", "awskms", or "pkcs11", not "vault"`}},
		{"ring bucket key with a key", func(c *Config) { c.Keys.BucketKeys = []string{"bk1=k"} },
			[]string{`keys.bucket_keys: "bk1=k": the key ring takes bucket names only`}},
		{"bucket key twice", func(c *Config) { c.Keys.BucketKeys = []string{"bk1", "bk1"} },
			[]string{`keys.bucket_keys: bucket "bk1" is listed twice`}},
		{"bucket key bad bucket", func(c *Config) { c.Keys.BucketKeys = []string{"B_1"} },
			[]string{`keys.bucket_keys: "B_1" is not a valid bucket name`}},
		{"access bucket not a system bucket", func(c *Config) { c.Access.Bucket = "users" },
			[]string{`access.bucket: must be a valid bucket name starting with "cloak-system", not "users"`}},
		{"access reload too fast", func(c *Config) { c.Access.ReloadInterval = Duration(time.Millisecond) },
			[]string{"access.reload_interval: must be between 100ms and 1h, not 1ms"}},
		{"access zero failures", func(c *Config) { c.Access.FailuresPerKey = 0 },
			[]string{"access.auth_failures_per_key: must not be 0 (negative turns the limit off)"}},
		{"awskms without key", func(c *Config) { c.Keys.Provider = "awskms" },
			[]string{"keys.awskms.key_id: must be set (or keys.bucket_keys) for the awskms provider"}},
		{"awskms half credentials", func(c *Config) {
			c.Keys.Provider, c.Keys.AWSKMS = "awskms", AWSKMS{KeyID: "k", AccessKey: "a"}
		}, []string{"keys.awskms.access_key: set both access_key and secret_key, or neither"}},
		{"awskms bad endpoint", func(c *Config) {
			c.Keys.Provider, c.Keys.AWSKMS = "awskms", AWSKMS{KeyID: "k", Endpoint: "kms.local"}
		}, []string{"keys.awskms.endpoint: must be an http or https URL"}},
		{"awskms bucket key without key", func(c *Config) {
			c.Keys.Provider, c.Keys.AWSKMS.KeyID = "awskms", "k"
			c.Keys.BucketKeys = []string{"bk1"}
		}, []string{`keys.bucket_keys: "bk1": must be bucket=KEY for the awskms provider`}},
		{"pkcs11 empty", func(c *Config) { c.Keys.Provider = "pkcs11" }, []string{
			"keys.pkcs11.module: must be set for the pkcs11 provider",
			"keys.pkcs11.token_label: must be set (or keys.pkcs11.slot) for the pkcs11 provider",
			"keys.pkcs11.pin: must be set for the pkcs11 provider (CLOAK_KEYS_PKCS11_PIN or _FILE)",
		}},
		{"pkcs11 bad slot", func(c *Config) {
			c.Keys.Provider = "pkcs11"
			c.Keys.PKCS11 = PKCS11{Module: "m", Slot: "first", PIN: "1", KeyLabel: "k"}
		}, []string{`keys.pkcs11.slot: must be a slot number, not "first"`}},
		{"key cache negative", func(c *Config) { c.Keys.CacheSize = -1 },
			[]string{"keys.cache_size: must be between 0 and 10000000, not -1"}},
		{"key cache ttl", func(c *Config) { c.Keys.CacheTTL = 0 },
			[]string{"keys.cache_ttl: must be more than 0s and at most 24h, not 0s"}},
		{"reload interval", func(c *Config) { c.Keys.ReloadInterval = Duration(time.Millisecond) },
			[]string{"keys.reload_interval: must be between 100ms and 1h, not 1ms"}},
		{"min version", func(c *Config) { c.TLS.MinVersion = "1.1" },
			[]string{`tls.min_version: must be "1.2" or "1.3", not "1.1"`}},
		{"min version empty", func(c *Config) { c.TLS.MinVersion = "" },
			[]string{`tls.min_version: must be "1.2" or "1.3", not ""`}},
		{"cert without key", func(c *Config) { c.TLS.Cert = certFile },
			[]string{"tls.key: must be set when tls.cert is"}},
		{"key without cert", func(c *Config) { c.TLS.Key = keyFile },
			[]string{"tls.cert: must be set when tls.key is"}},
		{"cert missing", func(c *Config) {
			c.TLS.Cert, c.TLS.Key = "/nonexistent/cert.pem", keyFile
		}, []string{"tls.cert: open /nonexistent/cert.pem: no such file or directory"}},
		{"cert not PEM", func(c *Config) { c.TLS.Cert, c.TLS.Key = notPEM, keyFile },
			[]string{"tls.cert: " + notPEM + " holds no PEM CERTIFICATE"}},
		{"key is a certificate", func(c *Config) { c.TLS.Cert, c.TLS.Key = certFile, certFile },
			[]string{"tls.key: " + certFile + " holds no PEM PRIVATE KEY"}},
		{"insecure on all interfaces", func(c *Config) {
			c.InsecureHTTP, c.Listen = true, "0.0.0.0:9443"
		}, []string{"insecure_http: refused on non-loopback address 0.0.0.0:9443; " +
			"set insecure_http_force to allow"}},
		{"insecure on empty host", func(c *Config) { c.InsecureHTTP, c.Listen = true, ":80" },
			[]string{"insecure_http: refused on non-loopback address :80; " +
				"set insecure_http_force to allow"}},
		{"insecure on a host name", func(c *Config) {
			c.InsecureHTTP, c.Listen = true, "cloak.internal:80"
		}, []string{"insecure_http: refused on non-loopback address cloak.internal:80; " +
			"set insecure_http_force to allow"}},
		{"insecure with cert", func(c *Config) {
			c.InsecureHTTP, c.TLS.Cert, c.TLS.Key = true, certFile, keyFile
		}, []string{"insecure_http: conflicts with tls.cert and tls.key; choose one"}},
		{"region", func(c *Config) { c.S3.Region = "US East" },
			[]string{`s3.region: must be a region name such as "us-east-1", not "US East"`}},
		{"region empty", func(c *Config) { c.S3.Region = "" },
			[]string{`s3.region: must be a region name such as "us-east-1", not ""`}},
		{"domain with scheme", func(c *Config) {
			c.S3.Domains = []string{"ok.example", "https://s3.example.com"}
		}, []string{`s3.domains[1]: must be a DNS name without scheme or port, ` +
			`not "https://s3.example.com"`}},
		{"domain with port", func(c *Config) { c.S3.Domains = []string{"s3.example.com:9443"} },
			[]string{`s3.domains[0]: must be a DNS name without scheme or port, ` +
				`not "s3.example.com:9443"`}},
		{"root secret without access", func(c *Config) { c.Root.SecretKey = "12345678" },
			[]string{"root.access_key: must be set when root.secret_key is"}},
		{"root access without secret", func(c *Config) { c.Root.AccessKey = "admin" },
			[]string{"root.secret_key: must be set when root.access_key is"}},
		{"root keys too short", func(c *Config) {
			c.Root = Credentials{AccessKey: "ab", SecretKey: "1234567"}
		}, []string{"root.access_key: must be 3 to 128 characters long",
			"root.secret_key: must be 8 to 128 characters long"}},
		{"root keys with spaces", func(c *Config) {
			c.Root = Credentials{AccessKey: "ad min", SecretKey: "secret\tvalue"}
		}, []string{"root.access_key: must hold only printable ASCII without spaces",
			"root.secret_key: must hold only printable ASCII without spaces"}},
		{"backend type", func(c *Config) { c.Backend.Type = "gcs" },
			[]string{`backend.type: must be "local" or "s3", not "gcs"`}},
		{"local dir empty", func(c *Config) { c.Backend.Local.Dir = "" },
			[]string{"backend.local.dir: must not be empty"}},
		{"endpoint with local type", func(c *Config) {
			c.Backend.S3.Endpoint = "http://127.0.0.1:9000"
		}, []string{`backend.s3.endpoint: is set but backend.type is "local"`}},
		{"s3 without endpoint", func(c *Config) { c.Backend.Type = "s3" },
			[]string{`backend.s3.endpoint: must be set when backend.type is "s3"`}},
		{"endpoint not a URL", func(c *Config) {
			c.Backend.Type, c.Backend.S3.Endpoint = "s3", "minio:9000"
		}, []string{"backend.s3.endpoint: must be an http or https URL"}},
		{"endpoint ftp", func(c *Config) {
			c.Backend.Type, c.Backend.S3.Endpoint = "s3", "ftp://minio:9000"
		}, []string{"backend.s3.endpoint: must be an http or https URL"}},
		{"endpoint with path", func(c *Config) {
			c.Backend.Type, c.Backend.S3.Endpoint = "s3", "http://minio:9000/bucket"
		}, []string{"backend.s3.endpoint: must not have a path, query or fragment"}},
		{"endpoint with credentials", func(c *Config) {
			c.Backend.Type, c.Backend.S3.Endpoint = "s3", "http://user:pa55word@minio:9000"
		}, []string{"backend.s3.endpoint: must not hold credentials; " +
			"use backend.s3.access_key and secret_key"}},
		{"backend region", func(c *Config) {
			c.Backend.Type, c.Backend.S3.Endpoint = "s3", "http://minio:9000"
			c.Backend.S3.Region = "Mars_1"
		}, []string{`backend.s3.region: must be a region name such as "us-east-1", ` +
			`not "Mars_1"`}},
		{"backend half credentials", func(c *Config) {
			c.Backend.Type, c.Backend.S3.Endpoint = "s3", "http://minio:9000"
			c.Backend.S3.SecretKey = "backend-secret"
		}, []string{"backend.s3.access_key: must be set when backend.s3.secret_key is"}},
		{"lookup", func(c *Config) { c.Backend.S3.Lookup = "virtual" },
			[]string{`backend.s3.lookup: must be "path", "dns", or "auto", not "virtual"`}},
		{"ca file missing", func(c *Config) {
			c.Backend.Type, c.Backend.S3.Endpoint = "s3", "https://minio:9000"
			c.Backend.S3.CAFile = "/nonexistent/ca.pem"
		}, []string{"backend.s3.ca_file: open /nonexistent/ca.pem: no such file or directory"}},
		{"ca file not PEM", func(c *Config) {
			c.Backend.Type, c.Backend.S3.Endpoint = "s3", "https://minio:9000"
			c.Backend.S3.CAFile = notPEM
		}, []string{"backend.s3.ca_file: " + notPEM + " holds no PEM certificate"}},
		{"keyring empty", func(c *Config) { c.KeyRing = "" },
			[]string{"keyring: must not be empty"}},
		{"migrating bad bucket", func(c *Config) {
			c.Migrating = []string{"ok-bucket", "Bad_Bucket/x"}
		}, []string{`migrating[1]: bucket "Bad_Bucket": may hold only lower-case letters, ` +
			`digits, dots and hyphens: invalid bucket name`}},
		{"migrating empty", func(c *Config) { c.Migrating = []string{""} },
			[]string{`migrating[0]: bucket "": must be 3 to 63 characters long: ` +
				`invalid bucket name`}},
		{"migrating empty prefix", func(c *Config) { c.Migrating = []string{"bucket-a/"} },
			[]string{`migrating[0]: "bucket-a/" has an empty prefix; ` +
				`write just "bucket-a" for the whole bucket`}},
		{"migrating bad prefix", func(c *Config) {
			c.Migrating = []string{"bucket-a/" + strings.Repeat("k", 1025)}
		}, []string{"migrating[0]: invalid prefix: key of 1025 bytes, more than 1024: " +
			"invalid object key"}},
		{"migrating duplicate", func(c *Config) {
			c.Migrating = []string{"bucket-a/x", "bucket-b", "bucket-a/x"}
		}, []string{`migrating[2]: "bucket-a/x" is listed twice`}},
		{"shutdown zero", func(c *Config) { c.ShutdownTimeout = 0 },
			[]string{"shutdown_timeout: must be more than 0s and at most 1h, not 0s"}},
		{"shutdown too long", func(c *Config) { c.ShutdownTimeout = Duration(2 * time.Hour) },
			[]string{"shutdown_timeout: must be more than 0s and at most 1h, not 2h0m0s"}},
		{"request limit negative", func(c *Config) { c.MaxRequests = -1 },
			[]string{"max_requests: must be between 0 and 1000000, not -1"}},
		{"request limit too large", func(c *Config) { c.MaxRequests = MaxRequestsLimit + 1 },
			[]string{"max_requests: must be between 0 and 1000000, not 1000001"}},
		{"log level", func(c *Config) { c.Log.Level = "trace" },
			[]string{`log.level: must be "debug", "info", "warn", or "error", not "trace"`}},
		{"log format", func(c *Config) { c.Log.Format = "xml" },
			[]string{`log.format: must be "text" or "json", not "xml"`}},
		{"several at once", func(c *Config) {
			c.Listen, c.Log.Format, c.TLS.MinVersion = "x", "xml", "1.0"
		}, []string{`listen: must be host:port, such as "127.0.0.1:9443", not "x"`,
			`tls.min_version: must be "1.2" or "1.3", not "1.0"`,
			`log.format: must be "text" or "json", not "xml"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid(t)
			tt.modify(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
			// Each problem is a FieldError whose path starts its line.
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(got[0], fe.Path+": ") {
				t.Errorf("first problem is not a FieldError: %v", err)
			}
			for _, secret := range []string{"12345678", "1234567", "secret\tvalue",
				"backend-secret", "pa55word"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error quotes the secret %q", secret)
				}
			}
		})
	}
}

func TestIsMigrating(t *testing.T) {
	c := valid(t)
	c.Migrating = []string{"whole", "part/logs/", "part/2019"}
	tests := []struct {
		bucket, key string
		want        bool
	}{
		{"whole", "any/key", true},
		{"whole", "", true},
		{"part", "logs/a", true},
		{"part", "logs", false},
		{"part", "2019", true},
		{"part", "2019-old/x", true},
		{"part", "2020/x", false},
		{"other", "logs/a", false},
		{"wholesale", "x", false},
		{"whol", "e/x", false},
	}
	for _, tt := range tests {
		if got := c.IsMigrating(tt.bucket, tt.key); got != tt.want {
			t.Errorf("IsMigrating(%q, %q) = %v, want %v", tt.bucket, tt.key, got, tt.want)
		}
	}
}

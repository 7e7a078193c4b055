package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// A FieldError is one problem with one field, named by its YAML path.
type FieldError struct {
	Path    string // "backend.s3.endpoint"
	Message string // "must be an http or https URL"
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

// problems collects FieldErrors.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Validate checks c and returns every problem found, joined (errors.Join),
// each a *FieldError naming the field. It reads, but does not keep, the
// certificate and CA files to check they exist and hold PEM. Messages
// never quote a credential.
//
// Validate expects the defaults that depend on the data directory to be
// filled in, as Load does; a Config built by hand must set
// Backend.Type, Backend.Local.Dir and KeyRing itself.
func (c *Config) Validate() error {
	var p problems
	c.validateListen(&p)
	if c.Data == "" {
		p.add("data", "must not be empty")
	}
	c.validateTLS(&p)
	c.validateS3(&p)
	validateCredentials(&p, "root", c.Root.AccessKey, c.Root.SecretKey)
	c.validateBackend(&p)
	if c.KeyRing == "" {
		p.add("keyring", "must not be empty")
	}
	c.validateKeys(&p)
	c.validateMigrating(&p)
	c.validateAccess(&p)
	if d := time.Duration(c.ShutdownTimeout); d <= 0 || d > time.Hour {
		p.add("shutdown_timeout", "must be more than 0s and at most 1h, not %s", d)
	}
	if c.MaxRequests < 0 || c.MaxRequests > MaxRequestsLimit {
		p.add("max_requests", "must be between 0 and %d, not %d", MaxRequestsLimit, c.MaxRequests)
	}
	oneOf(&p, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf(&p, "log.format", c.Log.Format, "text", "json")
	c.validateAudit(&p)
	c.validateAlerts(&p)
	return errors.Join(p...)
}

func oneOf(p *problems, path, v string, allowed ...string) {
	if slices.Contains(allowed, v) {
		return
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	last := len(quoted) - 1
	list := quoted[last]
	if last > 0 {
		list = strings.Join(quoted[:last], ", ") + " or " + quoted[last]
	}
	if last > 1 {
		list = strings.Join(quoted[:last], ", ") + ", or " + quoted[last]
	}
	p.add(path, "must be %s, not %q", list, v)
}

func (c *Config) validateListen(p *problems) {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		p.add("listen", "must be host:port, such as %q, not %q", DefaultListen, c.Listen)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		p.add("listen", "port must be a number from 0 to 65535, not %q", port)
	}
	if host != "" && !validIP(host) && !validHostname(host) {
		p.add("listen", "host must be an IP address or a host name, not %q", host)
	}
	if c.InsecureHTTP && !c.InsecureHTTPForce && !isLoopback(host) {
		p.add("insecure_http",
			"refused on non-loopback address %s; set insecure_http_force to allow",
			c.Listen)
	}
}

func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// isLoopback reports whether host, the host part of a listen address,
// is reachable only from this machine: "localhost" or a loopback IP
// address. The empty host (every interface) is not.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// validHostname reports whether s is a DNS name: dot-separated labels of
// 1 to 63 letters, digits and inner hyphens, 253 bytes at most.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' ||
				ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return true
}

func (c *Config) validateTLS(p *problems) {
	oneOf(p, "tls.min_version", c.TLS.MinVersion, "1.2", "1.3")
	t := c.TLS
	switch {
	case t.Cert != "" && t.Key == "":
		p.add("tls.key", "must be set when tls.cert is")
	case t.Key != "" && t.Cert == "":
		p.add("tls.cert", "must be set when tls.key is")
	}
	if c.InsecureHTTP && (t.Cert != "" || t.Key != "") {
		p.add("insecure_http", "conflicts with tls.cert and tls.key; choose one")
	}
	if t.Cert != "" {
		checkPEMFile(p, "tls.cert", t.Cert, "CERTIFICATE")
	}
	if t.Key != "" {
		checkPEMFile(p, "tls.key", t.Key, "PRIVATE KEY")
	}
}

// checkPEMFile reports whether name can be read and holds a PEM block
// whose type ends in typeSuffix. It never quotes the contents.
func checkPEMFile(p *problems, path, name, typeSuffix string) {
	data, err := os.ReadFile(name)
	if err != nil {
		p.add(path, "%v", err)
		return
	}
	if !containsPEM(data, typeSuffix) {
		p.add(path, "%s holds no PEM %s", name, typeSuffix)
	}
}

// containsPEM reports whether data holds a PEM block whose type ends in
// typeSuffix ("PRIVATE KEY" matches "EC PRIVATE KEY" too).
func containsPEM(data []byte, typeSuffix string) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if strings.HasSuffix(b.Type, typeSuffix) {
			return true
		}
	}
}

func (c *Config) validateS3(p *problems) {
	if !validRegion(c.S3.Region) {
		p.add("s3.region", "must be a region name such as %q, not %q", DefaultRegion,
			c.S3.Region)
	}
	for i, d := range c.S3.Domains {
		if !validHostname(d) || strings.Contains(d, ":") {
			p.add(fmt.Sprintf("s3.domains[%d]", i),
				"must be a DNS name without scheme or port, not %q", d)
		}
	}
}

// validRegion reports whether s looks like an S3 region: lower-case
// letters, digits and hyphens, 1 to 32 characters.
func validRegion(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// Bounds on credentials, as MinIO and most S3 servers apply them.
const (
	minAccessKey = 3
	maxAccessKey = 128
	minSecretKey = 8
	maxSecretKey = 128
)

// validateCredentials checks a pair under prefix ("root"). Both empty is
// allowed; the caller decides what that means.
func validateCredentials(p *problems, prefix, access string, secret Secret) {
	ak, sk := prefix+".access_key", prefix+".secret_key"
	switch {
	case access == "" && secret == "":
		return
	case access == "":
		p.add(ak, "must be set when %s is", sk)
		return
	case secret == "":
		p.add(sk, "must be set when %s is", ak)
		return
	}
	if n := len(access); n < minAccessKey || n > maxAccessKey {
		p.add(ak, "must be %d to %d characters long", minAccessKey, maxAccessKey)
	} else if !printableNoSpace(access) {
		p.add(ak, "must hold only printable ASCII without spaces")
	}
	if n := len(secret); n < minSecretKey || n > maxSecretKey {
		p.add(sk, "must be %d to %d characters long", minSecretKey, maxSecretKey)
	} else if !printableNoSpace(secret.Reveal()) {
		p.add(sk, "must hold only printable ASCII without spaces")
	}
}

func printableNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func (c *Config) validateBackend(p *problems) {
	b := c.Backend
	switch b.Type {
	case "local":
		if b.Local.Dir == "" {
			p.add("backend.local.dir", "must not be empty")
		}
		if b.S3.Endpoint != "" {
			p.add("backend.s3.endpoint", "is set but backend.type is \"local\"")
		}
	case "s3":
		c.validateS3Backend(p)
	default:
		oneOf(p, "backend.type", b.Type, "local", "s3")
	}
	oneOf(p, "backend.s3.lookup", b.S3.Lookup, "path", "dns", "auto")
}

func (c *Config) validateS3Backend(p *problems) {
	s := c.Backend.S3
	if s.Endpoint == "" {
		p.add("backend.s3.endpoint", "must be set when backend.type is \"s3\"")
	} else if msg := endpointProblem(s.Endpoint); msg != "" {
		p.add("backend.s3.endpoint", "%s", msg)
	}
	if s.Region != "" && !validRegion(s.Region) {
		p.add("backend.s3.region", "must be a region name such as %q, not %q",
			DefaultRegion, s.Region)
	}
	validateCredentials(p, "backend.s3", s.AccessKey, s.SecretKey)
	if s.CAFile != "" {
		data, err := os.ReadFile(s.CAFile)
		if err != nil {
			p.add("backend.s3.ca_file", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(data) {
			p.add("backend.s3.ca_file", "%s holds no PEM certificate", s.CAFile)
		}
	}
}

// endpointProblem describes what is wrong with an endpoint URL, or
// returns "". It does not quote the URL, which may hold credentials.
func endpointProblem(endpoint string) string {
	u, err := url.Parse(endpoint)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "must be an http or https URL"
	case u.User != nil:
		return "must not hold credentials; use backend.s3.access_key and secret_key"
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return "must not have a path, query or fragment"
	}
	return ""
}

func (c *Config) validateMigrating(p *problems) {
	seen := make(map[string]bool)
	for i, s := range c.Migrating {
		path := fmt.Sprintf("migrating[%d]", i)
		e := parseMigrating(s)
		if err := backend.ValidateBucketName(e.Bucket); err != nil {
			p.add(path, "%v", err)
			continue
		}
		if strings.Contains(s, "/") {
			if e.Prefix == "" {
				p.add(path, "%q has an empty prefix; write just %q for the whole bucket",
					s, e.Bucket)
				continue
			}
			if err := backend.ValidateKey(e.Prefix); err != nil {
				p.add(path, "invalid prefix: %v", err)
				continue
			}
		}
		if seen[s] {
			p.add(path, "%q is listed twice", s)
		}
		seen[s] = true
	}
}

func (c *Config) validateKeys(p *problems) {
	oneOf(p, "keys.provider", c.Keys.Provider, "ring", "awskms", "pkcs11")
	c.validateBucketKeys(p)
	switch c.Keys.Provider {
	case "awskms":
		k := c.Keys.AWSKMS
		if k.KeyID == "" && len(c.Keys.BucketKeys) == 0 {
			p.add("keys.awskms.key_id", "must be set (or keys.bucket_keys) for the awskms provider")
		}
		if (k.AccessKey == "") != (k.SecretKey == "") {
			p.add("keys.awskms.access_key", "set both access_key and secret_key, or neither")
		}
		if k.Endpoint != "" {
			if u, err := url.Parse(k.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add("keys.awskms.endpoint", "must be an http or https URL")
			}
		}
		if k.CAFile != "" {
			if _, err := os.Stat(k.CAFile); err != nil {
				p.add("keys.awskms.ca_file", "cannot be read: %v", err)
			}
		}
	case "pkcs11":
		k := c.Keys.PKCS11
		if k.Module == "" {
			p.add("keys.pkcs11.module", "must be set for the pkcs11 provider")
		}
		if k.TokenLabel == "" && k.Slot == "" {
			p.add("keys.pkcs11.token_label", "must be set (or keys.pkcs11.slot) for the pkcs11 provider")
		}
		if k.Slot != "" {
			if _, err := strconv.ParseUint(k.Slot, 10, 32); err != nil {
				p.add("keys.pkcs11.slot", "must be a slot number, not %q", k.Slot)
			}
		}
		if k.PIN == "" {
			p.add("keys.pkcs11.pin", "must be set for the pkcs11 provider (CLOAK_KEYS_PKCS11_PIN or _FILE)")
		}
		if k.KeyLabel == "" {
			p.add("keys.pkcs11.key_label", "must not be empty")
		}
	}
	if d := time.Duration(c.Keys.ReloadInterval); d < 100*time.Millisecond || d > time.Hour {
		p.add("keys.reload_interval", "must be between 100ms and 1h, not %s", d)
	}
	if c.Keys.CacheSize < 0 || c.Keys.CacheSize > 10_000_000 {
		p.add("keys.cache_size", "must be between 0 and 10000000, not %d", c.Keys.CacheSize)
	}
	if d := time.Duration(c.Keys.CacheTTL); d <= 0 || d > 24*time.Hour {
		p.add("keys.cache_ttl", "must be more than 0s and at most 24h, not %s", d)
	}
}

// validateBucketKeys checks keys.bucket_keys: bucket names for the key
// ring, bucket=KEY entries for the other providers, each bucket once.
func (c *Config) validateBucketKeys(p *problems) {
	seen := map[string]bool{}
	for _, e := range c.Keys.BucketKeys {
		bucket, key, hasKey := strings.Cut(e, "=")
		switch {
		case c.Keys.Provider == "ring" && hasKey:
			p.add("keys.bucket_keys", "%q: the key ring takes bucket names only", e)
			continue
		case c.Keys.Provider != "ring" && (!hasKey || key == ""):
			p.add("keys.bucket_keys", "%q: must be bucket=KEY for the %s provider", e, c.Keys.Provider)
			continue
		}
		if err := backend.ValidateBucketName(bucket); err != nil {
			p.add("keys.bucket_keys", "%q is not a valid bucket name", bucket)
		}
		if seen[bucket] {
			p.add("keys.bucket_keys", "bucket %q is listed twice", bucket)
		}
		seen[bucket] = true
	}
}

// BucketKeyMap returns keys.bucket_keys as a map from bucket to its key
// (empty values for the key ring).
func (c *Config) BucketKeyMap() map[string]string {
	m := make(map[string]string, len(c.Keys.BucketKeys))
	for _, e := range c.Keys.BucketKeys {
		bucket, key, _ := strings.Cut(e, "=")
		m[bucket] = key
	}
	return m
}

// validateAccess checks the access section.
func (c *Config) validateAccess(p *problems) {
	a := c.Access
	if !strings.HasPrefix(a.Bucket, DefaultAccessBucket) || backend.ValidateBucketName(a.Bucket) != nil {
		p.add("access.bucket", "must be a valid bucket name starting with %q, not %q",
			DefaultAccessBucket, a.Bucket)
	}
	if d := time.Duration(a.ReloadInterval); d < 100*time.Millisecond || d > time.Hour {
		p.add("access.reload_interval", "must be between 100ms and 1h, not %s", d)
	}
	if d := time.Duration(a.FailureWindow); d < time.Second || d > 24*time.Hour {
		p.add("access.auth_failure_window", "must be between 1s and 24h, not %s", d)
	}
	if a.FailuresPerKey == 0 {
		p.add("access.auth_failures_per_key", "must not be 0 (negative turns the limit off)")
	}
	if a.FailuresPerAddress == 0 {
		p.add("access.auth_failures_per_address", "must not be 0 (negative turns the limit off)")
	}
}

package config

import (
	"fmt"
	"strconv"
	"strings"
)

// kind is how a field's value is written in the environment and on the
// command line.
type kind int

const (
	stringKind kind = iota
	boolKind
	secretKind
	durationKind
	listKind // comma-separated
	intKind
)

// A field is one setting that the environment and flags can set. The
// table below is the single list of them: the environment variable and
// flag names derive from the path.
type field struct {
	path  string // YAML path, "backend.s3.endpoint"
	kind  kind
	flag  bool // also a command-line flag (never for credentials)
	usage string
	ptr   func(*Config) any // *string, *bool, *int, *Secret, *Duration or *[]string
}

// env returns the field's environment variable: CLOAK_ and the path in
// upper case with dots as underscores.
func (f *field) env() string {
	return "CLOAK_" + strings.ToUpper(strings.ReplaceAll(f.path, ".", "_"))
}

// flagName returns the field's flag name: the path with dots and
// underscores as hyphens.
func (f *field) flagName() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(f.path)
}

// fromFile reports whether the field may be read from the file named by
// its environment variable with _FILE appended.
func (f *field) fromFile() bool { return !f.flag && f.kind != boolKind }

var fields = []*field{
	{"listen", stringKind, true, "listen on `host:port`",
		func(c *Config) any { return &c.Listen }},
	{"data", stringKind, true, "data `directory` (local backend, key ring, certificate)",
		func(c *Config) any { return &c.Data }},
	{"tls.cert", stringKind, true, "TLS certificate `file` (PEM); default self-signed",
		func(c *Config) any { return &c.TLS.Cert }},
	{"tls.key", stringKind, true, "TLS private key `file` (PEM)",
		func(c *Config) any { return &c.TLS.Key }},
	{"tls.min_version", stringKind, true, "lowest TLS `version`: 1.2 or 1.3",
		func(c *Config) any { return &c.TLS.MinVersion }},
	{"insecure_http", boolKind, true, "serve plain HTTP, without TLS",
		func(c *Config) any { return &c.InsecureHTTP }},
	{"insecure_http_force", boolKind, true,
		"allow insecure_http on an address other than loopback",
		func(c *Config) any { return &c.InsecureHTTPForce }},
	{"s3.region", stringKind, true, "`region` Cloak answers as",
		func(c *Config) any { return &c.S3.Region }},
	{"s3.domains", listKind, true, "base `domains` for virtual-host requests, comma-separated",
		func(c *Config) any { return &c.S3.Domains }},
	{"root.access_key", stringKind, false, "root access key",
		func(c *Config) any { return &c.Root.AccessKey }},
	{"root.secret_key", secretKind, false, "root secret key",
		func(c *Config) any { return &c.Root.SecretKey }},
	{"backend.type", stringKind, true, "backend `type`: local or s3",
		func(c *Config) any { return &c.Backend.Type }},
	{"backend.local.dir", stringKind, true, "local backend `directory`; default <data>/objects",
		func(c *Config) any { return &c.Backend.Local.Dir }},
	{"backend.s3.endpoint", stringKind, true, "S3 backend `URL`",
		func(c *Config) any { return &c.Backend.S3.Endpoint }},
	{"backend.s3.region", stringKind, true, "S3 backend `region`",
		func(c *Config) any { return &c.Backend.S3.Region }},
	{"backend.s3.access_key", stringKind, false, "S3 backend access key",
		func(c *Config) any { return &c.Backend.S3.AccessKey }},
	{"backend.s3.secret_key", secretKind, false, "S3 backend secret key",
		func(c *Config) any { return &c.Backend.S3.SecretKey }},
	{"backend.s3.lookup", stringKind, true, "S3 backend bucket `style`: path, dns or auto",
		func(c *Config) any { return &c.Backend.S3.Lookup }},
	{"backend.s3.ca_file", stringKind, true, "PEM `file` of CAs for the S3 backend",
		func(c *Config) any { return &c.Backend.S3.CAFile }},
	{"keyring", stringKind, true, "key ring `file`; default <data>/keyring",
		func(c *Config) any { return &c.KeyRing }},
	{"keys.provider", stringKind, true, "master key `provider`: ring, awskms or pkcs11",
		func(c *Config) any { return &c.Keys.Provider }},
	{"keys.bucket_keys", listKind, true,
		"`buckets` with their own master key (ring: bucket; awskms, pkcs11: bucket=KEY), comma-separated",
		func(c *Config) any { return &c.Keys.BucketKeys }},
	{"keys.awskms.key_id", stringKind, true, "default AWS KMS `key` (id, ARN or alias)",
		func(c *Config) any { return &c.Keys.AWSKMS.KeyID }},
	{"keys.awskms.endpoint", stringKind, true, "AWS KMS endpoint `URL`",
		func(c *Config) any { return &c.Keys.AWSKMS.Endpoint }},
	{"keys.awskms.region", stringKind, true, "AWS KMS `region`",
		func(c *Config) any { return &c.Keys.AWSKMS.Region }},
	{"keys.awskms.access_key", stringKind, false, "AWS KMS access key",
		func(c *Config) any { return &c.Keys.AWSKMS.AccessKey }},
	{"keys.awskms.secret_key", secretKind, false, "AWS KMS secret key",
		func(c *Config) any { return &c.Keys.AWSKMS.SecretKey }},
	{"keys.awskms.ca_file", stringKind, true, "PEM `file` of CAs for the KMS endpoint",
		func(c *Config) any { return &c.Keys.AWSKMS.CAFile }},
	{"keys.pkcs11.module", stringKind, true, "PKCS#11 library `path`",
		func(c *Config) any { return &c.Keys.PKCS11.Module }},
	{"keys.pkcs11.token_label", stringKind, true, "PKCS#11 token `label`",
		func(c *Config) any { return &c.Keys.PKCS11.TokenLabel }},
	{"keys.pkcs11.slot", stringKind, true, "PKCS#11 slot `number`",
		func(c *Config) any { return &c.Keys.PKCS11.Slot }},
	{"keys.pkcs11.pin", secretKind, false, "PKCS#11 user PIN",
		func(c *Config) any { return &c.Keys.PKCS11.PIN }},
	{"keys.pkcs11.key_label", stringKind, true, "default master key `label` on the token",
		func(c *Config) any { return &c.Keys.PKCS11.KeyLabel }},
	{"keys.passphrase", secretKind, false, "passphrase that seals the key ring file",
		func(c *Config) any { return &c.Keys.Passphrase }},
	{"keys.reload_interval", durationKind, true, "how often to reread the key ring `interval`",
		func(c *Config) any { return &c.Keys.ReloadInterval }},
	{"keys.cache_size", intKind, true, "unwrapped data keys to cache (`count`); 0 disables",
		func(c *Config) any { return &c.Keys.CacheSize }},
	{"keys.cache_ttl", durationKind, true, "how long a data key stays cached (`duration`)",
		func(c *Config) any { return &c.Keys.CacheTTL }},
	{"access.bucket", stringKind, true, "system `bucket` keeping users and policies (cloak-system*)",
		func(c *Config) any { return &c.Access.Bucket }},
	{"access.reload_interval", durationKind, true, "how often to reread users and policies (`interval`)",
		func(c *Config) any { return &c.Access.ReloadInterval }},
	{"access.auth_failures_per_key", intKind, true,
		"failed authentications an access key may have per window (`count`; negative: no limit)",
		func(c *Config) any { return &c.Access.FailuresPerKey }},
	{"access.auth_failures_per_address", intKind, true,
		"failed authentications an address may have per window (`count`; negative: no limit)",
		func(c *Config) any { return &c.Access.FailuresPerAddress }},
	{"access.auth_failure_window", durationKind, true, "failed authentication counting `window`",
		func(c *Config) any { return &c.Access.FailureWindow }},
	{"migrating", listKind, true,
		"`buckets` or bucket/prefix entries served in plaintext while migrating, comma-separated",
		func(c *Config) any { return &c.Migrating }},
	{"shutdown_timeout", durationKind, true, "graceful shutdown `timeout`",
		func(c *Config) any { return &c.ShutdownTimeout }},
	{"max_requests", intKind, true, "requests served at once (`count`); more get 503 SlowDown; 0 is no limit",
		func(c *Config) any { return &c.MaxRequests }},
	{"log.level", stringKind, true, "log `level`: debug, info, warn or error",
		func(c *Config) any { return &c.Log.Level }},
	{"log.format", stringKind, true, "log `format`: text or json",
		func(c *Config) any { return &c.Log.Format }},
}

// set parses raw as the field's kind and stores it in c. The error never
// holds raw for a secret.
func (f *field) set(c *Config, raw string) error {
	switch p := f.ptr(c).(type) {
	case *string:
		*p = raw
	case *Secret:
		*p = Secret(raw)
	case *int:
		v, err := strconv.Atoi(raw)
		if err != nil {
			return fmt.Errorf("must be a whole number, not %q", raw)
		}
		*p = v
	case *bool:
		v, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("must be true or false, not %q", raw)
		}
		*p = v
	case *Duration:
		v, err := parseDuration(raw)
		if err != nil {
			return err
		}
		*p = v
	case *[]string:
		*p = splitList(raw)
	default:
		panic(fmt.Sprintf("config: field %s has unhandled type %T", f.path, p))
	}
	return nil
}

// get formats the field's value in c as set would parse it; a secret
// shows as String does.
func (f *field) get(c *Config) string {
	switch p := f.ptr(c).(type) {
	case *string:
		return *p
	case *Secret:
		return p.String()
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *Duration:
		return p.String()
	case *[]string:
		return strings.Join(*p, ",")
	}
	panic(fmt.Sprintf("config: field %s has unhandled type", f.path))
}

// splitList splits a comma-separated list, dropping blank entries and
// the spaces around each.
func splitList(raw string) []string {
	var out []string
	for _, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

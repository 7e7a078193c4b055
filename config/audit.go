package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// Audit configures the audit log (see docs/SECURITY.md).
type Audit struct {
	// Sinks are where records go: "file", "stdout", "backend". The list
	// ["none"] turns the audit log off.
	Sinks []string `yaml:"sinks,omitempty"`
	// File is the file sink's path; empty means <data>/audit/audit.log.
	File string `yaml:"file"`
	// MaxFileSize is the size in bytes at which the file is rotated.
	MaxFileSize int `yaml:"max_file_size"`
	// Bucket is the backend sink's bucket: a system bucket (its name
	// starts with "cloak-system"), which clients can neither see nor
	// reach through Cloak, other than access.bucket.
	Bucket string `yaml:"bucket"`
	// Required refuses requests (503) while a sink fails, rather than
	// serve them unaudited.
	Required bool `yaml:"required"`
	// CheckpointRecords and CheckpointInterval bound the records and the
	// time between signed checkpoints.
	CheckpointRecords  int      `yaml:"checkpoint_records"`
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// KeyFile holds the checkpoint signing key, wrapped by the key
	// provider, and its public key in clear; empty means
	// <data>/audit-key.json.
	KeyFile string `yaml:"key_file"`
}

// Alerts configures the alert rules and where alerts go.
type Alerts struct {
	// DeniedPerMinute alerts when one user or one source address has
	// more denied requests in a minute; 0 turns the rule off.
	DeniedPerMinute int `yaml:"denied_per_minute"`
	// DownloadBytesPerHour alerts when one user downloads more bytes in
	// an hour; 0 turns the rule off.
	DownloadBytesPerHour int `yaml:"download_bytes_per_hour"`
	// Tampering alerts on stored data that fails authentication.
	Tampering bool `yaml:"tampering"`
	// AllowedNetworks, when set, alerts on requests from addresses
	// outside these CIDRs.
	AllowedNetworks []string `yaml:"allowed_networks,omitempty"`
	// Webhook receives alerts as JSON POSTs; empty: the log only. It is
	// a Secret because such URLs often carry a token.
	Webhook Secret `yaml:"webhook"`
}

// Metrics configures the Prometheus and health listener.
type Metrics struct {
	// Listen is the host:port serving /metrics, /healthz and /readyz
	// over plain HTTP; empty turns it off.
	Listen string `yaml:"listen"`
	// Pprof adds Go's profiling handlers (/debug/pprof/) to that
	// listener, for measuring Cloak under load. Profiles show code paths
	// and allocation sites, not data, but they cost CPU while taken: keep
	// the listener on loopback.
	Pprof bool `yaml:"pprof"`
}

// Defaults of the audit section.
const (
	DefaultAuditMaxFileSize        = 100 << 20
	DefaultAuditBucket             = "cloak-system-audit"
	DefaultAuditCheckpointRecords  = 1000
	DefaultAuditCheckpointInterval = time.Minute
)

var auditSinks = []string{"file", "stdout", "backend"}

func defaultAudit() Audit {
	return Audit{Sinks: []string{"file"}, MaxFileSize: DefaultAuditMaxFileSize, Bucket: DefaultAuditBucket,
		CheckpointRecords:  DefaultAuditCheckpointRecords,
		CheckpointInterval: Duration(DefaultAuditCheckpointInterval)}
}

// AuditEnabled reports whether the audit log is on.
func (c *Config) AuditEnabled() bool {
	return len(c.Audit.Sinks) > 0 && !(len(c.Audit.Sinks) == 1 && c.Audit.Sinks[0] == "none")
}

// AuditSink reports whether the named sink is configured.
func (c *Config) AuditSink(name string) bool { return slices.Contains(c.Audit.Sinks, name) }

// AuditFile returns the file sink's path.
func (c *Config) AuditFile() string {
	if c.Audit.File != "" {
		return c.Audit.File
	}
	return filepath.Join(c.Data, "audit", "audit.log")
}

// AuditKeyFile returns the path of the checkpoint signing key.
func (c *Config) AuditKeyFile() string {
	if c.Audit.KeyFile != "" {
		return c.Audit.KeyFile
	}
	return filepath.Join(c.Data, "audit-key.json")
}

// AllowedPrefixes returns alerts.allowed_networks parsed (Validate
// refuses entries that do not parse).
func (c *Config) AllowedPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.Alerts.AllowedNetworks {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func init() {
	fields = append(fields, auditFields...)
}

var auditFields = []*field{
	{"audit.sinks", listKind, true,
		"audit `sinks`: file, stdout, backend, comma-separated; none for off",
		func(c *Config) any { return &c.Audit.Sinks }},
	{"audit.file", stringKind, true, "audit log `file`; default <data>/audit/audit.log",
		func(c *Config) any { return &c.Audit.File }},
	{"audit.max_file_size", intKind, true, "rotate the audit file at this many `bytes`",
		func(c *Config) any { return &c.Audit.MaxFileSize }},
	{"audit.bucket", stringKind, true, "system `bucket` of the backend audit sink (cloak-system*)",
		func(c *Config) any { return &c.Audit.Bucket }},
	{"audit.required", boolKind, true, "refuse requests while the audit log cannot be written",
		func(c *Config) any { return &c.Audit.Required }},
	{"audit.checkpoint_records", intKind, true, "`records` between signed audit checkpoints",
		func(c *Config) any { return &c.Audit.CheckpointRecords }},
	{"audit.checkpoint_interval", durationKind, true, "longest `time` between audit checkpoints",
		func(c *Config) any { return &c.Audit.CheckpointInterval }},
	{"audit.key_file", stringKind, true, "audit signing key `file`; default <data>/audit-key.json",
		func(c *Config) any { return &c.Audit.KeyFile }},
	{"alerts.denied_per_minute", intKind, true,
		"alert above this many denied `requests` a minute per user or source",
		func(c *Config) any { return &c.Alerts.DeniedPerMinute }},
	{"alerts.download_bytes_per_hour", intKind, true,
		"alert above this many `bytes` downloaded an hour per user",
		func(c *Config) any { return &c.Alerts.DownloadBytesPerHour }},
	{"alerts.tampering", boolKind, true, "alert on stored data that fails authentication",
		func(c *Config) any { return &c.Alerts.Tampering }},
	{"alerts.allowed_networks", listKind, true,
		"alert on requests from outside these `CIDRs`, comma-separated",
		func(c *Config) any { return &c.Alerts.AllowedNetworks }},
	{"alerts.webhook", secretKind, false, "URL that receives alerts as JSON POSTs",
		func(c *Config) any { return &c.Alerts.Webhook }},
	{"metrics.listen", stringKind, true,
		"serve /metrics, /healthz and /readyz on `host:port` (plain HTTP); empty: off",
		func(c *Config) any { return &c.Metrics.Listen }},
	{"metrics.pprof", boolKind, true,
		"also serve Go's profiling handlers under /debug/pprof/ on metrics.listen",
		func(c *Config) any { return &c.Metrics.Pprof }},
}

func (c *Config) validateAudit(p *problems) {
	a := c.Audit
	if c.AuditEnabled() {
		for _, s := range a.Sinks {
			oneOf(p, "audit.sinks", s, auditSinks...)
		}
	} else if a.Required {
		p.add("audit.required", "needs at least one audit sink")
	}
	if err := backend.ValidateBucketName(a.Bucket); err != nil || !strings.HasPrefix(a.Bucket, "cloak-system") {
		p.add("audit.bucket", "must be a valid bucket name starting with \"cloak-system\", not %q", a.Bucket)
	} else if a.Bucket == c.Access.Bucket {
		p.add("audit.bucket", "must differ from access.bucket")
	}
	if a.MaxFileSize < 4096 {
		p.add("audit.max_file_size", "must be at least 4096 bytes, not %d", a.MaxFileSize)
	}
	if a.CheckpointRecords < 1 || a.CheckpointRecords > 1_000_000 {
		p.add("audit.checkpoint_records", "must be between 1 and 1000000, not %d", a.CheckpointRecords)
	}
	if d := time.Duration(a.CheckpointInterval); d < time.Second || d > 24*time.Hour {
		p.add("audit.checkpoint_interval", "must be between 1s and 24h, not %s", d)
	}
}

func (c *Config) validateAlerts(p *problems) {
	a := c.Alerts
	if a.DeniedPerMinute < 0 {
		p.add("alerts.denied_per_minute", "must not be negative")
	}
	if a.DownloadBytesPerHour < 0 {
		p.add("alerts.download_bytes_per_hour", "must not be negative")
	}
	for i, s := range a.AllowedNetworks {
		if _, err := netip.ParsePrefix(s); err != nil {
			p.add(fmt.Sprintf("alerts.allowed_networks[%d]", i), "%q is not a CIDR such as 10.0.0.0/8", s)
		}
	}
	if a.Webhook != "" {
		u, err := url.Parse(a.Webhook.Reveal())
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("alerts.webhook", "must be an http or https URL")
		}
	}
	if m := c.Metrics.Listen; m != "" {
		if _, port, err := net.SplitHostPort(m); err != nil || port == "" {
			p.add("metrics.listen", "must be host:port, not %q", m)
		}
	}
	if c.Metrics.Pprof && c.Metrics.Listen == "" {
		p.add("metrics.pprof", "needs metrics.listen")
	}
}

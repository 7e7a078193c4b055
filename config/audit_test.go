package config

import (
	"strings"
	"testing"
)

func TestValidateAuditAlertsMetrics(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		want string // "" for valid
	}{
		{"defaults", func(c *Config) {}, ""},
		{"all sinks", func(c *Config) { c.Audit.Sinks = []string{"file", "stdout", "backend"} }, ""},
		{"off", func(c *Config) { c.Audit.Sinks = []string{"none"} }, ""},
		{"unknown sink", func(c *Config) { c.Audit.Sinks = []string{"syslog"} }, "audit.sinks"},
		{"required without sinks", func(c *Config) { c.Audit.Sinks = nil; c.Audit.Required = true }, "audit.required"},
		{"not a system bucket", func(c *Config) { c.Audit.Bucket = "audit" }, "audit.bucket"},
		{"the access bucket", func(c *Config) { c.Audit.Bucket = c.Access.Bucket }, "audit.bucket"},
		{"tiny file", func(c *Config) { c.Audit.MaxFileSize = 10 }, "audit.max_file_size"},
		{"no checkpoints", func(c *Config) { c.Audit.CheckpointRecords = 0 }, "audit.checkpoint_records"},
		{"checkpoint interval", func(c *Config) { c.Audit.CheckpointInterval = 0 }, "audit.checkpoint_interval"},
		{"networks", func(c *Config) { c.Alerts.AllowedNetworks = []string{"10.0.0.0/8", "::1/128"} }, ""},
		{"bad network", func(c *Config) { c.Alerts.AllowedNetworks = []string{"10.0.0.0"} }, "alerts.allowed_networks[0]"},
		{"negative", func(c *Config) { c.Alerts.DeniedPerMinute = -1 }, "alerts.denied_per_minute"},
		{"webhook", func(c *Config) { c.Alerts.Webhook = "ftp://x" }, "alerts.webhook"},
		{"metrics", func(c *Config) { c.Metrics.Listen = "127.0.0.1:9464" }, ""},
		{"bad metrics", func(c *Config) { c.Metrics.Listen = "9464" }, "metrics.listen"},
		{"pprof", func(c *Config) { c.Metrics.Listen, c.Metrics.Pprof = "127.0.0.1:9464", true }, ""},
		{"pprof without listener", func(c *Config) { c.Metrics.Pprof = true }, "metrics.pprof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid(t)
			tc.edit(c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want+": ") {
				t.Fatalf("error %v, want one for %s", err, tc.want)
			}
		})
	}
}

func TestAuditEnvOverrides(t *testing.T) {
	c, err := Load(newFlagSet(), []string{"--metrics-listen", "127.0.0.1:0"}, envOf(map[string]string{
		"CLOAK_AUDIT_SINKS":             "file,stdout",
		"CLOAK_AUDIT_REQUIRED":          "true",
		"CLOAK_ALERTS_ALLOWED_NETWORKS": "127.0.0.0/8",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.AuditSink("stdout") || !c.Audit.Required || len(c.AllowedPrefixes()) != 1 ||
		c.Metrics.Listen != "127.0.0.1:0" || c.AuditFile() != "cloak-data/audit/audit.log" {
		t.Fatalf("config %+v %+v %+v", c.Audit, c.Alerts, c.Metrics)
	}
}

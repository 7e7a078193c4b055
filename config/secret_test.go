package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestSecretsNeverPrinted prints a Config holding both secret keys in
// every way a log line or error might, and checks neither appears.
func TestSecretsNeverPrinted(t *testing.T) {
	const rootSecret = "root-secret-Xq9"
	const backendSecret = "backend-secret-Zp4"
	c, err := Load(newFlagSet(), nil, envOf(map[string]string{
		"CLOAK_ROOT_ACCESS_KEY":       "admin",
		"CLOAK_ROOT_SECRET_KEY":       rootSecret,
		"CLOAK_BACKEND_S3_ENDPOINT":   "http://127.0.0.1:9000",
		"CLOAK_BACKEND_S3_ACCESS_KEY": "proxy",
		"CLOAK_BACKEND_S3_SECRET_KEY": backendSecret,
	}))
	if err != nil {
		t.Fatal(err)
	}

	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", c),
		"%+v":       fmt.Sprintf("%+v", c),
		"%#v":       fmt.Sprintf("%#v", c),
		"%v value":  fmt.Sprintf("%v", *c),
		"%s":        fmt.Sprintf("%s", c.Root),
		"%q":        fmt.Sprintf("%q", c.Root.SecretKey),
		"%x":        fmt.Sprintf("%x", c.Root.SecretKey),
		"%X struct": fmt.Sprintf("%X", c.Backend.S3),
		"Sprint":    fmt.Sprint(c.Root.SecretKey, c.Backend),
	}
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("config", "config", c,
		"secret", c.Root.SecretKey, "backend", c.Backend.S3)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("config", "config", c,
		"secret", c.Root.SecretKey, "backend", c.Backend.S3)
	outputs["slog JSON"] = jsonLog.String()
	outputs["slog text"] = textLog.String()
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["yaml"] = string(y)

	for name, out := range outputs {
		for _, s := range []string{rootSecret, backendSecret} {
			if strings.Contains(out, s) {
				t.Errorf("%s output holds a secret: %s", name, out)
			}
		}
		for _, hexed := range []string{fmt.Sprintf("%x", rootSecret), fmt.Sprintf("%X", rootSecret)} {
			if strings.Contains(out, hexed) {
				t.Errorf("%s output holds the secret in hex", name)
			}
		}
	}
	// The redaction marks a set secret, so the outputs are not simply
	// missing the field.
	for _, name := range []string{"%+v", "%#v", "slog JSON", "slog text", "json", "yaml"} {
		if strings.Count(outputs[name], "REDACTED") < 2 {
			t.Errorf("%s output does not show both secrets as REDACTED: %s", name, outputs[name])
		}
	}
	if !strings.Contains(outputs["json"], `"SecretKey":"REDACTED"`) {
		t.Errorf("json: %s", outputs["json"])
	}
	if !strings.Contains(outputs["yaml"], "secret_key: REDACTED") {
		t.Errorf("yaml: %s", outputs["yaml"])
	}
	if !strings.Contains(outputs["%#v"], `SecretKey:"REDACTED"`) {
		t.Errorf("%%#v: %s", outputs["%#v"])
	}
	if c.Root.SecretKey.Reveal() != rootSecret {
		t.Error("Reveal does not return the secret")
	}
}

func TestSecretEmpty(t *testing.T) {
	var s Secret
	for _, got := range []string{s.String(), fmt.Sprint(s), s.LogValue().String()} {
		if got != "" {
			t.Errorf("empty secret prints %q", got)
		}
	}
	if got := fmt.Sprintf("%#v", s); got != `""` {
		t.Errorf("%%#v of empty secret = %s", got)
	}
	j, _ := json.Marshal(s)
	if string(j) != `""` {
		t.Errorf("JSON of empty secret = %s", j)
	}
}

// TestYAMLRoundTrip checks that a marshalled Config (secrets aside)
// decodes back to the same Config, durations included.
func TestYAMLRoundTrip(t *testing.T) {
	c, err := Load(newFlagSet(), []string{"--shutdown-timeout", "1m30s",
		"--migrating", "a-bucket,b-bucket/p/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back := Default()
	if err := decodeYAML(back, y); err != nil {
		t.Fatalf("decode %s: %v", y, err)
	}
	eq(t, "round trip", back, c)
}

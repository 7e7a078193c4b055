package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// envOf returns an environment lookup over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// writeFile writes data to name in a new temporary directory and returns
// its path.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	for _, env := range []func(string) (string, bool){nil, envOf(nil)} {
		c, err := Load(newFlagSet(), nil, env)
		if err != nil {
			t.Fatal(err)
		}
		want := &Config{
			Listen: "127.0.0.1:9443",
			Data:   "cloak-data",
			TLS:    TLS{MinVersion: "1.2"},
			S3:     S3{Region: "us-east-1"},
			Backend: Backend{Type: "local", Local: LocalBackend{Dir: "cloak-data/objects"},
				S3: S3Backend{Lookup: "auto"}},
			KeyRing: "cloak-data/keyring",
			Keys: Keys{Provider: "ring", ReloadInterval: Duration(2 * time.Second),
				CacheSize: 10000, CacheTTL: Duration(5 * time.Minute),
				PKCS11: PKCS11{KeyLabel: "cloak-master"}},
			Access: Access{Bucket: "cloak-system", ReloadInterval: Duration(time.Second),
				FailuresPerKey: 10, FailuresPerAddress: 50, FailureWindow: Duration(time.Minute)},
			ShutdownTimeout: Duration(30 * time.Second),
			MaxRequests:     1024,
			Log:             Log{Level: "info", Format: "text"},
			Audit: Audit{Sinks: []string{"file"}, MaxFileSize: 100 << 20, CheckpointRecords: 1000,
				Bucket:             "cloak-system-audit",
				CheckpointInterval: Duration(time.Minute)},
			Alerts: Alerts{Tampering: true},
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
		}
		if c.HasRootCredentials() {
			t.Error("HasRootCredentials with nothing set")
		}
		if !c.UsesSelfSigned() {
			t.Error("UsesSelfSigned false by default")
		}
		if c.SelfSignedDir() != filepath.Join("cloak-data", "tls") {
			t.Errorf("SelfSignedDir = %s", c.SelfSignedDir())
		}
	}
}

// TestLoadPrecedence checks defaults < file < environment < flags for
// each kind of field, and the defaults derived from data.
func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "cloak.yaml", `
listen: 127.0.0.1:1000
data: /file/data
insecure_http: true
s3:
  domains: [file.example]
backend:
  s3:
    lookup: dns
shutdown_timeout: 10s
migrating: [from-file]
log:
  level: debug
`)
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"file over defaults", []string{"--config", file}, nil, func(t *testing.T, c *Config) {
			eq(t, "listen", c.Listen, "127.0.0.1:1000")
			eq(t, "insecure_http", c.InsecureHTTP, true)
			eq(t, "lookup", c.Backend.S3.Lookup, "dns")
			eq(t, "shutdown_timeout", c.ShutdownTimeout, Duration(10*time.Second))
			eq(t, "domains", c.S3.Domains, []string{"file.example"})
			eq(t, "log.level", c.Log.Level, "debug")
			eq(t, "log.format (untouched default)", c.Log.Format, "text")
			eq(t, "local dir from file's data", c.Backend.Local.Dir, "/file/data/objects")
			eq(t, "keyring from file's data", c.KeyRing, "/file/data/keyring")
		}},
		{"file from CLOAK_CONFIG", nil, map[string]string{"CLOAK_CONFIG": file},
			func(t *testing.T, c *Config) { eq(t, "listen", c.Listen, "127.0.0.1:1000") }},
		{"--config over CLOAK_CONFIG", []string{"--config", file},
			map[string]string{"CLOAK_CONFIG": "/nonexistent.yaml"},
			func(t *testing.T, c *Config) { eq(t, "listen", c.Listen, "127.0.0.1:1000") }},
		{"env over file", []string{"--config", file}, map[string]string{
			"CLOAK_LISTEN":           "127.0.0.1:2000",
			"CLOAK_DATA":             "/env/data",
			"CLOAK_INSECURE_HTTP":    "false",
			"CLOAK_S3_DOMAINS":       " a.example, ,b.example ",
			"CLOAK_SHUTDOWN_TIMEOUT": "1m",
			"CLOAK_MIGRATING":        "bkt1,bkt2/logs/",
			"CLOAK_LOG_LEVEL":        "",
		}, func(t *testing.T, c *Config) {
			eq(t, "listen", c.Listen, "127.0.0.1:2000")
			eq(t, "insecure_http", c.InsecureHTTP, false)
			eq(t, "domains", c.S3.Domains, []string{"a.example", "b.example"})
			eq(t, "shutdown_timeout", c.ShutdownTimeout, Duration(time.Minute))
			eq(t, "migrating", c.Migrating, []string{"bkt1", "bkt2/logs/"})
			eq(t, "empty variable leaves the file's value", c.Log.Level, "debug")
			eq(t, "local dir from env's data", c.Backend.Local.Dir, "/env/data/objects")
		}},
		{"flags over env", []string{"--config", file, "--listen", "127.0.0.1:3000",
			"--insecure-http", "--shutdown-timeout=5s", "--s3-domains", "f.example",
			"--data", "/flag/data", "--keyring", "/k/ring"},
			map[string]string{
				"CLOAK_LISTEN":           "127.0.0.1:2000",
				"CLOAK_INSECURE_HTTP":    "false",
				"CLOAK_SHUTDOWN_TIMEOUT": "1m",
				"CLOAK_S3_DOMAINS":       "a.example",
			}, func(t *testing.T, c *Config) {
				eq(t, "listen", c.Listen, "127.0.0.1:3000")
				eq(t, "insecure_http", c.InsecureHTTP, true)
				eq(t, "shutdown_timeout", c.ShutdownTimeout, Duration(5*time.Second))
				eq(t, "domains", c.S3.Domains, []string{"f.example"})
				eq(t, "local dir from flag's data", c.Backend.Local.Dir, "/flag/data/objects")
				eq(t, "explicit keyring kept", c.KeyRing, "/k/ring")
			}},
		{"flag false over env true", []string{"--insecure-http=false"},
			map[string]string{"CLOAK_INSECURE_HTTP": "true"},
			func(t *testing.T, c *Config) { eq(t, "insecure_http", c.InsecureHTTP, false) }},
		{"unset flag leaves env", nil, map[string]string{"CLOAK_TLS_MIN_VERSION": "1.3"},
			func(t *testing.T, c *Config) {
				eq(t, "min_version", c.TLS.MinVersion, "1.3")
				eq(t, "MinVersionID", c.TLS.MinVersionID(), uint16(0x0304))
			}},
		{"endpoint implies s3 backend", nil,
			map[string]string{"CLOAK_BACKEND_S3_ENDPOINT": "http://127.0.0.1:9000"},
			func(t *testing.T, c *Config) { eq(t, "backend.type", c.Backend.Type, "s3") }},
		{"root credentials from env", nil, map[string]string{
			"CLOAK_ROOT_ACCESS_KEY": "admin", "CLOAK_ROOT_SECRET_KEY": "s3cr3t-value"},
			func(t *testing.T, c *Config) {
				eq(t, "access", c.Root.AccessKey, "admin")
				eq(t, "secret", c.Root.SecretKey.Reveal(), "s3cr3t-value")
				eq(t, "HasRootCredentials", c.HasRootCredentials(), true)
			}},
		{"backend credentials from env", nil, map[string]string{
			"CLOAK_BACKEND_S3_ENDPOINT":   "https://s3.example",
			"CLOAK_BACKEND_S3_ACCESS_KEY": "proxy",
			"CLOAK_BACKEND_S3_SECRET_KEY": "backend-secret",
			"CLOAK_BACKEND_S3_REGION":     "eu-west-1",
		}, func(t *testing.T, c *Config) {
			eq(t, "access", c.Backend.S3.AccessKey, "proxy")
			eq(t, "secret", c.Backend.S3.SecretKey.Reveal(), "backend-secret")
			eq(t, "region", c.Backend.S3.Region, "eu-west-1")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(newFlagSet(), tt.args, envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestLoadExample(t *testing.T) {
	secret := writeFile(t, "secret", "backend-secret-key\n")
	c, err := Load(newFlagSet(), []string{"--config", "testdata/cloak.example.yaml"},
		envOf(map[string]string{"CLOAK_BACKEND_S3_SECRET_KEY_FILE": secret}))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "backend.type", c.Backend.Type, "s3")
	eq(t, "endpoint", c.Backend.S3.Endpoint, "https://minio.internal:9000")
	eq(t, "secret from file", c.Backend.S3.SecretKey.Reveal(), "backend-secret-key")
	eq(t, "migrating", c.MigratingEntries(), []MigratingEntry{
		{Bucket: "legacy-archive"}, {Bucket: "shared-docs", Prefix: "2019/"}})
	eq(t, "log.format", c.Log.Format, "json")

	// Without the secret, the example names what is missing.
	_, err = Load(newFlagSet(), []string{"--config", "testdata/cloak.example.yaml"}, nil)
	if err == nil || !strings.Contains(err.Error(),
		"backend.s3.secret_key: must be set when backend.s3.access_key is") {
		t.Errorf("example without secret: %v", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error
	}{
		{"syntax error", "listen: a\ntls:\n  cert: x\n   key: y\n",
			[]string{"cloak.yaml: yaml: line 4: mapping values are not allowed"}},
		{"unclosed list", "listen: a\ntls:\n  cert: [unclosed\n", []string{"cloak.yaml: ", "line 2"}},
		{"tab indentation", "tls:\n\tcert: x\n", []string{"line 2"}},
		{"unknown top-level field", "listen: 127.0.0.1:1\nlisten_addr: x\n",
			[]string{"cloak.yaml: line 2: listen_addr: unknown field"}},
		{"unknown nested field", "backend:\n  s3:\n    endpiont: http://x\n",
			[]string{"line 3: backend.s3.endpiont: unknown field"}},
		{"several unknown fields", "foo: 1\ntls:\n  bar: 2\n",
			[]string{"line 1: foo: unknown field", "line 3: tls.bar: unknown field"}},
		{"wrong type bool", "insecure_http: perhaps\n",
			[]string{"line 1: insecure_http: cannot unmarshal !!str `perhaps` into bool"}},
		{"mapping for a string", "listen:\n  host: x\n",
			[]string{"line 2: listen: cannot unmarshal !!map into string"}},
		{"scalar for a section", "tls: yes\n", []string{"line 1: tls: must be a mapping"}},
		{"bare number duration", "shutdown_timeout: 30\n",
			[]string{"line 1: shutdown_timeout: must be a duration"}},
		{"bad duration", "shutdown_timeout: soon\n",
			[]string{`line 1: shutdown_timeout: must be a duration such as "30s" or "2m", not "soon"`}},
		{"list for a scalar", "data: [a, b]\n", []string{"line 1: data: cannot unmarshal !!seq"}},
		{"secret as mapping", "root:\n  secret_key: {a: b}\n",
			[]string{"line 2: root.secret_key: must be a string"}},
		{"top level is a list", "- a\n", []string{"line 1: top level: must be a mapping"}},
		{"two documents", "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n",
			[]string{"line 2: more than one YAML document"}},
		{"duplicate key", "listen: a:1\nlisten: b:2\n", []string{"line 2", "already defined"}},
		{"valid file but invalid value", "tls:\n  min_version: 1.1\n",
			[]string{`tls.min_version: must be "1.2" or "1.3", not "1.1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "cloak.yaml", tt.yaml)
			_, err := Load(newFlagSet(), []string{"--config", file}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFileEdgeCases(t *testing.T) {
	for _, tt := range []struct{ name, yaml string }{
		{"empty", ""},
		{"comments only", "# nothing\n"},
		{"explicit document", "---\nlisten: 127.0.0.1:9443\n"},
		{"empty section", "tls:\nbackend:\n"},
		{"unquoted version", "tls:\n  min_version: 1.3\n"},
		{"anchor and alias", "s3:\n  domains: &d [a.example]\nmigrating: [bucket-a]\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "cloak.yaml", tt.yaml)
			c, err := Load(newFlagSet(), []string{"--config", file}, nil)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "listen", c.Listen, DefaultListen)
		})
	}
	_, err := Load(newFlagSet(), []string{"--config", "/nonexistent/cloak.yaml"}, nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want not exist", err)
	}
}

func TestLoadEnvAndFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad bool variable", nil, map[string]string{"CLOAK_INSECURE_HTTP": "maybe"},
			`CLOAK_INSECURE_HTTP: must be true or false, not "maybe"`},
		{"bad duration variable", nil, map[string]string{"CLOAK_SHUTDOWN_TIMEOUT": "30"},
			`CLOAK_SHUTDOWN_TIMEOUT: must be a duration such as "30s" or "2m", not "30"`},
		{"bad bool flag", []string{"--insecure-http=maybe"}, nil,
			`invalid boolean value "maybe" for -insecure-http`},
		{"bad duration flag", []string{"--shutdown-timeout", "5"}, nil,
			`invalid value "5" for flag -shutdown-timeout: must be a duration`},
		{"unknown flag", []string{"--listen-addr", "x"}, nil,
			"flag provided but not defined: -listen-addr"},
		{"no flag for credentials", []string{"--root-secret-key", "x"}, nil,
			"flag provided but not defined: -root-secret-key"},
		{"invalid flag value reaches Validate", []string{"--listen", "nowhere"}, nil,
			`listen: must be host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(newFlagSet(), tt.args, envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	_, err := Load(newFlagSet(), []string{"-h"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err = %v, want flag.ErrHelp", err)
	}
}

func TestLoadSecretFiles(t *testing.T) {
	const secret = "file-secret-value"
	good := writeFile(t, "secret", secret+"\r\n")
	empty := writeFile(t, "empty", "\n")
	twoLines := writeFile(t, "two", secret+"\nsecond-line\n")
	big := writeFile(t, "big", strings.Repeat("x", maxSecretFile+1))
	tests := []struct {
		name    string
		env     map[string]string
		want    func(c *Config) string
		wantErr string
	}{
		{"root secret", map[string]string{
			"CLOAK_ROOT_ACCESS_KEY":      "admin",
			"CLOAK_ROOT_SECRET_KEY_FILE": good,
		}, func(c *Config) string { return c.Root.SecretKey.Reveal() }, ""},
		{"root access key", map[string]string{
			"CLOAK_ROOT_ACCESS_KEY_FILE": writeFile(t, "ak", "admin-from-file\n"),
			"CLOAK_ROOT_SECRET_KEY":      secret,
		}, func(c *Config) string { return c.Root.AccessKey }, ""},
		{"backend secret", map[string]string{
			"CLOAK_BACKEND_S3_ENDPOINT":        "http://127.0.0.1:9000",
			"CLOAK_BACKEND_S3_ACCESS_KEY":      "proxy",
			"CLOAK_BACKEND_S3_SECRET_KEY_FILE": good,
		}, func(c *Config) string { return c.Backend.S3.SecretKey.Reveal() }, ""},
		{"both set", map[string]string{
			"CLOAK_ROOT_SECRET_KEY":      "direct-value",
			"CLOAK_ROOT_SECRET_KEY_FILE": good,
		}, nil, "CLOAK_ROOT_SECRET_KEY and CLOAK_ROOT_SECRET_KEY_FILE are both set"},
		{"missing file", map[string]string{
			"CLOAK_ROOT_SECRET_KEY_FILE": "/nonexistent/secret",
		}, nil, "CLOAK_ROOT_SECRET_KEY_FILE: failed to read credential file"},
		{"empty file", map[string]string{"CLOAK_ROOT_SECRET_KEY_FILE": empty},
			nil, "is empty"},
		{"two lines", map[string]string{"CLOAK_ROOT_SECRET_KEY_FILE": twoLines},
			nil, "holds more than one line"},
		{"too big", map[string]string{"CLOAK_ROOT_SECRET_KEY_FILE": big},
			nil, "larger than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(newFlagSet(), nil, envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) ||
					strings.Contains(err.Error(), "direct-value") {
					t.Errorf("error %q holds the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.want(c); got != secret && got != "admin-from-file" {
				t.Errorf("value = %q", got)
			}
		})
	}
	// Only credentials may come from files.
	_, err := Load(newFlagSet(), nil, envOf(map[string]string{"CLOAK_LISTEN_FILE": good}))
	if err != nil {
		t.Errorf("CLOAK_LISTEN_FILE: %v", err)
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := newFlagSet()
	RegisterFlags(fs)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	for _, want := range []string{"config", "listen", "data", "tls-cert", "tls-key",
		"tls-min-version", "insecure-http", "insecure-http-force", "backend-s3-endpoint",
		"backend-s3-ca-file", "migrating", "shutdown-timeout", "log-format"} {
		if !slices.Contains(names, want) {
			t.Errorf("no flag --%s", want)
		}
	}
	for _, name := range names {
		if strings.Contains(name, "access-key") || strings.Contains(name, "secret") {
			t.Errorf("credential flag --%s", name)
		}
	}
	if got := fs.Lookup("listen").DefValue; got != DefaultListen {
		t.Errorf("--listen default shows %q", got)
	}
	if got := fs.Lookup("shutdown-timeout").DefValue; got != "30s" {
		t.Errorf("--shutdown-timeout default shows %q", got)
	}

	// The caller's own flags and positional arguments survive Load.
	fs = newFlagSet()
	verbose := fs.Bool("verbose", false, "")
	if _, err := Load(fs, []string{"--verbose", "--listen", "[::1]:9000", "extra"}, nil); err != nil {
		t.Fatal(err)
	}
	if !*verbose || !slices.Equal(fs.Args(), []string{"extra"}) {
		t.Errorf("verbose = %v, args = %v", *verbose, fs.Args())
	}
}

// TestDocListsEveryField keeps the table in doc.go in step with fields.
func TestDocListsEveryField(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		line := ""
		for _, l := range strings.Split(string(doc), "\n") {
			if strings.HasPrefix(l, "//\t"+f.path+" ") {
				line = l
			}
		}
		if line == "" {
			t.Errorf("doc.go has no row for %s", f.path)
			continue
		}
		if !strings.Contains(line, " "+f.env()) {
			t.Errorf("row for %s lacks %s", f.path, f.env())
		}
		if f.fromFile() && !strings.Contains(line, f.env()+"*") {
			t.Errorf("row for %s lacks the _FILE form", f.path)
		}
		if f.flag && !strings.Contains(line, " --"+f.flagName()) {
			t.Errorf("row for %s lacks --%s", f.path, f.flagName())
		}
	}
}

// FuzzDecodeYAML checks that no file makes the decoder panic and that a
// file either fails or leaves a Config that formats without error.
func FuzzDecodeYAML(f *testing.F) {
	example, err := os.ReadFile("testdata/cloak.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("listen: a\nlisten: b\n"))
	f.Add([]byte("tls: &a {cert: x}\nbackend: *a\n"))
	f.Add([]byte("migrating: [a, [b]]\n"))
	f.Add([]byte("shutdown_timeout: !!binary aGVsbG8=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		if err := decodeYAML(c, data); err != nil {
			return
		}
		c.resolve()
		_ = c.Validate()
	})
}

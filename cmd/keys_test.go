package cmd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloakproxy/cloak/config"
)

// keysRun runs "cloak keys ARGS..." against the key ring in dir.
func keysRun(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"keys"}, args[0], "--data", dir, "--keyring", filepath.Join(dir, "keyring"))
	code := Main(append(all, args[1:]...), &out, &errOut)
	return out.String() + errOut.String(), code
}

func TestKeys_ExportImportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	// The first rotate needs a ring: create one as serve would.
	if _, _, err := openRing(mustConfig(t, dir), true); err != nil {
		t.Fatal(err)
	}
	if out, code := keysRun(t, dir, "rotate"); code != 0 {
		t.Fatalf("rotate: %d\n%s", code, out)
	}
	if out, code := keysRun(t, dir, "create", "--bucket", "matter-42"); code != 0 {
		t.Fatalf("create: %d\n%s", code, out)
	}
	backup := filepath.Join(t.TempDir(), "ring.backup")
	if out, code := keysRun(t, dir, "export", "--out", backup); code == 0 ||
		!strings.Contains(out, "backup passphrase is required") {
		t.Fatalf("export without a passphrase: %d\n%s", code, out)
	}
	t.Setenv("CLOAK_KEYS_BACKUP_PASSPHRASE", "a long backup passphrase for the test")
	if out, code := keysRun(t, dir, "export", "--out", backup); code != 0 {
		t.Fatalf("export: %d\n%s", code, out)
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := os.ReadFile(filepath.Join(dir, "keyring"))
	if bytes.Contains(b, []byte(`"key"`)) || bytes.Equal(b, ring) {
		t.Fatal("the backup is not sealed")
	}
	if out, code := keysRun(t, dir, "export", "--out", backup); code == 0 {
		t.Fatalf("export over an existing file succeeded:\n%s", out)
	}

	restored := t.TempDir()
	out, code := keysRun(t, restored, "import", "--in", backup)
	if code != 0 || !strings.Contains(out, "Restored the key ring") {
		t.Fatalf("import: %d\n%s", code, out)
	}
	before, _ := keysRun(t, dir, "list")
	after, _ := keysRun(t, restored, "list")
	if before != after || !strings.Contains(after, "bucket/matter-42") {
		t.Fatalf("list differs after the restore:\n%s\nvs\n%s", before, after)
	}
	t.Setenv("CLOAK_KEYS_BACKUP_PASSPHRASE", "the wrong passphrase")
	if out, code := keysRun(t, t.TempDir(), "import", "--in", backup); code == 0 {
		t.Fatalf("import with a wrong passphrase succeeded:\n%s", out)
	}
}

func TestKeys_UsageAndRefusals(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"keys"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "rewrap") {
		t.Fatalf("cloak keys: %d\n%s", code, errOut.String())
	}
	dir := t.TempDir()
	if out, code := keysRun(t, dir, "list"); code == 0 {
		t.Fatalf("list without a key ring succeeded:\n%s", out)
	}
	if _, _, err := openRing(mustConfig(t, dir), true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"retire"}, "give the version"},
		{[]string{"retire", "x"}, "not a key version"},
		{[]string{"retire", "1"}, "it is the active version"},
		{[]string{"shred", "--bucket", "abc", "--confirm", "abd"}, "nothing was destroyed"},
		{[]string{"shred", "--bucket", "abc", "--confirm", "abc"}, "has no key of its own"},
		{[]string{"create"}, "--bucket is required"},
	} {
		out, code := keysRun(t, dir, tc.args...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("keys %v: exit %d, want %q in\n%s", tc.args, code, tc.want, out)
		}
	}
}

// mustConfig loads the configuration "cloak keys --data dir" would use.
func mustConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Load(flag.NewFlagSet("test", flag.ContinueOnError),
		[]string{"--data", dir, "--keyring", filepath.Join(dir, "keyring")}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

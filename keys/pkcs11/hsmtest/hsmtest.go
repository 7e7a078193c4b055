// Package hsmtest gives tests a fresh SoftHSM token to use through the
// PKCS#11 provider.
//
// [Start] writes a private SoftHSM configuration and token directory
// under t.TempDir(), points SOFTHSM2_CONF at it for the rest of the test,
// initialises a token in it with softhsm2-util, and returns a
// [pkcs11.Config] for that token. The module is the library named by
// CLOAK_SOFTHSM_MODULE (scripts/softhsm.sh installs SoftHSM and prints
// the path). When that is unset, or softhsm2-util is missing, the test is
// skipped, unless CI=true or CLOAK_REQUIRE_INTEGRATION=1, where it fails.
//
// # One token at a time
//
// SoftHSM reads SOFTHSM2_CONF when the module is initialised, which the
// provider does when the first Wrapper of the process opens and undoes
// when the last one closes. So a test must close every Wrapper it opened
// (t.Cleanup) before the next test's Start, and tests that call Start
// must not run in parallel: Start uses t.Setenv, which panics in a
// parallel test.
package hsmtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/keys/pkcs11"
)

// Fixed credentials of the test token. They protect only a throw-away
// token in a temporary directory; they are long and distinctive so a test
// can check that no error message contains them.
const (
	TokenLabel = "cloak-test"
	PIN        = "cloak-test-user-pin-4821"
	SOPIN      = "cloak-test-so-pin-9305"
	// KeyLabel is the master key label in the returned Config.
	KeyLabel = "cloak-test-master"
)

// initTimeout bounds softhsm2-util.
const initTimeout = 30 * time.Second

// Module returns the path of the SoftHSM PKCS#11 library from
// CLOAK_SOFTHSM_MODULE, or "".
func Module() string {
	return os.Getenv("CLOAK_SOFTHSM_MODULE")
}

// Required reports whether missing SoftHSM must fail the test rather than
// skip it.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("CLOAK_REQUIRE_INTEGRATION") == "1"
}

// Start initialises a fresh token for the test t (see the package doc)
// and returns a Config that opens it with master key label KeyLabel.
func Start(t testing.TB) pkcs11.Config {
	t.Helper()
	module := Module()
	util, utilErr := exec.LookPath("softhsm2-util")
	if _, err := os.Stat(module); module == "" || err != nil || utilErr != nil {
		msg := "hsmtest: SoftHSM not found (run scripts/softhsm.sh and set " +
			"CLOAK_SOFTHSM_MODULE to the path it prints)"
		if Required() {
			t.Fatal(msg + "; integration tests are required here " +
				"(CI or CLOAK_REQUIRE_INTEGRATION=1)")
		}
		t.Skip(msg)
	}
	conf := writeConf(t)
	t.Setenv("SOFTHSM2_CONF", conf)
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, util, "--init-token", "--free", "--label", TokenLabel,
		"--so-pin", SOPIN, "--pin", PIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hsmtest: softhsm2-util --init-token: %v\n%s", err, out)
	}
	return pkcs11.Config{Module: module, TokenLabel: TokenLabel, PIN: PIN, KeyLabel: KeyLabel}
}

// writeConf writes a SoftHSM configuration whose tokens live in a new
// directory under t.TempDir(), and returns its path.
func writeConf(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	text := "directories.tokendir = " + tokens + "\n" +
		"objectstore.backend = file\n" +
		"log.level = ERROR\n" +
		"slots.removable = false\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	return conf
}

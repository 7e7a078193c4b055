package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/cmd"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys/awskms"
	"github.com/cloakproxy/cloak/keys/awskms/kmstest"
	"github.com/cloakproxy/cloak/keys/pkcs11"
	"github.com/cloakproxy/cloak/keys/pkcs11/hsmtest"
	"github.com/cloakproxy/cloak/proxy"
)

// envRunCLI makes the test binary run the cloak command instead of the
// tests: key commands against an HSM must run in a process of their own,
// as an operator's would, since one process holds one login to a token.
const envRunCLI = "CLOAK_INTEGRATION_RUN_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(envRunCLI) == "1" {
		os.Exit(cmd.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cliProcess runs "cloak ARGS..." in a child process with extra
// environment variables and returns its combined output and exit code.
func cliProcess(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, os.Args[0], args...)
	c.Env = append(append(os.Environ(), envRunCLI+"=1"), env...)
	out, err := c.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run cloak %v: %v", args, err)
	}
	return string(out), code
}

// TestKeyProviders_PKCS11 runs the key lifecycle with master keys in a
// real SoftHSM token: Cloak serving from one process, "cloak keys" run
// from others, as on a real host.
func TestKeyProviders_PKCS11(t *testing.T) {
	hcfg := hsmtest.Start(t)
	hcfg.Create = true
	hcfg.RefreshInterval = 100 * time.Millisecond
	hcfg.BucketKeys = map[string]string{"matter-42": "cloak-matter-42"}
	w, err := pkcs11.Open(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	p := newProviderEnv(t, w, 6)
	k, st, dir, gen, matter, e := p.k, p.st, p.dir, p.gen, p.matter, p.k.env

	env := []string{"CLOAK_KEYS_PKCS11_PIN=" + hcfg.PIN, "SOFTHSM2_CONF=" + os.Getenv("SOFTHSM2_CONF")}
	run := func(wantOK bool, args ...string) string {
		t.Helper()
		all := append([]string{"keys", args[0], "--data", dir, "--backend-type", "local",
			"--backend-local-dir", filepath.Join(dir, "objects"), "--keys-provider", "pkcs11",
			"--keys-pkcs11-module", hcfg.Module, "--keys-pkcs11-token-label", hcfg.TokenLabel,
			"--keys-pkcs11-key-label", hcfg.KeyLabel, "--keys-bucket-keys", "matter-42=cloak-matter-42",
			"--keys-reload-interval", "100ms"}, args[1:]...)
		out, code := cliProcess(t, env, all...)
		if (code == 0) != wantOK {
			t.Fatalf("cloak %v: exit %d\n%s", all[:2], code, out)
		}
		return out
	}

	run(true, "rotate")
	waitWrapsUnder(t, w, "general", 2)
	fresh := makeKeyObjects("g2", 2)
	k.putAll(t, "general", fresh)
	if ref := storedKey(t, st, "general", "g2/obj-000"); ref.Version != 2 || ref.ID != hcfg.KeyLabel {
		t.Fatalf("written after the rotation under %+v", ref)
	}
	if out := run(false, "retire", "1"); !strings.Contains(out, "still wraps 6 objects") {
		t.Fatalf("retire in use:\n%s", out)
	}
	run(true, "rewrap")
	for key := range gen {
		if ref := storedKey(t, st, "general", key); ref.Version != 2 {
			t.Fatalf("%s under %+v after the rewrap", key, ref)
		}
	}
	run(true, "retire", "1")
	list := run(true, "list", "--scan")
	if !hasRow(list, hcfg.KeyLabel, "2", "active") || hasRow(list, hcfg.KeyLabel, "1") ||
		!hasRow(list, "cloak-matter-42", "1", "active") {
		t.Fatalf("list after retire:\n%s", list)
	}
	for key, v := range fresh {
		gen[key] = v
	}
	if err := k.readAll(t, "general", gen); err != nil {
		t.Fatal(err)
	}

	if out := run(false, "shred", "--bucket", "general", "--confirm", "general"); !strings.Contains(out, "no key of its own") {
		t.Fatalf("shred of a bucket on the default key:\n%s", out)
	}
	run(true, "shred", "--bucket", "matter-42", "--confirm", "matter-42")
	for key := range matter {
		_, err := e.noRetries().GetObject(context.Background(), &s3.GetObjectInput{
			Bucket: aws.String("matter-42"), Key: aws.String(key)})
		if err == nil {
			t.Fatalf("%s of the shredded bucket still reads", key)
		}
	}
	if err := k.readAll(t, "general", gen); err != nil {
		t.Fatal(err)
	}
}

// waitWrapsUnder waits until w wraps new keys of bucket under version v.
func waitWrapsUnder(t *testing.T, w *pkcs11.Wrapper, bucket string, v uint32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, got, err := w.Active(context.Background(), bucket)
		if err == nil && got == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still wrapping under v%d (%v), want v%d", got, err, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKeyProviders_AWSKMS runs the key lifecycle with master keys in a
// real KMS API (local-kms): moving a bucket to another KMS key by
// configuration and rewrap, retiring the old key, and shredding one
// matter's key.
func TestKeyProviders_AWSKMS(t *testing.T) {
	srv := kmstest.Start(t)
	keyA, keyB, keyM := srv.CreateKey(t), srv.CreateKey(t), srv.CreateKey(t)
	srv.CreateAlias(t, "alias/cloak", keyA)
	kw, err := awskms.New(context.Background(), awskms.Config{Endpoint: srv.Endpoint, Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, KeyID: "alias/cloak",
		BucketKeys: map[string]string{"matter-42": keyM}})
	if err != nil {
		t.Fatal(err)
	}
	p := newProviderEnv(t, kw, 5)
	k, st, dir, gen, matter, e := p.k, p.st, p.dir, p.gen, p.matter, p.k.env
	for key := range gen {
		if ref := storedKey(t, st, "general", key); ref.ID != keyA {
			t.Fatalf("%s under %+v, want the alias's key %s", key, ref, keyA)
		}
	}

	t.Setenv("CLOAK_KEYS_AWSKMS_ACCESS_KEY", srv.AccessKey)
	t.Setenv("CLOAK_KEYS_AWSKMS_SECRET_KEY", srv.SecretKey)
	run := func(wantOK bool, defaultKey string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		all := append([]string{"keys", args[0], "--data", dir, "--backend-type", "local",
			"--backend-local-dir", filepath.Join(dir, "objects"), "--keys-provider", "awskms",
			"--keys-awskms-endpoint", srv.Endpoint, "--keys-awskms-region", srv.Region,
			"--keys-awskms-key-id", defaultKey, "--keys-bucket-keys", "matter-42=" + keyM}, args[1:]...)
		code := cmd.Main(all, &out, &errOut)
		if (code == 0) != wantOK {
			t.Fatalf("cloak %v: exit %d\n%s%s", all[:2], code, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}

	if out := run(false, "alias/cloak", "rotate"); !strings.Contains(out, "rotates key material itself") {
		t.Fatalf("rotate with KMS:\n%s", out)
	}
	list := run(true, "alias/cloak", "list", "--scan")
	if !strings.Contains(list, keyA) || !strings.Contains(list, keyM) {
		t.Fatalf("list:\n%s", list)
	}
	// Move the default to key B: the configuration changes, then rewrap.
	run(true, keyB, "rewrap")
	for key := range gen {
		if ref := storedKey(t, st, "general", key); ref.ID != keyB {
			t.Fatalf("%s under %+v after the rewrap, want %s", key, ref, keyB)
		}
	}
	if ref := storedKey(t, st, "matter-42", "m/obj-000"); ref.ID != keyM {
		t.Fatalf("the matter's object moved to %+v", ref)
	}
	if out := run(false, keyB, "retire", "--id", keyB); !strings.Contains(out, "still wraps") &&
		!strings.Contains(out, "still configured") {
		t.Fatalf("retire of the key in use:\n%s", out)
	}
	run(true, keyB, "retire", "--id", keyA)
	if st, err := kw.KeyState(context.Background(), keyA); err != nil || st != "PendingDeletion" {
		t.Fatalf("key A after retire: %s, %v", st, err)
	}
	if err := k.readAll(t, "general", gen); err != nil {
		t.Fatal(err)
	}
	run(true, keyB, "shred", "--bucket", "matter-42", "--confirm", "matter-42")
	for key := range matter {
		_, err := e.aws.GetObject(context.Background(), &s3.GetObjectInput{
			Bucket: aws.String("matter-42"), Key: aws.String(key)})
		assertS3Code(t, err, "InvalidObjectState")
	}
	if err := k.readAll(t, "general", gen); err != nil {
		t.Fatal(err)
	}
}

// providerEnv is Cloak over a local store with master keys from a
// provider, and objects written in a general bucket and in a matter's.
type providerEnv struct {
	k           *keysEnv
	st          backend.Store
	dir         string
	gen, matter keyObjects
}

func newProviderEnv(t *testing.T, w crypto.KeyWrapper, general int) providerEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := localstore.New(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	k := &keysEnv{env: newEnv(t, st, proxy.Options{Keys: w})}
	k.mkBucket(t, "general")
	k.mkBucket(t, "matter-42")
	p := providerEnv{k: k, st: st, dir: dir, gen: makeKeyObjects("g", general), matter: makeKeyObjects("m", 3)}
	k.putAll(t, "general", p.gen)
	k.putAll(t, "matter-42", p.matter)
	return p
}

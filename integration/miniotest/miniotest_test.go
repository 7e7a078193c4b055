package miniotest

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

func TestStartServesLiveness(t *testing.T) {
	s := Start(t)
	resp, err := http.Get(s.Endpoint + "/minio/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ready probe: %s", resp.Status)
	}
}

// TestHelperStartMissing is run by TestMissingBinary in a child process.
func TestHelperStartMissing(t *testing.T) {
	if os.Getenv("MINIOTEST_HELPER") != "1" {
		t.Skip("helper for TestMissingBinary")
	}
	Start(t)
	t.Log("Start returned without a binary")
}

// TestMissingBinary checks that Start skips without a binary, but fails
// where integration tests are required.
func TestMissingBinary(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"local", nil, "--- SKIP"},
		{"CI", []string{"CI=true"}, "--- FAIL"},
		{"required", []string{"CLOAK_REQUIRE_INTEGRATION=1"}, "--- FAIL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartMissing$", "-test.v")
			cmd.Env = append(filteredEnv(), "MINIOTEST_HELPER=1",
				"CLOAK_MINIO_BIN="+t.TempDir()+"/no-such-minio")
			cmd.Env = append(cmd.Env, tc.env...)
			out, _ := cmd.CombinedOutput()
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("want %q in the output:\n%s", tc.want, out)
			}
		})
	}
}

func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "CI" && name != "CLOAK_REQUIRE_INTEGRATION" && name != "CLOAK_MINIO_BIN" {
			env = append(env, kv)
		}
	}
	return env
}

func TestStartTLS(t *testing.T) {
	s := StartTLS(t)
	if s.CAFile == "" || s.Endpoint[:8] != "https://" {
		t.Fatalf("TLS server %+v", s)
	}
	client, err := s.probeClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(s.Endpoint + "/minio/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := http.Get(s.Endpoint + "/minio/health/live"); err == nil {
		t.Error("a client without the CA trusted the self-signed certificate")
	}
}

// TestKillAndRestart checks that a killed server stops answering at once
// and, restarted, serves the same address and data.
func TestKillAndRestart(t *testing.T) {
	s := Start(t)
	do := func(method, path, body string) (*http.Response, error) {
		req, err := http.NewRequest(method, s.Endpoint+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		sigv4.SignRequest(req, sigv4.Credential{AccessKey: s.AccessKey, SecretKey: s.SecretKey},
			"us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)
		return http.DefaultClient.Do(req)
	}
	mustDo := func(method, path, body string) string {
		t.Helper()
		resp, err := do(method, path, body)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
		return string(b)
	}
	mustDo(http.MethodPut, "/kept", "")
	mustDo(http.MethodPut, "/kept/object", "written before the crash")
	addr := s.Addr

	s.Kill()
	if resp, err := do(http.MethodGet, "/kept/object", ""); err == nil {
		resp.Body.Close()
		t.Fatalf("a killed server answered %s", resp.Status)
	}
	s.Restart(t)
	if s.Addr != addr {
		t.Fatalf("restarted on %s, want %s", s.Addr, addr)
	}
	if got := mustDo(http.MethodGet, "/kept/object", ""); got != "written before the crash" {
		t.Fatalf("after restart the object reads %q", got)
	}
}

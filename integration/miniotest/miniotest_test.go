package miniotest

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
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

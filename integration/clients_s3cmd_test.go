package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// s3cmd runs Debian's s3cmd against one Cloak, with a configuration file
// of its own and its MD5 checks on (the default).
type s3cmd struct {
	c   *clientEnv
	bin string
	cfg string
}

func newS3cmd(t *testing.T, c *clientEnv, bin string) *s3cmd {
	cfg := filepath.Join(c.home, "s3cfg")
	conf := fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %s
bucket_location = %s
use_https = True
ca_certs_file = %s
check_ssl_certificate = True
signature_v2 = False
`, testAccess, testSecret, c.hostPort, c.hostPort, c.region, c.caFile)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return &s3cmd{c: c, bin: bin, cfg: cfg}
}

// do runs one s3cmd command. s3cmd reports a failed MD5 check as a
// WARNING and carries on, so any warning fails the test.
func (s *s3cmd) do(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"--config", s.cfg, "--no-progress"}, args...)
	out, errOut, err := s.c.tryRun(t, nil, s.bin, args...)
	if err != nil || strings.Contains(errOut, "WARNING") || strings.Contains(errOut, "ERROR") {
		t.Fatalf("s3cmd %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err,
			tail(out), tail(errOut))
	}
	return out
}

// TestClients_S3cmd drives s3cmd: put (single and multipart), get, ls,
// info, sync up and down, a second sync that must transfer nothing, and
// del. s3cmd compares every upload's ETag and every download's MD5.
func TestClients_S3cmd(t *testing.T) {
	bin := clientTool(t, "CLOAK_S3CMD_BIN", "/usr/bin/s3cmd")
	forEachClientBackend(t, func(t *testing.T, c *clientEnv) {
		s := newS3cmd(t, c, bin)
		s.do(t, "mb", "s3://s3cmd")
		sizes := map[string]int64{"small": 1 << 10, "mid": 20 << 20}
		for name, size := range sizes {
			src := filepath.Join(c.dir, name)
			writeGenFile(t, src, "s3cmd "+name, size)
			s.do(t, "put", src, "s3://s3cmd/files/"+name)
			got := filepath.Join(c.dir, name+".down")
			s.do(t, "get", "s3://s3cmd/files/"+name, got)
			assertSameFile(t, got, src)

			info := s.do(t, "info", "s3://s3cmd/files/"+name)
			if !regexp.MustCompile(fmt.Sprintf(`File size:\s+%d\b`, size)).MatchString(info) {
				t.Errorf("info of %s does not show %d bytes:\n%s", name, size, info)
			}
		}
		if info := s.do(t, "info", "s3://s3cmd"); !strings.Contains(info, "s3://s3cmd/") {
			t.Errorf("info of the bucket:\n%s", info)
		}
		listed := s.do(t, "ls", "s3://s3cmd/files/")
		for name, size := range sizes {
			line := fmt.Sprintf(`(?m)\s%d\s+s3://s3cmd/files/%s$`, size, name)
			if !regexp.MustCompile(line).MatchString(listed) {
				t.Errorf("ls does not show %s with %d bytes:\n%s", name, size, listed)
			}
		}

		src := filepath.Join(c.dir, "tree")
		writeTree(t, src, "s3cmd tree", 40)
		s.do(t, "sync", src+"/", "s3://s3cmd/tree/")
		down := filepath.Join(c.dir, "tree.down")
		s.do(t, "sync", "s3://s3cmd/tree/", down+"/")
		assertSameTree(t, down, src)
		if out := s.do(t, "sync", src+"/", "s3://s3cmd/tree/"); strings.Contains(out, "upload:") {
			t.Errorf("a second sync up transferred files:\n%s", out)
		}
		if out := s.do(t, "sync", "s3://s3cmd/tree/", down+"/"); strings.Contains(out, "download:") {
			t.Errorf("a second sync down transferred files:\n%s", out)
		}

		if n, want := assertBucketCiphertext(t, c.env, "s3cmd"), len(sizes)+40; n != want {
			t.Fatalf("checked %d stored objects, want %d", n, want)
		}
		s.do(t, "del", "s3://s3cmd/files/small")
		s.do(t, "del", "--recursive", "--force", "s3://s3cmd/")
		if out := s.do(t, "ls", "--recursive", "s3://s3cmd/"); strings.TrimSpace(out) != "" {
			t.Fatalf("objects left after del --recursive:\n%s", out)
		}
		s.do(t, "rb", "s3://s3cmd")
	})
}

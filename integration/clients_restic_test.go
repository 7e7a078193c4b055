package integration

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestClients_Restic drives restic with an s3: repository in Cloak: init,
// a backup of a tree of a few thousand small files, a second backup after
// changes, check --read-data, and a restore compared byte for byte with
// the source.
func TestClients_Restic(t *testing.T) {
	bin := clientTool(t, "CLOAK_RESTIC_BIN", "/usr/bin/restic")
	forEachClientBackend(t, func(t *testing.T, c *clientEnv) {
		env := []string{
			"AWS_ACCESS_KEY_ID=" + testAccess,
			"AWS_SECRET_ACCESS_KEY=" + testSecret,
			"RESTIC_REPOSITORY=s3:" + c.endpoint + "/restic-repo",
			"RESTIC_PASSWORD=cloak-test-restic-password",
			"RESTIC_CACHE_DIR=" + filepath.Join(c.home, "restic-cache"),
		}
		restic := func(args ...string) string {
			t.Helper()
			args = append([]string{"--cacert", c.caFile}, args...)
			return c.run(t, env, bin, args...)
		}
		src := filepath.Join(c.dir, "data")
		const files = 3000
		writeTree(t, src, "restic v1", files)

		restic("init")
		first := restic("backup", src)
		if !regexp.MustCompile(fmt.Sprintf(`Files:\s+%d new`, files)).MatchString(first) {
			t.Fatalf("first backup:\n%s", first)
		}
		for i := range 10 {
			p := filepath.Join(src, fmt.Sprintf("d%02d/changed-%d.bin", i, i))
			writeGenFile(t, p, fmt.Sprintf("restic v2 %d", i), int64(100+i*1000))
		}
		second := restic("backup", src)
		if !regexp.MustCompile(`Files:\s+10 new,\s+0 changed,\s+3000 unmodified`).MatchString(second) {
			t.Fatalf("second backup:\n%s", second)
		}
		if out := restic("check", "--read-data"); !strings.Contains(out, "no errors were found") {
			t.Fatalf("check --read-data:\n%s", out)
		}
		target := filepath.Join(c.dir, "restore")
		restic("restore", "latest", "--target", target)
		if n := assertSameTree(t, filepath.Join(target, src), src); n != files+10 {
			t.Fatalf("compared %d restored files, want %d", n, files+10)
		}
		if n := assertBucketCiphertext(t, c.env, "restic-repo"); n < 5 {
			t.Fatalf("checked %d stored objects of the repository, want more", n)
		}
	})
}

package integration

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// rclone runs Debian's rclone against one Cloak, through an s3 remote of
// provider Other named "cloak", configured in the environment.
type rclone struct {
	c   *clientEnv
	bin string
	env []string
}

func newRclone(t *testing.T, c *clientEnv, bin string) *rclone {
	if err := os.WriteFile(filepath.Join(c.home, "rclone.conf"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return &rclone{c: c, bin: bin, env: []string{
		"RCLONE_CONFIG=" + filepath.Join(c.home, "rclone.conf"),
		"RCLONE_CONFIG_CLOAK_TYPE=s3",
		"RCLONE_CONFIG_CLOAK_PROVIDER=Other",
		"RCLONE_CONFIG_CLOAK_ACCESS_KEY_ID=" + testAccess,
		"RCLONE_CONFIG_CLOAK_SECRET_ACCESS_KEY=" + testSecret,
		"RCLONE_CONFIG_CLOAK_ENDPOINT=" + c.endpoint,
	}}
}

// do runs one rclone command with Cloak's certificate and returns its
// standard output and, with -v, its log and statistics.
func (r *rclone) do(t *testing.T, args ...string) (stdout, log string) {
	t.Helper()
	args = append([]string{"--ca-cert", r.c.caFile, "--retries", "1", "--low-level-retries", "2"}, args...)
	out, errOut, err := r.c.tryRun(t, r.env, r.bin, args...)
	if err != nil {
		t.Fatalf("rclone %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err,
			tail(out), tail(errOut))
	}
	return out, errOut
}

// transferred returns the file count of rclone's final "Transferred: N / M"
// statistics line, which rclone leaves out when it transferred nothing.
func transferred(t *testing.T, log string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Transferred:\s+(\d+) / (\d+),`).FindAllStringSubmatch(log, -1)
	if m == nil && strings.Contains(log, "There was nothing to transfer") {
		return "0"
	}
	if m == nil {
		t.Fatalf("no file count in rclone's statistics:\n%s", tail(log))
	}
	return m[len(m)-1][1]
}

// TestClients_Rclone drives rclone: copy, sync, check by hash and by
// download, lsl, md5sum, cat of a range, server-side copy and purge. A
// second sync must transfer nothing, and check must find no difference.
func TestClients_Rclone(t *testing.T) {
	bin := clientTool(t, "CLOAK_RCLONE_BIN", "/usr/bin/rclone")
	forEachClientBackend(t, func(t *testing.T, c *clientEnv) {
		r := newRclone(t, c, bin)
		src := filepath.Join(c.dir, "tree")
		writeTree(t, src, "rclone tree", 40)
		writeGenFile(t, filepath.Join(src, "mid"), "rclone mid", 20<<20)
		writeGenFile(t, filepath.Join(src, "empty"), "rclone empty", 0)
		const files = 42

		r.do(t, "mkdir", "cloak:rclone")
		_, log := r.do(t, "copy", "-v", src, "cloak:rclone/tree")
		if n := transferred(t, log); n != fmt.Sprint(files) {
			t.Fatalf("copy transferred %s files, want %d", n, files)
		}
		writeGenFile(t, filepath.Join(src, "d00/added"), "rclone added", 3000)
		os.Remove(filepath.Join(src, "names/plus+sign.bin"))
		if _, log = r.do(t, "sync", "-v", src, "cloak:rclone/tree"); transferred(t, log) != "1" ||
			!strings.Contains(log, "names/plus+sign.bin: Deleted") {
			t.Errorf("sync after adding one file and removing one:\n%s", tail(log))
		}
		if _, log = r.do(t, "sync", "-v", src, "cloak:rclone/tree"); transferred(t, log) != "0" {
			t.Errorf("a second sync transferred files:\n%s", tail(log))
		}
		for _, mode := range [][]string{nil, {"--download"}} {
			_, log := r.do(t, append(append([]string{"check"}, mode...), src, "cloak:rclone/tree")...)
			if !strings.Contains(log, " 0 differences found") ||
				!strings.Contains(log, fmt.Sprintf("%d matching files", files)) {
				t.Errorf("check %v:\n%s", mode, tail(log))
			}
			if strings.Contains(log, "could not be checked") {
				t.Errorf("check %v could not compare every file:\n%s", mode, tail(log))
			}
		}
		down := filepath.Join(c.dir, "tree.down")
		r.do(t, "copy", "cloak:rclone/tree", down)
		assertSameTree(t, down, src)

		lsl, _ := r.do(t, "lsl", "cloak:rclone/tree")
		sums, _ := r.do(t, "md5sum", "cloak:rclone/tree")
		for rel := range treeFiles(t, src) {
			p := filepath.Join(src, rel)
			st, _ := os.Stat(p)
			line := fmt.Sprintf(`(?m)^\s*%d \S+ \S+ %s$`, st.Size(), regexp.QuoteMeta(rel))
			if !regexp.MustCompile(line).MatchString(lsl) {
				t.Errorf("lsl does not show %s with %d bytes", rel, st.Size())
			}
			if !strings.Contains(sums, fileMD5(t, p)+"  "+rel+"\n") {
				t.Errorf("md5sum does not show the MD5 of %s", rel)
			}
		}

		cat, _ := r.do(t, "cat", "--offset", "5000000", "--count", "7000000", "cloak:rclone/tree/mid")
		want := newGenData("rclone mid", 20<<20).bytesAt(5000000, 7000000)
		if cat != string(want) {
			t.Errorf("cat --offset --count returned %d bytes, not the file's", len(cat))
		}

		_, log = r.do(t, "copyto", "-v", "cloak:rclone/tree/mid", "cloak:rclone/copy/mid")
		if !strings.Contains(log, "server-side copy") {
			t.Errorf("copyto between keys was not a server-side copy:\n%s", tail(log))
		}
		// rclone uploads files above 200 MiB in parts, and then keeps
		// their MD5 in its own metadata, the ETag being no MD5. A lower
		// cutoff takes that path with a small file; check and md5sum
		// must still find the MD5.
		mid := filepath.Join(src, "mid")
		r.do(t, "copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", mid,
			"cloak:rclone/multipart/mid")
		head, err := c.aws.HeadObject(context.Background(),
			&s3.HeadObjectInput{Bucket: aws.String("rclone"), Key: aws.String("multipart/mid")})
		if err != nil || !strings.HasSuffix(aws.ToString(head.ETag), `-4"`) {
			t.Fatalf("the lower cutoff did not make a 4-part upload: %v", err)
		}
		_, log = r.do(t, "check", mid, "cloak:rclone/multipart/")
		if !strings.Contains(log, " 0 differences found") || !strings.Contains(log, "1 matching files") ||
			strings.Contains(log, "could not be checked") {
			t.Errorf("check of a multipart upload:\n%s", tail(log))
		}
		if sums, _ := r.do(t, "md5sum", "cloak:rclone/multipart"); sums != fileMD5(t, mid)+"  mid\n" {
			t.Errorf("md5sum of a multipart upload: %q, want %s", sums, fileMD5(t, mid))
		}
		got := filepath.Join(c.dir, "mid.copy")
		r.do(t, "copyto", "cloak:rclone/copy/mid", got)
		assertSameFile(t, got, filepath.Join(src, "mid"))

		if n, want := assertBucketCiphertext(t, c.env, "rclone"), files+2; n != want {
			t.Fatalf("checked %d stored objects, want %d", n, want)
		}
		r.do(t, "purge", "cloak:rclone")
		out, errOut, err := c.tryRun(t, r.env, r.bin, "--ca-cert", c.caFile, "lsd", "cloak:")
		if err != nil || strings.Contains(out, "rclone") {
			t.Fatalf("the bucket is still there after purge: %v\n%s%s", err, out, errOut)
		}
	})
}

// fileMD5 returns the hex MD5 of a file.
func fileMD5(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

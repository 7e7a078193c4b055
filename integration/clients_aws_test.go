package integration

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// awsCLI runs Debian's awscli v2 against one Cloak.
type awsCLI struct {
	c   *clientEnv
	bin string
	env []string
}

func newAWSCLI(c *clientEnv, bin string) *awsCLI {
	return &awsCLI{c: c, bin: bin, env: []string{
		"AWS_ACCESS_KEY_ID=" + testAccess,
		"AWS_SECRET_ACCESS_KEY=" + testSecret,
		"AWS_DEFAULT_REGION=" + c.region,
		"AWS_CONFIG_FILE=" + filepath.Join(c.home, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(c.home, "aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
	}}
}

// sendsChecksums reports whether this aws cli sends a flexible checksum
// (CRC32) with every upload by default, as aws-cli v2 does from 2.23.0
// and v1 from botocore 1.36.0. Debian's 2.9.19 does not; a newer one can
// be tested with CLOAK_AWS_BIN.
func (a *awsCLI) sendsChecksums(t *testing.T) bool {
	t.Helper()
	out, err := exec.Command(a.bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("aws --version: %v\n%s", err, out)
	}
	version := func(prefix string) []int {
		m := regexp.MustCompile(regexp.QuoteMeta(prefix) + `(\d+)\.(\d+)\.(\d+)`).FindStringSubmatch(string(out))
		if m == nil {
			return nil
		}
		v := make([]int, 3)
		for i := range v {
			v[i], _ = strconv.Atoi(m[i+1])
		}
		return v
	}
	atLeast := func(v []int, major, minor int) bool {
		return v != nil && (v[0] > major || v[0] == major && v[1] >= minor)
	}
	if cli := version("aws-cli/"); cli != nil && cli[0] >= 2 {
		return atLeast(cli, 2, 23)
	}
	return atLeast(version("botocore/"), 1, 36)
}

// do runs one aws command with Cloak's endpoint and certificate.
func (a *awsCLI) do(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"--endpoint-url", a.c.endpoint, "--ca-bundle", a.c.caFile}, args...)
	return a.c.run(t, a.env, a.bin, args...)
}

// TestClients_AWS drives awscli v2 over TLS: single and multipart copies
// up and down, sync, ranged get, head, ls, server-side copy, a presigned
// URL fetched with curl, and recursive removal.
func TestClients_AWS(t *testing.T) {
	bin := clientTool(t, "CLOAK_AWS_BIN", "/usr/bin/aws")
	curl := clientTool(t, "CLOAK_CURL_BIN", "/usr/bin/curl")
	forEachClientBackend(t, func(t *testing.T, c *clientEnv) {
		a := newAWSCLI(c, bin)
		sizes := map[string]int64{"small": 1 << 10, "mid": 20 << 20, "large": 200 << 20}
		testAWSCopies(t, a, sizes)
		testAWSSync(t, a)
		testAWSPresign(t, a, curl)
		testAWSDefaults(t, a)
		if n, want := assertBucketCiphertext(t, c.env, "aws-cli"), 2*len(sizes)+41; n != want {
			t.Fatalf("checked %d stored objects, want %d", n, want)
		}
		a.do(t, "s3", "rm", "--recursive", "s3://aws-cli/")
		if out := a.do(t, "s3", "ls", "--recursive", "s3://aws-cli/"); strings.TrimSpace(out) != "" {
			t.Fatalf("objects left after s3 rm --recursive:\n%s", out)
		}
		a.do(t, "s3", "rb", "s3://aws-cli")
	})
}

// testAWSCopies copies files of the given sizes up, down, between keys
// on the server, and reads ranges and heads of them.
func testAWSCopies(t *testing.T, a *awsCLI, sizes map[string]int64) {
	checksums := a.sendsChecksums(t)
	a.do(t, "s3", "mb", "s3://aws-cli")
	for name, size := range sizes {
		src := filepath.Join(a.c.dir, name)
		writeGenFile(t, src, "aws "+name, size)
		a.do(t, "s3", "cp", src, "s3://aws-cli/files/"+name)
		got := filepath.Join(a.c.dir, name+".down")
		a.do(t, "s3", "cp", "s3://aws-cli/files/"+name, got)
		assertSameFile(t, got, src)

		var head struct {
			ContentLength int64
			ETag          string
		}
		out := a.do(t, "s3api", "head-object", "--bucket", "aws-cli", "--key", "files/"+name)
		if err := json.Unmarshal([]byte(out), &head); err != nil {
			t.Fatalf("head-object output %q: %v", out, err)
		}
		if head.ContentLength != size {
			t.Errorf("%s: head-object says %d bytes, want %d", name, head.ContentLength, size)
		}
		if checksums {
			// Cloak computes no MD5 for a client that verifies through a
			// flexible checksum: the ETag has the multipart form, with
			// the part count (1 for a single PUT).
			parts := max(1, (size+8<<20-1)/(8<<20))
			if !regexp.MustCompile(fmt.Sprintf(`^"[0-9a-f]{32}-%d"$`, parts)).MatchString(head.ETag) {
				t.Errorf("%s: ETag %s, want the form \"<32 hex>-%d\"", name, head.ETag, parts)
			}
		} else if want := wantCLIETag(t, src, 8<<20); head.ETag != want {
			t.Errorf("%s: ETag %s, want %s", name, head.ETag, want)
		}

		start, end := size/3, min(size-1, size/3+5<<20)
		part := filepath.Join(a.c.dir, name+".range")
		a.do(t, "s3api", "get-object", "--bucket", "aws-cli", "--key", "files/"+name,
			"--range", fmt.Sprintf("bytes=%d-%d", start, end), part)
		assertFileRange(t, part, src, start, end+1)

		a.do(t, "s3", "cp", "s3://aws-cli/files/"+name, "s3://aws-cli/copies/"+name)
		a.do(t, "s3", "cp", "s3://aws-cli/copies/"+name, got)
		assertSameFile(t, got, src)
		os.Remove(got)
	}
	testAWSStdin(t, a, filepath.Join(a.c.dir, "mid"))
	listed := a.do(t, "s3", "ls", "s3://aws-cli/files/")
	for name, size := range sizes {
		line := regexp.MustCompile(fmt.Sprintf(`(?m)^\S+ \S+\s+%d %s$`, size, name))
		if !line.MatchString(listed) {
			t.Errorf("s3 ls does not show %s with %d bytes:\n%s", name, size, listed)
		}
	}
}

// wantCLIETag is the ETag S3 gives a file that aws cli uploads: its MD5,
// or for files of more than partSize bytes (multipart uploads of
// partSize parts), the MD5 of the parts' MD5s with the part count.
func wantCLIETag(t *testing.T, path string, partSize int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if st.Size() <= partSize {
		h := md5.New()
		io.Copy(h, f)
		return `"` + hex.EncodeToString(h.Sum(nil)) + `"`
	}
	var sums []byte
	parts := 0
	for {
		h := md5.New()
		n, err := io.CopyN(h, f, partSize)
		if n > 0 {
			sums = append(sums, h.Sum(nil)...)
			parts++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	all := md5.Sum(sums)
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(all[:]), parts)
}

// assertFileRange fails the test unless got holds bytes [start, end) of
// the file want.
func assertFileRange(t *testing.T, got, want string, start, end int64) {
	t.Helper()
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := make([]byte, end-start)
	if _, err := f.ReadAt(w, start); err != nil {
		t.Fatal(err)
	}
	if string(b) != string(w) {
		t.Fatalf("range [%d, %d): got %d bytes, not the file's", start, end, len(b))
	}
}

// testAWSSync syncs a tree up and down, and checks that a second sync
// transfers nothing.
func testAWSSync(t *testing.T, a *awsCLI) {
	src := filepath.Join(a.c.dir, "tree")
	writeTree(t, src, "aws tree", 40)
	a.do(t, "s3", "sync", src, "s3://aws-cli/tree/")
	down := filepath.Join(a.c.dir, "tree.down")
	a.do(t, "s3", "sync", "s3://aws-cli/tree/", down)
	assertSameTree(t, down, src)
	if out := a.do(t, "s3", "sync", src, "s3://aws-cli/tree/"); strings.TrimSpace(out) != "" {
		t.Errorf("a second sync up transferred files:\n%s", out)
	}
	if out := a.do(t, "s3", "sync", "s3://aws-cli/tree/", down); strings.TrimSpace(out) != "" {
		t.Errorf("a second sync down transferred files:\n%s", out)
	}
}

// testAWSPresign fetches an object through a URL presigned by aws cli,
// with curl and no credentials.
func testAWSPresign(t *testing.T, a *awsCLI, curl string) {
	url := strings.TrimSpace(a.do(t, "s3", "presign", "s3://aws-cli/files/small", "--expires-in", "300"))
	got := filepath.Join(a.c.dir, "presigned")
	a.c.run(t, nil, curl, "--silent", "--show-error", "--fail", "--cacert", a.c.caFile,
		"--max-time", "60", "-o", got, url)
	assertSameFile(t, got, filepath.Join(a.c.dir, "small"))
}

// testAWSDefaults reads the sub-resources Cloak answers with fixed
// values: an object's (empty) tag set and the bucket's versioning (never
// enabled). Asking for another version of an object, or encryption with
// the client's own key, is refused.
func testAWSDefaults(t *testing.T, a *awsCLI) {
	out := a.do(t, "s3api", "get-object-tagging", "--bucket", "aws-cli", "--key", "files/small")
	if !regexp.MustCompile(`"TagSet":\s*\[\]`).MatchString(out) {
		t.Errorf("get-object-tagging: %s", out)
	}
	out = a.do(t, "s3api", "get-bucket-versioning", "--bucket", "aws-cli")
	if strings.Contains(out, "Enabled") {
		t.Errorf("get-bucket-versioning: %s", out)
	}
	args := []string{"--endpoint-url", a.c.endpoint, "--ca-bundle", a.c.caFile, "s3api", "delete-object",
		"--bucket", "aws-cli", "--key", "files/small", "--version-id", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"}
	_, errOut, err := a.c.tryRun(t, a.env, a.bin, args...)
	if err == nil || !strings.Contains(errOut, "InvalidArgument") {
		t.Errorf("delete-object of a version: %v\n%s", err, errOut)
	}
	a.do(t, "s3api", "head-object", "--bucket", "aws-cli", "--key", "files/small")

	// A customer-provided key would not be needed to read the object
	// back, so Cloak refuses it rather than ignore it.
	args = []string{"--endpoint-url", a.c.endpoint, "--ca-bundle", a.c.caFile, "s3", "cp",
		"--sse-c", "AES256", "--sse-c-key", "0123456789abcdef0123456789abcdef",
		filepath.Join(a.c.dir, "small"), "s3://aws-cli/sse-c"}
	_, errOut, err = a.c.tryRun(t, a.env, a.bin, args...)
	if err == nil || !strings.Contains(errOut, "NotImplemented") {
		t.Errorf("cp with an SSE-C key: %v\n%s", err, errOut)
	}
}

// testAWSStdin uploads a file from standard input, a body of unknown size
// that cannot be rewound, which aws cli sends as a multipart upload, and
// reads it back.
func testAWSStdin(t *testing.T, a *awsCLI, src string) {
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args := []string{"--endpoint-url", a.c.endpoint, "--ca-bundle", a.c.caFile,
		"s3", "cp", "-", "s3://aws-cli/stdin/" + filepath.Base(src)}
	if out, errOut, err := a.c.tryRunIn(t, f, a.env, a.bin, args...); err != nil {
		t.Fatalf("s3 cp from stdin: %v\n%s%s", err, out, errOut)
	}
	got := src + ".stdin"
	a.do(t, "s3", "cp", "s3://aws-cli/stdin/"+filepath.Base(src), got)
	assertSameFile(t, got, src)
	os.Remove(got)
}

package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/audit"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/integration/miniotest"
)

// waitStatus polls url until it answers want, within a deadline.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := httpStatus(t, url)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answers %d, want %d", url, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServe_ReadyzAndBackendAuditSinkWithMinIO serves in front of a real
// MinIO with the audit log kept in the backend too: /readyz turns
// unready when MinIO is killed and ready again after its restart, the
// audit bucket is hidden from clients, and the records written while
// MinIO was down reach it once it is back, so the chain read from the
// backend verifies whole.
func TestServe_ReadyzAndBackendAuditSinkWithMinIO(t *testing.T) {
	m := miniotest.Start(t)
	data := t.TempDir()
	env := map[string]string{"CLOAK_ROOT_ACCESS_KEY": testAccess, "CLOAK_ROOT_SECRET_KEY": testSecret,
		"CLOAK_BACKEND_S3_ACCESS_KEY": m.AccessKey, "CLOAK_BACKEND_S3_SECRET_KEY": m.SecretKey}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	args := []string{"--data", data, "--backend-s3-endpoint", m.Endpoint, "--backend-s3-lookup", "path",
		"--audit-sinks", "file,backend"}
	cfg, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError), append(args,
		"--listen", "127.0.0.1:0", "--insecure-http", "--metrics-listen", "127.0.0.1:0"), lookup)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, cfg)
	ctx, printed, endpoint := srv.ctx, srv.printed, srv.endpoint()
	maddr := regexp.MustCompile(`Metrics on http://(\S+)/metrics`).FindStringSubmatch(printed)[1]
	ready := "http://" + maddr + "/readyz"
	waitStatus(t, ready, 200)

	c := testClient(endpoint, testSecret)
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	if _, err := c.CreateBucket(rctx, &s3.CreateBucketInput{Bucket: aws.String("docs")}); err != nil {
		t.Fatal(err)
	}
	lb, err := c.ListBuckets(rctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "docs" {
		t.Fatalf("buckets listed %+v, want docs alone", lb.Buckets)
	}
	for _, err := range []error{
		func() error {
			_, err := c.ListObjectsV2(rctx, &s3.ListObjectsV2Input{Bucket: aws.String("cloak-system-audit")})
			return err
		}(),
		func() error {
			_, err := c.DeleteObject(rctx, &s3.DeleteObjectInput{Bucket: aws.String("cloak-system-audit"), Key: aws.String("audit/x")})
			return err
		}(),
	} {
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Fatalf("audit bucket reachable: %v", err)
		}
	}

	m.Kill()
	waitStatus(t, ready, 503)
	if _, err := c.PutObject(rctx, &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String("down"),
		Body: bytes.NewReader([]byte("x"))}); err == nil {
		t.Fatal("PUT succeeded with the backend down")
	}
	m.Restart(t)
	waitStatus(t, ready, 200)
	if _, err := c.PutObject(rctx, &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String("up"),
		Body: bytes.NewReader([]byte("x"))}); err != nil {
		t.Fatal(err)
	}

	if _, err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{{"--from-backend"}, nil} {
		var out, errb bytes.Buffer
		t.Setenv("CLOAK_BACKEND_S3_ACCESS_KEY", m.AccessKey)
		t.Setenv("CLOAK_BACKEND_S3_SECRET_KEY", m.SecretKey)
		code := Main(append(append([]string{"audit", "verify"}, args...), extra...), &out, &errb)
		if code != 0 || !strings.Contains(out.String(), "1 chains verified") {
			t.Fatalf("verify %v: exit %d\n%s%s", extra, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if Main(append([]string{"audit", "report", "--from-backend", "--json"}, args...), &out, &errb) != 0 {
		t.Fatalf("report: %s", errb.String())
	}
	var rep audit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	var docs audit.Access
	for _, a := range rep.Accesses {
		if a.Bucket == "docs" {
			docs = a
		}
	}
	// The PUT refused while MinIO was down, and the one after.
	if docs.Uploads != 1 || docs.Errors != 1 || len(rep.Denied) != 2 {
		t.Fatalf("report from the backend: %+v, denied %d", docs, len(rep.Denied))
	}
	// Key commands that walk every bucket leave the audit bucket, which
	// holds no encrypted objects, alone: the one object is docs/up.
	out.Reset()
	if code := Main(append([]string{"keys", "rewrap"}, args...), &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "complete: 1 objects") {
		t.Fatalf("rewrap over every bucket: %s%s", out.String(), errb.String())
	}
}

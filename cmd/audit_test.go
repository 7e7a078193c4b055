package cmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cloakproxy/cloak/alerts"
	"github.com/cloakproxy/cloak/audit"
	"github.com/cloakproxy/cloak/config"
)

const (
	testAccess      = "AUDITTESTACCESS"
	testUser        = "root" // the user the root access key belongs to
	testSecret      = "audit-test-secret-key-0123456789abcdef"
	testWrongSecret = "wrong-secret-key-should-never-be-logged"
)

// webhook is an alert receiver on loopback.
type webhook struct {
	mu     sync.Mutex
	alerts []alerts.Alert
	bodies bytes.Buffer
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var a alerts.Alert
	_ = json.Unmarshal(b, &a)
	h.mu.Lock()
	h.alerts = append(h.alerts, a)
	h.bodies.Write(b)
	h.mu.Unlock()
}

// waitFor polls until every "rule subject" in want was received.
func (h *webhook) waitFor(t *testing.T, want []string) []alerts.Alert {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		got := append([]alerts.Alert(nil), h.alerts...)
		h.mu.Unlock()
		seen := map[string]bool{}
		for _, a := range got {
			seen[a.Rule+" "+a.Subject] = true
		}
		missing := 0
		for _, w := range want {
			if !seen[w] {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts received %+v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startAuditedServe starts serve with the audit log, alerts to hook and
// metrics on, and returns the S3 endpoint, the metrics address and a
// function that stops serve and returns everything it printed.
func startAuditedServe(t *testing.T, data, hookURL string) (endpoint, metricsAddr string, stop func() string) {
	t.Helper()
	env := map[string]string{"CLOAK_ROOT_ACCESS_KEY": testAccess, "CLOAK_ROOT_SECRET_KEY": testSecret,
		"CLOAK_ALERTS_WEBHOOK": hookURL}
	cfg, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError), []string{
		"--data", data, "--listen", "127.0.0.1:0", "--insecure-http", "--metrics-listen", "127.0.0.1:0",
		"--alerts-denied-per-minute", "2", "--alerts-download-bytes-per-hour", "1000",
		"--alerts-allowed-networks", "10.0.0.0/8",
		"--audit-checkpoint-records", "5",
	}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, cfg)
	printed := srv.printed
	endpoint = srv.endpoint()
	metricsAddr = regexp.MustCompile(`Metrics on http://(\S+)/metrics`).FindStringSubmatch(printed)[1]
	if !strings.Contains(printed, "checkpoints verify with public key") {
		t.Fatalf("start-up output lacks the audit public key:\n%s", printed)
	}
	return endpoint, metricsAddr, func() string {
		rest, err := srv.stop(t)
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
		return printed + rest
	}
}

func testClient(endpoint, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider(testAccess, secret, ""),
		RetryMaxAttempts: 1,
	})
}

// scrape returns the samples of /metrics by series ("name{labels}").
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", l)
		}
		out[l[:i]] = v
	}
	return out
}

func wantMetric(t *testing.T, m map[string]float64, series string, want float64) {
	t.Helper()
	if got, ok := m[series]; !ok || got != want {
		t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServe_AuditAlertsAndMetrics drives a served proxy through every
// kind of request, denied requests, a download over the threshold and a
// tampered object, then checks the audit records, the alerts the webhook
// got, the metrics, the verify and report commands, and that no secret
// reached any of them.
func TestServe_AuditAlertsAndMetrics(t *testing.T) {
	hook := &webhook{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	data := t.TempDir()
	endpoint, maddr, stop := startAuditedServe(t, data, hs.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := testClient(endpoint, testSecret)
	body := bytes.Repeat([]byte("0123456789"), 300)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	b := aws.String("docs")
	must(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}))
	must(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("a"), Body: bytes.NewReader(body)}))
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a")})
	must(out, err)
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatal("read back different bytes")
	}

	m := scrape(t, maddr)
	wantMetric(t, m, `cloak_requests_total{op="PutObject",status="200"}`, 1)
	wantMetric(t, m, `cloak_requests_total{op="GetObject",status="200"}`, 1)
	wantMetric(t, m, `cloak_requests_total{op="CreateBucket",status="200"}`, 1)
	wantMetric(t, m, `cloak_crypto_bytes_total{op="sealed"}`, 3000)
	wantMetric(t, m, `cloak_crypto_bytes_total{op="opened"}`, 3000)
	wantMetric(t, m, `cloak_request_duration_seconds_count{op="GetObject"}`, 1)
	wantMetric(t, m, `cloak_requests_active`, 0)
	wantMetric(t, m, `cloak_audit_sink_up{sink="file"}`, 1)
	if m[`cloak_http_bytes_total{direction="in"}`] < 3000 || m[`cloak_http_bytes_total{direction="out"}`] < 3000 {
		t.Errorf("http bytes %v", m)
	}
	if m[`cloak_data_key_cache_total{result="hit"}`]+m[`cloak_data_key_cache_total{result="miss"}`] < 1 {
		t.Errorf("no data key cache lookups counted")
	}
	if m[`cloak_key_provider_duration_seconds_count{op="wrap"}`] != 1 {
		t.Errorf("key provider wraps %v, want 1", m[`cloak_key_provider_duration_seconds_count{op="wrap"}`])
	}

	must(c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("a")}))
	must(c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b}))
	must(c.ListBuckets(ctx, &s3.ListBucketsInput{}))
	must(c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("docs/a")}))
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp")})
	must(up, err)
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(body[:100])})
	must(part, err)
	must(c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{
			Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}))
	must(c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: b}))
	must(c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b}))
	must(c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b}))
	up2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp2")})
	must(up2, err)
	must(c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("mp2"),
		UploadId: up2.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String("docs/a")}))
	must(c.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("mp2"), UploadId: up2.UploadId}))
	must(c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b}))
	must(c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("mp2"),
		UploadId: up2.UploadId}))
	must(c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("empty")}))
	must(c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("empty")}))
	must(c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("copy")}))
	must(c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("mp")}}}}))

	// Denied: an authenticated user reaching for Cloak's own state, and
	// requests signed with a wrong secret.
	for range 3 {
		if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(".cloak/x")}); err == nil {
			t.Fatal("read under .cloak/")
		}
	}
	bad := testClient(endpoint, testWrongSecret)
	for range 3 {
		if _, err := bad.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
			t.Fatal("wrong secret accepted")
		}
	}

	// Tampering: flip a byte of a stored object's ciphertext.
	must(c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("t"), Body: bytes.NewReader(body)}))
	flipByte(t, filepath.Join(data, "objects", "buckets", "docs", "ot"), 200)
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("t")}); err == nil {
		t.Fatal("tampered object read")
	}

	wantAlerts := []string{
		"outside_network source 127.0.0.1",
		"download_volume user " + testUser,
		"denied_requests user " + testUser,
		"denied_requests source 127.0.0.1",
		"tampering object docs/t",
	}
	got2 := hook.waitFor(t, wantAlerts)
	perWindow := map[string]int{}
	for _, a := range got2 {
		perWindow[a.Rule+" "+a.Subject+" "+a.WindowStart.String()]++
	}
	for k, n := range perWindow {
		if n != 1 {
			t.Errorf("alert %s sent %d times in one window", k, n)
		}
	}

	m = scrape(t, maddr)
	wantMetric(t, m, `cloak_requests_total{op="GetObject",status="403"}`, 3)
	wantMetric(t, m, `cloak_requests_total{op="ListBuckets",status="403"}`, 3)
	wantMetric(t, m, `cloak_requests_total{op="GetObject",status="500"}`, 1)
	wantMetric(t, m, `cloak_requests_total{op="PutObject",status="200"}`, 2)
	wantMetric(t, m, `cloak_alerts_fired_total`, float64(len(got2)))
	if httpStatus(t, "http://"+maddr+"/healthz") != 200 || httpStatus(t, "http://"+maddr+"/readyz") != 200 {
		t.Error("healthz or readyz not 200")
	}

	// An act sent to the server's admin endpoint is recorded there with
	// what it acted on.
	t.Setenv("CLOAK_ADMIN_ACCESS_KEY", testAccess)
	t.Setenv("CLOAK_ADMIN_SECRET_KEY", testSecret)
	code, onlineUser, errOut := runCLI("admin", "user", "add", "online-reader", "--endpoint", endpoint,
		"--data", data)
	onlineSecret := regexp.MustCompile(`secret key: (\S+)`).FindStringSubmatch(onlineUser)
	if code != 0 || onlineSecret == nil {
		t.Fatalf("online admin user add: exit %d: %s%s", code, onlineUser, errOut)
	}

	printed := stop()
	checkAuditRecords(t, data)
	// Verify, then report, through the command line.
	var vout, verr bytes.Buffer
	if code := Main([]string{"audit", "verify", "--data", data}, &vout, &verr); code != 0 ||
		!strings.Contains(vout.String(), "OK: 1 sources, 1 chains verified") {
		t.Fatalf("verify exit %d:\n%s%s", code, vout.String(), verr.String())
	}
	rep := auditReportJSON(t, data)
	var docs audit.Access
	for _, a := range rep.Accesses {
		if a.User == testUser && a.Bucket == "docs" {
			docs = a
		}
	}
	if docs.Downloads != 1 || docs.Denied != 3 || docs.Uploads != 4 || docs.Deletions != 2 || len(rep.Tampering) != 1 {
		t.Errorf("report for %s: %+v, tampering %d", testUser, docs, len(rep.Tampering))
	}

	// An administrative act is recorded in a chain of its own.
	var kout, kerr bytes.Buffer
	if code := Main([]string{"keys", "rotate", "--data", data}, &kout, &kerr); code != 0 {
		t.Fatalf("keys rotate: %s", kerr.String())
	}
	vout.Reset()
	if code := Main([]string{"audit", "verify", "--data", data}, &vout, &verr); code != 0 ||
		!strings.Contains(vout.String(), "2 chains verified") {
		t.Fatalf("verify after rotate exit %d:\n%s%s", code, vout.String(), verr.String())
	}
	// Shredding a bucket is recorded, as docs/KEYS.md promises.
	for _, args := range [][]string{{"keys", "create", "--bucket", "matter"},
		{"keys", "shred", "--bucket", "matter", "--confirm", "matter"}} {
		if code := Main(append(args, "--data", data), &kout, &kerr); code != 0 {
			t.Fatalf("%v: %s", args, kerr.String())
		}
	}
	rep = auditReportJSON(t, data)
	var acts []string
	for _, a := range rep.Admin {
		acts = append(acts, fmt.Sprintf("%s %s %s v%d %s", a.Action, a.Bucket, a.KeyID, a.KeyVersion, a.Detail))
	}
	want := []string{"keys rotate  cloak-master v2 ", "keys create matter bucket/matter v1 ",
		"keys shred matter bucket/matter v0 destroyed bucket/matter version 1"}
	if strings.Join(acts, "\n") != strings.Join(want, "\n") {
		t.Errorf("admin acts:\n%s\nwant:\n%s", strings.Join(acts, "\n"), strings.Join(want, "\n"))
	}
	// So is an offline "cloak admin" act, and the new user's secret,
	// printed once, is not in the log.
	code, newUser, errOut := runCLI("admin", "user", "add", "reader", "--policy", "readonly", "--data", data)
	userSecret := regexp.MustCompile(`secret key: (\S+)`).FindStringSubmatch(newUser)
	if code != 0 || userSecret == nil {
		t.Fatalf("admin user add: exit %d: %s%s", code, newUser, errOut)
	}
	rep = auditReportJSON(t, data)
	if last := rep.Admin[len(rep.Admin)-1]; last.Action != "admin user/add" ||
		last.Detail != "user reader, policies readonly" {
		t.Errorf("admin act recorded as %+v", last)
	}
	vout.Reset()
	if code := Main([]string{"audit", "verify", "--data", data}, &vout, &verr); code != 0 {
		t.Fatalf("verify after shred and user add: %s%s", vout.String(), verr.String())
	}

	// No secret anywhere: audit files, alerts, what serve printed.
	hook.mu.Lock()
	everything := hook.bodies.String() + printed + vout.String()
	hook.mu.Unlock()
	srcs, err := audit.ReadFiles([]string{filepath.Join(data, "audit")})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		everything += string(s.Data)
	}
	for _, secret := range []string{testSecret, testWrongSecret, userSecret[1], onlineSecret[1]} {
		if strings.Contains(everything, secret) {
			t.Errorf("secret %q found in the audit log, alerts or output", secret)
		}
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var one [1]byte
	if _, err := f.ReadAt(one[:], off); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 1
	if _, err := f.WriteAt(one[:], off); err != nil {
		t.Fatal(err)
	}
}

// checkAuditRecords checks the record of each kind of request.
func checkAuditRecords(t *testing.T, data string) {
	t.Helper()
	srcs, err := audit.ReadFiles([]string{filepath.Join(data, "audit")})
	if err != nil {
		t.Fatal(err)
	}
	byAction := map[string][]audit.Record{}
	for _, s := range srcs {
		for _, l := range strings.Split(strings.TrimSpace(string(s.Data)), "\n") {
			r, err := audit.ParseRecord([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			byAction[r.Action] = append(byAction[r.Action], *r)
		}
	}
	for _, op := range []string{"CreateBucket", "PutObject", "GetObject", "HeadObject", "ListObjectsV2",
		"ListBuckets", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
		"DeleteObject", "DeleteObjects", "HeadBucket", "GetBucketLocation", "ListObjects",
		"UploadPartCopy", "ListParts", "ListMultipartUploads", "AbortMultipartUpload", "DeleteBucket"} {
		recs := byAction[op]
		if len(recs) == 0 {
			t.Errorf("no audit record for %s", op)
			continue
		}
		r := recs[0]
		if r.User != testUser || r.AccessKey != testAccess || r.RequestID == "" ||
			!strings.HasPrefix(r.Source, "127.0.0.1:") || r.Status/100 != 2 || r.DurationMS <= 0 {
			t.Errorf("%s record %+v", op, r)
		}
	}
	if adm := byAction["admin/user/add"]; len(adm) != 1 || adm[0].Detail != "user online-reader" ||
		adm[0].User != testUser || adm[0].Status != 200 {
		t.Errorf("admin endpoint records %+v", adm)
	}
	put, get := byAction["PutObject"][0], byAction["GetObject"][0]
	if put.Key != "a" || put.BytesIn < 3000 || put.KeyID != "cloak-master" || put.KeyVersion != 1 {
		t.Errorf("PutObject record %+v", put)
	}
	if get.BytesOut != 3000 || get.KeyID != "cloak-master" || get.KeyVersion != 1 {
		t.Errorf("GetObject record %+v", get)
	}
	var denied, unauth, tampered int
	for _, r := range byAction["GetObject"] {
		if r.Status == 403 && r.Code == "AccessDenied" && r.User == testUser {
			denied++
		}
		if r.PossibleTampering && r.Status == 500 && r.Key == "t" {
			tampered++
		}
	}
	for _, r := range byAction["ListBuckets"] {
		if r.Status == 403 && r.Code == "SignatureDoesNotMatch" && r.User == "" {
			unauth++
		}
	}
	if denied != 3 || unauth != 3 || tampered != 1 {
		t.Errorf("denied %d, unauthenticated %d, tampered %d; want 3, 3, 1", denied, unauth, tampered)
	}
	if n := len(byAction[""]); n < 4 { // checkpoints: every 5 records, and the final one
		t.Errorf("%d checkpoints", n)
	}
}

func auditReportJSON(t *testing.T, data string) *audit.Report {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main([]string{"audit", "report", "--data", data, "--since", "1h", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("report: %s", errb.String())
	}
	var rep audit.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out.String())
	}
	return &rep
}

// failingSink is an audit sink that always fails.
type failingSink struct{}

func (failingSink) Name() string         { return "broken" }
func (failingSink) Write(b []byte) error { return errors.New("disk full") }
func (failingSink) Close() error         { return nil }

// TestAuditRequiredRefusesRequests checks that with audit.required a
// failing sink makes the monitor refuse requests, which the proxy
// answers with 503.
func TestAuditRequiredRefusesRequests(t *testing.T) {
	cfg := config.Default()
	m := newMonitor(cfg, nil, nil, quietLog())
	defer m.close()
	l, err := audit.New(audit.Options{Writer: "w", Key: testSigningKey(t), Sinks: []audit.Sink{failingSink{}},
		Required: true, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	m.audit = l
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if err := m.Admit(r); err != nil {
		t.Fatalf("refused before anything failed: %v", err)
	}
	l.Log(audit.Record{Action: "GetObject"})
	deadline := time.Now().Add(10 * time.Second)
	for m.Admit(r) == nil {
		if time.Now().After(deadline) {
			t.Fatal("requests still admitted with a failing required sink")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v := m.refused.Value("audit"); v < 1 {
		t.Fatalf("refusals counted %v", v)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testSigningKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAuditStdoutSinkVerifies opens the audit log as serve does with the
// stdout and file sinks and checks that both hold the same verifiable
// chain.
func TestAuditStdoutSinkVerifies(t *testing.T) {
	data := t.TempDir()
	cfg, err := config.Load(flag.NewFlagSet("serve", flag.ContinueOnError),
		[]string{"--data", data, "--audit-sinks", "stdout,file"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prov, _, err := openProvider(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer prov.close()
	var stdout bytes.Buffer
	l, pub, created, err := openAudit(context.Background(), cfg, prov, nil, "serve", &stdout, quietLog())
	if err != nil || !created {
		t.Fatalf("open: created %v, %v", created, err)
	}
	for i := range 3 {
		l.Log(audit.Record{Action: "GetObject", Bucket: "b", Key: fmt.Sprint(i), Status: 200})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(cfg.AuditFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, stdout.Bytes()) {
		t.Fatalf("stdout and file differ:\n%s\n%s", stdout.String(), file)
	}
	res := audit.Verify([]audit.Source{{Name: "stdout", Data: stdout.Bytes()}},
		audit.VerifyOptions{Trusted: []ed25519.PublicKey{pub}})
	if !res.OK() || res.Chains[0].Records != 4 {
		t.Fatalf("problems %v chains %+v", res.Problems, res.Chains)
	}
}

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/cloakproxy/cloak/access"
	"github.com/cloakproxy/cloak/access/adminapi"
	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/backend/s3store"
	"github.com/cloakproxy/cloak/cmd"
	"github.com/cloakproxy/cloak/integration/miniotest"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// sharedStore is one store that several Cloak instances reach, each
// through its own client (opened by open), and the CLI flags that point
// "cloak" commands at it.
type sharedStore struct {
	name string
	open func(t *testing.T) backend.Store
	args []string
}

func sharedLocal(t *testing.T) sharedStore {
	dir := t.TempDir()
	return sharedStore{"local", func(t *testing.T) backend.Store {
		st, err := localstore.New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}, []string{"--backend-type", "local", "--backend-local-dir", dir}}
}

func sharedMinIO(t *testing.T) sharedStore {
	m := miniotest.Start(t)
	t.Setenv("CLOAK_BACKEND_S3_ACCESS_KEY", m.AccessKey)
	t.Setenv("CLOAK_BACKEND_S3_SECRET_KEY", m.SecretKey)
	return sharedStore{"minio", func(t *testing.T) backend.Store {
		st, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey,
			SecretKey: m.SecretKey, Lookup: "path", Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}, []string{"--backend-type", "s3", "--backend-s3-endpoint", m.Endpoint,
		"--backend-s3-lookup", "path", "--backend-s3-region", "us-east-1"}}
}

// accessReload is the instances' access.reload_interval in these tests.
const accessReload = 200 * time.Millisecond

// instance is one Cloak as "cloak serve" assembles it: its own store
// client, its own key ring value (watching the shared file) behind its
// own data key cache, its own access Manager (watching the shared state)
// and its own HTTPS server. Instances share nothing but the store and the
// key ring file.
type instance struct {
	srv   *httptest.Server
	users *access.Manager
	ring  *keys.Ring
}

func startInstance(t *testing.T, ss sharedStore, ringPath string, limits access.LimiterConfig) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ring, _, err := keys.Open(ringPath, keys.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ring.Close)
	cache := keys.NewCache(ring, 1000, time.Minute)
	go ring.Watch(ctx, 100*time.Millisecond, cache.Purge, func(err error) { t.Errorf("ring reload: %v", err) })
	store := ss.open(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	docs, err := proxy.New(proxy.Options{Store: store, Keys: cache, Credentials: sigv4.StaticCredentials{}})
	if err != nil {
		t.Fatal(err)
	}
	users, err := access.NewManager(ctx, access.Options{
		Storage: docs.SealedDocument(access.DefaultBucket, access.StateKey),
		Root:    &sigv4.Credential{AccessKey: testAccess, SecretKey: testSecret}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	go users.Watch(ctx, accessReload)
	h, err := proxy.New(proxy.Options{Store: store, Keys: cache, Credentials: users, Access: users,
		AuthLimiter: access.NewLimiter(limits), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return &instance{srv: srv, users: users, ring: ring}
}

// client is an AWS SDK client of the instance signing as ak, sk, without
// retries so that each call is one request.
func (in *instance) client(ak, sk string) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(in.srv.URL),
		UsePathStyle: true, HTTPClient: in.srv.Client(), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")})
}

func (in *instance) root() *s3.Client { return in.client(testAccess, testSecret) }

// admin is the instance's admin API signed by root.
func (in *instance) admin() *adminapi.Client {
	return &adminapi.Client{Endpoint: in.srv.URL, HTTP: in.srv.Client(),
		Credential: sigv4.Credential{AccessKey: testAccess, SecretKey: testSecret}}
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func statusOf(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func put(c *s3.Client, bucket, key string, body []byte) error {
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
		Key: aws.String(key), Body: bytes.NewReader(body)})
	return err
}

func get(c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket),
		Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func del(c *s3.Client, bucket, key string) error {
	_, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket),
		Key: aws.String(key)})
	return err
}

func list(c *s3.Client, bucket string) ([]string, error) { return listPrefix(c, bucket, nil) }

// listPrefix lists the keys under prefix (nil: no prefix parameter).
func listPrefix(c *s3.Client, bucket string, prefix *string) ([]string, error) {
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket),
		Prefix: prefix})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, nil
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if errCode(err) != code {
		t.Errorf("%s: want %s, got %v", what, code, err)
	}
}

func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// newUser creates a user through the Manager with the given policies.
func newUser(t *testing.T, in *instance, name string, policies ...string) *s3.Client {
	t.Helper()
	k, err := in.users.CreateUser(context.Background(), name, policies)
	if err != nil {
		t.Fatal(err)
	}
	return in.client(k.AccessKey, k.SecretKey)
}

// multipart uploads parts through one client each (clients[i] sends part
// i+1), creating through create and completing through complete.
func multipart(t *testing.T, create, complete *s3.Client, parts []*s3.Client, bucket, key string,
	data [][]byte) error {
	t.Helper()
	ctx := context.Background()
	cr, err := create.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket),
		Key: aws.String(key)})
	if err != nil {
		return err
	}
	var done []s3types.CompletedPart
	for i, d := range data {
		out, err := parts[i].UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
			UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(d)})
		if err != nil {
			return err
		}
		done = append(done, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	_, err = complete.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket),
		Key: aws.String(key), UploadId: cr.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
	return err
}

// TestAccess_Policies checks what the built-in and a prefix policy let
// users do, end to end through the AWS SDK, against the local store and
// real MinIO.
func TestAccess_Policies(t *testing.T) {
	for _, open := range []func(*testing.T) sharedStore{sharedLocal, sharedMinIO} {
		ss := open(t)
		t.Run(ss.name, func(t *testing.T) {
			in := startInstance(t, ss, filepath.Join(t.TempDir(), "keyring"), access.LimiterConfig{PerKey: 3})
			testPolicies(t, in)
		})
	}
}

func testPolicies(t *testing.T, in *instance) {
	ctx := context.Background()
	root := in.root()
	_, err := root.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("docs")})
	mustOK(t, "create bucket", err)
	for _, k := range []string{"a.txt", "team-a/plan.txt", "team-b/plan.txt"} {
		mustOK(t, "root put "+k, put(root, "docs", k, []byte("content of "+k)))
	}

	t.Run("readonly", func(t *testing.T) {
		c := newUser(t, in, "reader", "readonly")
		got, err := get(c, "docs", "a.txt")
		if err != nil || string(got) != "content of a.txt" {
			t.Fatalf("GET: %q, %v", got, err)
		}
		keys, err := list(c, "docs")
		if err != nil || len(keys) != 3 {
			t.Fatalf("LIST: %v, %v", keys, err)
		}
		wantCode(t, "PUT", put(c, "docs", "new.txt", []byte("x")), "AccessDenied")
		wantCode(t, "DELETE", del(c, "docs", "a.txt"), "AccessDenied")
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("docs"),
			Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{{Key: aws.String("a.txt")}}}})
		if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
			t.Errorf("DeleteObjects: %+v, %v", out, err)
		}
		if _, err := get(root, "docs", "a.txt"); err != nil {
			t.Errorf("object gone after refused deletes: %v", err)
		}
	})

	t.Run("writeonly", func(t *testing.T) {
		c := newUser(t, in, "backup", "writeonly")
		mustOK(t, "PUT", put(c, "docs", "snap/1", []byte("snapshot")))
		data := [][]byte{randomBytes(5 * mib), randomBytes(1000)}
		mustOK(t, "multipart", multipart(t, c, c, []*s3.Client{c, c}, "docs", "snap/2", data))
		got, err := get(root, "docs", "snap/2")
		if err != nil || !bytes.Equal(got, slices.Concat(data...)) {
			t.Fatalf("root read of the backup: %v", err)
		}
		_, err = get(c, "docs", "snap/1")
		wantCode(t, "GET", err, "AccessDenied")
		_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("docs"), Key: aws.String("snap/1")})
		if statusOf(err) != http.StatusForbidden {
			t.Errorf("HEAD: want 403, got %v", err)
		}
		wantCode(t, "DELETE", del(c, "docs", "snap/1"), "AccessDenied")
		if _, err := list(c, "docs"); err != nil {
			t.Errorf("LIST: %v", err)
		}
	})

	t.Run("prefix", func(t *testing.T) {
		mustOK(t, "policy", in.users.CreatePolicy(ctx, "team-a", []byte(`{"Version":"2012-10-17",
			"Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
			"Resource":"arn:aws:s3:::docs/team-a/*"}]}`)))
		c := newUser(t, in, "alice", "team-a")
		if _, err := get(c, "docs", "team-a/plan.txt"); err != nil {
			t.Errorf("GET inside the prefix: %v", err)
		}
		mustOK(t, "PUT inside the prefix", put(c, "docs", "team-a/new.txt", []byte("x")))
		_, err := get(c, "docs", "team-b/plan.txt")
		wantCode(t, "GET outside the prefix", err, "AccessDenied")
		_, err = get(c, "docs", "a.txt")
		wantCode(t, "GET at the top", err, "AccessDenied")
		wantCode(t, "PUT outside the prefix", put(c, "docs", "team-b/x", []byte("x")), "AccessDenied")
		_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("docs"), Key: aws.String("team-a/copy"),
			CopySource: aws.String("docs/team-b/plan.txt")})
		wantCode(t, "copy from outside the prefix", err, "AccessDenied")
		_, err = list(c, "docs")
		wantCode(t, "LIST", err, "AccessDenied")

		// Listing the folder too, and only it: s3:prefix.
		mustOK(t, "policy", in.users.CreatePolicy(ctx, "team-a-list", []byte(`{"Version":"2012-10-17",
			"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::docs",
			"Condition":{"StringLike":{"s3:prefix":"team-a/*"}}},
			{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::*"}]}`)))
		c = newUser(t, in, "alice-lists", "team-a", "team-a-list")
		keys, err := listPrefix(c, "docs", aws.String("team-a/"))
		if err != nil || !slices.Equal(keys, []string{"team-a/new.txt", "team-a/plan.txt"}) {
			t.Errorf("LIST of the folder: %v, %v", keys, err)
		}
		for _, p := range []*string{aws.String("team-b/"), aws.String("team"), aws.String(""), nil} {
			_, err := listPrefix(c, "docs", p)
			wantCode(t, fmt.Sprintf("LIST with prefix %q", aws.ToString(p)), err, "AccessDenied")
		}
		// The bucket it may list in part shows in ListBuckets.
		bs, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil || len(bs.Buckets) != 1 || aws.ToString(bs.Buckets[0].Name) != "docs" {
			t.Errorf("ListBuckets of a user who may list one folder: %+v, %v", bs, err)
		}
	})

	t.Run("ListBuckets shows what the user may list", func(t *testing.T) {
		_, err := root.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("other")})
		mustOK(t, "create bucket", err)
		mustOK(t, "policy", in.users.CreatePolicy(ctx, "docs-lister", []byte(`{"Version":"2012-10-17",
			"Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::*"},
			{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::docs"}]}`)))
		c := newUser(t, in, "lister", "docs-lister")
		out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
		mustOK(t, "ListBuckets", err)
		if len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != "docs" {
			t.Errorf("ListBuckets = %v, want docs only", out.Buckets)
		}
		_, err = newUser(t, in, "nobody").ListBuckets(ctx, &s3.ListBucketsInput{})
		wantCode(t, "ListBuckets without policies", err, "AccessDenied")
	})

	t.Run("system bucket hidden", func(t *testing.T) {
		out, err := root.ListBuckets(ctx, &s3.ListBucketsInput{})
		mustOK(t, "ListBuckets", err)
		for _, b := range out.Buckets {
			if access.IsSystemBucket(aws.ToString(b.Name)) {
				t.Errorf("ListBuckets shows %s", aws.ToString(b.Name))
			}
		}
		_, err = list(root, access.DefaultBucket)
		wantCode(t, "root lists the system bucket", err, "AccessDenied")
		_, err = get(root, access.DefaultBucket, access.StateKey)
		wantCode(t, "root reads the state", err, "AccessDenied")
	})

	t.Run("admin endpoint", func(t *testing.T) {
		adm := in.admin()
		_, err := adm.Call(ctx, "policy/add", adminapi.Args{Policy: "bad",
			Document: []byte(`{"Version":"2012-10-17",
				"Statement":{"Effect":"Allow","Action":"s3:Gett*","Resource":"*"}}`)})
		var ae *adminapi.Error
		if !errors.As(err, &ae) || ae.Code != "InvalidArgument" || !strings.Contains(ae.Message, "s3:Gett*") {
			t.Errorf("bad policy: %v", err)
		}
		k, err := in.users.CreateUser(ctx, "operator", []string{"readwrite"})
		mustOK(t, "user", err)
		notAdmin := &adminapi.Client{Endpoint: in.srv.URL, HTTP: in.srv.Client(),
			Credential: sigv4.Credential{AccessKey: k.AccessKey, SecretKey: k.SecretKey}}
		if _, err := notAdmin.Call(ctx, "user/list", adminapi.Args{}); !errors.As(err, &ae) ||
			ae.Code != "AccessDenied" {
			t.Errorf("readwrite user lists users: %v", err)
		}
		resp, err := in.srv.Client().Post(in.srv.URL+adminapi.PathPrefix+"user/list", "application/json",
			strings.NewReader("{}"))
		mustOK(t, "unsigned call", err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("unsigned call: status %d", resp.StatusCode)
		}
		raw := func(method, act, body, payload string) int {
			r, err := http.NewRequest(method, in.srv.URL+adminapi.PathPrefix+act, strings.NewReader(body))
			mustOK(t, "request", err)
			if payload == "" {
				sum := sha256.Sum256([]byte(body))
				payload = hex.EncodeToString(sum[:])
			}
			sigv4.SignRequest(r, sigv4.Credential{AccessKey: testAccess, SecretKey: testSecret},
				"us-east-1", "s3", time.Now(), payload)
			resp, err := in.srv.Client().Do(r)
			mustOK(t, "send", err)
			resp.Body.Close()
			return resp.StatusCode
		}
		for _, c := range []struct {
			name, method, act, body, payload string
			want                             int
		}{
			{"GET", http.MethodGet, "user/list", "", "", http.StatusMethodNotAllowed},
			{"unknown call", http.MethodPost, "user/frobnicate", "{}", "", http.StatusBadRequest},
			{"unsigned payload", http.MethodPost, "user/list", "{}", sigv4.UnsignedPayload, http.StatusForbidden},
			{"malformed JSON", http.MethodPost, "user/list", "{", "", http.StatusBadRequest},
			{"unknown argument", http.MethodPost, "user/list", `{"root":true}`, "", http.StatusBadRequest},
			{"well formed", http.MethodPost, "user/list", "{}", "", http.StatusOK},
		} {
			if got := raw(c.method, c.act, c.body, c.payload); got != c.want {
				t.Errorf("%s: status %d, want %d", c.name, got, c.want)
			}
		}
		users, err := adm.Call(ctx, "user/list", adminapi.Args{})
		mustOK(t, "user list", err)
		for _, u := range *users.(*[]access.UserInfo) {
			if u.Name == "operator" && (len(u.Keys) != 1 || u.Keys[0].AccessKey != k.AccessKey) {
				t.Errorf("listed %+v", u)
			}
		}
	})

	t.Run("failed authentications", func(t *testing.T) {
		k, err := in.users.CreateUser(ctx, "guesser", []string{"readonly"})
		mustOK(t, "user", err)
		bad := in.client(k.AccessKey, "wrong-secret")
		for range 3 {
			_, err := get(bad, "docs", "a.txt")
			wantCode(t, "bad signature", err, "SignatureDoesNotMatch")
		}
		_, err = get(in.client(k.AccessKey, k.SecretKey), "docs", "a.txt")
		wantCode(t, "right secret after 3 failures", err, "SlowDown")
		if statusOf(err) != http.StatusServiceUnavailable {
			t.Errorf("SlowDown status %d", statusOf(err))
		}
	})
}

// TestAccess_OfflineAdmin runs "cloak admin" offline, on the store and
// key ring that a running instance uses, against the local store and real
// MinIO: the instance applies each change within its reload interval.
func TestAccess_OfflineAdmin(t *testing.T) {
	for _, open := range []func(*testing.T) sharedStore{sharedLocal, sharedMinIO} {
		ss := open(t)
		t.Run(ss.name, func(t *testing.T) {
			data := t.TempDir()
			ringPath := filepath.Join(data, "keyring")
			// No failed-authentication limit: polling with a key the
			// instance does not know yet fails.
			in := startInstance(t, ss, ringPath, access.LimiterConfig{PerKey: -1, PerAddress: -1})
			_, err := in.root().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("box")})
			mustOK(t, "create bucket", err)
			args := append([]string{"--data", data, "--keyring", ringPath}, ss.args...)
			admin := func(sub ...string) string {
				t.Helper()
				out, code := runCLI(t, slices.Concat([]string{"admin"}, sub, args)...)
				if code != 0 {
					t.Fatalf("cloak admin %v: exit %d\n%s", sub, code, out)
				}
				return out
			}
			out := admin("user", "add", "robot", "--policy", "writeonly")
			var ak, sk string
			for _, line := range strings.Split(out, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "access key: "); ok {
					ak = v
				}
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "secret key: "); ok {
					sk = v
				}
			}
			if ak == "" || sk == "" {
				t.Fatalf("user add printed no key:\n%s", out)
			}
			robot := in.client(ak, sk)
			waitFor(t, "the instance knows the user", func() error {
				return put(robot, "box", "backup", []byte("nightly"))
			})
			_, err = get(robot, "box", "backup")
			wantCode(t, "writeonly GET", err, "AccessDenied")
			admin("policy", "attach", "readonly", "--user", "robot")
			waitFor(t, "the instance applies the attached policy", func() error {
				_, err := get(robot, "box", "backup")
				return err
			})
			admin("user", "disable", "robot")
			waitFor(t, "the instance refuses the disabled user", func() error {
				if err := put(robot, "box", "backup", []byte("x")); errCode(err) != "AccessDenied" {
					return errors.New("still served")
				}
				return nil
			})
			if list := admin("user", "list"); !strings.Contains(list, "disabled") ||
				!strings.Contains(list, "readonly, writeonly") {
				t.Errorf("user list:\n%s", list)
			}
		})
	}
}

// waitFor polls cond every 20ms until it holds or 20 seconds pass.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestScaleOut_ThreeInstances runs three Cloak instances that share
// nothing but one real MinIO and one key ring file: a multipart upload
// spread over all three, objects written through one and read through
// another, a key rotation by "cloak keys rotate" that all notice, and a
// user disabled through one instance's admin endpoint and refused by all.
func TestScaleOut_ThreeInstances(t *testing.T) {
	ss := sharedMinIO(t)
	data := t.TempDir()
	ringPath := filepath.Join(data, "keyring")
	var in [3]*instance
	for i := range in {
		// No failed-authentication limit: the test polls with keys an
		// instance does not know yet.
		in[i] = startInstance(t, ss, ringPath, access.LimiterConfig{PerKey: -1, PerAddress: -1})
	}
	ctx := context.Background()
	a, b, c := in[0].root(), in[1].root(), in[2].root()
	_, err := a.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("shared")})
	mustOK(t, "create bucket", err)

	t.Run("multipart across instances", func(t *testing.T) {
		data := [][]byte{randomBytes(5 * mib), randomBytes(5 * mib), randomBytes(12345)}
		mustOK(t, "upload", multipart(t, a, c, []*s3.Client{a, b, c}, "shared", "big", data))
		for i, cl := range []*s3.Client{a, b, c} {
			got, err := get(cl, "shared", "big")
			if err != nil || !bytes.Equal(got, slices.Concat(data...)) {
				t.Errorf("instance %d reads the object wrong: %v", i, err)
			}
		}
	})

	t.Run("written through one, read through another", func(t *testing.T) {
		for i, w := range []*s3.Client{a, b, c} {
			body := randomBytes(100_000 + i)
			key := "obj-" + string(rune('a'+i))
			mustOK(t, "put", put(w, "shared", key, body))
			got, err := get([]*s3.Client{b, c, a}[i], "shared", key)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("%s read through the next instance: %v", key, err)
			}
		}
	})

	t.Run("key rotation noticed by all", func(t *testing.T) {
		// A user made before the rotation: the access state is sealed
		// under version 1.
		early := newUser(t, in[0], "early", "readonly")
		args := append([]string{"--data", data, "--keyring", ringPath}, ss.args...)
		out, code := runCLI(t, append([]string{"keys", "rotate"}, args...)...)
		if code != 0 {
			t.Fatalf("cloak keys rotate: exit %d\n%s", code, out)
		}
		for i, inst := range in {
			waitFor(t, "instance notices the rotation", func() error {
				_, v, err := inst.ring.Active(ctx, "shared")
				if err == nil && v != 2 {
					err = errors.New("still version 1")
				}
				return err
			})
			key := "after-rotation-" + string(rune('a'+i))
			mustOK(t, "put", put(inst.root(), "shared", key, []byte("new key")))
			if ref := storedKey(t, ss.open(t), "shared", key); ref.Version != 2 {
				t.Errorf("instance %d wrote under version %d after the rotation", i, ref.Version)
			}
		}
		if got, err := get(b, "shared", "obj-a"); err != nil || len(got) != 100_000 {
			t.Errorf("old object after rotation: %v", err)
		}
		// The access state is an ordinary Cloak object: rewrap moves it
		// to version 2 and retiring version 1 leaves it readable.
		for _, sub := range [][]string{{"rewrap"}, {"retire", "1"}} {
			all := slices.Concat([]string{"keys", sub[0]}, args, sub[1:])
			if out, code := runCLI(t, all...); code != 0 {
				t.Fatalf("cloak %v: exit %d\n%s", all, code, out)
			}
		}
		if ref := storedKey(t, ss.open(t), access.DefaultBucket, access.StateKey); ref.Version != 2 {
			t.Errorf("access state under version %d after rewrap", ref.Version)
		}
		fresh := startInstance(t, ss, ringPath, access.LimiterConfig{})
		c, err := early.Options().Credentials.Retrieve(ctx)
		mustOK(t, "credentials", err)
		if _, err := get(fresh.client(c.AccessKeyID, c.SecretAccessKey), "shared", "obj-a"); err != nil {
			t.Errorf("user made before the rotation, at a new instance after retire: %v", err)
		}
	})

	t.Run("user disabled through one is refused by all", func(t *testing.T) {
		res, err := in[0].admin().Call(ctx, "user/add", adminapi.Args{User: "clerk",
			Policies: []string{"readwrite"}})
		mustOK(t, "online user add", err)
		k := res.(*access.NewKey)
		users := []*s3.Client{in[0].client(k.AccessKey, k.SecretKey),
			in[1].client(k.AccessKey, k.SecretKey), in[2].client(k.AccessKey, k.SecretKey)}
		// At once on the instance that made it, within the reload
		// interval on the others.
		if _, err := get(users[0], "shared", "obj-a"); err != nil {
			t.Fatalf("new user at the instance that made it: %v", err)
		}
		for i, u := range users[1:] {
			waitFor(t, "instance "+string(rune('1'+i))+" knows the new user", func() error {
				_, err := get(u, "shared", "obj-a")
				return err
			})
		}
		_, err = in[0].admin().Call(ctx, "user/disable", adminapi.Args{User: "clerk"})
		mustOK(t, "online disable", err)
		_, err = get(users[0], "shared", "obj-a")
		wantCode(t, "next request at the instance that disabled it", err, "AccessDenied")
		for i, u := range users[1:] {
			waitFor(t, "instance "+string(rune('1'+i))+" refuses the disabled user", func() error {
				_, err := get(u, "shared", "obj-a")
				if errCode(err) == "AccessDenied" {
					return nil
				}
				return errors.New("still served: " + strings.TrimSpace(errCode(err)))
			})
		}
	})
}

// runCLI runs the cloak command line in-process and returns its output
// and exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cmd.Main(args, &out, &errOut)
	return out.String() + errOut.String(), code
}

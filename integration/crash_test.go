package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cloakproxy/cloak/integration/miniotest"
)

// serveProcess is "cloak serve" running in a process of its own (this
// test binary, run as the CLI), so a test can SIGKILL it.
type serveProcess struct {
	cmd    *exec.Cmd
	done   chan struct{}
	out    *logBuffer
	client *s3.Client
}

// startServeProcess runs "cloak serve" with args and env on a free port
// and waits until it prints its address. Root credentials are the test's.
func startServeProcess(t *testing.T, env []string, args ...string) *serveProcess {
	t.Helper()
	c := exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	c.Env = append(append(os.Environ(), envRunCLI+"=1", "CLOAK_ROOT_ACCESS_KEY="+testAccess,
		"CLOAK_ROOT_SECRET_KEY="+testSecret), env...)
	p := &serveProcess{cmd: c, done: make(chan struct{}), out: &logBuffer{}}
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = p.out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`serving S3 on https://(\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.out.Write([]byte(sc.Text() + "\n"))
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		c.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("cloak serve output:\n%s", p.out.String())
		}
	})
	select {
	case a := <-addr:
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		p.client = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("https://" + a),
			UsePathStyle: true, HTTPClient: &http.Client{Transport: tr}, Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider(testAccess, testSecret, "")})
	case <-p.done:
		t.Fatalf("cloak serve exited:\n%s", p.out.String())
	case <-time.After(time.Minute):
		t.Fatalf("cloak serve not ready:\n%s", p.out.String())
	}
	return p
}

// kill sends SIGKILL and waits for the process to go.
func (p *serveProcess) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// TestCrash_ServeKilledDuringUploads SIGKILLs "cloak serve" while it
// streams a PUT that replaces an object, a PUT of a new object and an
// UploadPart, over the local store and over MinIO. A new instance on the
// same data then serves the object's old version, shows nothing of the
// new one or of the cut part, and completes the multipart upload that the
// killed instance started.
func TestCrash_ServeKilledDuringUploads(t *testing.T) {
	stores := []struct {
		name string
		args func(t *testing.T) ([]string, []string)
	}{
		{"local", func(t *testing.T) ([]string, []string) { return nil, nil }},
		{"minio", func(t *testing.T) ([]string, []string) {
			m := miniotest.Start(t)
			return []string{"CLOAK_BACKEND_S3_ACCESS_KEY=" + m.AccessKey,
					"CLOAK_BACKEND_S3_SECRET_KEY=" + m.SecretKey},
				[]string{"--backend-type", "s3", "--backend-s3-endpoint", m.Endpoint,
					"--backend-s3-lookup", "path", "--backend-s3-region", "us-east-1"}
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			env, args := st.args(t)
			args = append(args, "--data", t.TempDir())
			runCrash(t, func() *serveProcess { return startServeProcess(t, env, args...) })
		})
	}
}

func runCrash(t *testing.T, start func() *serveProcess) {
	ctx := context.Background()
	a := start()
	c := a.client
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	v1 := newGenData("crash v1", 3*mib)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("crash"), Key: aws.String("obj"),
		Body: v1, ContentLength: aws.Int64(v1.size)}); err != nil {
		t.Fatal(err)
	}
	cr, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("crash"),
		Key: aws.String("mpu")})
	if err != nil {
		t.Fatal(err)
	}
	part1 := newGenData("crash part 1", 5*mib)
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("crash"), Key: aws.String("mpu"),
		UploadId: cr.UploadId, PartNumber: aws.Int32(1), Body: part1, ContentLength: aws.Int64(part1.size),
	}); err != nil {
		t.Fatal(err)
	}

	// Three uploads in flight; the first to pass 16 MiB kills the server.
	const inflight = 96 * mib
	var once sync.Once
	kill := func() { once.Do(func() { go a.kill() }) }
	uploads := []func(body io.Reader) error{
		func(body io.Reader) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("crash"),
				Key: aws.String("obj"), Body: body, ContentLength: aws.Int64(inflight)})
			return err
		},
		func(body io.Reader) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("crash"),
				Key: aws.String("new"), Body: body, ContentLength: aws.Int64(inflight)})
			return err
		},
		func(body io.Reader) error {
			_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("crash"),
				Key: aws.String("mpu"), UploadId: cr.UploadId, PartNumber: aws.Int32(2), Body: body,
				ContentLength: aws.Int64(inflight)})
			return err
		},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(uploads))
	for i, up := range uploads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := &killingReader{r: newGenData(fmt.Sprint("crash in flight ", i), inflight),
				after: 16 * mib, kill: kill}
			errs[i] = up(body)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Fatalf("upload %d succeeded although the server was killed under it", i)
		}
	}

	b := start()
	c = b.client
	expectGenerated(t, c, "crash", "obj", v1)
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("crash"),
		Key: aws.String("new")}); err == nil {
		t.Fatal("the object cut off by the kill is visible")
	}
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("crash")})
	if err != nil || len(l.Contents) != 1 || aws.ToString(l.Contents[0].Key) != "obj" ||
		aws.ToInt64(l.Contents[0].Size) != v1.size {
		t.Fatalf("listing after the crash: %v %+v", err, l)
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("crash"), Key: aws.String("mpu"),
		UploadId: cr.UploadId})
	if err != nil || len(lp.Parts) != 1 || aws.ToInt32(lp.Parts[0].PartNumber) != 1 {
		t.Fatalf("parts after the crash: %v %+v", err, lp)
	}
	// Finish the upload on the new instance.
	part2, part3 := newGenData("crash part 2", 5*mib), newGenData("crash part 3", 1000)
	done := []s3types.CompletedPart{{PartNumber: aws.Int32(1), ETag: lp.Parts[0].ETag}}
	for i, p := range []*genData{part2, part3} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("crash"),
			Key: aws.String("mpu"), UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 2)), Body: p,
			ContentLength: aws.Int64(p.size)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 2)), ETag: out.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("crash"),
		Key: aws.String("mpu"), UploadId: cr.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatalf("complete on the new instance: %v", err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("crash"), Key: aws.String("mpu")})
	if err != nil {
		t.Fatal(err)
	}
	got := md5.New()
	n, err := io.Copy(got, out.Body)
	out.Body.Close()
	want := md5.New()
	for _, p := range []*genData{part1, part2, part3} {
		io.Copy(want, io.NewSectionReader(p, 0, p.size))
	}
	if err != nil || n != part1.size+part2.size+part3.size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("the completed upload reads back wrong: %d bytes, %v", n, err)
	}
}

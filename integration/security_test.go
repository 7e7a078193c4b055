package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

func TestSecurity_BadCredentialsAreRefused(t *testing.T) {
	forEachBackend(t, proxy.Options{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "creds")
		client := func(access, secret string) *s3.Client {
			return s3.New(s3.Options{
				Region: e.region, BaseEndpoint: aws.String(e.srv.URL), UsePathStyle: true,
				HTTPClient:  e.srv.Client(),
				Credentials: credentials.NewStaticCredentialsProvider(access, secret, ""),
			})
		}
		put := &s3.PutObjectInput{Bucket: aws.String("creds"), Key: aws.String("k"), Body: strings.NewReader("x")}
		_, err := client(testAccess, "wrong-secret").PutObject(ctx, put)
		assertS3Code(t, err, "SignatureDoesNotMatch")
		_, err = client("AKIAUNKNOWN", testSecret).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("creds")})
		assertS3Code(t, err, "InvalidAccessKeyId")
		if _, err := e.store.HeadObject(ctx, "creds", "k"); err == nil {
			t.Fatal("an unauthenticated PUT left an object behind")
		}
	})
}

func TestSecurity_FailedUploadsLeaveThePreviousVersion(t *testing.T) {
	forEachBackend(t, proxy.Options{SmallObjectLimit: smallLimit}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "failures")
		for _, size := range []int{1000, smallLimit + 1000} {
			key := fmt.Sprintf("obj-%d", size)
			v1 := randomBytes(size)
			if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("failures"), Key: aws.String(key),
				Body: bytes.NewReader(v1)}); err != nil {
				t.Fatal(err)
			}
			// A wrong Content-MD5 is caught only at the end of the body.
			wrong := base64.StdEncoding.EncodeToString(make([]byte, 16))
			_, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("failures"), Key: aws.String(key),
				Body: bytes.NewReader(randomBytes(size)), ContentMD5: aws.String(wrong)})
			assertS3Code(t, err, "BadDigest")
			expectContent(t, e, "failures", key, v1)

			// A client that sends less than its Content-Length and hangs up.
			shortUpload(t, e, "failures", key, size)
			expectContent(t, e, "failures", key, v1)
		}
	})
}

// shortUpload sends a signed PUT that declares size bytes, sends half of
// them, and closes the connection.
func shortUpload(t *testing.T, e *env, bucket, key string, size int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/"+bucket+"/"+key, nil)
	req.ContentLength = int64(size)
	sigv4.SignRequest(req, sigv4.Credential{AccessKey: testAccess, SecretKey: testSecret}, e.region, "s3",
		time.Now(), sigv4.UnsignedPayload)
	conn, err := tls.Dial("tcp", e.srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.EscapedPath(), req.Host, size)
	for k, vs := range req.Header {
		if k != "Content-Length" {
			fmt.Fprintf(w, "%s: %s\r\n", k, vs[0])
		}
	}
	w.WriteString("\r\n")
	w.Write(randomBytes(size / 2))
	w.Flush()
	// Half-close: the server sees the body end early. Reading its answer
	// makes sure the handler has finished before the caller checks the
	// store.
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	conn.CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("short upload answered %s", resp.Status)
		}
	}
	conn.Close()
}

func expectContent(t *testing.T, e *env, bucket, key string, want []byte) {
	t.Helper()
	out, err := e.aws.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: the previous version was not kept intact (%d bytes, %v)", key, len(got), err)
	}
}

func TestSecurity_TamperedObjectsAreNeverReturned(t *testing.T) {
	forEachBackend(t, proxy.Options{SmallObjectLimit: smallLimit}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "tamper")
		a, b := randomBytes(200_000), randomBytes(300_000)
		for k, v := range map[string][]byte{"a": a, "b": b} {
			if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tamper"), Key: aws.String(k),
				Body: bytes.NewReader(v)}); err != nil {
				t.Fatal(err)
			}
		}
		rawA, metaA := e.raw(t, "tamper", "a")
		rawB, metaB := e.raw(t, "tamper", "b")
		flipped := bytes.Clone(rawA)
		flipped[len(flipped)/2] ^= 1
		// good is how much genuine plaintext lies before the damaged chunk.
		C := crypto.ChunkSize
		lastChunk := len(a) / C * C
		flippedChunk := (len(rawA)/2 - crypto.HeaderSize) / (C + crypto.TagSize) * C
		cases := []struct {
			name string
			body []byte
			meta map[string]string
			good int
		}{
			{"flipped byte", flipped, metaA, flippedChunk},
			{"truncated", rawA[:len(rawA)-200], metaA, lastChunk},
			{"extended", append(bytes.Clone(rawA), 0), metaA, lastChunk},
			{"other object's body", rawB, metaA, 0},
			{"other object's envelope", rawA, metaB, 0},
			{"no envelope (planted plaintext)", a, nil, 0},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if _, err := e.store.PutObject(ctx, "tamper", "a", bytes.NewReader(c.body), int64(len(c.body)),
					backend.PutOptions{Metadata: c.meta}); err != nil {
					t.Fatal(err)
				}
				out, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("tamper"), Key: aws.String("a")})
				var got []byte
				if err == nil {
					got, err = io.ReadAll(out.Body)
					out.Body.Close()
				}
				if err == nil {
					t.Fatal("a tampered object was returned without error")
				}
				// Anything that did arrive is a prefix of the real data
				// from before the damaged chunk, never damaged bytes.
				if len(got) > c.good || !bytes.Equal(got, a[:len(got)]) {
					t.Fatalf("%d bytes of a damaged object were returned", len(got))
				}
			})
		}
	})
}

func TestSecurity_PlaintextServedOnlyWhereMigrating(t *testing.T) {
	migrating := func(bucket, key string) bool { return bucket == "legacy" && strings.HasPrefix(key, "old/") }
	forEachBackend(t, proxy.Options{Migrating: migrating}, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.mkBucket(t, "legacy")
		data := []byte("written before Cloak")
		for _, k := range []string{"old/doc", "new/doc"} {
			if _, err := e.store.PutObject(ctx, "legacy", k, bytes.NewReader(data), int64(len(data)),
				backend.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		expectContent(t, e, "legacy", "old/doc", data)
		_, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("legacy"), Key: aws.String("new/doc")})
		assertS3Code(t, err, "InvalidObjectState")
	})
}

package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/keys/awskms"
	"github.com/cloakproxy/cloak/keys/awskms/kmstest"
	"github.com/cloakproxy/cloak/proxy"
)

// countingWrapper counts the calls that reach the key provider.
type countingWrapper struct {
	next          crypto.KeyWrapper
	wraps, unwrap atomic.Int64
}

func (c *countingWrapper) Wrap(ctx context.Context, dk []byte, wc crypto.WrapContext) (crypto.WrappedKey, error) {
	c.wraps.Add(1)
	return c.next.Wrap(ctx, dk, wc)
}

func (c *countingWrapper) Unwrap(ctx context.Context, wk crypto.WrappedKey, wc crypto.WrapContext) ([]byte, error) {
	c.unwrap.Add(1)
	return c.next.Unwrap(ctx, wk, wc)
}

// BenchmarkKMS_PutGet measures 4 KiB PUTs and GETs through Cloak with
// master keys in a real KMS API (local-kms on loopback), with the data
// key cache off and on. It reports the KMS calls per operation: a GET
// costs one Decrypt without the cache and none with it once the object's
// key is cached; a PUT always costs one Encrypt (each object has a fresh
// data key to wrap).
//
//	go test ./integration -run '^$' -bench KMS -benchtime 300x
func BenchmarkKMS_PutGet(b *testing.B) {
	srv := kmstest.Start(b)
	kw, err := awskms.New(context.Background(), awskms.Config{Endpoint: srv.Endpoint, Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, KeyID: srv.CreateKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	for _, cached := range []bool{false, true} {
		counter := &countingWrapper{next: kw}
		var keysOpt crypto.KeyWrapper = counter
		if cached {
			keysOpt = keys.NewCache(counter, 10_000, 5*time.Minute)
		}
		st, err := localstore.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		e := newEnv(b, st, proxy.Options{Keys: keysOpt})
		ctx := context.Background()
		if _, err := e.aws.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
			b.Fatal(err)
		}
		body := randomBytes(4 << 10)
		name := fmt.Sprintf("cache=%v", cached)
		b.Run(name+"/put", func(b *testing.B) {
			before := counter.wraps.Load()
			b.SetBytes(int64(len(body)))
			for i := range b.N {
				if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"),
					Key: aws.String(fmt.Sprintf("o%d", i%100)), Body: bytes.NewReader(body),
					ContentLength: aws.Int64(int64(len(body)))}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(counter.wraps.Load()-before)/float64(b.N), "kms-calls/op")
		})
		b.Run(name+"/get", func(b *testing.B) {
			before := counter.unwrap.Load()
			b.SetBytes(int64(len(body)))
			for i := range b.N {
				out, err := e.aws.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"),
					Key: aws.String(fmt.Sprintf("o%d", i%100))})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, out.Body); err != nil {
					b.Fatal(err)
				}
				out.Body.Close()
			}
			b.ReportMetric(float64(counter.unwrap.Load()-before)/float64(b.N), "kms-calls/op")
		})
	}
}

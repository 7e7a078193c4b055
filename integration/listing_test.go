package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/proxy"
)

// countingStore counts the per-object reads a listing could cost.
type countingStore struct {
	backend.Store
	heads, gets atomic.Int64
}

func (c *countingStore) HeadObject(ctx context.Context, bucket, key string) (backend.ObjectInfo, error) {
	c.heads.Add(1)
	return c.Store.HeadObject(ctx, bucket, key)
}

func (c *countingStore) GetObject(ctx context.Context, bucket, key string, off, n int64,
	opts backend.GetOptions) (io.ReadCloser, backend.ObjectInfo, error) {
	c.gets.Add(1)
	return c.Store.GetObject(ctx, bucket, key, off, n, opts)
}

func TestListing_CostsNoRequestPerObject(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			store := &countingStore{Store: b.open(t)}
			e := newEnv(t, store, proxy.Options{SmallObjectLimit: smallLimit})
			e.mkBucket(t, "many")
			const n = 120
			for i := range n {
				size := 100
				if i%10 == 0 {
					size = smallLimit + 1 // streamed: ETag from the store
				}
				if _, err := e.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("many"),
					Key: aws.String(fmt.Sprintf("obj/%04d", i)), Body: bytes.NewReader(randomBytes(size))}); err != nil {
					t.Fatal(err)
				}
			}
			store.heads.Store(0)
			store.gets.Store(0)
			p := s3.NewListObjectsV2Paginator(e.aws, &s3.ListObjectsV2Input{Bucket: aws.String("many"),
				MaxKeys: aws.Int32(50)})
			listed := 0
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range page.Contents {
					listed++
					if aws.ToInt64(o.Size) != 100 && aws.ToInt64(o.Size) != smallLimit+1 {
						t.Fatalf("%s listed with size %d", aws.ToString(o.Key), aws.ToInt64(o.Size))
					}
				}
			}
			if listed != n {
				t.Fatalf("listed %d of %d objects", listed, n)
			}
			if h, g := store.heads.Load(), store.gets.Load(); h+g != 0 {
				t.Errorf("listing %d objects cost %d HEADs and %d GETs", n, h, g)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// content is one version of an object: size bytes of a ChaCha8 stream
// seeded by seed, so it can be regenerated instead of kept.
type content struct {
	seed string
	size int
	md5  [16]byte
}

func newContent(seed string, size int) content {
	c := content{seed: seed, size: size}
	c.md5 = md5.Sum(c.bytes())
	return c
}

func (c content) bytes() []byte {
	b := make([]byte, c.size)
	mrand.NewChaCha8(sha256.Sum256([]byte(c.seed))).Read(b)
	return b
}

// state is what an object may hold: exactly one version when the last
// write was acknowledged, or any of several when a write failed and may
// or may not have taken effect. absent is a version too: a nil *content.
type state []*content

// world is what the soak knows about every key: each worker owns its
// keys, so only the worker itself changes them and the expected state is
// exact.
type world struct {
	mu   sync.Mutex
	keys map[string]state
}

func (w *world) get(key string) state {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keys[key]
}

func (w *world) set(key string, s state) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.keys[key] = s
}

// stats counts requests and errors by kind; safe for concurrent use.
type stats struct {
	mu        sync.Mutex
	ok        map[string]int
	errs      map[string]int
	corrupted []string
}

func (s *stats) record(op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.ok[op]++
		return
	}
	s.errs[op+": "+errorKind(err)]++
}

func (s *stats) corrupt(what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupted = append(s.corrupted, what)
}

// errorKind is an S3 error's code, or "transport" for a failure to reach
// Cloak or a cut response.
func errorKind(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	if errors.Is(err, errMismatch) {
		return "WRONG DATA"
	}
	return "transport"
}

var errMismatch = errors.New("data differs from what was written")

// worker drives one client's traffic on its own keys until ctx ends.
type worker struct {
	id     int
	client *s3.Client
	bucket string
	world  *world
	stats  *stats
	rng    *mrand.Rand
	serial int
}

// ops are the operations and their weights.
var ops = []struct {
	name   string
	weight int
	run    func(w *worker, ctx context.Context) error
}{
	{"PutSmall", 30, (*worker).putSmall},
	{"Multipart", 4, (*worker).multipart},
	{"GetWhole", 20, (*worker).getWhole},
	{"GetRange", 16, (*worker).getRange},
	{"List", 10, (*worker).list},
	{"Delete", 10, (*worker).delete},
	{"Copy", 10, (*worker).copy},
}

func (w *worker) run(ctx context.Context) {
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for ctx.Err() == nil {
		pick := w.rng.IntN(total)
		for _, o := range ops {
			if pick < o.weight {
				err := o.run(w, ctx)
				if ctx.Err() == nil {
					w.stats.record(o.name, err)
				}
				break
			}
			pick -= o.weight
		}
	}
}

// key returns one of the worker's 40 keys.
func (w *worker) key() string { return fmt.Sprintf("w%02d/obj-%02d", w.id, w.rng.IntN(40)) }

// present returns a key of the worker that certainly holds one version.
func (w *worker) present() (string, *content) {
	for range 10 {
		k := w.key()
		if s := w.world.get(k); len(s) == 1 && s[0] != nil {
			return k, s[0]
		}
	}
	return "", nil
}

func (w *worker) next(size int) content {
	w.serial++
	return newContent(fmt.Sprintf("w%d-%d", w.id, w.serial), size)
}

// write runs a write of key and records its outcome: the new version on
// success, the old or the new one when it failed.
func (w *worker) write(key string, v *content, do func() error) error {
	old := w.world.get(key)
	err := do()
	if err == nil {
		w.world.set(key, state{v})
	} else {
		w.world.set(key, append(append(state{}, old...), v))
	}
	return err
}

func (w *worker) putSmall(ctx context.Context) error {
	key, v := w.key(), w.next(1+w.rng.IntN(256<<10))
	return w.write(key, &v, func() error {
		_, err := w.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &w.bucket, Key: &key,
			Body: bytes.NewReader(v.bytes())})
		return err
	})
}

func (w *worker) multipart(ctx context.Context) error {
	key := w.key()
	first := 5 << 20
	v := w.next(first + 1 + w.rng.IntN(1<<20))
	return w.write(key, &v, func() error {
		data := v.bytes()
		cr, err := w.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &w.bucket,
			Key: &key})
		if err != nil {
			return err
		}
		var done []s3types.CompletedPart
		for i, p := range [][]byte{data[:first], data[first:]} {
			out, err := w.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &w.bucket, Key: &key,
				UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
			if err != nil {
				w.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
					Bucket: &w.bucket, Key: &key, UploadId: cr.UploadId})
				return err
			}
			done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
		}
		_, err = w.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &w.bucket, Key: &key, UploadId: cr.UploadId,
			MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
		return err
	})
}

func (w *worker) getWhole(ctx context.Context) error {
	key, v := w.present()
	if v == nil {
		return w.putSmall(ctx)
	}
	return w.check(ctx, key, []*content{v}, 0, -1)
}

func (w *worker) getRange(ctx context.Context) error {
	key, v := w.present()
	if v == nil || v.size < 2 {
		return w.putSmall(ctx)
	}
	off := w.rng.IntN(v.size - 1)
	n := 1 + w.rng.IntN(min(v.size-off, 300<<10))
	return w.check(ctx, key, []*content{v}, off, n)
}

// check reads key (whole when n < 0) and compares it with the versions it
// may hold; a read that returns other bytes is corruption.
func (w *worker) check(ctx context.Context, key string, want []*content, off, n int) error {
	in := &s3.GetObjectInput{Bucket: &w.bucket, Key: &key}
	if n >= 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	}
	out, err := w.client.GetObject(ctx, in)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		// A cut body is a failed read, not corruption, if what came is
		// a prefix; checked below as for whole reads.
		return err
	}
	for _, v := range want {
		if v == nil {
			continue
		}
		if n < 0 && md5.Sum(got) == v.md5 {
			return nil
		}
		if n >= 0 && off+n <= v.size && bytes.Equal(got, v.bytes()[off:off+n]) {
			return nil
		}
	}
	w.stats.corrupt(fmt.Sprintf("%s bytes %d+%d: %d bytes differ from every version written", key, off, n,
		len(got)))
	return errMismatch
}

func (w *worker) list(ctx context.Context) error {
	_, err := w.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &w.bucket,
		Prefix: aws.String(fmt.Sprintf("w%02d/", w.id))})
	return err
}

func (w *worker) delete(ctx context.Context) error {
	key := w.key()
	return w.write(key, nil, func() error {
		_, err := w.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &w.bucket, Key: &key})
		return err
	})
}

func (w *worker) copy(ctx context.Context) error {
	src, v := w.present()
	if v == nil {
		return w.putSmall(ctx)
	}
	dst := w.key()
	if dst == src {
		return nil
	}
	return w.write(dst, v, func() error {
		_, err := w.client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &w.bucket, Key: &dst,
			CopySource: aws.String(w.bucket + "/" + src)})
		return err
	})
}

// verify reads back every key the soak wrote and checks it holds one of
// the versions it may hold; it returns the keys lost (absent though a
// write was acknowledged) and corrupted.
func verify(ctx context.Context, client *s3.Client, bucket string, wd *world, st *stats) (lost []string,
	checked int) {
	wd.mu.Lock()
	keys := make([]string, 0, len(wd.keys))
	for k := range wd.keys {
		keys = append(keys, k)
	}
	wd.mu.Unlock()
	sort.Strings(keys)
	w := &worker{client: client, bucket: bucket, stats: st}
	for _, k := range keys {
		want := wd.get(k)
		mayBeAbsent := false
		for _, v := range want {
			mayBeAbsent = mayBeAbsent || v == nil
		}
		var err error
		for attempt := 0; attempt < 5 && ctx.Err() == nil; attempt++ {
			err = w.check(ctx, k, want, 0, -1)
			if kind := errorKind(err); err == nil || kind != "transport" && kind != "ServiceUnavailable" {
				break
			}
			time.Sleep(time.Second) // a retry after a transport error, not a wait for a server
		}
		checked++
		var api smithy.APIError
		switch {
		case err == nil, errors.Is(err, errMismatch):
		case errors.As(err, &api) &&
			(api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NoSuchBucket"):
			if !mayBeAbsent {
				lost = append(lost, k)
			}
		default:
			st.corrupt(fmt.Sprintf("%s could not be read back: %v", k, err))
		}
	}
	return lost, checked
}

// Command soak drives mixed S3 traffic from many concurrent clients
// against "cloak serve" in front of a real MinIO server for a bounded
// time, killing and restarting MinIO now and then, and then reads back
// every object it was told was written.
//
// Each client owns its keys and remembers what it wrote (as a seed, not
// the bytes), so every read is checked as it happens and the final
// read-back is exact: an acknowledged write whose object is missing is
// lost, one whose bytes differ is corrupted. A write that failed may or
// may not have taken effect, so either version is accepted for it.
//
// It prints requests served and errors by operation and kind, the peak
// resident memory of the proxy process, and how many of the proxy's log
// lines reported possible tampering, and exits 1 if anything was lost or
// corrupted, any tampering was reported, or nothing was served.
//
// scripts/soak.sh builds Cloak, finds MinIO and runs this; see
// docs/OPERATIONS.md for the long form.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	soakAccess = "AKIACLOAKSOAK"
	soakSecret = "cloak-soak-client-secret-0123456789"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	cloak, minio string
	duration     time.Duration
	clients      int
	restartEvery time.Duration
	seed         uint64
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.cloak, "cloak", "bin/cloak", "the cloak binary")
	fs.StringVar(&o.minio, "minio", os.Getenv("CLOAK_MINIO_BIN"), "the MinIO server binary")
	fs.DurationVar(&o.duration, "duration", time.Minute, "how long to drive traffic")
	fs.IntVar(&o.clients, "clients", 8, "concurrent clients")
	fs.DurationVar(&o.restartEvery, "restart-every", 20*time.Second,
		"kill and restart MinIO this often (0: never)")
	fs.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "seed of the traffic mix")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.minio == "" {
		fmt.Fprintln(stderr, "soak: -minio (or CLOAK_MINIO_BIN) is required")
		return 2
	}
	if err := soak(o, stdout); err != nil {
		fmt.Fprintf(stderr, "soak: %v\n", err)
		return 1
	}
	return 0
}

func soak(o options, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "cloak-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m, err := startMinio(o.minio, filepath.Join(dir, "minio"))
	if err != nil {
		return err
	}
	defer m.kill()
	c, err := startCloak(o.cloak, filepath.Join(dir, "cloak"), m, soakAccess, soakSecret)
	if err != nil {
		return err
	}
	defer c.stop()
	client := newClient(c.endpoint)
	bucket := "soak"
	_, err = client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket})
	if err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	fmt.Fprintf(stdout, "soak: %d clients for %v against %s, MinIO restarted every %v, seed %d\n",
		o.clients, o.duration, c.endpoint, o.restartEvery, o.seed)

	wd := &world{keys: map[string]state{}}
	st := &stats{ok: map[string]int{}, errs: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var wg sync.WaitGroup
	for i := range o.clients {
		w := &worker{id: i, client: newClient(c.endpoint), bucket: bucket, world: wd, stats: st,
			rng: mrand.New(mrand.NewPCG(o.seed, uint64(i)))}
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx) }()
	}
	restartErr := make(chan error, 1)
	go func() { restartErr <- restartLoop(ctx, m, o.restartEvery) }()
	wg.Wait()
	if err := <-restartErr; err != nil {
		return err
	}

	vctx, vcancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer vcancel()
	lost, checked := verify(vctx, client, bucket, wd, st)
	rss, rssErr := c.peakRSS()
	report(stdout, st, m.restarts, checked, lost, rss, rssErr, c.log.tamperings())
	served := 0
	for _, n := range st.ok {
		served += n
	}
	switch {
	case len(lost) > 0 || len(st.corrupted) > 0:
		return fmt.Errorf("%d objects lost, %d corrupted", len(lost), len(st.corrupted))
	case c.log.tamperings() > 0:
		return fmt.Errorf("the proxy reported possible tampering %d times; its log ends:\n%s",
			c.log.tamperings(), c.log.String())
	case served == 0:
		return fmt.Errorf("no request succeeded; the proxy's log ends:\n%s", c.log.String())
	}
	return nil
}

// restartLoop kills and restarts MinIO every interval until ctx ends.
func restartLoop(ctx context.Context, m *minioServer, every time.Duration) error {
	if every <= 0 {
		return nil
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := m.restart(); err != nil {
				return fmt.Errorf("restart minio: %w", err)
			}
		}
	}
}

// newClient returns an S3 client of the soak's user with the SDK's
// standard retries (which ride out the MinIO restarts) and a bounded
// timeout per request.
func newClient(endpoint string) *s3.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 4}
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		HTTPClient:  &http.Client{Transport: tr, Timeout: 2 * time.Minute},
		Credentials: credentials.NewStaticCredentialsProvider(soakAccess, soakSecret, "")})
}

func report(w io.Writer, st *stats, restarts, checked int, lost []string, rss int64, rssErr error,
	tamperings int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	total := 0
	fmt.Fprintln(w, "requests served:")
	for _, k := range sortedKeys(st.ok) {
		fmt.Fprintf(w, "  %-12s %8d\n", k, st.ok[k])
		total += st.ok[k]
	}
	fmt.Fprintf(w, "  %-12s %8d\n", "total", total)
	fmt.Fprintln(w, "errors by kind:")
	for _, k := range sortedKeys(st.errs) {
		fmt.Fprintf(w, "  %-40s %6d\n", k, st.errs[k])
	}
	fmt.Fprintf(w, "MinIO restarts: %d\nobjects read back: %d\nlost: %d\ncorrupted: %d\n", restarts,
		checked, len(lost), len(st.corrupted))
	for _, k := range lost {
		fmt.Fprintf(w, "  lost: %s\n", k)
	}
	for _, c := range st.corrupted {
		fmt.Fprintf(w, "  corrupted: %s\n", c)
	}
	fmt.Fprintf(w, "possible tampering logged: %d\n", tamperings)
	if rssErr != nil {
		fmt.Fprintf(w, "peak RSS of the proxy: unknown (%v)\n", rssErr)
	} else {
		fmt.Fprintf(w, "peak RSS of the proxy: %d MiB\n", rss>>20)
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// runConfig is the command line of "loadgen run".
type runConfig struct {
	endpoint, access, secret, ca string
	bucket, target               string
	round                        int
	workloads                    string
	pids                         string // name=pid,... whose CPU time is reported
	out                          string // JSON lines appended here
	signed                       bool
	tolerate                     bool // count failures instead of stopping

	large, huge                   int64
	largeOps4, largeOps16, mibOps int
	rangeOps, smallOps            int
}

// The standard workloads, in the order they run; each GET workload reads
// what the PUT before it wrote.
var allWorkloads = []string{
	"put64-c4", "get64-c4", "put64-c16", "get64-c16",
	"put1m-c8", "get1m-c8", "mpu1g", "range1m-c8", "small4k-c16", "small4k-c1",
	"put1m-crc-c8", "mpu1g-crc",
}

func runCmd(args []string) error {
	var c runConfig
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&c.endpoint, "endpoint", "", "S3 endpoint `URL` (http or https)")
	fs.StringVar(&c.access, "access", "", "access key")
	fs.StringVar(&c.secret, "secret", "", "secret key")
	fs.StringVar(&c.ca, "ca", "", "PEM `file` of the CA of an https endpoint")
	fs.StringVar(&c.bucket, "bucket", "bench", "bucket (created when missing)")
	fs.StringVar(&c.target, "target", "", "name of the target in the results")
	fs.IntVar(&c.round, "round", 1, "round number in the results")
	fs.StringVar(&c.workloads, "workloads", strings.Join(allWorkloads, ","),
		"comma-separated `workloads` (also gethuge: GET the multipart object whole)")
	fs.StringVar(&c.pids, "pids", "", "`name=pid,...` of processes whose CPU time to report")
	fs.StringVar(&c.out, "out", "", "append results as JSON lines to `file`")
	fs.BoolVar(&c.signed, "signed-payload", false,
		"sign payloads (streaming SHA-256 over http) instead of UNSIGNED-PAYLOAD")
	fs.BoolVar(&c.tolerate, "tolerate-failures", false,
		"count failed operations and reads of wrong contents or sizes instead of stopping")
	fs.Int64Var(&c.large, "large", 64<<20, "size of the large objects in `bytes`")
	fs.Int64Var(&c.huge, "huge", 1<<30, "size of the multipart object in `bytes` (16 MiB parts)")
	fs.IntVar(&c.largeOps4, "large-ops-c4", 8, "large objects moved at 4 concurrent")
	fs.IntVar(&c.largeOps16, "large-ops-c16", 32, "large objects moved at 16 concurrent")
	fs.IntVar(&c.mibOps, "mib-ops", 256, "1 MiB objects moved")
	fs.IntVar(&c.rangeOps, "range-ops", 256, "1 MiB ranged GETs")
	fs.IntVar(&c.smallOps, "small-ops", 3000, "4 KiB operations (PUT, GET, HEAD in turn)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.endpoint == "" || c.target == "" {
		return errors.New("run: -endpoint and -target are required")
	}
	b, err := newBench(&c)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := b.ensureBucket(ctx); err != nil {
		return err
	}
	for _, name := range strings.Split(c.workloads, ",") {
		if name == "" {
			continue
		}
		w, ok := b.workload(name)
		if !ok {
			return fmt.Errorf("unknown workload %q", name)
		}
		res, err := b.measure(ctx, w)
		if err != nil {
			return fmt.Errorf("%s against %s: %w", name, c.target, err)
		}
		if err := b.emit(res); err != nil {
			return err
		}
	}
	return nil
}

// bench holds the clients of one run.
type bench struct {
	cfg  *runConfig
	core *minio.Core
}

func newBench(c *runConfig) (*bench, error) {
	u, err := url.Parse(c.endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	if u.Scheme == "https" {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if c.ca != "" {
			pem, err := os.ReadFile(c.ca)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no certificate", c.ca)
			}
			tr.TLSClientConfig.RootCAs = pool
		}
	}
	core, err := minio.NewCore(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.access, c.secret, ""),
		Secure:       u.Scheme == "https",
		Transport:    tr,
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, err
	}
	return &bench{cfg: c, core: core}, nil
}

func (b *bench) ensureBucket(ctx context.Context) error {
	ok, err := b.core.BucketExists(ctx, b.cfg.bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", b.cfg.bucket, err)
	}
	if ok {
		return nil
	}
	return b.core.MakeBucket(ctx, b.cfg.bucket, minio.MakeBucketOptions{})
}

// workload is one measured run of ops operations, conc at a time. op
// performs operation i and returns the payload bytes it moved.
type workload struct {
	name  string
	conc  int
	ops   int
	setup func(ctx context.Context) error
	op    func(ctx context.Context, i int, buf []byte) (int64, error)
}

func (b *bench) workload(name string) (workload, bool) {
	c := b.cfg
	large := func(n, conc int, put bool) workload {
		w := workload{name: name, conc: conc, ops: n}
		if put {
			w.op = func(ctx context.Context, i int, _ []byte) (int64, error) {
				return c.large, b.put(ctx, fmt.Sprintf("large/%d", i), int64(i), c.large)
			}
		} else {
			w.op = func(ctx context.Context, i int, buf []byte) (int64, error) {
				return c.large, b.get(ctx, fmt.Sprintf("large/%d", i), int64(i), 0, c.large, false, buf)
			}
		}
		return w
	}
	mib := func(put bool) workload {
		w := workload{name: name, conc: 8, ops: c.mibOps}
		crc := strings.Contains(name, "-crc")
		w.op = func(ctx context.Context, i int, buf []byte) (int64, error) {
			key, seed := fmt.Sprintf("mib/%d", i), int64(1000+i)
			if put && crc {
				return 1 << 20, b.putCRC(ctx, key, seed, 1<<20)
			}
			if put {
				return 1 << 20, b.put(ctx, key, seed, 1<<20)
			}
			return 1 << 20, b.get(ctx, key, seed, 0, 1<<20, false, buf)
		}
		return w
	}
	switch name {
	case "put64-c4":
		return large(c.largeOps4, 4, true), true
	case "get64-c4":
		return large(c.largeOps4, 4, false), true
	case "put64-c16":
		return large(c.largeOps16, 16, true), true
	case "get64-c16":
		return large(c.largeOps16, 16, false), true
	case "put1m-c8":
		return mib(true), true
	case "get1m-c8":
		return mib(false), true
	case "mpu1g":
		return workload{name: name, conc: 1, ops: 1,
			op: func(ctx context.Context, _ int, _ []byte) (int64, error) {
				return c.huge, b.putMultipart(ctx, "huge", hugeSeed, c.huge)
			}}, true
	case "put1m-crc-c8":
		return mib(true), true
	case "mpu1g-crc":
		return workload{name: name, conc: 1, ops: 1,
			op: func(ctx context.Context, _ int, _ []byte) (int64, error) {
				return c.huge, b.putMultipartCRC(ctx, "huge", hugeSeed, c.huge)
			}}, true
	case "gethuge":
		return workload{name: name, conc: 1, ops: 1,
			op: func(ctx context.Context, _ int, buf []byte) (int64, error) {
				return c.huge, b.get(ctx, "huge", hugeSeed, 0, c.huge, false, buf)
			}}, true
	case "range1m-c8":
		return b.rangeWorkload(name), true
	case "small4k-c16":
		return b.smallWorkload(name, 16), true
	case "small4k-c1":
		return b.smallWorkload(name, 1), true
	}
	return workload{}, false
}

const hugeSeed = 77

// rangeWorkload reads 1 MiB at random offsets of the multipart object
// (written by mpu1g, or here if missing).
func (b *bench) rangeWorkload(name string) workload {
	c := b.cfg
	const n = 1 << 20
	w := workload{name: name, conc: 8, ops: c.rangeOps}
	offsets := make([]int64, c.rangeOps)
	rng := rand.New(rand.NewPCG(uint64(c.round), 42))
	for i := range offsets {
		offsets[i] = rng.Int64N(c.huge - n)
	}
	w.setup = func(ctx context.Context) error {
		info, err := b.core.StatObject(ctx, c.bucket, "huge", minio.StatObjectOptions{})
		if err == nil && info.Size == c.huge {
			return nil
		}
		return b.putMultipart(ctx, "huge", hugeSeed, c.huge)
	}
	w.op = func(ctx context.Context, i int, buf []byte) (int64, error) {
		return n, b.get(ctx, "huge", hugeSeed, offsets[i], n, true, buf)
	}
	return w
}

// smallWorkload cycles PUT, GET and HEAD over 64 keys of 4 KiB, written
// once beforehand, conc at a time. At conc 1 its p50 is the cost of one
// small request, without queueing behind others: the figure the brief's
// "less than a millisecond more than the do-nothing proxy" speaks of.
func (b *bench) smallWorkload(name string, conc int) workload {
	const size, keys = 4 << 10, 64
	w := workload{name: name, conc: conc, ops: b.cfg.smallOps}
	key := func(i int) (string, int64) { k := i % keys; return fmt.Sprintf("small/%d", k), int64(5000 + k) }
	w.setup = func(ctx context.Context) error {
		for i := range keys {
			k, seed := key(i)
			if err := b.put(ctx, k, seed, size); err != nil {
				return err
			}
		}
		return nil
	}
	w.op = func(ctx context.Context, i int, buf []byte) (int64, error) {
		k, seed := key(i / 3)
		switch i % 3 {
		case 0:
			return size, b.put(ctx, k, seed, size)
		case 1:
			return size, b.get(ctx, k, seed, 0, size, false, buf)
		default:
			info, err := b.core.StatObject(ctx, b.cfg.bucket, k, minio.StatObjectOptions{})
			if err == nil && info.Size != size {
				err = fmt.Errorf("HEAD %s: size %d, want %d: %w", k, info.Size, size, errMismatch)
			}
			return 0, err
		}
	}
	return w
}

// put stores object seed of size bytes under key in one PUT.
func (b *bench) put(ctx context.Context, key string, seed, size int64) error {
	opts := minio.PutObjectOptions{DisableContentSha256: !b.cfg.signed,
		ContentType: "application/octet-stream"}
	_, err := b.core.PutObject(ctx, b.cfg.bucket, key, newObject(seed, size), size, "", "", opts)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", key, err)
	}
	return nil
}

// putMultipart stores object seed of size bytes under key as a multipart
// upload of 16 MiB parts, four parts in flight, as minio-go does by
// default.
func (b *bench) putMultipart(ctx context.Context, key string, seed, size int64) error {
	opts := minio.PutObjectOptions{DisableContentSha256: !b.cfg.signed, PartSize: 16 << 20,
		NumThreads: 4, ContentType: "application/octet-stream"}
	_, err := b.core.Client.PutObject(ctx, b.cfg.bucket, key, newObject(seed, size), size, opts)
	if err != nil {
		return fmt.Errorf("multipart PUT %s: %w", key, err)
	}
	return nil
}

// The -crc workloads send what current AWS SDKs and CLIs send by default
// (and minio-go with trailing headers on): a flexible checksum with every
// PUT and part, here x-amz-checksum-crc32c in a header, and no Content-MD5.

// putCRC is put with the body's CRC32C.
func (b *bench) putCRC(ctx context.Context, key string, seed, size int64) error {
	opts := minio.PutObjectOptions{DisableContentSha256: !b.cfg.signed,
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{"x-amz-checksum-crc32c": crc32c(newObject(seed, size), 0, size)}}
	_, err := b.core.PutObject(ctx, b.cfg.bucket, key, newObject(seed, size), size, "", "", opts)
	if err != nil {
		return fmt.Errorf("PUT %s: %w", key, err)
	}
	return nil
}

// putMultipartCRC is putMultipart with a CRC32C on every part: 16 MiB
// parts, four in flight.
func (b *bench) putMultipartCRC(ctx context.Context, key string, seed, size int64) error {
	const partSize = 16 << 20
	id, err := b.core.NewMultipartUpload(ctx, b.cfg.bucket, key, minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{"x-amz-checksum-algorithm": "CRC32C"}})
	if err != nil {
		return fmt.Errorf("create upload %s: %w", key, err)
	}
	n := int((size + partSize - 1) / partSize)
	parts := make([]minio.CompletePart, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	obj := newObject(seed, size)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			off := int64(i) * partSize
			ps := min(partSize, size-off)
			sum := crc32c(obj, off, ps)
			p, err := b.core.PutObjectPart(ctx, b.cfg.bucket, key, id, i+1, io.NewSectionReader(obj, off, ps), ps,
				minio.PutObjectPartOptions{DisableContentSha256: !b.cfg.signed,
					CustomHeader: http.Header{"X-Amz-Checksum-Crc32c": {sum}}})
			if err != nil {
				errs <- fmt.Errorf("part %d of %s: %w", i+1, key, err)
				return
			}
			parts[i] = minio.CompletePart{PartNumber: i + 1, ETag: p.ETag, ChecksumCRC32C: sum}
			errs <- nil
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		_ = b.core.AbortMultipartUpload(ctx, b.cfg.bucket, key, id)
		return first
	}
	if _, err := b.core.CompleteMultipartUpload(ctx, b.cfg.bucket, key, id, parts, minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("complete %s: %w", key, err)
	}
	return nil
}

// crc32c returns the base64 CRC32C of bytes [off, off+n) of o.
func crc32c(o *object, off, n int64) string {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.Copy(h, io.NewSectionReader(o, off, n)); err != nil {
		panic(err) // generated data cannot fail to read
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// get reads n bytes of key from off (the whole object when ranged is
// false) and checks them against object seed.
func (b *bench) get(ctx context.Context, key string, seed, off, n int64, ranged bool, buf []byte) error {
	var opts minio.GetObjectOptions
	if ranged {
		if err := opts.SetRange(off, off+n-1); err != nil {
			return err
		}
	}
	rc, _, _, err := b.core.GetObject(ctx, b.cfg.bucket, key, opts)
	if err != nil {
		return fmt.Errorf("GET %s: %w", key, err)
	}
	defer rc.Close()
	if err := verify(rc, seed, off, n, buf); err != nil {
		return fmt.Errorf("GET %s [%d, %d): %w", key, off, off+n, err)
	}
	return nil
}

// result is one workload's measurement, one JSON line of the results.
type result struct {
	Target   string             `json:"target"`
	Round    int                `json:"round"`
	Workload string             `json:"workload"`
	Ops      int                `json:"ops"`
	Bytes    int64              `json:"bytes"`
	Seconds  float64            `json:"seconds"`
	MBps     float64            `json:"mb_per_s"`
	OpsPerS  float64            `json:"ops_per_s"`
	P50ms    float64            `json:"p50_ms"`
	P99ms    float64            `json:"p99_ms"`
	CPU      map[string]float64 `json:"cpu_s,omitempty"`
	// Mismatches counts reads that returned wrong contents or sizes, and
	// Failures other failed operations, both tolerated with
	// -tolerate-failures.
	Mismatches int64   `json:"mismatches,omitempty"`
	Failures   int64   `json:"failures,omitempty"`
	Load1      float64 `json:"load1"`
}

// measure runs w: its setup, untimed, then its operations with w.conc
// workers, recording each operation's latency and the CPU time of the
// watched processes over the timed part.
func (b *bench) measure(ctx context.Context, w workload) (result, error) {
	if w.setup != nil {
		if err := w.setup(ctx); err != nil {
			return result{}, fmt.Errorf("setup: %w", err)
		}
	}
	procs, err := parsePIDs(b.cfg.pids)
	if err != nil {
		return result{}, err
	}
	cpu0 := cpuTimes(procs)
	lat := make([]time.Duration, w.ops)
	var next, moved, mismatches, failures atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range w.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512<<10)
			for {
				i := int(next.Add(1) - 1)
				if i >= w.ops {
					return
				}
				t := time.Now()
				n, err := w.op(ctx, i, buf)
				lat[i] = time.Since(t)
				if err != nil && b.cfg.tolerate {
					if errors.Is(err, errMismatch) {
						mismatches.Add(1)
					} else {
						failures.Add(1)
					}
					err = nil
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(w.ops)) // stop the others
					return
				}
				moved.Add(n)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return result{}, firstErr
	}
	cpu1 := cpuTimes(procs)
	res := result{Target: b.cfg.target, Round: b.cfg.round, Workload: w.name, Ops: w.ops,
		Bytes: moved.Load(), Seconds: elapsed.Seconds(), Load1: load1(),
		Mismatches: mismatches.Load(), Failures: failures.Load()}
	res.MBps = float64(res.Bytes) / 1e6 / res.Seconds
	res.OpsPerS = float64(w.ops) / res.Seconds
	slices.Sort(lat)
	res.P50ms = ms(percentile(lat, 50))
	res.P99ms = ms(percentile(lat, 99))
	if len(procs) > 0 {
		res.CPU = map[string]float64{}
		for name := range procs {
			res.CPU[name] = cpu1[name] - cpu0[name]
		}
	}
	return res, nil
}

func (b *bench) emit(r result) error {
	fmt.Println(r.line())
	if b.cfg.out == "" {
		return nil
	}
	f, err := os.OpenFile(b.cfg.out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	return json.NewEncoder(f).Encode(r)
}

// line is the human-readable form of r.
func (r result) line() string {
	round := fmt.Sprintf("r%d", r.Round)
	if r.Round == 0 {
		round = "med"
	}
	s := fmt.Sprintf("%-10s %-3s %-12s %8.1f MB/s %9.1f ops/s  p50 %8.2f ms  p99 %8.2f ms",
		r.Target, round, r.Workload, r.MBps, r.OpsPerS, r.P50ms, r.P99ms)
	for _, name := range sortedKeys(r.CPU) {
		s += fmt.Sprintf("  cpu(%s) %.2fs", name, r.CPU[name])
	}
	if r.Mismatches > 0 {
		s += fmt.Sprintf("  MISMATCHES %d", r.Mismatches)
	}
	if r.Failures > 0 {
		s += fmt.Sprintf("  FAILURES %d", r.Failures)
	}
	return s + fmt.Sprintf("  load %.2f", r.Load1)
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func parsePIDs(s string) (map[string]int, error) {
	m := map[string]int{}
	for _, e := range strings.Split(s, ",") {
		if e == "" {
			continue
		}
		name, pid, ok := strings.Cut(e, "=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil {
			return nil, fmt.Errorf("-pids: %q is not name=pid", e)
		}
		m[name] = n
	}
	return m, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on Linux.
const clockTicks = 100

// cpuTimes returns the user plus system CPU seconds of each process so
// far, from /proc/PID/stat (and 0 for a process that cannot be read).
func cpuTimes(procs map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range procs {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name, which may hold spaces and
		// ends at the last ')': state is field 3, utime 14, stime 15.
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		out[name] = (u + k) / clockTicks
	}
	return out
}

func load1() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

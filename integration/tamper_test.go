package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
)

// The store-tampering scenario: an adversary with write access to the
// backing store (a storage administrator, a stolen storage credential)
// changes what Cloak wrote, acting on the store directly. Every GET through
// Cloak that touches the damage, whole or ranged, must fail without
// returning a byte of the damaged region, and be logged as possible
// tampering; ranges that need no damaged chunk succeed, as docs/FORMAT.md
// (sections 5 and 6) allows.

const tamperChunk = crypto.ChunkSize

// tamperSingleSize is five full chunks and a short last one, so damage can
// be placed in a middle chunk, at a chunk boundary and in the trailer.
const tamperSingleSize = 5*tamperChunk + 1000

// tamperParts are the part sizes of the multipart victim.
var tamperParts = []int{5 * mib, 5 * mib, 1000}

// logBuffer collects a server's log output; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines that contain every one of words.
func (l *logBuffer) lines(words ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		all := line != ""
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// tamperObserver keeps what the proxy tells its Observer (on which the
// audit log and its alerts are built) about requests that found tampering.
type tamperObserver struct {
	mu      sync.Mutex
	flagged []proxy.Summary
}

func (o *tamperObserver) Admit(*http.Request) error { return nil }

func (o *tamperObserver) Done(s *proxy.Summary) {
	if s.Tampered {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.flagged = append(o.flagged, *s)
	}
}

func (o *tamperObserver) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.flagged)
}

func (o *tamperObserver) last() proxy.Summary {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.flagged[len(o.flagged)-1]
}

// tamperEnv is one store written through Cloak, with the clean stored form
// of every victim kept so each attack starts from an intact store.
type tamperEnv struct {
	*env
	opts  proxy.Options
	logs  *logBuffer
	seen  *tamperObserver
	plain map[string][]byte // victim key -> plaintext
	clean map[string]rawObject
	// older is the stored form of a previous version of "single".
	older rawObject
	// upload is a multipart upload in progress, with parts 1 and 2 sent.
	upload string
}

type rawObject struct {
	body []byte
	meta map[string]string
}

// A tamperCase damages the store. good is how many plaintext bytes of the
// victim lie before the damage and bad where the undamaged plaintext
// resumes (0 when the damage reaches to the end): a range within [0, good)
// or [bad, end) needs no damaged chunk and must succeed; any other read
// must fail and return nothing from good on. code is the S3 error of a
// request refused before any data is sent.
type tamperCase struct {
	name      string
	victim    string
	damage    func(t *testing.T, te *tamperEnv)
	good, bad int64
	code      string
}

func tamperCases() []tamperCase {
	single := func(f func(body []byte) []byte) func(*testing.T, *tamperEnv) {
		return func(t *testing.T, te *tamperEnv) {
			c := te.clean["single"]
			te.putRaw(t, "single", f(bytes.Clone(c.body)), c.meta)
		}
	}
	chunkAt := func(i int) int { return crypto.HeaderSize + i*(tamperChunk+crypto.TagSize) }
	segs := segmentOffsets(tamperParts)
	multi := func(f func(body []byte) []byte) func(*testing.T, *tamperEnv) {
		return func(t *testing.T, te *tamperEnv) {
			c := te.clean["multi"]
			te.putRaw(t, "multi", f(bytes.Clone(c.body)), c.meta)
		}
	}
	return []tamperCase{
		{"flipped byte in chunk 2", "single", single(func(b []byte) []byte {
			b[chunkAt(2)+100] ^= 0x40
			return b
		}), 2 * tamperChunk, 3 * tamperChunk, "InternalError"},
		{"truncated at a chunk boundary", "single", single(func(b []byte) []byte {
			return b[:chunkAt(3)] // chunks 0..2 left, no final chunk, no trailer
		}), 2 * tamperChunk, 0, "InternalError"},
		{"trailer cut short", "single", single(func(b []byte) []byte {
			return b[:len(b)-crypto.TrailerSize/2]
		}), 5 * tamperChunk, 0, "InternalError"},
		{"one byte appended", "single", single(func(b []byte) []byte {
			return append(b, 0)
		}), 5 * tamperChunk, 0, "InternalError"},
		{"a chunk's worth appended", "single", single(func(b []byte) []byte {
			return append(b, b[chunkAt(0):chunkAt(1)]...)
		}), 5 * tamperChunk, 0, "InternalError"},
		{"chunks 1 and 2 swapped", "single", single(func(b []byte) []byte {
			c1 := bytes.Clone(b[chunkAt(1):chunkAt(2)])
			copy(b[chunkAt(1):], b[chunkAt(2):chunkAt(3)])
			copy(b[chunkAt(2):], c1)
			return b
		}), tamperChunk, 3 * tamperChunk, "InternalError"},
		{"another object's body", "single", func(t *testing.T, te *tamperEnv) {
			te.putRaw(t, "single", te.clean["other"].body, te.clean["single"].meta)
		}, 0, 0, "InternalError"},
		{"another object's metadata", "single", func(t *testing.T, te *tamperEnv) {
			te.putRaw(t, "single", te.clean["single"].body, te.clean["other"].meta)
		}, 0, 0, "InternalError"},
		{"previous version's metadata (wrapped key and sealed record)", "single",
			func(t *testing.T, te *tamperEnv) {
				te.putRaw(t, "single", te.clean["single"].body, te.older.meta)
			}, 0, 0, "InternalError"},
		{"previous version's wrapped key only", "single", func(t *testing.T, te *tamperEnv) {
			meta := cloneMeta(te.clean["single"].meta)
			meta["cloak-env"] = te.older.meta["cloak-env"]
			te.putRaw(t, "single", te.clean["single"].body, meta)
		}, 0, 0, "InternalError"},
		{"wrapped key altered", "single", func(t *testing.T, te *tamperEnv) {
			meta := cloneMeta(te.clean["single"].meta)
			meta["cloak-env"] = alterWrappedKey(t, meta["cloak-env"])
			te.putRaw(t, "single", te.clean["single"].body, meta)
		}, 0, 0, "InternalError"},
		{"envelope metadata stripped", "single", func(t *testing.T, te *tamperEnv) {
			te.putRaw(t, "single", te.clean["single"].body, nil)
		}, 0, 0, "InvalidObjectState"},
		{"plaintext planted under the name", "single", func(t *testing.T, te *tamperEnv) {
			te.putRaw(t, "single", te.plain["single"], nil)
		}, 0, 0, "InvalidObjectState"},
		{"middle part dropped", "multi", multi(func(b []byte) []byte {
			return append(b[:segs[1]], b[segs[2]:]...)
		}), 0, 0, "InternalError"},
		{"truncated at a part boundary", "multi", multi(func(b []byte) []byte {
			return b[:segs[2]]
		}), 0, 0, "InternalError"},
		{"parts 1 and 2 swapped", "multi", multi(func(b []byte) []byte {
			p1 := bytes.Clone(b[segs[0]:segs[1]])
			copy(b[segs[0]:], b[segs[1]:segs[2]])
			copy(b[segs[1]:], p1)
			return b
		}), 0, int64(2 * tamperParts[0]), "InternalError"},
		{"flipped byte in part 2", "multi", multi(func(b []byte) []byte {
			b[segs[1]+crypto.HeaderSize+10] ^= 1
			return b
		}), int64(tamperParts[0]), int64(tamperParts[0] + tamperChunk), "InternalError"},
		{"manifest deleted", "multi", func(t *testing.T, te *tamperEnv) {
			if err := te.store.DeleteObject(context.Background(), "tamper",
				te.manifestOf(t, "multi")); err != nil {
				t.Fatal(err)
			}
		}, 0, 0, "InternalError"},
		{"another object's manifest", "multi", func(t *testing.T, te *tamperEnv) {
			m := te.raw2(t, te.manifestOf(t, "multi2"))
			te.putRaw(t, te.manifestOf(t, "multi"), m.body, m.meta)
		}, 0, 0, "InternalError"},
	}
}

// segmentOffsets returns where each part's segment starts in the stored
// body of a multipart object, and (last) where the body ends.
func segmentOffsets(parts []int) []int {
	offs := []int{0}
	for _, p := range parts {
		offs = append(offs, offs[len(offs)-1]+int(crypto.SegmentCiphertextSize(int64(p))))
	}
	return offs
}

func cloneMeta(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// alterWrappedKey flips one bit of the wrapped data key in an envelope.
func alterWrappedKey(t *testing.T, text string) string {
	t.Helper()
	var env crypto.Envelope
	if err := env.UnmarshalText([]byte(text)); err != nil {
		t.Fatal(err)
	}
	env.WrappedKey.Ciphertext[len(env.WrappedKey.Ciphertext)/2] ^= 1
	out, err := env.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestTamper_StoreWriteAttacksAreDetected(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			te := newTamperEnv(t, b.open(t))
			for _, c := range tamperCases() {
				t.Run(c.name, func(t *testing.T) {
					te.restore(t)
					c.damage(t, te)
					te.expectRefused(t, c)
				})
			}
			t.Run("part record dropped during an upload", func(t *testing.T) {
				te.dropPartRecord(t)
			})
			t.Run("envelope stripped in a migrating bucket", func(t *testing.T) {
				// Where objects without an envelope are served as they
				// are, ciphertext stripped of its envelope must still
				// not be served as data.
				te.restore(t)
				te.putRaw(t, "single", te.clean["single"].body, nil)
				opts := te.opts
				opts.Migrating = func(bucket, key string) bool { return true }
				te.expectRefusedBy(t, tamperCase{victim: "single", code: "InternalError"}, opts)
			})
		})
	}
}

func newTamperEnv(t *testing.T, store backend.Store) *tamperEnv {
	ring := crypto.NewMemoryKeyRing(nil)
	kek := make([]byte, 32)
	rand.Read(kek)
	if err := ring.Add("test-master", 1, kek); err != nil {
		t.Fatal(err)
	}
	te := &tamperEnv{logs: &logBuffer{}, seen: &tamperObserver{}, plain: map[string][]byte{},
		clean: map[string]rawObject{}}
	te.opts = proxy.Options{Keys: ring, Logger: slog.New(slog.NewTextHandler(te.logs, nil)),
		Observer: te.seen}
	te.env = newEnv(t, store, te.opts)
	ctx := context.Background()
	te.mkBucket(t, "tamper")
	put := func(key string, data []byte) {
		if _, err := te.aws.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tamper"),
			Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	put("single", randomBytes(tamperSingleSize))
	te.older = te.raw2(t, "single")
	te.plain["single"] = randomBytes(tamperSingleSize)
	put("single", te.plain["single"])
	te.plain["other"] = randomBytes(tamperSingleSize)
	put("other", te.plain["other"])
	for _, key := range []string{"multi", "multi2"} {
		var parts [][]byte
		for _, n := range tamperParts {
			parts = append(parts, randomBytes(n))
		}
		uploadParts(t, te.env, "tamper", key, parts)
		te.plain[key] = bytes.Join(parts, nil)
	}
	for _, key := range []string{"single", "other", "multi", "multi2"} {
		te.clean[key] = te.raw2(t, key)
	}
	for _, key := range []string{"multi", "multi2"} {
		m := te.manifestOf(t, key)
		te.clean[m] = te.raw2(t, m)
	}
	return te
}

// raw2 returns what the store holds for key in the tamper bucket.
func (te *tamperEnv) raw2(t *testing.T, key string) rawObject {
	t.Helper()
	body, meta := te.raw(t, "tamper", key)
	return rawObject{body, cloneMeta(meta)}
}

func (te *tamperEnv) putRaw(t *testing.T, key string, body []byte, meta map[string]string) {
	t.Helper()
	if _, err := te.store.PutObject(context.Background(), "tamper", key, bytes.NewReader(body),
		int64(len(body)), backend.PutOptions{Metadata: meta}); err != nil {
		t.Fatalf("write %s to the store: %v", key, err)
	}
}

// manifestOf returns the store key of a multipart object's manifest, as
// docs/ARCHITECTURE.md's storage mapping places it.
func (te *tamperEnv) manifestOf(t *testing.T, key string) string {
	t.Helper()
	meta := te.clean[key].meta
	if meta == nil {
		head, err := te.store.HeadObject(context.Background(), "tamper", key)
		if err != nil {
			t.Fatal(err)
		}
		meta = head.Metadata
	}
	return ".cloak/manifests/" + meta["cloak-mpu"]
}

// restore puts every victim back as Cloak wrote it.
func (te *tamperEnv) restore(t *testing.T) {
	t.Helper()
	for key, c := range te.clean {
		te.putRaw(t, key, c.body, c.meta)
	}
}

// tamperRanges are the reads tried on each damaged object: plaintext
// [off, end] (end -1 for a whole GET), around chunk and part boundaries.
func tamperRanges(victim string) [][2]int64 {
	const c = tamperChunk
	if victim == "multi" {
		p := int64(tamperParts[0])
		return [][2]int64{{0, -1}, {0, 99}, {p - c, p - 1}, {p - 10, p + 10}, {p + c, p + c + 10},
			{2 * p, 2*p + 999}}
	}
	return [][2]int64{{0, -1}, {0, 0}, {0, c - 1}, {c, 2*c - 1}, {2*c - 5, 2*c + 5}, {3 * c, 3*c + 10},
		{5*c - 1, 5*c + 5}, {tamperSingleSize - 10, tamperSingleSize - 1}}
}

// expectRefused reads the damaged victim through a fresh Cloak instance
// (which has cached nothing about it, as another instance would not) in
// every range of tamperRanges.
func (te *tamperEnv) expectRefused(t *testing.T, c tamperCase) {
	t.Helper()
	te.expectRefusedBy(t, c, te.opts)
}

// expectRefusedBy is expectRefused through a Cloak with opts.
func (te *tamperEnv) expectRefusedBy(t *testing.T, c tamperCase, opts proxy.Options) {
	t.Helper()
	fresh := newEnv(t, te.store, opts).noRetries()
	want := te.plain[c.victim]
	for _, r := range tamperRanges(c.victim) {
		off, end := r[0], r[1]
		whole := end < 0
		if whole {
			end = int64(len(want)) - 1
		}
		name := fmt.Sprintf("bytes %d-%d", off, end)
		before := tamperReports{len(te.logs.lines("possible_tampering=true")), te.seen.count()}
		got, err, refused := getSome(fresh, c.victim, off, end, whole)
		if !whole && (end < c.good || c.bad > 0 && off >= c.bad) {
			if err != nil || !bytes.Equal(got, want[off:end+1]) {
				t.Errorf("%s lies outside the damage but failed (%d bytes, %v)", name, len(got), err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: read %d bytes of the damaged object without an error", name, len(got))
			continue
		}
		// All that arrived is genuine plaintext from before the damage.
		if off+int64(len(got)) > max(c.good, off) || !bytes.Equal(got, want[off:off+int64(len(got))]) {
			t.Errorf("%s: %d bytes returned, reaching into the damaged region", name, len(got))
		}
		if refused != nil && refused.ErrorCode() == "InvalidRange" {
			// The damage changed the stored size, so the range lies
			// past the end the object now seems to have.
			continue
		}
		if refused != nil && refused.ErrorCode() != c.code {
			t.Errorf("%s: refused with %s, want %s", name, refused.ErrorCode(), c.code)
		}
		te.expectTamperingReported(t, name, before)
	}
}

// tamperReports counts the reports of tampering so far: log lines, and
// requests the Observer was told found tampering.
type tamperReports struct{ logged, observed int }

// expectTamperingReported checks that the failed read was logged at error
// level as possible tampering, and reported to the Observer (which feeds
// the audit log and the alert on ciphertext that fails authentication)
// as a tampered request for the victim.
func (te *tamperEnv) expectTamperingReported(t *testing.T, name string, before tamperReports) {
	t.Helper()
	lines := te.logs.lines("possible_tampering=true")
	if len(lines) <= before.logged {
		t.Errorf("%s: the failure was not logged as possible tampering", name)
		return
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "level=ERROR") ||
		!strings.Contains(last, "key=single") && !strings.Contains(last, "key=multi") {
		t.Errorf("%s: tampering logged as %q", name, last)
	}
	if te.seen.count() <= before.observed {
		t.Errorf("%s: the Observer was not told of the tampering", name)
		return
	}
	// A read cut off mid-body has sent its 200 already; its code says
	// how it ended.
	if s := te.seen.last(); s.Op != "GetObject" || s.Bucket != "tamper" || s.Code == "" {
		t.Errorf("%s: tampering reported as %+v", name, s)
	}
}

// getSome GETs [off, end] of the victim (the whole object when whole) and
// returns what arrived, the first error, and the S3 error when the request
// was refused before any data was sent.
func getSome(client *s3.Client, key string, off, end int64, whole bool) ([]byte, error, s3Coded) {
	in := &s3.GetObjectInput{Bucket: aws.String("tamper"), Key: aws.String(key)}
	if !whole {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, end))
	}
	out, err := client.GetObject(context.Background(), in)
	if err != nil {
		var coded s3Coded
		errors.As(err, &coded)
		return nil, err, coded
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err == nil && int64(len(got)) != end-off+1 {
		err = fmt.Errorf("%d bytes for a range of %d", len(got), end-off+1)
	}
	return got, err, nil
}

// s3Coded is what the SDK's API errors implement.
type s3Coded interface{ ErrorCode() string }

// dropPartRecord removes the record of an uploaded part from the store
// while the upload is in progress: ListParts no longer shows the part and
// completing with it fails, so no object is made of parts Cloak cannot
// vouch for.
func (te *tamperEnv) dropPartRecord(t *testing.T) {
	ctx := context.Background()
	cr, err := te.aws.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("tamper"), Key: aws.String("inflight")})
	if err != nil {
		t.Fatal(err)
	}
	var done []s3types.CompletedPart
	for i, n := range []int{5 * mib, 1000} {
		out, err := te.aws.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("tamper"),
			Key: aws.String("inflight"), UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)),
			Body: bytes.NewReader(randomBytes(n))})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	recs, err := te.store.ListObjects(ctx, "tamper", backend.ListOptions{Prefix: ".cloak/uploads/"})
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for _, o := range recs.Objects {
		if strings.Contains(o.Key, "/p00001.") {
			if err := te.store.DeleteObject(ctx, "tamper", o.Key); err != nil {
				t.Fatal(err)
			}
			dropped++
		}
	}
	if dropped != 1 {
		t.Fatalf("found %d records of part 1 in the store, want 1", dropped)
	}
	lp, err := te.aws.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("tamper"),
		Key: aws.String("inflight"), UploadId: cr.UploadId})
	if err != nil || len(lp.Parts) != 1 || aws.ToInt32(lp.Parts[0].PartNumber) != 2 {
		t.Fatalf("ListParts after the record was dropped: %v %+v", err, lp)
	}
	_, err = te.noRetries().CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("tamper"), Key: aws.String("inflight"), UploadId: cr.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}})
	assertS3Code(t, err, "InvalidPart")
	if _, err := te.store.HeadObject(ctx, "tamper", "inflight"); err == nil {
		t.Fatal("the upload completed although a part's record was dropped")
	}
}

package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// memSink keeps what it is given.
type memSink struct {
	buf  bytes.Buffer
	fail atomic.Bool
}

func (m *memSink) Name() string { return "mem" }
func (m *memSink) Write(b []byte) error {
	if m.fail.Load() {
		return fmt.Errorf("sink down")
	}
	m.buf.Write(b)
	return nil
}
func (m *memSink) Close() error { return nil }

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeLog logs n requests through a Logger with a checkpoint every
// `every` records and returns the lines.
func writeLog(t *testing.T, key ed25519.PrivateKey, writer string, n, every int) []string {
	t.Helper()
	sink := &memSink{}
	l, err := New(Options{Writer: writer, Key: key, Sinks: []Sink{sink}, CheckpointEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		l.Log(Record{Action: "GetObject", Bucket: "b", Key: fmt.Sprintf("k%d", i), Status: 200, User: "alice"})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(sink.buf.String(), "\n"), "\n")
}

func verifyLines(lines []string, trusted ed25519.PrivateKey, live bool) *Result {
	src := Source{Name: "log", Data: []byte(strings.Join(lines, "\n") + "\n")}
	opts := VerifyOptions{Live: live}
	if trusted != nil {
		opts.Trusted = []ed25519.PublicKey{trusted.Public().(ed25519.PublicKey)}
	}
	return Verify([]Source{src}, opts)
}

func TestVerifyUntouchedLog(t *testing.T) {
	key := newKey(t)
	lines := writeLog(t, key, "w1", 25, 10)
	// 25 records, checkpoints after 10 and 20, and the final one.
	if len(lines) != 28 {
		t.Fatalf("%d lines, want 28", len(lines))
	}
	res := verifyLines(lines, key, false)
	if !res.OK() {
		t.Fatalf("untouched log fails: %v", res.Problems)
	}
	c := res.Chains[0]
	if c.Records != 28 || !c.Final || c.Signed != 28 || c.Unproven != 0 {
		t.Fatalf("chain %+v", c)
	}
	if len(res.Warnings) != 0 {
		t.Fatalf("warnings: %v", res.Warnings)
	}
}

// rehash rewrites lines[i:] so that each links to the one before it, as
// a forger would after an edit, keeping checkpoint signatures as they
// were.
func rehash(t *testing.T, lines []string, from int) {
	for i := from; i < len(lines); i++ {
		var r Record
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatal(err)
		}
		r.Prev = lineHash([]byte(lines[i-1]))
		b, _ := json.Marshal(&r)
		lines[i] = string(b)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	key := newKey(t)
	cases := []struct {
		name   string
		edit   func(lines []string) []string
		line   int // the line the problem must name
		phrase string
	}{
		{"edited record", func(l []string) []string {
			l[4] = strings.Replace(l[4], `"key":"k4"`, `"key":"kX"`, 1)
			return l
		}, 6, "line broken"},
		{"deleted record", func(l []string) []string {
			return append(l[:4:4], l[5:]...)
		}, 5, "records 5 to 5 are missing"},
		{"reordered records", func(l []string) []string {
			l[3], l[4] = l[4], l[3]
			return l
		}, 4, "missing"},
		{"truncated tail", func(l []string) []string {
			return l[:len(l)-3]
		}, 25, "no final checkpoint"},
		{"edited and rehashed", func(l []string) []string {
			l[4] = strings.Replace(l[4], `"status":200`, `"status":403`, 1)
			rehash(t, l, 5)
			return l
		}, 11, "signature is invalid"},
		{"forged checkpoint", func(l []string) []string {
			l[4] = strings.Replace(l[4], `"user":"alice"`, `"user":"mallory"`, 1)
			rehash(t, l, 5)
			forger := newKey(t)
			for i := 5; i < len(l); i++ {
				var r Record
				_ = json.Unmarshal([]byte(l[i]), &r)
				r.Prev = lineHash([]byte(l[i-1]))
				if r.Kind == KindCheckpoint {
					sign(&r, forger)
				}
				b, _ := json.Marshal(&r)
				l[i] = string(b)
			}
			return l
		}, 11, "untrusted key"},
		{"inserted record", func(l []string) []string {
			out := append([]string{}, l[:3]...)
			out = append(out, l[2])
			return append(out, l[3:]...)
		}, 4, "out of order or repeated"},
		{"final checkpoint's time edited", func(l []string) []string {
			var r Record
			_ = json.Unmarshal([]byte(l[len(l)-1]), &r)
			r.Time = r.Time.Add(-time.Hour)
			b, _ := json.Marshal(&r)
			l[len(l)-1] = string(b)
			return l
		}, 28, "signature is invalid"},
		{"garbage line", func(l []string) []string {
			l[7] = `{"writer":"w1"`
			return l
		}, 8, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines := tc.edit(writeLog(t, key, "w1", 25, 10))
			res := verifyLines(lines, key, false)
			if res.OK() {
				t.Fatal("tampered log verifies")
			}
			p := res.Problems[0]
			if p.Line != tc.line || !strings.Contains(p.String(), tc.phrase) && !strings.Contains(p.String(),
				strings.ReplaceAll(tc.phrase, "line", "link")) {
				t.Fatalf("first problem %q, want line %d with %q (all: %v)", p, tc.line, tc.phrase, res.Problems)
			}
		})
	}
}

func TestVerifyLiveLogWarnsOfUnprovenTail(t *testing.T) {
	key := newKey(t)
	lines := writeLog(t, key, "w1", 25, 10)
	lines = lines[:len(lines)-1] // as if still running: no final checkpoint
	res := verifyLines(lines, key, true)
	if !res.OK() {
		t.Fatalf("live log fails: %v", res.Problems)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "5 records after seq 22") {
		t.Fatalf("warnings %v", res.Warnings)
	}
}

func TestVerifyWithoutTrustedKeyWarns(t *testing.T) {
	res := verifyLines(writeLog(t, newKey(t), "w1", 3, 10), nil, false)
	if !res.OK() || len(res.Warnings) != 1 {
		t.Fatalf("problems %v warnings %v", res.Problems, res.Warnings)
	}
}

func TestSeveralWritersVerifyIndependently(t *testing.T) {
	key := newKey(t)
	a := writeLog(t, key, "a", 12, 5)
	b := writeLog(t, key, "b", 7, 5)
	var mixed []string
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			mixed = append(mixed, a[i])
		}
		if i < len(b) {
			mixed = append(mixed, b[i])
		}
	}
	res := verifyLines(mixed, key, false)
	if !res.OK() || len(res.Chains) != 2 {
		t.Fatalf("problems %v chains %+v", res.Problems, res.Chains)
	}
	// Breaking writer b leaves writer a's chain sound.
	for i, l := range mixed {
		if strings.Contains(l, `"writer":"b","seq":3,`) {
			mixed = append(mixed[:i:i], mixed[i+1:]...)
			break
		}
	}
	res = verifyLines(mixed, key, false)
	if len(res.Problems) != 1 || res.Problems[0].Writer != "b" {
		t.Fatalf("problems %v", res.Problems)
	}
}

func TestFileRotationKeepsTheChain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	sink, err := OpenFile(path, 2000)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	l, err := New(Options{Writer: "w", Key: key, Sinks: []Sink{sink}, CheckpointEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		l.Log(Record{Action: "PutObject", Bucket: "b", Key: fmt.Sprint(i), Status: 200})
		if i%5 == 4 {
			waitWritten(t, l, uint64(i+1))
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(files) < 3 {
		t.Fatalf("%d files, want rotation into at least 3", len(files))
	}
	srcs, err := ReadFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if srcs[len(srcs)-1].Name != path {
		t.Fatalf("live file not last: %v", srcs[len(srcs)-1].Name)
	}
	pub := key.Public().(ed25519.PublicKey)
	res := Verify(srcs, VerifyOptions{Trusted: []ed25519.PublicKey{pub}})
	if !res.OK() || res.Chains[0].Records != 60+8+1 {
		t.Fatalf("problems %v chains %+v", res.Problems, res.Chains)
	}
	// Dropping a middle file is a gap.
	res = Verify(append(srcs[:1:1], srcs[2:]...), VerifyOptions{Trusted: []ed25519.PublicKey{pub}})
	if res.OK() || !strings.Contains(res.Problems[0].Message, "missing") {
		t.Fatalf("problems %v", res.Problems)
	}
}

// waitWritten waits until l's first sink has stored at least n lines, so
// that batches stay small.
func waitWritten(t *testing.T, l *Logger, n uint64) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st, _, _ := l.Stats(); st[0].Written >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d lines not written in time", n)
}

func TestFailingSinkKeepsRecordsAndRecovers(t *testing.T) {
	sink := &memSink{}
	sink.fail.Store(true)
	key := newKey(t)
	l, err := New(Options{Writer: "w", Key: key, Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(Record{Action: "GetObject", Status: 200})
	deadline := time.Now().Add(5 * time.Second)
	for l.Healthy() == nil {
		if time.Now().After(deadline) {
			t.Fatal("failing sink never reported")
		}
		time.Sleep(time.Millisecond)
	}
	st, _, _ := l.Stats()
	if st[0].Healthy || st[0].Failed == 0 {
		t.Fatalf("stats %+v", st)
	}
	sink.fail.Store(false)
	l.Log(Record{Action: "GetObject", Status: 200})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res := Verify([]Source{{Name: "mem", Data: sink.buf.Bytes()}},
		VerifyOptions{Trusted: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
	if !res.OK() || res.Chains[0].Records != 3 {
		t.Fatalf("problems %v chains %+v", res.Problems, res.Chains)
	}
}

func TestReportSummarises(t *testing.T) {
	sink := &memSink{}
	l, _ := New(Options{Writer: "w", Key: newKey(t), Sinks: []Sink{sink}})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := []Record{
		{Time: t0, User: "alice", Bucket: "a", Action: "GetObject", Status: 200, BytesOut: 10},
		{Time: t0.Add(time.Hour), User: "alice", Bucket: "a", Action: "GetObject", Status: 200, BytesOut: 5},
		{Time: t0.Add(time.Hour), User: "alice", Bucket: "a", Action: "DeleteObject", Status: 204},
		{Time: t0.Add(time.Hour), User: "bob", Bucket: "a", Action: "PutObject", Status: 403, Code: "AccessDenied"},
		{Time: t0.Add(time.Hour), User: "bob", Bucket: "b", Action: "GetObject", Status: 500, PossibleTampering: true},
		{Time: t0.Add(time.Hour), Kind: KindAdmin, Action: "keys shred", Bucket: "c"},
	}
	for _, r := range recs {
		l.Log(r)
	}
	_ = l.Close()
	rep := Summarise([]Source{{Name: "m", Data: sink.buf.Bytes()}}, ReportOptions{Since: t0.Add(time.Minute)})
	if rep.Records != 5 || len(rep.Denied) != 1 || len(rep.Tampering) != 1 || len(rep.Admin) != 1 {
		t.Fatalf("report %+v", rep)
	}
	want := []Access{
		{User: "alice", Bucket: "a", Requests: 2, Downloads: 1, Deletions: 1, BytesOut: 5},
		{User: "bob", Bucket: "a", Requests: 1, Denied: 1},
		{User: "bob", Bucket: "b", Requests: 1, Errors: 1},
	}
	if fmt.Sprint(rep.Accesses) != fmt.Sprint(want) {
		t.Fatalf("accesses %+v\nwant %+v", rep.Accesses, want)
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"alice", "Denied requests (1)", "keys shred", "Possible tampering"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
	rep = Summarise([]Source{{Name: "m", Data: sink.buf.Bytes()}}, ReportOptions{User: "bob"})
	if rep.Records != 2 {
		t.Fatalf("user filter: %d records", rep.Records)
	}
}

func FuzzParseRecord(f *testing.F) {
	lines := writeLogF(f)
	for _, l := range lines {
		f.Add([]byte(l))
	}
	f.Add([]byte(`{"writer":"w","seq":1,"prev":"","time":"2026-01-01T00:00:00Z","kind":"request"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("parsed record does not marshal: %v", err)
		}
		r2, err := ParseRecord(b)
		if err != nil {
			t.Fatalf("re-encoded record does not parse: %v\n%s", err, b)
		}
		if fmt.Sprint(*r) != fmt.Sprint(*r2) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", *r, *r2)
		}
		_ = Verify([]Source{{Name: "f", Data: line}}, VerifyOptions{})
	})
}

func writeLogF(f *testing.F) []string {
	sink := &memSink{}
	l, _ := New(Options{Writer: "w", Key: newKey(f), Sinks: []Sink{sink}, CheckpointEvery: 2})
	for i := range 3 {
		l.Log(Record{Action: "GetObject", Bucket: "b", Key: fmt.Sprint(i), Status: 200, KeyID: "k", KeyVersion: 2})
	}
	_ = l.Close()
	return strings.Split(strings.TrimSpace(sink.buf.String()), "\n")
}

// blockingSink holds every Write until released.
type blockingSink struct {
	release chan struct{}
	memSink
}

func (b *blockingSink) Name() string { return "blocking" }
func (b *blockingSink) Write(p []byte) error {
	<-b.release
	return b.memSink.Write(p)
}

func TestHungSinkDoesNotStallOthers(t *testing.T) {
	hung := &blockingSink{release: make(chan struct{})}
	fast := &memSink{}
	l, err := New(Options{Writer: "w", Key: newKey(t), Sinks: []Sink{hung, fast}, MaxPending: 5000})
	if err != nil {
		t.Fatal(err)
	}
	// In rounds of 10 records (about 2 KB), so that the fast sink never
	// falls behind by MaxPending while the hung one does.
	for round := range 4 {
		for i := range 10 {
			l.Log(Record{Action: "GetObject", Key: fmt.Sprint(round*10 + i), Status: 200})
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, _, _ := l.Stats()
			if st[1].Written == uint64(10*(round+1)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the fast sink stalled behind the hung one: %+v", st)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if st, _, _ := l.Stats(); st[0].Dropped == 0 || st[1].Dropped != 0 {
		t.Fatalf("drops: hung %d, fast %d", st[0].Dropped, st[1].Dropped)
	}
	if err := l.Healthy(); err == nil || !strings.Contains(err.Error(), "blocking is falling behind") {
		t.Fatalf("Healthy with a hung sink: %v", err)
	}
	close(hung.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, _, _ := l.Stats()
	res := Verify([]Source{{Name: "hung", Data: hung.buf.Bytes()}}, VerifyOptions{})
	if res.OK() {
		t.Fatal("the hung sink's log verifies despite its dropped lines")
	}
	if st[0].Written+st[0].Dropped != 41 {
		t.Fatalf("hung sink: %+v", st[0])
	}
}

package audit

import (
	"io"
	"path/filepath"
	"testing"
)

// BenchmarkLoggerLog measures what a request pays to queue its record
// (Log), with the writer goroutine chaining and writing to a file behind
// it. A dropped record would show as a failure.
func BenchmarkLoggerLog(b *testing.B) {
	for _, sink := range []string{"discard", "file"} {
		b.Run(sink, func(b *testing.B) {
			var s Sink = &WriterSink{W: io.Discard}
			if sink == "file" {
				f, err := OpenFile(filepath.Join(b.TempDir(), "audit.log"), 0)
				if err != nil {
					b.Fatal(err)
				}
				s = f
			}
			l, err := New(Options{Writer: "bench", Key: newKey(b), Sinks: []Sink{s}, Required: true})
			if err != nil {
				b.Fatal(err)
			}
			rec := Record{RequestID: "0123456789abcdef", User: "alice", AccessKey: "AKIAEXAMPLE",
				Source: "127.0.0.1:50000", Action: "GetObject", Bucket: "bucket", Key: "some/object/key.pdf",
				BytesOut: 4096, Status: 200, DurationMS: 1.5, KeyID: "cloak-master", KeyVersion: 1}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.Log(rec)
				}
			})
			b.StopTimer()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			if _, dropped, _ := l.Stats(); dropped > 0 {
				b.Fatalf("%d records dropped", dropped)
			}
		})
	}
}

package metrics

import (
	"strings"
	"sync"
	"testing"
)

func TestTextExposition(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("cloak_requests_total", "Requests served.", "op", "status")
	c.Inc("GetObject", "200")
	c.Add(2, "PutObject", "403")
	g := r.Gauge("cloak_active", "Requests in progress.")
	g.Add(3)
	g.Add(-1)
	h := r.Histogram("cloak_seconds", "Latency.", []float64{0.1, 1}, "op")
	h.Observe(0.05, "GetObject")
	h.Observe(0.1, "GetObject")
	h.Observe(5, "GetObject")
	r.GaugeFunc("cloak_sink_up", "Sink \\ health\nline two.", []string{"sink"}, func() []Sample {
		return []Sample{{Labels: []string{`a"b\c` + "\n"}, Value: 1}}
	})
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP cloak_requests_total Requests served.
# TYPE cloak_requests_total counter
cloak_requests_total{op="GetObject",status="200"} 1
cloak_requests_total{op="PutObject",status="403"} 2
# HELP cloak_active Requests in progress.
# TYPE cloak_active gauge
cloak_active 2
# HELP cloak_seconds Latency.
# TYPE cloak_seconds histogram
cloak_seconds_bucket{op="GetObject",le="0.1"} 2
cloak_seconds_bucket{op="GetObject",le="1"} 2
cloak_seconds_bucket{op="GetObject",le="+Inf"} 3
cloak_seconds_sum{op="GetObject"} 5.15
cloak_seconds_count{op="GetObject"} 3
# HELP cloak_sink_up Sink \\ health\nline two.
# TYPE cloak_sink_up gauge
cloak_sink_up{sink="a\"b\\c\n"} 1
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestConcurrentUpdates(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c", "c", "l")
	h := r.Histogram("h", "h", DefaultLatencyBuckets)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.Inc("x")
				h.Observe(0.003)
			}
		}()
	}
	wg.Wait()
	if c.Value("x") != 8000 || h.Count() != 8000 {
		t.Fatalf("counter %v histogram %d", c.Value("x"), h.Count())
	}
}

func TestDuplicateNamePanics(t *testing.T) {
	r := NewRegistry()
	r.Counter("x", "x")
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	r.Gauge("x", "x")
}

// Package metrics is a small implementation of Prometheus metrics: counters,
// gauges and histograms with labels, and the text exposition format
// (version 0.0.4) that Prometheus scrapes.
//
// A [Registry] holds metric families in registration order. Counters and
// histograms are updated on the request path and are safe for concurrent
// use; gauge and counter functions ([Registry.GaugeFunc],
// [Registry.CounterFunc]) are evaluated at scrape time, for values that
// another component already keeps (cache statistics, queue lengths).
//
// Label values are escaped as the format requires; the caller chooses
// labels with a bounded set of values (operations, status codes), never
// object keys or user input of unbounded variety.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry is a set of metric families.
type Registry struct {
	mu       sync.Mutex
	families []family
}

type family interface {
	name() string
	write(w *bufio.Writer)
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{} }

func (r *Registry) add(f family) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.families {
		if g.name() == f.name() {
			panic("metrics: duplicate metric " + f.name())
		}
	}
	r.families = append(r.families, f)
}

// WriteText writes every family in the text exposition format.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	fams := append([]family(nil), r.families...)
	r.mu.Unlock()
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		f.write(bw)
	}
	return bw.Flush()
}

// ServeHTTP serves the registry at any path, as /metrics is served.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = r.WriteText(w)
}

// header is the HELP and TYPE lines of a family.
type header struct {
	n, help, typ string
	labels       []string
}

func (h *header) name() string { return h.n }

func (h *header) writeHeader(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", h.n, escapeHelp(h.help), h.n, h.typ)
}

// labelText formats {a="x",b="y"} for values, plus extra pairs.
func (h *header) labelText(values []string, extra ...string) string {
	if len(values) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(h.labels[i] + `="` + escapeLabel(v) + `"`)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(extra[i] + `="` + escapeLabel(extra[i+1]) + `"`)
	}
	b.WriteByte('}')
	return b.String()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// labelKey joins label values into a map key.
func labelKey(values []string) string { return strings.Join(values, "\xff") }

// CounterVec is a family of counters, one per combination of label
// values.
type CounterVec struct {
	header
	mu     sync.RWMutex
	series map[string]*counterSeries
}

type counterSeries struct {
	values []string
	bits   atomic.Uint64 // float64 bits
}

// Counter registers a counter family with the given label names.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{header: header{n: name, help: help, typ: "counter", labels: labels},
		series: map[string]*counterSeries{}}
	r.add(c)
	return c
}

// Add adds v (at least 0) to the counter with the given label values,
// one per label name.
func (c *CounterVec) Add(v float64, values ...string) {
	if v < 0 || len(values) != len(c.labels) {
		panic("metrics: bad use of counter " + c.n)
	}
	s := c.get(values)
	for {
		old := s.bits.Load()
		if s.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Inc adds 1.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Value returns the counter's current value (for tests).
func (c *CounterVec) Value(values ...string) float64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if s := c.series[labelKey(values)]; s != nil {
		return math.Float64frombits(s.bits.Load())
	}
	return 0
}

func (c *CounterVec) get(values []string) *counterSeries {
	k := labelKey(values)
	c.mu.RLock()
	s := c.series[k]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s = c.series[k]; s == nil {
		s = &counterSeries{values: append([]string(nil), values...)}
		c.series[k] = s
	}
	return s
}

func (c *CounterVec) write(w *bufio.Writer) {
	c.writeHeader(w)
	c.mu.RLock()
	keys := make([]string, 0, len(c.series))
	for k := range c.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := c.series[k]
		v := math.Float64frombits(s.bits.Load())
		fmt.Fprintf(w, "%s%s %s\n", c.n, c.labelText(s.values), formatFloat(v))
	}
	c.mu.RUnlock()
}

// Sample is one value of a function-backed family.
type Sample struct {
	Labels []string // values, one per label name
	Value  float64
}

// funcFamily is a gauge or counter whose samples are computed at
// scrape time.
type funcFamily struct {
	header
	fn func() []Sample
}

// GaugeFunc registers a gauge family whose samples fn returns at each
// scrape.
func (r *Registry) GaugeFunc(name, help string, labels []string, fn func() []Sample) {
	r.add(&funcFamily{header: header{n: name, help: help, typ: "gauge", labels: labels}, fn: fn})
}

// CounterFunc registers a counter family whose samples fn returns at
// each scrape; the values must never decrease.
func (r *Registry) CounterFunc(name, help string, labels []string, fn func() []Sample) {
	r.add(&funcFamily{header: header{n: name, help: help, typ: "counter", labels: labels}, fn: fn})
}

func (f *funcFamily) write(w *bufio.Writer) {
	f.writeHeader(w)
	for _, s := range f.fn() {
		fmt.Fprintf(w, "%s%s %s\n", f.n, f.labelText(s.Labels), formatFloat(s.Value))
	}
}

// Gauge is a single settable value, safe for concurrent use.
type Gauge struct {
	header
	bits atomic.Uint64
}

// Gauge registers a gauge without labels.
func (r *Registry) Gauge(name, help string) *Gauge {
	g := &Gauge{header: header{n: name, help: help, typ: "gauge"}}
	r.add(g)
	return g
}

// Add adds v (which may be negative).
func (g *Gauge) Add(v float64) {
	for {
		old := g.bits.Load()
		if g.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Value returns the gauge's value.
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

func (g *Gauge) write(w *bufio.Writer) {
	g.writeHeader(w)
	fmt.Fprintf(w, "%s %s\n", g.n, formatFloat(g.Value()))
}

// HistogramVec is a family of histograms with fixed bucket bounds.
type HistogramVec struct {
	header
	bounds []float64
	mu     sync.RWMutex
	series map[string]*histSeries
}

type histSeries struct {
	values []string
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; last is +Inf
	sum    float64
	count  uint64
}

// DefaultLatencyBuckets are bounds in seconds from 1 ms to 60 s.
var DefaultLatencyBuckets = []float64{
	.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Histogram registers a histogram family with ascending bucket bounds.
func (r *Registry) Histogram(name, help string, bounds []float64, labels ...string) *HistogramVec {
	if !sort.Float64sAreSorted(bounds) {
		panic("metrics: histogram bounds must ascend: " + name)
	}
	h := &HistogramVec{header: header{n: name, help: help, typ: "histogram", labels: labels},
		bounds: bounds, series: map[string]*histSeries{}}
	r.add(h)
	return h
}

// Observe records v in the histogram with the given label values.
func (h *HistogramVec) Observe(v float64, values ...string) {
	if len(values) != len(h.labels) {
		panic("metrics: bad use of histogram " + h.n)
	}
	s := h.get(values)
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	s.mu.Lock()
	s.counts[i]++
	s.sum += v
	s.count++
	s.mu.Unlock()
}

// Count returns how many values were observed (for tests).
func (h *HistogramVec) Count(values ...string) uint64 {
	h.mu.RLock()
	s := h.series[labelKey(values)]
	h.mu.RUnlock()
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func (h *HistogramVec) get(values []string) *histSeries {
	k := labelKey(values)
	h.mu.RLock()
	s := h.series[k]
	h.mu.RUnlock()
	if s != nil {
		return s
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s = h.series[k]; s == nil {
		s = &histSeries{values: append([]string(nil), values...),
			counts: make([]uint64, len(h.bounds)+1)}
		h.series[k] = s
	}
	return s
}

func (h *HistogramVec) write(w *bufio.Writer) {
	h.writeHeader(w)
	h.mu.RLock()
	keys := make([]string, 0, len(h.series))
	for k := range h.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	series := make([]*histSeries, len(keys))
	for i, k := range keys {
		series[i] = h.series[k]
	}
	h.mu.RUnlock()
	for _, s := range series {
		s.mu.Lock()
		var cum uint64
		for i, b := range h.bounds {
			cum += s.counts[i]
			fmt.Fprintf(w, "%s_bucket%s %d\n", h.n, h.labelText(s.values, "le", formatFloat(b)), cum)
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", h.n, h.labelText(s.values, "le", "+Inf"), s.count)
		fmt.Fprintf(w, "%s_sum%s %s\n", h.n, h.labelText(s.values), formatFloat(s.sum))
		fmt.Fprintf(w, "%s_count%s %d\n", h.n, h.labelText(s.values), s.count)
		s.mu.Unlock()
	}
}

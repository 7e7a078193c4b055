package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloakproxy/cloak/alerts"
	"github.com/cloakproxy/cloak/audit"
	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/metrics"
	"github.com/cloakproxy/cloak/proxy"
)

// monitor is the server's proxy.Observer: it writes the audit record of
// each request, feeds the alert rules and keeps the metrics, and serves
// /metrics, /healthz and /readyz.
type monitor struct {
	audit  *audit.Logger // nil when the audit log is off
	alerts *alerts.Engine
	reg    *metrics.Registry
	ready  *readiness
	pprof  bool // serve /debug/pprof/ beside /metrics

	requests   *metrics.CounterVec
	latency    *metrics.HistogramVec
	bytes      *metrics.CounterVec
	crypt      *metrics.CounterVec
	keyLatency *metrics.HistogramVec
	keyErrors  *metrics.CounterVec
	active     *metrics.Gauge
	uploads    *metrics.Gauge
	refused    *metrics.CounterVec

	cache atomic.Pointer[keys.Cache] // set once serveKeys made it
}

// newMonitor builds the metrics and alert engine; the audit log is
// attached by setAudit once the key provider is open.
func newMonitor(cfg *config.Config, store backend.Store, prov keyProvider, log *slog.Logger) *monitor {
	reg := metrics.NewRegistry()
	m := &monitor{reg: reg,
		alerts: alerts.New(alerts.Options{Log: log, WebhookURL: cfg.Alerts.Webhook.Reveal(), Rules: alerts.Rules{
			DeniedPerMinute:      int64(cfg.Alerts.DeniedPerMinute),
			DownloadBytesPerHour: int64(cfg.Alerts.DownloadBytesPerHour),
			Tampering:            cfg.Alerts.Tampering,
			AllowedNetworks:      cfg.AllowedPrefixes(),
		}}),
		ready: &readiness{store: store, prov: prov},
		pprof: cfg.Metrics.Pprof,
	}
	m.requests = reg.Counter("cloak_requests_total", "S3 requests answered, by operation and HTTP status.",
		"op", "status")
	m.latency = reg.Histogram("cloak_request_duration_seconds", "Time to answer an S3 request, by operation.",
		metrics.DefaultLatencyBuckets, "op")
	m.bytes = reg.Counter("cloak_http_bytes_total",
		"Request body bytes received (in) and response body bytes sent (out).", "direction")
	m.crypt = reg.Counter("cloak_crypto_bytes_total",
		"Plaintext bytes encrypted into the store (sealed) and decrypted out of it (opened).", "op")
	m.keyLatency = reg.Histogram("cloak_key_provider_duration_seconds",
		"Time the master key provider took to wrap or unwrap a data key (cache misses only).",
		metrics.DefaultLatencyBuckets, "op")
	m.keyErrors = reg.Counter("cloak_key_provider_errors_total", "Failed wrap and unwrap calls.", "op")
	m.active = reg.Gauge("cloak_requests_active", "S3 requests in progress.")
	m.uploads = reg.Gauge("cloak_upload_requests_active",
		"PUT and POST requests in progress (object and part uploads, copies, completions).")
	m.refused = reg.Counter("cloak_requests_refused_total",
		"Requests refused before being served, by reason.", "reason")
	reg.CounterFunc("cloak_data_key_cache_total", "Data key cache lookups, by result.",
		[]string{"result"}, m.cacheSamples)
	m.auditMetrics()
	m.alertMetrics()
	return m
}

func (m *monitor) cacheSamples() []metrics.Sample {
	c := m.cache.Load()
	if c == nil {
		return nil
	}
	hits, misses := c.Stats()
	return []metrics.Sample{{Labels: []string{"hit"}, Value: float64(hits)},
		{Labels: []string{"miss"}, Value: float64(misses)}}
}

func (m *monitor) auditMetrics() {
	sinks := func(f func(s audit.SinkStats) float64) func() []metrics.Sample {
		return func() []metrics.Sample {
			if m.audit == nil {
				return nil
			}
			st, _, _ := m.audit.Stats()
			out := make([]metrics.Sample, len(st))
			for i, s := range st {
				out[i] = metrics.Sample{Labels: []string{s.Name}, Value: f(s)}
			}
			return out
		}
	}
	m.reg.GaugeFunc("cloak_audit_sink_up", "1 when the audit sink stores its records, 0 while it fails.",
		[]string{"sink"}, sinks(func(s audit.SinkStats) float64 {
			if s.Healthy {
				return 1
			}
			return 0
		}))
	m.reg.CounterFunc("cloak_audit_records_written_total", "Audit lines stored, by sink.",
		[]string{"sink"}, sinks(func(s audit.SinkStats) float64 { return float64(s.Written) }))
	m.reg.CounterFunc("cloak_audit_sink_failures_total", "Failed writes to an audit sink.",
		[]string{"sink"}, sinks(func(s audit.SinkStats) float64 { return float64(s.Failed) }))
	m.reg.CounterFunc("cloak_audit_records_dropped_total",
		"Audit lines lost: by a sink that failed too long, or (sink=\"queue\") because the queue was full.",
		[]string{"sink"}, func() []metrics.Sample {
			if m.audit == nil {
				return nil
			}
			st, dropped, _ := m.audit.Stats()
			out := []metrics.Sample{{Labels: []string{"queue"}, Value: float64(dropped)}}
			for _, s := range st {
				out = append(out, metrics.Sample{Labels: []string{s.Name}, Value: float64(s.Dropped)})
			}
			return out
		})
	m.reg.GaugeFunc("cloak_audit_queue_length", "Audit records waiting to be written.", nil,
		func() []metrics.Sample {
			if m.audit == nil {
				return nil
			}
			_, _, q := m.audit.Stats()
			return []metrics.Sample{{Value: float64(q)}}
		})
}

func (m *monitor) alertMetrics() {
	stat := func(i int) func() []metrics.Sample {
		return func() []metrics.Sample {
			fired, sent, failed, dropped := m.alerts.Stats()
			return []metrics.Sample{{Value: float64([]uint64{fired, sent, failed, dropped}[i])}}
		}
	}
	m.reg.CounterFunc("cloak_alerts_fired_total", "Alerts raised.", nil, stat(0))
	m.reg.CounterFunc("cloak_alert_webhook_sent_total", "Alerts delivered to the webhook.", nil, stat(1))
	m.reg.CounterFunc("cloak_alert_webhook_failed_total", "Alerts the webhook refused after every retry.",
		nil, stat(2))
	m.reg.CounterFunc("cloak_alert_webhook_dropped_total", "Alerts dropped because the webhook queue was full.",
		nil, stat(3))
}

// Admit implements proxy.Observer: with audit.required, a request is
// refused while the audit log cannot take it.
func (m *monitor) Admit(r *http.Request) error {
	if m.audit != nil && m.audit.Required() {
		if err := m.audit.Healthy(); err != nil {
			m.refused.Inc("audit")
			return err
		}
	}
	m.active.Add(1)
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		m.uploads.Add(1)
	}
	return nil
}

// Done implements proxy.Observer.
func (m *monitor) Done(s *proxy.Summary) {
	if s.Admitted {
		m.active.Add(-1)
		if s.Method == http.MethodPut || s.Method == http.MethodPost {
			m.uploads.Add(-1)
		}
	}
	op := s.Op
	if op == "" {
		op = "unknown"
	}
	m.requests.Inc(op, strconv.Itoa(s.Status))
	m.latency.Observe(s.Duration.Seconds(), op)
	m.bytes.Add(float64(s.BytesIn), "in")
	m.bytes.Add(float64(s.BytesOut), "out")
	m.crypt.Add(float64(s.Sealed), "sealed")
	m.crypt.Add(float64(s.Opened), "opened")
	ev := alerts.Event{Time: s.Time.Add(s.Duration), RequestID: s.RequestID, User: s.User,
		Source: s.Source, Action: s.Op, Bucket: s.Bucket, Key: s.Key,
		Denied: audit.IsDenied(s.Status, s.Code), Tampered: s.Tampered}
	if s.Op == "GetObject" && s.Status/100 == 2 {
		ev.Downloaded = s.BytesOut
	}
	m.alerts.Observe(ev)
	if m.audit != nil {
		m.audit.Log(auditRecord(s))
	}
}

func auditRecord(s *proxy.Summary) audit.Record {
	return audit.Record{Kind: audit.KindRequest, Time: s.Time, RequestID: s.RequestID,
		User: s.User, AccessKey: s.AccessKey, Source: s.Source, Action: s.Op,
		Bucket: s.Bucket, Key: s.Key, BytesIn: s.BytesIn, BytesOut: s.BytesOut,
		Status: s.Status, Code: s.Code, DurationMS: float64(s.Duration.Microseconds()) / 1000,
		KeyID: s.KeyID, KeyVersion: s.KeyVersion, PossibleTampering: s.Tampered,
		Detail: s.Detail}
}

// timeKeys wraps the provider so that its calls are timed; it sits under
// the data key cache, so only misses reach it.
func (m *monitor) timeKeys(next crypto.KeyWrapper) crypto.KeyWrapper {
	return timedKeys{next: next, m: m}
}

type timedKeys struct {
	next crypto.KeyWrapper
	m    *monitor
}

func (t timedKeys) Wrap(ctx context.Context, dataKey []byte, wc crypto.WrapContext) (crypto.WrappedKey, error) {
	start := time.Now()
	wk, err := t.next.Wrap(ctx, dataKey, wc)
	t.m.keyLatency.Observe(time.Since(start).Seconds(), "wrap")
	if err != nil {
		t.m.keyErrors.Inc("wrap")
	}
	return wk, err
}

func (t timedKeys) Unwrap(ctx context.Context, wk crypto.WrappedKey, wc crypto.WrapContext) ([]byte, error) {
	start := time.Now()
	key, err := t.next.Unwrap(ctx, wk, wc)
	t.m.keyLatency.Observe(time.Since(start).Seconds(), "unwrap")
	if err != nil {
		t.m.keyErrors.Inc("unwrap")
	}
	return key, err
}

// openAudit opens the audit log of this server and prints where it
// goes and the key that verifies it.
func (m *monitor) openAudit(ctx context.Context, cfg *config.Config, prov crypto.KeyWrapper,
	store backend.Store, stdout io.Writer, log *slog.Logger) error {
	l, pub, created, err := openAudit(ctx, cfg, prov, store, "serve", stdout, log)
	if err != nil || l == nil {
		return err
	}
	m.audit = l
	if created {
		fmt.Fprintf(stdout, "Created the audit signing key %s.\n", cfg.AuditKeyFile())
	}
	fmt.Fprintf(stdout, "Audit log to %s; checkpoints verify with public key %s\n",
		strings.Join(cfg.Audit.Sinks, ", "), audit.EncodePublicKey(pub))
	return nil
}

// auditBuckets are the buckets that hold nothing but audit records (the
// backend sink's), which key commands leave out of their walks. Clients
// cannot reach them: their names start with access.SystemBucketPrefix.
func auditBuckets(cfg *config.Config) []string {
	if cfg.AuditEnabled() && cfg.AuditSink("backend") {
		return []string{cfg.Audit.Bucket}
	}
	return nil
}

// close writes the audit log's final checkpoint and stops the webhook.
func (m *monitor) close() error {
	m.alerts.Close()
	if m.audit != nil {
		return m.audit.Close()
	}
	return nil
}

// readiness answers /readyz: the store and the key provider answer,
// checked with a short timeout and cached for a moment, so that probes
// cannot load the backend.
type readiness struct {
	store backend.Store
	prov  keyProvider

	mu      sync.Mutex
	checked time.Time
	err     error
}

// Readiness timing.
const (
	readyTimeout = 2 * time.Second
	readyCache   = time.Second
)

func (r *readiness) check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < readyCache {
		return r.err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var errs []error
	if _, err := r.store.ListBuckets(ctx); err != nil {
		errs = append(errs, errors.New("backend: "+err.Error()))
	}
	if _, _, err := r.prov.Active(ctx, ""); err != nil {
		errs = append(errs, errors.New("key provider: "+err.Error()))
	}
	r.err, r.checked = errors.Join(errs...), time.Now()
	return r.err
}

// handler serves /metrics, /healthz and /readyz, and /debug/pprof/ when
// the configuration asks for it.
func (m *monitor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.reg)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := m.ready.check(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if m.pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serveMetrics serves the monitor's handler on addr until ctx ends.
func (m *monitor) serveMetrics(ctx context.Context, addr string, log *slog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", slog.String("error", err.Error()))
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return ln.Addr(), nil
}

// Package alerts watches requests for patterns an operator must hear
// about, and reports each to the log and, when configured, to a webhook.
//
// # Rules
//
//   - denied_requests: more than N denied requests (HTTP 403) in one
//     minute from one user, or from one source address.
//   - download_volume: more than N bytes downloaded (GetObject) by one
//     user in one hour.
//   - tampering: stored data that failed authentication.
//   - outside_network: a request from an address outside the allowed
//     networks.
//
// Windows are fixed (a calendar minute or hour in UTC). An alert fires
// once per rule, subject and window: the request that crosses the
// threshold fires it and later requests in the same window do not.
//
// # Webhook
//
// Alerts are posted as JSON to the webhook from one goroutine, retried
// with exponential backoff. The queue is bounded: when it is full, an
// alert is dropped (it is still logged) and counted, so a slow or dead
// webhook never holds up a request.
package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Rules are the thresholds; a zero value turns a rule off.
type Rules struct {
	// DeniedPerMinute fires when one user or one source address has
	// more denied requests than this in a minute.
	DeniedPerMinute int64
	// DownloadBytesPerHour fires when one user downloads more bytes than
	// this in an hour.
	DownloadBytesPerHour int64
	// Tampering fires on stored data that failed authentication.
	Tampering bool
	// AllowedNetworks, when not empty, fires on a request from an
	// address in none of them.
	AllowedNetworks []netip.Prefix
}

// Event is what the engine needs to know of one request.
type Event struct {
	Time      time.Time
	RequestID string
	User      string // empty when not authenticated
	Source    string // the client's address, host:port or host
	Action    string
	Bucket    string
	Key       string
	Denied    bool
	// Downloaded is the object bytes sent by a GetObject.
	Downloaded int64
	Tampered   bool
}

// Alert is one alert, as logged and posted.
type Alert struct {
	Rule        string    `json:"rule"`
	Subject     string    `json:"subject"` // "user alice", "source 10.1.2.3", "object b/k"
	Message     string    `json:"message"`
	Time        time.Time `json:"time"`
	WindowStart time.Time `json:"window_start"`
	Window      string    `json:"window"`
	Value       int64     `json:"value"`
	Threshold   int64     `json:"threshold"`
	// The request that fired the alert.
	RequestID string `json:"request_id"`
	User      string `json:"user,omitempty"`
	Source    string `json:"source,omitempty"`
	Bucket    string `json:"bucket,omitempty"`
	Key       string `json:"key,omitempty"`
}

// Rule names.
const (
	RuleDenied         = "denied_requests"
	RuleDownload       = "download_volume"
	RuleTampering      = "tampering"
	RuleOutsideNetwork = "outside_network"
)

// Options configure an Engine.
type Options struct {
	Rules Rules
	// WebhookURL receives each alert as a JSON POST; empty: log only.
	WebhookURL string
	// Client posts to the webhook; a client with a 10 s timeout when nil.
	Client *http.Client
	// QueueSize bounds the alerts waiting for the webhook (default 256);
	// Attempts bounds the posts of one alert (default 5), the first
	// retry waiting Backoff (default 500 ms), each next one twice as
	// long.
	QueueSize int
	Attempts  int
	Backoff   time.Duration
	// Log receives every alert at warn level; slog.Default when nil.
	Log *slog.Logger
}

// Engine applies the rules to events. Observe is safe for concurrent
// use and never waits for the webhook.
type Engine struct {
	opts    Options
	mu      sync.Mutex
	windows map[string]*window // by rule and scope
	queue   chan Alert
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	fired, sent, failed, dropped atomic.Uint64
}

// window counts per subject within one fixed window.
type window struct {
	start  time.Time
	counts map[string]int64
	fired  map[string]bool
}

// maxSubjects bounds the subjects tracked per window, so that a flood of
// distinct sources cannot grow memory without bound.
const maxSubjects = 100_000

// New returns an Engine and starts its webhook sender. Close stops it.
func New(opts Options) *Engine {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	e := &Engine{opts: opts, windows: map[string]*window{}, queue: make(chan Alert, opts.QueueSize),
		stop: make(chan struct{}), done: make(chan struct{})}
	go e.send()
	return e
}

// Observe applies the rules to one request.
func (e *Engine) Observe(ev Event) {
	r := e.opts.Rules
	host := sourceHost(ev.Source)
	if r.DeniedPerMinute > 0 && ev.Denied {
		if ev.User != "" {
			e.count(ev, RuleDenied, "user "+ev.User, time.Minute, 1, r.DeniedPerMinute)
		}
		e.count(ev, RuleDenied, "source "+host, time.Minute, 1, r.DeniedPerMinute)
	}
	if r.DownloadBytesPerHour > 0 && ev.Downloaded > 0 && ev.User != "" {
		e.count(ev, RuleDownload, "user "+ev.User, time.Hour, ev.Downloaded, r.DownloadBytesPerHour)
	}
	if r.Tampering && ev.Tampered {
		e.count(ev, RuleTampering, "object "+ev.Bucket+"/"+ev.Key, time.Minute, 1, 0)
	}
	if len(r.AllowedNetworks) > 0 && !allowed(host, r.AllowedNetworks) {
		e.count(ev, RuleOutsideNetwork, "source "+host, time.Minute, 1, 0)
	}
}

// count adds n to subject's total for rule in the window of length d
// holding ev.Time, and fires once the total exceeds threshold.
func (e *Engine) count(ev Event, rule, subject string, d time.Duration, n, threshold int64) {
	start := ev.Time.UTC().Truncate(d)
	e.mu.Lock()
	w := e.windows[rule+d.String()]
	if w == nil || start.After(w.start) {
		w = &window{start: start, counts: map[string]int64{}, fired: map[string]bool{}}
		e.windows[rule+d.String()] = w
	}
	if start.Before(w.start) {
		e.mu.Unlock() // an event from a window already closed
		return
	}
	if _, ok := w.counts[subject]; !ok && len(w.counts) >= maxSubjects {
		e.mu.Unlock()
		return
	}
	w.counts[subject] += n
	total := w.counts[subject]
	fire := total > threshold && !w.fired[subject]
	if fire {
		w.fired[subject] = true
	}
	e.mu.Unlock()
	if fire {
		e.fire(Alert{Rule: rule, Subject: subject, Time: ev.Time.UTC(), WindowStart: start,
			Window: d.String(), Value: total, Threshold: threshold, RequestID: ev.RequestID,
			User: ev.User, Source: ev.Source, Bucket: ev.Bucket, Key: ev.Key,
			Message: message(rule, subject, total, threshold, d)})
	}
}

func message(rule, subject string, v, threshold int64, d time.Duration) string {
	switch rule {
	case RuleDenied:
		return fmt.Sprintf("%s had more than %d denied requests within %s", subject, threshold, d)
	case RuleDownload:
		return fmt.Sprintf("%s downloaded more than %d bytes within %s", subject, threshold, d)
	case RuleTampering:
		return fmt.Sprintf("stored data of %s failed authentication: possible tampering", subject)
	case RuleOutsideNetwork:
		return fmt.Sprintf("request from %s, outside the allowed networks", subject)
	}
	return rule
}

func (e *Engine) fire(a Alert) {
	e.fired.Add(1)
	e.opts.Log.Warn("alert", slog.String("rule", a.Rule), slog.String("subject", a.Subject),
		slog.String("message", a.Message), slog.String("request_id", a.RequestID))
	if e.opts.WebhookURL == "" {
		return
	}
	select {
	case e.queue <- a:
	default:
		e.dropped.Add(1)
		e.opts.Log.Error("alert webhook queue full; alert dropped", slog.String("rule", a.Rule))
	}
}

// sourceHost returns the host of a host:port address, or the address.
func sourceHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func allowed(host string, nets []netip.Prefix) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// send posts queued alerts until Close.
func (e *Engine) send() {
	defer close(e.done)
	for {
		select {
		case <-e.stop:
			return
		case a := <-e.queue:
			if e.post(a) {
				e.sent.Add(1)
			} else {
				e.failed.Add(1)
			}
		}
	}
}

// post delivers one alert, retrying with backoff; false when every
// attempt failed or Close interrupted it.
func (e *Engine) post(a Alert) bool {
	body, err := json.Marshal(a)
	if err != nil {
		return false
	}
	wait := e.opts.Backoff
	for attempt := 1; ; attempt++ {
		err := e.postOnce(body)
		if err == nil {
			return true
		}
		if attempt >= e.opts.Attempts {
			e.opts.Log.Error("alert webhook failed; alert not delivered", slog.String("rule", a.Rule),
				slog.Int("attempts", attempt), slog.String("error", err.Error()))
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-e.stop:
			t.Stop()
			return false
		case <-t.C:
		}
		wait *= 2
	}
}

func (e *Engine) postOnce(body []byte) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.opts.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.opts.Client.Do(req)
	if err != nil {
		// The URL may carry a token: keep it out of the error, which is
		// logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("webhook post: %w", ue.Err)
		}
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Stats returns the alerts fired, delivered to the webhook, given up on
// after every attempt, and dropped because the queue was full.
func (e *Engine) Stats() (fired, sent, failed, dropped uint64) {
	return e.fired.Load(), e.sent.Load(), e.failed.Load(), e.dropped.Load()
}

// Close stops the webhook sender; alerts still queued are not sent.
func (e *Engine) Close() {
	e.once.Do(func() { close(e.stop) })
	<-e.done
}

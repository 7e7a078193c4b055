package alerts

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a webhook that records the alerts it is sent; it fails
// the first `failFirst` posts.
type receiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	alerts    []Alert
	posts     atomic.Int64
	failFirst int64
}

func newReceiver(t *testing.T, failFirst int64) *receiver {
	r := &receiver{failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.posts.Add(1) <= r.failFirst {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		var a Alert
		b, _ := io.ReadAll(req.Body)
		if err := json.Unmarshal(b, &a); err != nil || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("bad post %q: %v", b, err)
		}
		r.mu.Lock()
		r.alerts = append(r.alerts, a)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) wait(t *testing.T, n int) []Alert {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]Alert(nil), r.alerts...)
		r.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRulesFireOncePerWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		rules   Rules
		events  func(t0 time.Time) []Event
		subject []string // the alerts expected, by subject, in order
	}{
		{"denied by user and source", Rules{DeniedPerMinute: 3}, func(t0 time.Time) []Event {
			var ev []Event
			for i := range 10 {
				ev = append(ev, Event{Time: t0.Add(time.Duration(i) * time.Second), User: "bob",
					Source: "127.0.0.1:5000", Denied: true})
			}
			return ev
		}, []string{"user bob", "source 127.0.0.1"}},
		{"denied under threshold", Rules{DeniedPerMinute: 3}, func(t0 time.Time) []Event {
			var ev []Event
			for i := range 6 { // 3 in each of two minutes
				ev = append(ev, Event{Time: t0.Add(time.Duration(i*20) * time.Second), User: "bob",
					Source: "127.0.0.1:5000", Denied: true})
			}
			return ev
		}, nil},
		{"denied again in the next window", Rules{DeniedPerMinute: 1}, func(t0 time.Time) []Event {
			return []Event{
				{Time: t0, Source: "::1", Denied: true}, {Time: t0.Add(time.Second), Source: "::1", Denied: true},
				{Time: t0.Add(2 * time.Second), Source: "::1", Denied: true},
				{Time: t0.Add(61 * time.Second), Source: "::1", Denied: true},
				{Time: t0.Add(62 * time.Second), Source: "::1", Denied: true},
			}
		}, []string{"source ::1", "source ::1"}},
		{"download volume", Rules{DownloadBytesPerHour: 1000}, func(t0 time.Time) []Event {
			var ev []Event
			for i := range 5 {
				ev = append(ev, Event{Time: t0.Add(time.Duration(i) * time.Minute), User: "alice",
					Source: "127.0.0.1:1", Downloaded: 300})
			}
			ev = append(ev, Event{Time: t0, User: "carol", Downloaded: 1000})
			return ev
		}, []string{"user alice"}},
		{"tampering", Rules{Tampering: true}, func(t0 time.Time) []Event {
			return []Event{
				{Time: t0, Bucket: "b", Key: "k", Tampered: true},
				{Time: t0.Add(time.Second), Bucket: "b", Key: "k", Tampered: true},
				{Time: t0, Bucket: "b", Key: "ok"},
			}
		}, []string{"object b/k"}},
		{"outside the allowed networks", Rules{AllowedNetworks: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, func(t0 time.Time) []Event {
			return []Event{
				{Time: t0, Source: "127.0.0.1:1"}, {Time: t0, Source: "[::1]:2"},
				{Time: t0, Source: "192.0.2.7:3"}, {Time: t0, Source: "192.0.2.7:4"},
			}
		}, []string{"source 192.0.2.7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t, 0)
			e := New(Options{Rules: tc.rules, WebhookURL: rcv.srv.URL, Log: quiet})
			for _, ev := range tc.events(t0) {
				e.Observe(ev)
			}
			var got []Alert
			if len(tc.subject) > 0 {
				got = rcv.wait(t, len(tc.subject))
			}
			// Give a wrongly extra alert the chance to arrive.
			fired, _, _, _ := e.Stats()
			e.Close()
			got = rcv.wait(t, 0)
			if int(fired) != len(tc.subject) || len(got) != len(tc.subject) {
				t.Fatalf("fired %d, received %+v, want %v", fired, got, tc.subject)
			}
			for i, a := range got {
				if a.Subject != tc.subject[i] {
					t.Errorf("alert %d subject %q, want %q", i, a.Subject, tc.subject[i])
				}
			}
		})
	}
}

func TestWebhookRetriedAndNeverBlocks(t *testing.T) {
	rcv := newReceiver(t, 2)
	e := New(Options{Rules: Rules{Tampering: true}, WebhookURL: rcv.srv.URL, Backoff: 10 * time.Millisecond,
		Log: quiet})
	defer e.Close()
	e.Observe(Event{Time: time.Now(), Bucket: "b", Key: "k", Tampered: true})
	got := rcv.wait(t, 1)
	if len(got) != 1 || rcv.posts.Load() != 3 {
		t.Fatalf("received %d after %d posts, want 1 after 3", len(got), rcv.posts.Load())
	}

	// A webhook that hangs: Observe still returns (were it to wait, the
	// loop would never end), and alerts beyond the queue are dropped and
	// counted.
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)
	e2 := New(Options{Rules: Rules{Tampering: true}, WebhookURL: slow.URL, QueueSize: 2, Log: quiet})
	for i := range 50 {
		e2.Observe(Event{Time: time.Now(), Bucket: "b", Key: string(rune('a' + i)), Tampered: true})
	}
	e2.Close()
	fired, sent, _, dropped := e2.Stats()
	if fired != 50 || sent != 0 || dropped < 47 {
		t.Fatalf("fired %d sent %d dropped %d", fired, sent, dropped)
	}
}

func TestWebhookURLNeverLogged(t *testing.T) {
	var logs syncBuffer
	// Nothing listens on port 1 of loopback: every post fails to connect.
	e := New(Options{Rules: Rules{Tampering: true}, WebhookURL: "http://127.0.0.1:1/hooks/secret-token",
		Attempts: 2, Backoff: time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	e.Observe(Event{Time: time.Now(), Bucket: "b", Key: "k", Tampered: true})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, failed, _ := e.Stats(); failed == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the post never failed")
		}
		time.Sleep(time.Millisecond)
	}
	e.Close()
	if !strings.Contains(logs.String(), "alert webhook failed") || strings.Contains(logs.String(), "secret-token") {
		t.Fatalf("logs:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

package access

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Defaults of LimiterConfig.
const (
	DefaultFailuresPerKey     = 10
	DefaultFailuresPerAddress = 50
	DefaultFailureWindow      = time.Minute
	// limiterEntries bounds each table of the limiter: the least recently
	// failing keys and addresses are forgotten first.
	limiterEntries = 10_000
)

// LimiterConfig sets how many failed authentications are tolerated.
type LimiterConfig struct {
	// PerKey is how many failures one access key may have in Window
	// before it is refused for the rest of the window; 0 means
	// DefaultFailuresPerKey, negative no limit.
	PerKey int
	// PerAddress is the same for one source address (an IPv6 client is
	// counted by its address, not its /64);
	// 0 means DefaultFailuresPerAddress, negative no limit.
	PerAddress int
	// Window is the counting window; 0 means DefaultFailureWindow.
	Window time.Duration
}

// Limiter counts failed authentications per access key and per source
// address, in bounded memory, and reports when either is over its limit.
// It is safe for concurrent use.
type Limiter struct {
	cfg   LimiterConfig
	mu    sync.Mutex
	keys  *lru.Cache[string, *window]
	addrs *lru.Cache[string, *window]
}

// window counts the failures of one key or address since start.
type window struct {
	start time.Time
	n     int
}

// NewLimiter returns a Limiter.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.PerKey == 0 {
		cfg.PerKey = DefaultFailuresPerKey
	}
	if cfg.PerAddress == 0 {
		cfg.PerAddress = DefaultFailuresPerAddress
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultFailureWindow
	}
	keys, _ := lru.New[string, *window](limiterEntries)
	addrs, _ := lru.New[string, *window](limiterEntries)
	return &Limiter{cfg: cfg, keys: keys, addrs: addrs}
}

// Blocked reports whether requests with accessKey or from addr are to be
// refused now: one of them failed to authenticate its limit of times in
// the current window. An empty accessKey or addr is not counted.
func (l *Limiter) Blocked(accessKey, addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.over(l.keys, accessKey, l.cfg.PerKey, now) ||
		l.over(l.addrs, addr, l.cfg.PerAddress, now)
}

func (l *Limiter) over(c *lru.Cache[string, *window], id string, limit int, now time.Time) bool {
	if id == "" || limit < 0 {
		return false
	}
	w, ok := c.Peek(id)
	return ok && now.Sub(w.start) < l.cfg.Window && w.n >= limit
}

// Failed records a failed authentication.
func (l *Limiter) Failed(accessKey, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count(l.keys, accessKey, l.cfg.PerKey, now)
	l.count(l.addrs, addr, l.cfg.PerAddress, now)
}

func (l *Limiter) count(c *lru.Cache[string, *window], id string, limit int, now time.Time) {
	if id == "" || limit < 0 {
		return
	}
	w, ok := c.Get(id)
	if !ok || now.Sub(w.start) >= l.cfg.Window {
		c.Add(id, &window{start: now, n: 1})
		return
	}
	w.n++
}

package tlscert

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A Reloader serves the certificate of a cert/key file pair and replaces
// it when asked to reload. It is safe for concurrent use: GetCertificate
// never blocks on a reload in progress.
type Reloader struct {
	certFile, keyFile string

	cur atomic.Pointer[tls.Certificate]

	mu   sync.Mutex // serialises Reload and guards seen
	seen pairStamp  // the files as they were before the last load
}

// NewReloader loads the pair from certFile and keyFile and returns a
// Reloader serving it. The certificate file may hold intermediate
// certificates after the leaf; the key may be PKCS #1, PKCS #8 or SEC 1
// in PEM.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Certificate returns the certificate currently served. Its Leaf field is
// set.
func (r *Reloader) Certificate() *tls.Certificate {
	return r.cur.Load()
}

// GetCertificate returns the certificate currently served, for
// tls.Config.GetCertificate. It ignores the ClientHello: one pair serves
// every name.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// Reload reads and parses both files and, if they hold a certificate and
// its matching key, serves them from the next handshake on. On any error
// the current certificate stays in service and the error is returned; it
// names the files but never holds key material.
//
// Reload does not check expiry or host names: an operator replacing a
// certificate is trusted to supply the one they mean to serve.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.reloadLocked()
	return err
}

// reloadLocked loads the pair, records the file stamps seen just before
// reading, and reports them.
func (r *Reloader) reloadLocked() (pairStamp, error) {
	st := stampPair(r.certFile, r.keyFile)
	r.seen = st
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return st, fmt.Errorf("failed to load certificate %s and key %s: %w",
			r.certFile, r.keyFile, err)
	}
	if pair.Leaf == nil {
		return st, fmt.Errorf("failed to load certificate %s: no leaf certificate",
			r.certFile)
	}
	r.cur.Store(&pair)
	return st, nil
}

// Watch checks the files every interval and reloads when the size or
// modification time of either has changed since the last load. After a
// failed reload it tries again at every interval until one succeeds, so a
// pair written in two steps is picked up once both are in place; it
// calls onError (if not nil) with the error once per distinct state of
// the files, not at every try. Watch returns when ctx is done; run it in
// its own goroutine. An interval of zero or less means DefaultWatchInterval.
//
// Polling misses a change that keeps both size and modification time
// (possible within the file system's timestamp granularity); Reload
// handles that case when called explicitly.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	var reported pairStamp
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		now := stampPair(r.certFile, r.keyFile)
		if now == r.seen && !failing {
			r.mu.Unlock()
			continue
		}
		st, err := r.reloadLocked()
		r.mu.Unlock()
		failing = err != nil
		if err == nil {
			reported = pairStamp{}
		} else if st != reported {
			reported = st
			if onError != nil {
				onError(err)
			}
		}
	}
}

// DefaultWatchInterval is the polling interval Watch uses when given none.
const DefaultWatchInterval = 5 * time.Second

// fileStamp is what Watch compares to notice a changed file.
type fileStamp struct {
	size    int64
	modTime time.Time
	missing bool
}

type pairStamp struct{ cert, key fileStamp }

func stampPair(certFile, keyFile string) pairStamp {
	return pairStamp{stampFile(certFile), stampFile(keyFile)}
}

func stampFile(name string) fileStamp {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{missing: true}
	}
	return fileStamp{size: fi.Size(), modTime: fi.ModTime()}
}

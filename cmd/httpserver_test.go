package cmd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/backend/localstore"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/proxy/tlscert"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// Short timeouts for the slow-client tests, so they run in seconds; the
// production values are checked separately.
var testTimeouts = serverTimeouts{header: time.Second, idle: time.Second, bodyIdle: time.Second,
	writeIdle: time.Second}

// slowBound is how long a test waits for the server to cut a stalled
// client off: many times the test timeouts, for a loaded machine.
const slowBound = 20 * time.Second

func TestHTTPServer_DefaultTimeoutsSuitLargeTransfers(t *testing.T) {
	to := defaultTimeouts
	// Every stall is bounded; none is so short that a slow link or a busy
	// store (a part is streamed to it as it arrives) trips it.
	if to.header <= 0 || to.header > time.Minute || to.idle <= 0 || to.bodyIdle < 30*time.Second ||
		to.bodyIdle > 5*time.Minute || to.writeIdle < 30*time.Second || to.writeIdle > 5*time.Minute {
		t.Fatalf("default timeouts %+v", to)
	}
	srv := newHTTPServer(http.NotFoundHandler(), slog.Default(), to)
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Fatal("a whole-request timeout would cut off large uploads and downloads")
	}
	if srv.ReadHeaderTimeout != to.header || srv.IdleTimeout != to.idle ||
		srv.MaxHeaderBytes != maxHeaderBytes {
		t.Fatalf("server limits %v %v %d", srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// slowEnv is the proxy over a local store behind newHTTPServer with the
// test timeouts, on TLS as "cloak serve" runs it.
type slowEnv struct {
	addr string
	logs *syncLog
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newSlowEnv(t *testing.T) *slowEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := localstore.New(dir + "/objects")
	if err != nil {
		t.Fatal(err)
	}
	ring := crypto.NewMemoryKeyRing(nil)
	if err := ring.Add("k", 1, bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	h, err := proxy.New(proxy.Options{Store: st, Keys: ring, Logger: log,
		Credentials: sigv4.StaticCredentials{"AKIASLOW": "slow-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _, err := tlscert.EnsureSelfSigned(dir+"/tls", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reloader, err := tlscert.NewReloader(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, log, testTimeouts)
	srv.TLSConfig = tlscert.ServerConfig(reloader, tls.VersionTLS12)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tls.NewListener(ln, srv.TLSConfig))
	t.Cleanup(func() { srv.Close() })
	e := &slowEnv{addr: ln.Addr().String(), logs: logs}
	e.do(t, http.MethodPut, "/slow", nil)
	e.do(t, http.MethodPut, "/slow/big", bytes.Repeat([]byte("0123456789abcdef"), 1<<20))
	return e
}

// signed returns the head of a signed request (with UNSIGNED-PAYLOAD)
// for declared body bytes, as it goes on the wire.
func (e *slowEnv) signed(method, path string, declared int) []byte {
	req, _ := http.NewRequest(method, "https://"+e.addr+path, nil)
	req.ContentLength = int64(declared)
	sigv4.SignRequest(req, sigv4.Credential{AccessKey: "AKIASLOW", SecretKey: "slow-secret"},
		"us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, e.addr, declared)
	for k, vs := range req.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, vs[0])
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func (e *slowEnv) dial(t *testing.T) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// do sends a whole request and expects 200.
func (e *slowEnv) do(t *testing.T, method, path string, body []byte) {
	t.Helper()
	c := e.dial(t)
	c.SetDeadline(time.Now().Add(slowBound))
	c.Write(append(e.signed(method, path, len(body)), body...))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %s: %v %v", method, path, err, resp)
	}
}

// cutOff waits until the server closes c, for at most slowBound, while
// trickle (if set) keeps sending; it returns what the server sent.
func cutOff(t *testing.T, c *tls.Conn, trickle []byte) string {
	t.Helper()
	start := time.Now()
	done := make(chan []byte, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(slowBound))
		b, _ := io.ReadAll(c)
		done <- b
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case b := <-done:
			if time.Since(start) >= slowBound {
				t.Fatalf("the server did not cut the stalled client off within %v", slowBound)
			}
			return string(b)
		case <-tick.C:
			if i < len(trickle) {
				c.Write(trickle[i : i+1])
			}
		}
	}
}

func TestHTTPServer_SlowClientsAreCutOff(t *testing.T) {
	e := newSlowEnv(t)
	t.Run("silent after connecting", func(t *testing.T) {
		cutOff(t, e.dial(t), nil)
	})
	t.Run("headers byte by byte", func(t *testing.T) {
		// 600 bytes at ten a second would take a minute.
		head := e.signed(http.MethodGet, "/slow/big", 0)
		if got := cutOff(t, e.dial(t), head); strings.Contains(got, "200 OK") {
			t.Fatal("the trickled request was served")
		}
	})
	t.Run("body stalls", func(t *testing.T) {
		c := e.dial(t)
		c.Write(append(e.signed(http.MethodPut, "/slow/stalled", 1<<20), "only the start"...))
		got := cutOff(t, c, nil)
		if !strings.Contains(got, "400 Bad Request") ||
			!strings.Contains(got, "<Code>RequestTimeout</Code>") {
			t.Fatalf("stalled upload answered:\n%.500s", got)
		}
	})
	t.Run("download not read", func(t *testing.T) {
		c := e.dial(t)
		c.Write(e.signed(http.MethodGet, "/slow/big", 0))
		// Read nothing: the server fills the socket buffers and must
		// then give up on its own, which its log line shows.
		e.waitLog(t, "op=GetObject")
	})
	t.Run("slow but steady body is served", func(t *testing.T) {
		// One byte every 100 ms for 3 s: the upload takes three times
		// the body timeout but never stalls for one.
		body := []byte("steady-upload-of-thirty-bytes!")
		c := e.dial(t)
		c.Write(e.signed(http.MethodPut, "/slow/steady", len(body)))
		for i := range body {
			time.Sleep(100 * time.Millisecond) // pacing the client, not waiting for a server
			if _, err := c.Write(body[i : i+1]); err != nil {
				t.Fatalf("cut off after %d bytes: %v", i, err)
			}
		}
		c.SetReadDeadline(time.Now().Add(slowBound))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("steady upload: %v %v", err, resp)
		}
	})
}

// TestHTTPServer_StalledHTTP2UploadIsCutOff checks the body timeout on an
// HTTP/2 stream, which "cloak serve" offers through ALPN: the stream's
// deadline, not the connection's, is pushed forward. Go's HTTP/2 server
// resets a stream whose read deadline passes, so the client sees a stream
// error (or, should the answer win the race, RequestTimeout) well before
// its own timeout, and nothing is stored.
func TestHTTPServer_StalledHTTP2UploadIsCutOff(t *testing.T) {
	e := newSlowEnv(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodPut, "https://"+e.addr+"/slow/h2", pr)
	req.ContentLength = 1 << 20
	sigv4.SignRequest(req, sigv4.Credential{AccessKey: "AKIASLOW", SecretKey: "slow-secret"},
		"us-east-1", "s3", time.Now(), sigv4.UnsignedPayload)
	client := &http.Client{Timeout: slowBound, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	go pw.Write([]byte("the start, then nothing"))
	resp, err := client.Do(req)
	if err != nil {
		if !strings.Contains(err.Error(), "stream error") {
			t.Fatalf("stalled HTTP/2 upload: %v", err)
		}
	} else {
		defer resp.Body.Close()
		// The answer may also lose the race with the reset halfway.
		b, readErr := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusBadRequest ||
			readErr == nil && !strings.Contains(string(b), "<Code>RequestTimeout</Code>") {
			t.Fatalf("stalled HTTP/2 upload answered %s %s\n%s", resp.Proto, resp.Status, b)
		}
	}
	e.waitLog(t, "key=h2")
}

// waitLog polls the server's log until a line holds want, for at most
// slowBound: the handler logs after the client has its answer.
func (e *slowEnv) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(slowBound)
	for !strings.Contains(e.logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in %v:\n%s", want, slowBound, e.logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the log, not waiting for a server
	}
}

// TestHTTPServer_SlowWorkAfterTheBodyIsNotCutOff has a handler that reads
// a body to its end and then works for longer than the body timeout, as a
// CompleteMultipartUpload of a large object does while the store
// assembles it: the request's context stays live and the answer arrives.
func TestHTTPServer_SlowWorkAfterTheBodyIsNotCutOff(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// Readers may read again after EOF (sticky errors do); the
		// server's background read, pending since EOF, must not
		// inherit a deadline from that.
		r.Body.Read(make([]byte, 1))
		select {
		case <-r.Context().Done():
			http.Error(w, "context cancelled", http.StatusInternalServerError)
			return
		case <-time.After(3 * testTimeouts.bodyIdle): // the handler's slow work
		}
		io.WriteString(w, "done")
	})
	srv := newHTTPServer(h, slog.Default(), testTimeouts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Timeout: slowBound}
	resp, err := client.Post("http://"+ln.Addr().String()+"/", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "done" {
		t.Fatalf("slow work after the body: %s %s", resp.Status, b)
	}
}

package cmd

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloakproxy/cloak/config"
)

// served is a serve command running inside the test process, as the
// README's first command runs it.
type served struct {
	// ctx is the serve command's context; stop cancels it.
	ctx context.Context
	// printed is the standard output up to the line that announces the S3
	// address, inclusive.
	printed string
	cancel  context.CancelFunc
	done    chan struct{} // closed when serve has returned
	err     error         // what serve returned, once done is closed
	rest    chan string
}

// startServeTimeout bounds how long startServe waits for the S3 address,
// and stop for serve to return.
const startServeTimeout = 60 * time.Second

var servingRe = regexp.MustCompile(`serving S3 on (https?://\S+)`)

// startServe runs serve with cfg in the background and returns once it
// has printed its S3 address. The test's cleanup stops it, if the test
// did not.
func startServe(t *testing.T, cfg *config.Config) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &served{ctx: ctx, cancel: cancel, done: make(chan struct{}), rest: make(chan string, 1)}
	go func() {
		s.err = serve(ctx, cfg, pw, io.Discard)
		pw.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(startServeTimeout):
		}
	})
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var head strings.Builder
	timeout := time.After(startServeTimeout)
	for !servingRe.MatchString(head.String()) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve stopped printing before it was ready:\n%s", head.String())
			}
			head.WriteString(l + "\n")
		case <-timeout:
			t.Fatalf("serve not ready in time:\n%s", head.String())
		}
	}
	s.printed = head.String()
	go func() {
		var tail strings.Builder
		for l := range lines {
			tail.WriteString(l + "\n")
		}
		s.rest <- tail.String()
	}()
	return s
}

// endpoint is the S3 address serve announced.
func (s *served) endpoint() string { return servingRe.FindStringSubmatch(s.printed)[1] }

// stop cancels serve and waits for it to return. It returns what serve
// printed after its start-up lines, and the error serve returned; it
// fails the test if serve does not return in time.
func (s *served) stop(t *testing.T) (string, error) {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		return <-s.rest, s.err
	case <-time.After(startServeTimeout):
		t.Fatal("serve did not shut down")
	}
	return "", nil
}

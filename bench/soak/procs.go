package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// minioUser and minioPassword are the soak's own MinIO root credentials;
// the server listens on loopback only.
const (
	minioUser     = "cloak-soak"
	minioPassword = "cloak-soak-secret"
)

// readyTimeout bounds every wait for a server to come up.
const readyTimeout = time.Minute

// minioServer is a MinIO process that can be killed and restarted on the
// same address and data.
type minioServer struct {
	bin, dir, addr string
	mu             sync.Mutex
	cmd            *exec.Cmd
	done           chan struct{}
	restarts       int
}

func startMinio(bin, dir string) (*minioServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	m := &minioServer{bin: bin, dir: dir, addr: "127.0.0.1:" + port}
	return m, m.launch()
}

func (m *minioServer) endpoint() string { return "http://" + m.addr }

func (m *minioServer) launch() error {
	console, err := freePort()
	if err != nil {
		return err
	}
	cmd := exec.Command(m.bin, "server", "--quiet", "--address", m.addr,
		"--console-address", "127.0.0.1:"+console, m.dir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off", "MINIO_CI_CD=on",
		"MINIO_API_DELETE_CLEANUP_INTERVAL=5s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start minio: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	ready := func() bool {
		resp, err := http.Get(m.endpoint() + "/minio/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if err := waitFor(ready, done); err != nil {
		m.kill()
		return fmt.Errorf("minio: %w\n%s", err, out.String())
	}
	return nil
}

// kill ends MinIO with SIGKILL, as a crash would.
func (m *minioServer) kill() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	cmd.Process.Kill()
	<-done
}

// restart kills MinIO and starts it again on the same address and data.
func (m *minioServer) restart() error {
	m.kill()
	m.restarts++
	return m.launch()
}

// cloakServer is "cloak serve" in front of MinIO.
type cloakServer struct {
	cmd      *exec.Cmd
	done     chan struct{}
	endpoint string
	log      *logTail
}

func startCloak(bin, data string, m *minioServer, access, secret string) (*cloakServer, error) {
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", data,
		"--backend-type", "s3", "--backend-s3-endpoint", m.endpoint(), "--backend-s3-lookup", "path",
		"--backend-s3-region", "us-east-1")
	cmd.Env = append(os.Environ(), "CLOAK_ROOT_ACCESS_KEY="+access, "CLOAK_ROOT_SECRET_KEY="+secret,
		"CLOAK_BACKEND_S3_ACCESS_KEY="+minioUser, "CLOAK_BACKEND_S3_SECRET_KEY="+minioPassword)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &cloakServer{cmd: cmd, done: make(chan struct{}), log: &logTail{}}
	cmd.Stderr = c.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start cloak: %w", err)
	}
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`serving S3 on (https://\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		cmd.Wait()
		close(c.done)
	}()
	select {
	case c.endpoint = <-addr:
		return c, nil
	case <-c.done:
		return nil, errors.New("cloak serve exited before it was ready")
	case <-time.After(readyTimeout):
		cmd.Process.Kill()
		return nil, errors.New("cloak serve not ready in time")
	}
}

// peakRSS returns the highest resident set size of the process so far
// (VmHWM), in bytes.
func (c *cloakServer) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

func (c *cloakServer) stop() {
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// waitFor polls ready until it holds, the process ends (done), or
// readyTimeout passes.
func waitFor(ready func() bool, done chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-done:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return errors.New("not ready in time")
		case <-tick.C:
		}
	}
	return nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// logTail keeps the last part of the proxy's log (for a failure report)
// and counts the lines that report possible tampering, of which a soak
// must see none.
type logTail struct {
	mu       sync.Mutex
	b        bytes.Buffer
	tampered int
}

const logTailMax = 1 << 20

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tampered += bytes.Count(p, []byte("possible_tampering=true"))
	if l.b.Len()+len(p) > 2*logTailMax {
		tail := bytes.Clone(l.b.Bytes()[l.b.Len()-logTailMax:])
		l.b.Reset()
		l.b.Write(tail)
	}
	return l.b.Write(p)
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logTail) tamperings() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tampered
}

//go:build ignore

// Command capture records the requests that real S3 clients send, so that
// the sigv4 tests can replay them. It serves plain HTTP and HTTPS (a fresh
// self-signed certificate) on 127.0.0.1, keeps PUT objects in memory,
// answers like a tiny S3, and writes each request as NAME.http (the raw
// request: request line, headers, body) and NAME.json (the secret, region
// and receive time) into the output directory.
//
//	go run capture.go -out captured -http 127.0.0.1:9100 -https 127.0.0.1:9101
//
// The client name comes from the "X-Capture-Client" value set in the
// capture's environment file (see capture.sh); requests are numbered in
// arrival order. Stop it with SIGINT or after -for.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Meta is stored beside each captured request.
type Meta struct {
	Client    string    `json:"client"`
	AccessKey string    `json:"access_key"`
	SecretKey string    `json:"secret_key"`
	Region    string    `json:"region"`
	Time      time.Time `json:"time"`
	Note      string    `json:"note"`
}

const (
	accessKey = "AKIDCAPTUREEXAMPLE"
	secretKey = "capture/Secret+Key/0123456789abcdefEXAMPLE"
	region    = "us-east-1"
)

type server struct {
	out    string
	client func() string
	mu     sync.Mutex
	n      int
	store  map[string][]byte
}

func main() {
	out := flag.String("out", "captured", "output directory")
	httpAddr := flag.String("http", "127.0.0.1:9100", "plain HTTP address")
	httpsAddr := flag.String("https", "127.0.0.1:9101", "HTTPS address")
	certOut := flag.String("cert", "capture-cert.pem", "where to write the certificate")
	clientFile := flag.String("client-file", "capture-client.txt",
		"file whose content names the client being captured")
	life := flag.Duration("for", 10*time.Minute, "stop after this long")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	s := &server{out: *out, store: map[string][]byte{}, client: func() string {
		b, _ := os.ReadFile(*clientFile)
		return strings.TrimSpace(string(b))
	}}
	cert, err := selfSigned(*certOut)
	if err != nil {
		log.Fatal(err)
	}
	go serve(*httpAddr, s, nil)
	go serve(*httpsAddr, s, &tls.Config{Certificates: []tls.Certificate{cert}})
	time.Sleep(*life)
}

func serve(addr string, h http.Handler, cfg *tls.Config) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	log.Fatal(http.Serve(ln, h))
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	now := time.Now().UTC()
	s.record(r, body, now)
	key := r.URL.Path
	switch r.Method {
	case http.MethodPut:
		data := body
		if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
			data = dechunk(body)
		}
		s.mu.Lock()
		s.store[key] = data
		s.mu.Unlock()
		w.Header().Set("ETag", etag(data))
		w.WriteHeader(http.StatusOK)
	case http.MethodGet, http.MethodHead:
		s.get(w, r, key)
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

func (s *server) get(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	data, ok := s.store[key]
	s.mu.Unlock()
	if strings.Count(strings.Trim(key, "/"), "/") == 0 { // a bucket: list it
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?>`+
			`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+
			`<Name>bucket</Name><Prefix></Prefix><KeyCount>0</KeyCount>`+
			`<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
		return
	}
	if !ok {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		if r.Method == http.MethodGet {
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error>`+
				`<Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>`+
				`</Error>`)
		}
		return
	}
	w.Header().Set("ETag", etag(data))
	w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.Method == http.MethodGet {
		w.Write(data)
	}
}

func etag(b []byte) string {
	h := md5.Sum(b)
	return `"` + hex.EncodeToString(h[:]) + `"`
}

// dechunk crudely strips aws-chunked framing, for the in-memory store only.
func dechunk(b []byte) []byte {
	var out []byte
	for {
		line, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			return out
		}
		sizeText, _, _ := bytes.Cut(line, []byte(";"))
		var n int
		fmt.Sscanf(string(sizeText), "%x", &n)
		if n == 0 || n > len(rest) {
			return out
		}
		out = append(out, rest[:n]...)
		b = bytes.TrimPrefix(rest[n:], []byte("\r\n"))
	}
}

// record writes the raw request and its metadata.
func (s *server) record(r *http.Request, body []byte, now time.Time) {
	client := s.client()
	if client == "" {
		client = "unknown"
	}
	s.mu.Lock()
	s.n++
	name := fmt.Sprintf("%s-%02d-%s", client, s.n, strings.ToLower(r.Method))
	s.mu.Unlock()
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\n", r.Method, r.RequestURI)
	fmt.Fprintf(&raw, "Host: %s\r\n", r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			fmt.Fprintf(&raw, "%s: %s\r\n", k, v)
		}
	}
	chunked := len(r.TransferEncoding) > 0
	if chunked { // net/http removed it from r.Header; the body is re-chunked
		fmt.Fprintf(&raw, "Transfer-Encoding: %s\r\n", strings.Join(r.TransferEncoding, ","))
	}
	raw.WriteString("\r\n")
	if chunked {
		cw := httputil.NewChunkedWriter(&raw)
		cw.Write(body)
		cw.Close()
		raw.WriteString("\r\n")
	} else {
		raw.Write(body)
	}
	meta := Meta{Client: client, AccessKey: accessKey, SecretKey: secretKey,
		Region: region, Time: now, Note: r.Method + " " + r.URL.Path}
	mj, _ := json.MarshalIndent(meta, "", "  ")
	_ = os.WriteFile(filepath.Join(s.out, name+".http"), raw.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(s.out, name+".json"), append(mj, '\n'), 0o644)
	log.Printf("captured %s", name)
}

func selfSigned(path string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, pemCert, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Command noproxy is the do-nothing reverse proxy of the benchmarks: it
// forwards every request to one backend unchanged, so that its cost is
// the cost of an extra HTTP hop and nothing else. Cloak's GET, range and
// small-object figures are compared against it. With -cert and -key it
// serves TLS (Go's defaults, as Cloak), the cost of the hop and of TLS,
// against which Cloak over TLS is compared.
//
//	noproxy -listen 127.0.0.1:9100 -backend http://127.0.0.1:9000 [-cert cert.pem -key key.pem]
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9100", "listen `address`")
	backend := flag.String("backend", "", "backend `URL`")
	cert := flag.String("cert", "", "TLS certificate `file` (PEM); plain HTTP without it")
	key := flag.String("key", "", "TLS key `file` (PEM)")
	flag.Parse()
	u, err := url.Parse(*backend)
	if err != nil || u.Host == "" {
		log.Fatalf("noproxy: -backend: a URL is required")
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// Keep the Host header as the client sent it (signed by SigV4), and
	// send bodies on as they arrive.
	director := rp.Director
	rp.Director = func(r *http.Request) { host := r.Host; director(r); r.Host = host }
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true,
		WriteBufferSize: 64 << 10, ReadBufferSize: 64 << 10}
	if *cert != "" {
		log.Fatal(http.ListenAndServeTLS(*listen, *cert, *key, rp))
	}
	log.Fatal(http.ListenAndServe(*listen, rp))
}

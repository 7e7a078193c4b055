// Package s3store is a [backend.Store] on any S3 server (AWS S3, MinIO,
// Ceph, ...) through minio-go.
//
// # Requests and memory
//
//   - A put of known size up to 5 GiB is one streamed PUT: no buffering,
//     no second pass over the body (no Content-MD5, no payload SHA-256:
//     the request is signed UNSIGNED-PAYLOAD, no CRC trailer). The proxy
//     authenticates the ciphertext itself, so these would only cost time.
//   - A put of unknown size, or over 5 GiB, is a multipart upload that
//     reads one part (Config.PartSize, 16 MiB by default) into a buffer
//     at a time: one such upload holds PartSize bytes. If the body fits
//     in one part it is sent as a single PUT instead.
//   - Ranged reads send a Range header; the returned reader is the HTTP
//     response body.
//
// # Metadata
//
// User metadata travels as x-amz-meta-* headers. Values that HTTP would
// not carry unchanged (non-ASCII, control characters, leading or trailing
// blanks, or text that looks like an RFC 2047 encoded word) are sent as
// one RFC 2047 base64 encoded word, which AWS S3 also uses, and decoded
// on the way back; so values round-trip exactly. The encoding makes such
// values longer; S3 counts the encoded size against its 2 KB limit.
//
// # Known limits
//
//   - ListObjects cannot be cancelled through its context once sent
//     (minio-go's Core.ListObjectsV2 takes none).
//   - CopyObject is a single server-side copy, which AWS S3 allows only
//     for sources up to 5 GiB.
//   - ListMultipartUploads returns what the server lists; MinIO lists
//     uploads only for the exact key given as prefix.
//   - A put of unknown size sends its parts one after another (one
//     buffer, no overlap of reading and sending), trading throughput on
//     large streams for flat memory.
package s3store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cloakproxy/cloak/backend"
)

// Bucket addressing styles for Config.Lookup.
const (
	LookupAuto = "auto" // minio-go decides (virtual-host for AWS, else path)
	LookupPath = "path" // http://host/bucket/key
	LookupDNS  = "dns"  // http://bucket.host/key
)

// Default and limit values.
const (
	DefaultPartSize     = 16 << 20
	MinPartSize         = 5 << 20
	maxSinglePut        = 5 << 30
	defaultIdlePerHost  = 64
	defaultMaxIdleConns = 256
)

// Config configures a Store.
type Config struct {
	// Endpoint is the server's URL: "https://s3.eu-west-1.amazonaws.com"
	// or "http://127.0.0.1:9000". No path.
	Endpoint string
	// Region of the buckets; empty lets minio-go discover it.
	Region    string
	AccessKey string
	SecretKey string
	// Lookup is LookupPath, LookupDNS or LookupAuto (the default).
	Lookup string
	// CAFile names a PEM bundle of extra CAs to trust for an https
	// endpoint, added to the system pool.
	CAFile string
	// PartSize is the part size of puts of unknown size and of puts over
	// 5 GiB; it is the memory one such put holds. At least MinPartSize;
	// 0 means DefaultPartSize.
	PartSize int64
	// MaxIdleConnsPerHost bounds kept-alive connections to the server;
	// 0 means 64, enough for parallel part uploads.
	MaxIdleConnsPerHost int
	// MaxRetries bounds the attempts of a failed request (retried with
	// backoff when the body can be rewound); 0 means minio-go's default
	// of 10.
	MaxRetries int
}

// Store is a backend.Store on an S3 server. It is safe for concurrent use.
type Store struct {
	core     *minio.Core
	partSize int64
	// lister lists with metadata where the server offers it (MinIO);
	// nil when the store addresses buckets as virtual hosts.
	lister *metaLister
}

var _ backend.Store = (*Store)(nil)

// New checks cfg and returns a Store. It makes no request.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return nil, errors.New("s3store: endpoint must be an http or https URL " +
			"without path, query or credentials")
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < MinPartSize || partSize > maxSinglePut {
		return nil, fmt.Errorf("s3store: part size %d outside %d..%d", partSize, MinPartSize,
			int64(maxSinglePut))
	}
	lookup, err := bucketLookup(cfg.Lookup)
	if err != nil {
		return nil, err
	}
	tr, err := transport(cfg, u.Scheme == "https")
	if err != nil {
		return nil, err
	}
	core, err := minio.NewCore(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    tr,
		MaxRetries:   cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	st := &Store{core: core, partSize: partSize}
	if lookup == minio.BucketLookupPath || (lookup == minio.BucketLookupAuto && !isAWSHost(u.Host)) {
		st.lister = &metaLister{endpoint: u, client: &http.Client{Transport: tr}, region: cfg.Region,
			access: cfg.AccessKey, secret: cfg.SecretKey}
	}
	return st, nil
}

func bucketLookup(s string) (minio.BucketLookupType, error) {
	switch s {
	case "", LookupAuto:
		return minio.BucketLookupAuto, nil
	case LookupPath:
		return minio.BucketLookupPath, nil
	case LookupDNS:
		return minio.BucketLookupDNS, nil
	}
	return 0, fmt.Errorf("s3store: bucket lookup %q is not %q, %q or %q", s, LookupAuto,
		LookupPath, LookupDNS)
}

// transport returns an http.Transport with keep-alives, enough idle
// connections for parallel uploads, no transparent gzip (it would break
// ranges and sizes) and, for https, TLS 1.2 or newer with the extra CAs.
func transport(cfg Config, secure bool) (*http.Transport, error) {
	perHost := cfg.MaxIdleConnsPerHost
	if perHost <= 0 {
		perHost = defaultIdlePerHost
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		MaxIdleConns:          max(defaultMaxIdleConns, perHost),
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
	if !secure {
		return tr, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := caPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	}
	tr.TLSClientConfig = tlsCfg
	return tr, nil
}

func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("s3store: read CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("s3store: CA bundle holds no PEM certificate")
	}
	return pool, nil
}

package s3store

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// metaLister sends ListObjectsV2 with MinIO's metadata=true extension,
// which returns every listed object's user metadata, so that a caller
// needs no HEAD per object. minio-go offers the extension only through
// its all-pages iterator, which hides the continuation token, so the
// request is made here, path-style, signed with the store's credentials.
// Servers that do not know the extension ignore it and list no metadata.
type metaLister struct {
	endpoint       *url.URL
	client         *http.Client
	region         string
	access, secret string
}

// isAWSHost reports whether host is an Amazon S3 endpoint, which minio-go
// addresses in virtual-host style under LookupAuto.
func isAWSHost(host string) bool {
	return strings.HasSuffix(strings.Split(host, ":")[0], ".amazonaws.com")
}

func (l *metaLister) list(ctx context.Context, bucket string, opts backend.ListOptions, max int) (minio.ListBucketV2Result, error) {
	var res minio.ListBucketV2Result
	q := url.Values{"list-type": {"2"}, "metadata": {"true"}, "max-keys": {strconv.Itoa(max)},
		"prefix": {opts.Prefix}}
	if opts.Delimiter != "" {
		q.Set("delimiter", opts.Delimiter)
	}
	if opts.ContinuationToken != "" {
		q.Set("continuation-token", opts.ContinuationToken)
	} else if opts.StartAfter != "" {
		q.Set("start-after", opts.StartAfter)
	}
	u := *l.endpoint
	u.Path = "/" + bucket + "/"
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return res, err
	}
	region := l.region
	if region == "" {
		region = "us-east-1"
	}
	sigv4.SignRequest(req, sigv4.Credential{AccessKey: l.access, SecretKey: l.secret}, region, "s3",
		time.Now(), emptySHA256)
	resp, err := l.client.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, mapErr(minio.ToErrorResponse(errorFromResponse(resp)))
	}
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&res); err != nil {
		return res, fmt.Errorf("decode listing: %w", err)
	}
	return res, nil
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// errorFromResponse reads an S3 error document.
func errorFromResponse(resp *http.Response) error {
	var e minio.ErrorResponse
	if err := xml.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e); err != nil || e.Code == "" {
		e.Code = http.StatusText(resp.StatusCode)
		e.StatusCode = resp.StatusCode
	}
	e.StatusCode = resp.StatusCode
	return e
}

// listedMetadata turns a listing's metadata map into the store's form:
// only x-amz-meta-* entries, names lower case without the prefix,
// decoded as HeadObject decodes them. It never returns nil, so a caller
// can tell an object listed without user metadata from one listed
// without metadata at all.
func listedMetadata(raw minio.StringMap) map[string]string {
	md := map[string]string{}
	for k, v := range raw {
		lk := strings.ToLower(k)
		if name, ok := strings.CutPrefix(lk, "x-amz-meta-"); ok {
			if strings.HasPrefix(v, "=?") {
				// RFC 2047, as encodeValue sent it; minio-go decodes
				// these on HEAD, the raw listing does not.
				if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
					v = d
				}
			}
			md[name] = v
		}
	}
	return md
}

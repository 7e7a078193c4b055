package s3compat

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

// Op is an S3 operation.
type Op string

// The operations ParseRequest recognises. OpUnsupported is a request for
// a sub-resource Cloak does not implement (see Request.Subresource).
const (
	OpListBuckets             Op = "ListBuckets"
	OpCreateBucket            Op = "CreateBucket"
	OpDeleteBucket            Op = "DeleteBucket"
	OpHeadBucket              Op = "HeadBucket"
	OpGetBucketLocation       Op = "GetBucketLocation"
	OpListObjects             Op = "ListObjects"
	OpListObjectsV2           Op = "ListObjectsV2"
	OpListObjectVersions      Op = "ListObjectVersions"
	OpListMultipartUploads    Op = "ListMultipartUploads"
	OpPutObject               Op = "PutObject"
	OpCopyObject              Op = "CopyObject"
	OpGetObject               Op = "GetObject"
	OpHeadObject              Op = "HeadObject"
	OpDeleteObject            Op = "DeleteObject"
	OpDeleteObjects           Op = "DeleteObjects"
	OpCreateMultipartUpload   Op = "CreateMultipartUpload"
	OpUploadPart              Op = "UploadPart"
	OpUploadPartCopy          Op = "UploadPartCopy"
	OpCompleteMultipartUpload Op = "CompleteMultipartUpload"
	OpAbortMultipartUpload    Op = "AbortMultipartUpload"
	OpListParts               Op = "ListParts"
	OpUnsupported             Op = "Unsupported"
)

// Request is what ParseRequest learns from an HTTP request.
type Request struct {
	Op     Op
	Bucket string // "" for ListBuckets
	Key    string // "" for bucket operations
	// VirtualHost reports that the bucket came from the Host header.
	VirtualHost bool
	// Subresource names the query parameter that made the request
	// OpUnsupported ("acl", "tagging", ...), or "POST" for a browser
	// form upload; empty otherwise.
	Subresource string
	// UploadID is the uploadId parameter of the multipart operations.
	UploadID string
	// PartNumber is the partNumber parameter (1..10000) of UploadPart,
	// UploadPartCopy, GetObject and HeadObject, or 0 when absent.
	PartNumber int
	// VersionID is the versionId parameter, if any.
	VersionID string
	// CopySource is the parsed x-amz-copy-source of CopyObject and
	// UploadPartCopy.
	CopySource *CopySource
	// Query is the request's query, parsed once.
	Query url.Values
}

// unsupportedBucket and unsupportedObject list the sub-resources that
// make a request OpUnsupported, so the proxy can answer NotImplemented or
// a fixed default (for example an empty versioning configuration).
var (
	unsupportedBucket = []string{
		"accelerate", "acl", "analytics", "cors", "encryption",
		"intelligent-tiering", "inventory", "lifecycle", "logging", "metadataTable",
		"metrics", "notification", "object-lock", "ownershipControls", "policy",
		"policyStatus", "publicAccessBlock", "replication", "requestPayment",
		"tagging", "versioning", "website",
	}
	unsupportedObject = []string{
		"acl", "attributes", "legal-hold", "renameObject", "restore", "retention",
		"select", "tagging", "torrent",
	}
)

// ParseRequest works out the bucket, key and operation of r.
//
// domains are the host names under which Cloak serves virtual-host-style
// requests: with domain "s3.example.com", Host "photos.s3.example.com"
// addresses bucket "photos", and Host "s3.example.com" (or any host not
// under a domain) means the bucket is the first path segment. Host
// matching ignores case and any port.
//
// The key is the rest of the escaped path, unescaped exactly once (see
// the package documentation). "/bucket" and "/bucket/" both address the
// bucket itself.
//
// Errors are *s3err.Error: InvalidBucketName, KeyTooLongError, InvalidURI
// for a path that is not valid percent-encoding, MethodNotAllowed for a
// method the resource does not support, and InvalidArgument or
// InvalidRequest for malformed parameters (part number, list-type,
// encoding-type, copy source).
func ParseRequest(r *http.Request, domains []string) (Request, error) {
	req := Request{Query: r.URL.Query()}
	path, err := url.PathUnescape(r.URL.EscapedPath())
	if err != nil {
		return Request{}, s3err.ErrInvalidURI.WithCause(err)
	}
	path = strings.TrimPrefix(path, "/")
	if b, ok := bucketFromHost(r.Host, domains); ok {
		req.Bucket, req.Key, req.VirtualHost = b, path, true
	} else if path != "" {
		req.Bucket, req.Key, _ = strings.Cut(path, "/")
	}
	if req.Bucket == "" && path != "" { // "//key" names no bucket
		return Request{}, s3err.ErrInvalidBucketName
	}
	if err := req.route(r); err != nil {
		return Request{}, err
	}
	if req.Bucket != "" && !ValidBucketName(req.Bucket, req.Op == OpCreateBucket) {
		return Request{}, s3err.ErrInvalidBucketName
	}
	if len(req.Key) > MaxKeyLength {
		return Request{}, s3err.ErrKeyTooLong
	}
	return req, nil
}

// bucketFromHost returns the bucket named by a virtual-host-style Host.
func bucketFromHost(host string, domains []string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if d == "" || len(host) <= len(d)+1 {
			continue
		}
		if strings.HasSuffix(host, d) && host[len(host)-len(d)-1] == '.' {
			return host[:len(host)-len(d)-1], true
		}
	}
	return "", false
}

// route sets req.Op and the operation's parameters from the method and
// query.
func (req *Request) route(r *http.Request) error {
	q := req.Query
	req.VersionID = q.Get("versionId")
	req.UploadID = q.Get("uploadId")
	switch {
	case req.Bucket == "":
		if r.Method != http.MethodGet {
			return s3err.ErrMethodNotAllowed
		}
		req.Op = OpListBuckets
		return nil
	case req.Key == "":
		if sub := firstPresent(q, unsupportedBucket); sub != "" {
			req.Op, req.Subresource = OpUnsupported, sub
			return nil
		}
		return req.routeBucket(r)
	default:
		if sub := firstPresent(q, unsupportedObject); sub != "" {
			req.Op, req.Subresource = OpUnsupported, sub
			return nil
		}
		return req.routeObject(r)
	}
}

func (req *Request) routeBucket(r *http.Request) error {
	q := req.Query
	switch r.Method {
	case http.MethodGet:
		switch {
		case q.Has("location"):
			req.Op = OpGetBucketLocation
		case q.Has("versions"):
			req.Op = OpListObjectVersions
		case q.Has("uploads"):
			req.Op = OpListMultipartUploads
		case q.Has("list-type"):
			if q.Get("list-type") != "2" {
				return s3err.ErrInvalidArgument.WithMessage("Invalid List Type specified")
			}
			req.Op = OpListObjectsV2
		default:
			req.Op = OpListObjects
		}
		if !s3xml.ValidEncodingType(q.Get("encoding-type")) && req.Op != OpGetBucketLocation {
			return s3xml.ErrInvalidEncodingType
		}
	case http.MethodHead:
		req.Op = OpHeadBucket
	case http.MethodPut:
		req.Op = OpCreateBucket
	case http.MethodDelete:
		req.Op = OpDeleteBucket
	case http.MethodPost:
		if q.Has("delete") {
			req.Op = OpDeleteObjects
		} else {
			req.Op, req.Subresource = OpUnsupported, "POST"
		}
	default:
		return s3err.ErrMethodNotAllowed
	}
	return nil
}

func (req *Request) routeObject(r *http.Request) error {
	q := req.Query
	var err error
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case r.Method == http.MethodGet && q.Has("uploadId"):
			req.Op = OpListParts
		case r.Method == http.MethodGet:
			req.Op = OpGetObject
		default:
			req.Op = OpHeadObject
		}
		if req.Op != OpListParts && q.Has("partNumber") {
			req.PartNumber, err = ParsePartNumber(q.Get("partNumber"))
		}
	case http.MethodPut:
		err = req.routePut(r)
	case http.MethodDelete:
		req.Op = OpDeleteObject
		if q.Has("uploadId") {
			req.Op = OpAbortMultipartUpload
		}
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			req.Op = OpCreateMultipartUpload
		case q.Has("uploadId"):
			req.Op = OpCompleteMultipartUpload
		default:
			return s3err.ErrMethodNotAllowed
		}
	default:
		return s3err.ErrMethodNotAllowed
	}
	return err
}

func (req *Request) routePut(r *http.Request) error {
	q := req.Query
	src, hasSrc := r.Header["X-Amz-Copy-Source"]
	if q.Has("partNumber") || q.Has("uploadId") {
		if !q.Has("partNumber") || !q.Has("uploadId") {
			return s3err.ErrInvalidArgument.WithMessage(
				"UploadPart requires both partNumber and uploadId")
		}
		n, err := ParsePartNumber(q.Get("partNumber"))
		if err != nil {
			return err
		}
		req.PartNumber, req.Op = n, OpUploadPart
		if hasSrc {
			req.Op = OpUploadPartCopy
		}
	} else {
		req.Op = OpPutObject
		if hasSrc {
			req.Op = OpCopyObject
		}
	}
	if hasSrc {
		cs, err := ParseCopySource(src[0])
		if err != nil {
			return err
		}
		req.CopySource = &cs
	}
	return nil
}

// firstPresent returns the first of names present in q, or "".
func firstPresent(q url.Values, names []string) string {
	for _, n := range names {
		if q.Has(n) {
			return n
		}
	}
	return ""
}

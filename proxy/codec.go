package proxy

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat/checksum"
)

// The storage mapping: how an encrypted object is laid out in the backend.
// docs/ARCHITECTURE.md ("Storage mapping") is the prose version.
//
// Backend user metadata of an encrypted object:
//
//	cloak-env   the envelope text (crypto.Envelope): wrapped data key,
//	            master key id and version
//	cloak-meta  base64url of a metadata record sealed under the data key:
//	            objectMeta as JSON
//
// The body is the object's segments (crypto format). Each segment trailer's
// attribute block holds the plaintext MD5 and checksum (attrs below).
const (
	metaEnvelope = "cloak-env"
	metaSealed   = "cloak-meta"
)

// objectMeta is everything about an object that is not its body and must
// not reach the store in the clear.
type objectMeta struct {
	ContentType        string            `json:"ct,omitempty"`
	ContentEncoding    string            `json:"ce,omitempty"`
	ContentDisposition string            `json:"cd,omitempty"`
	ContentLanguage    string            `json:"cl,omitempty"`
	CacheControl       string            `json:"cc,omitempty"`
	Expires            string            `json:"ex,omitempty"`
	User               map[string]string `json:"u,omitempty"`
	// MD5 is the hex plaintext MD5, when it was known before the body was
	// stored (small objects are buffered for this). It is the ETag.
	MD5 string `json:"md5,omitempty"`
	// Checksum is the flexible checksum of the plaintext, when known
	// before the body was stored: algorithm name and base64 value.
	ChecksumAlgorithm string `json:"cka,omitempty"`
	Checksum          string `json:"ck,omitempty"`
}

// standardHeaders are the content headers S3 stores with an object and
// returns on GET and HEAD.
var standardHeaders = []struct {
	name string
	get  func(*objectMeta) *string
}{
	{"Content-Type", func(m *objectMeta) *string { return &m.ContentType }},
	{"Content-Encoding", func(m *objectMeta) *string { return &m.ContentEncoding }},
	{"Content-Disposition", func(m *objectMeta) *string { return &m.ContentDisposition }},
	{"Content-Language", func(m *objectMeta) *string { return &m.ContentLanguage }},
	{"Cache-Control", func(m *objectMeta) *string { return &m.CacheControl }},
	{"Expires", func(m *objectMeta) *string { return &m.Expires }},
}

// metaFromRequest collects the content headers and user metadata of a
// write. The aws-chunked content coding is transport framing, not part of
// the object, and is dropped.
func metaFromRequest(h http.Header, user map[string]string) objectMeta {
	var m objectMeta
	for _, sh := range standardHeaders {
		*sh.get(&m) = h.Get(sh.name)
	}
	m.ContentEncoding = stripAWSChunked(m.ContentEncoding)
	if len(user) > 0 {
		m.User = user
	}
	return m
}

func stripAWSChunked(enc string) string {
	var keep []string
	for _, e := range strings.Split(enc, ",") {
		if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
			keep = append(keep, e)
		}
	}
	return strings.Join(keep, ",")
}

// writeHeaders sets the stored content headers and user metadata on a GET
// or HEAD response.
func (m *objectMeta) writeHeaders(h http.Header) {
	for _, sh := range standardHeaders {
		if v := *sh.get(m); v != "" {
			h.Set(sh.name, v)
		}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "binary/octet-stream")
	}
	for k, v := range m.User {
		h[http.CanonicalHeaderKey("x-amz-meta-"+k)] = []string{v}
	}
}

// Attribute block layout (crypto.AttributesSize bytes, in every segment
// trailer):
//
//	0       1   layout version (1)
//	1       16  plaintext MD5 of the segment
//	17      1   checksum algorithm (0 none, else checksumIDs)
//	18      32  raw checksum value, zero-padded
const attrsVersion = 1

var checksumIDs = []checksum.Algorithm{
	checksum.CRC32, checksum.CRC32C, checksum.CRC64NVME, checksum.SHA1, checksum.SHA256,
}

func encodeAttrs(md5 []byte, alg checksum.Algorithm, sum []byte) [crypto.AttributesSize]byte {
	var a [crypto.AttributesSize]byte
	a[0] = attrsVersion
	copy(a[1:17], md5)
	for i, id := range checksumIDs {
		if id == alg && len(sum) <= 32 {
			a[17] = byte(i + 1)
			copy(a[18:50], sum)
		}
	}
	return a
}

// sealedMeta seals m under dk for the backend metadata value.
func sealedMeta(dk *crypto.DataKey, m *objectMeta) (string, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode object metadata: %w", err)
	}
	rec, err := crypto.SealMetadata(dk, js, nil, nil)
	clear(js)
	if err != nil {
		return "", fmt.Errorf("seal object metadata: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(rec), nil
}

func openMeta(dk *crypto.DataKey, text string) (objectMeta, error) {
	var m objectMeta
	rec, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil {
		return m, fmt.Errorf("decode object metadata: %w", crypto.ErrAuthentication)
	}
	js, err := crypto.OpenMetadata(dk, rec, nil)
	if err != nil {
		return m, fmt.Errorf("open object metadata: %w", err)
	}
	defer clear(js)
	if err := json.Unmarshal(js, &m); err != nil {
		return m, fmt.Errorf("parse object metadata: %w", crypto.ErrAuthentication)
	}
	return m, nil
}

// errNotEncrypted marks a stored object without a Cloak envelope.
var errNotEncrypted = errors.New("object has no cloak envelope")

// storedObject is an object as the proxy sees it once opened: its backend
// info, its unwrapped data key, its metadata and its layout.
type storedObject struct {
	bucket, key string
	info        backend.ObjectInfo
	plaintext   bool // a pre-Cloak object served as is (migrating prefixes)
	dk          *crypto.DataKey
	meta        objectMeta
	layout      crypto.Layout
	etag        string // the client-facing ETag, unquoted
	// unconfirmed is set while info comes from the info cache and no
	// store response has matched it yet (see confirm).
	unconfirmed bool
}

// size returns the client-facing (plaintext) size.
func (o *storedObject) size() int64 {
	if o.plaintext {
		return o.info.Size
	}
	return o.layout.PlainSize()
}

// close destroys the data key.
func (o *storedObject) close() {
	if o.dk != nil {
		o.dk.Destroy()
	}
}

// openObject reads the envelope and metadata of an object and unwraps its
// data key. Objects without an envelope are returned as plaintext only
// where the configuration marks them as migrating.
func (s *Server) openObject(ctx context.Context, bucket, key string, info backend.ObjectInfo) (*storedObject, error) {
	o := &storedObject{bucket: bucket, key: key, info: info}
	envText, ok := info.Metadata[metaEnvelope]
	if !ok {
		if s.opts.Migrating != nil && s.opts.Migrating(bucket, key) {
			o.plaintext = true
			o.etag = info.ETag
			o.meta.User = info.Metadata
			o.meta.ContentType = info.ContentType
			return o, nil
		}
		return nil, errNotEncrypted
	}
	var env crypto.Envelope
	if err := env.UnmarshalText([]byte(envText)); err != nil {
		return nil, fmt.Errorf("envelope: %w", errors.Join(err, crypto.ErrAuthentication))
	}
	raw, err := s.opts.Keys.Unwrap(ctx, env.WrappedKey, env.WrapContext(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	o.dk, err = crypto.DataKeyFromBytes(raw)
	clear(raw)
	if err != nil {
		return nil, err
	}
	if o.meta, err = openMeta(o.dk, info.Metadata[metaSealed]); err != nil {
		o.close()
		return nil, err
	}
	if env.Multipart {
		err = s.openManifest(ctx, o)
	} else if o.layout, err = crypto.SinglePartFromCiphertext(info.Size); err != nil {
		err = fmt.Errorf("stored size: %w", errors.Join(err, crypto.ErrAuthentication))
	}
	if err != nil {
		o.close()
		return nil, err
	}
	if !env.Multipart {
		o.etag = clientETag(o.meta.MD5, info.ETag)
	}
	return o, nil
}

// openManifest reads a multipart object's manifest, which gives its
// layout and ETag, and checks the stored size against the layout: parts
// dropped, added or cut short change the size.
func (s *Server) openManifest(ctx context.Context, o *storedObject) error {
	integrity := func(what string) error { return fmt.Errorf("%s: %w", what, crypto.ErrAuthentication) }
	token := o.info.Metadata[metaManifest]
	if token == "" || strings.ContainsAny(token, "/.") {
		return integrity("no manifest reference")
	}
	cacheKey := o.bucket + "/" + token
	sealed, ok := s.manifests.Get(cacheKey)
	if !ok {
		var err error
		sealed, err = s.getInternal(ctx, o.bucket, manifestKey(token))
		if errors.Is(err, backend.ErrNoSuchKey) {
			return integrity("the manifest is missing") // not a missing object
		}
		if err != nil {
			return fmt.Errorf("read manifest: %w", err)
		}
		s.manifests.Add(cacheKey, sealed)
	}
	layout, attrs, err := crypto.OpenManifest(o.dk, sealed)
	if err != nil {
		return err
	}
	if layout.CiphertextSize() != o.info.Size {
		return integrity("stored size differs from the manifest")
	}
	o.layout, o.etag = layout, string(attrs)
	return nil
}

// clientETag is the ETag clients see: the plaintext MD5 when it was known
// before the body was stored, else one derived from the backend's ETag (of
// the ciphertext), marked with a part count so that no client mistakes it
// for an MD5 of the data. Either way it is the same for PUT, HEAD, GET and
// LIST.
func clientETag(md5Hex, backendETag string) string {
	if md5Hex != "" {
		return md5Hex
	}
	if strings.Contains(backendETag, "-") {
		return backendETag
	}
	return backendETag + "-1"
}

func hexMD5(b []byte) string { return hex.EncodeToString(b) }

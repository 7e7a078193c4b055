package proxy

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/s3compat"
	"github.com/cloakproxy/cloak/s3compat/checksum"
	"github.com/cloakproxy/cloak/s3compat/s3err"
	"github.com/cloakproxy/cloak/s3compat/s3xml"
)

// Multipart uploads. The upload has one data key, wrapped into the
// envelope that the backend upload carries as metadata and that the
// upload's state object repeats for UploadPart. Each part is one segment,
// encrypted as it streams. A part's ETag is its plaintext MD5, or, when
// the client verifies the part through a flexible checksum and sent no
// Content-MD5 (see wantsMD5ETag), 16 random bytes; either is kept sealed in
// the part's record. The object's ETag is S3's multipart form over the
// part ETags, sealed in the manifest with the layout. Nothing lives
// outside the backend.

// metaManifest names the backend metadata that points a multipart object
// at its manifest.
const metaManifest = "cloak-mpu"

func (s *Server) createMultipartUpload(ctx context.Context, rq *request) error {
	user, err := s3compat.UserMetadata(rq.r.Header)
	if err != nil {
		return err
	}
	meta := metaFromRequest(rq.r.Header, user)
	dk, err := crypto.NewDataKey(nil)
	if err != nil {
		return err
	}
	defer dk.Destroy()
	env, err := s.wrap(ctx, dk, rq.s3.Bucket, rq.s3.Key, true)
	if err != nil {
		return err
	}
	sealed, err := sealedMeta(dk, &meta)
	if err != nil {
		return err
	}
	token := newToken()
	id, err := s.opts.Store.CreateMultipartUpload(ctx, rq.s3.Bucket, rq.s3.Key, backend.PutOptions{
		Metadata: map[string]string{metaEnvelope: env, metaSealed: sealed, metaManifest: token}})
	if err != nil {
		return err
	}
	dir := uploadDir(rq.s3.Key, id)
	if err := s.saveUploadState(ctx, rq.s3.Bucket, dir, uploadState{Envelope: env, Token: token,
		Key: rq.s3.Key, UploadID: id}); err != nil {
		_ = s.opts.Store.AbortMultipartUpload(ctx, rq.s3.Bucket, rq.s3.Key, id)
		return err
	}
	return s3xml.Write(rq.w, http.StatusOK, s3xml.InitiateMultipartUploadResult{
		Bucket: rq.s3.Bucket, Key: rq.s3.Key, UploadID: id})
}

// uploadKey opens the data key of an upload in progress.
func (s *Server) uploadKey(ctx context.Context, bucket, key, uploadID string) (*crypto.DataKey, uploadState, error) {
	st, err := s.loadUploadState(ctx, bucket, uploadDir(key, uploadID))
	if err != nil {
		return nil, st, err
	}
	var env crypto.Envelope
	if err := env.UnmarshalText([]byte(st.Envelope)); err != nil {
		return nil, st, errors.Join(err, crypto.ErrAuthentication)
	}
	raw, err := s.opts.Keys.Unwrap(ctx, env.WrappedKey, crypto.WrapContext{Bucket: bucket, Key: key, Multipart: true})
	if err != nil {
		return nil, st, fmt.Errorf("unwrap upload key: %w", err)
	}
	defer clear(raw)
	dk, err := crypto.DataKeyFromBytes(raw)
	return dk, st, err
}

func (s *Server) uploadPart(ctx context.Context, rq *request) error {
	dk, _, err := s.uploadKey(ctx, rq.s3.Bucket, rq.s3.Key, rq.s3.UploadID)
	if err != nil {
		return err
	}
	defer dk.Destroy()
	body, err := s.requestBody(rq)
	if err != nil {
		return err
	}
	if body.size < 0 {
		return s3err.ErrMissingContentLength
	}
	if err := s3compat.CheckPartSize(body.size); err != nil {
		return err
	}
	tag := body.MD5
	if !body.wantsMD5ETag() {
		body.SkipMD5()
		random := make([]byte, md5.Size)
		if _, err := rand.Read(random); err != nil {
			return err
		}
		tag = func() []byte { return random }
	}
	if _, err := s.storePart(ctx, rq.s3.Bucket, rq.s3.Key, rq.s3.UploadID, rq.s3.PartNumber, body, body.size, dk,
		bodyAttrs(body), tag); err != nil {
		return err
	}
	h := rq.w.Header()
	h.Set("ETag", quote(hex.EncodeToString(tag())))
	if alg, sum := body.Sum(); alg != checksum.None {
		h.Set(alg.Header(), alg.Encode(sum))
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// storePart encrypts src (size bytes) as part number part of an upload,
// stores it, and records its ETag (from tag, called once src is
// exhausted: the plaintext MD5, or random bytes).
func (s *Server) storePart(ctx context.Context, bucket, key, uploadID string, part int, src io.Reader, size int64,
	dk *crypto.DataKey, attrs func() [crypto.AttributesSize]byte, tag func() []byte) (backend.PartInfo, error) {
	rec := &errRecorder{r: &sizeCheck{r: countSealed(ctx, src), want: size}}
	er, err := crypto.NewEncryptReader(rec, dk, uint32(part), nil, attrs)
	if err != nil {
		return backend.PartInfo{}, err
	}
	defer er.Close()
	info, err := s.opts.Store.UploadPart(ctx, bucket, key, uploadID, part, er, crypto.SegmentCiphertextSize(size))
	if rec.err != nil {
		return backend.PartInfo{}, rec.err
	}
	if err != nil {
		return backend.PartInfo{}, err
	}
	recKey, err := partRecordKey(dk, key, uploadID, part, info.ETag, tag())
	if err != nil {
		return backend.PartInfo{}, err
	}
	return info, s.putInternal(ctx, bucket, recKey, nil)
}

// partRecordKey names the record of one uploaded part: its number, the
// backend's ETag of the stored ciphertext, and the part's ETag sealed
// under the upload's data key with the number and backend ETag bound in.
func partRecordKey(dk *crypto.DataKey, key, uploadID string, part int, backendETag string, etag []byte) (string, error) {
	sealed, err := crypto.SealMetadata(dk, etag, partAAD(part, backendETag), nil)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%sp%05d.%s.%s", uploadDir(key, uploadID), part, backendETag,
		base64.RawURLEncoding.EncodeToString(sealed)), nil
}

func partAAD(part int, backendETag string) []byte {
	return []byte("cloak part " + strconv.Itoa(part) + " " + backendETag)
}

// partRecord is a parsed part record.
type partRecord struct {
	backendETag string
	etag        []byte
}

// loadPartRecords reads the records of an upload's parts: for each part
// number, every record (a part uploaded more than once has several).
func (s *Server) loadPartRecords(ctx context.Context, dk *crypto.DataKey, bucket, key, uploadID string) (map[int][]partRecord, error) {
	dir := uploadDir(key, uploadID)
	out := map[int][]partRecord{}
	token := ""
	for range 100 { // 10,000 parts at 1,000 a page, with room for retries
		res, err := s.opts.Store.ListObjects(ctx, bucket, backend.ListOptions{Prefix: dir + "p", ContinuationToken: token})
		if err != nil {
			return nil, err
		}
		for _, o := range res.Objects {
			n, r, err := parsePartRecord(dk, strings.TrimPrefix(o.Key, dir))
			if err != nil {
				return nil, err
			}
			out[n] = append(out[n], r)
		}
		if !res.IsTruncated {
			return out, nil
		}
		token = res.NextToken
	}
	return nil, errors.New("too many part records")
}

func parsePartRecord(dk *crypto.DataKey, name string) (int, partRecord, error) {
	var r partRecord
	fields := strings.Split(name, ".")
	if len(fields) != 3 || len(fields[0]) != 6 {
		return 0, r, fmt.Errorf("part record %q: %w", name, crypto.ErrAuthentication)
	}
	n, err := strconv.Atoi(fields[0][1:])
	if err != nil {
		return 0, r, fmt.Errorf("part record %q: %w", name, crypto.ErrAuthentication)
	}
	sealed, err := base64.RawURLEncoding.DecodeString(fields[2])
	if err != nil {
		return 0, r, fmt.Errorf("part record %q: %w", name, crypto.ErrAuthentication)
	}
	r.backendETag = fields[1]
	r.etag, err = crypto.OpenMetadata(dk, sealed, partAAD(n, r.backendETag))
	return n, r, err
}

// backendParts lists every part the backend holds for an upload.
func (s *Server) backendParts(ctx context.Context, bucket, key, uploadID string) (map[int]backend.PartInfo, error) {
	out := map[int]backend.PartInfo{}
	marker := 0
	for range 20 {
		res, err := s.opts.Store.ListParts(ctx, bucket, key, uploadID, backend.ListPartsOptions{PartNumberMarker: marker})
		if err != nil {
			return nil, err
		}
		for _, p := range res.Parts {
			out[p.PartNumber] = p
		}
		if !res.IsTruncated {
			return out, nil
		}
		marker = res.NextPartNumberMarker
	}
	return nil, errors.New("too many parts")
}

// resolvedPart is a backend part with its plaintext size and client ETag.
type resolvedPart struct {
	backend.PartInfo
	plainSize int64
	etag      []byte
}

// resolveParts joins the backend's parts with their records. A part whose
// current stored version has no record (its upload did not finish) is
// left out.
func (s *Server) resolveParts(ctx context.Context, dk *crypto.DataKey, bucket, key, uploadID string) (map[int]resolvedPart, error) {
	stored, err := s.backendParts(ctx, bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	records, err := s.loadPartRecords(ctx, dk, bucket, key, uploadID)
	if err != nil {
		return nil, err
	}
	out := map[int]resolvedPart{}
	for n, p := range stored {
		for _, r := range records[n] {
			if r.backendETag != strings.Trim(p.ETag, `"`) {
				continue
			}
			size, err := crypto.SegmentPlaintextSize(p.Size)
			if err != nil {
				return nil, fmt.Errorf("part %d: %w", n, errors.Join(err, crypto.ErrAuthentication))
			}
			out[n] = resolvedPart{PartInfo: p, plainSize: size, etag: r.etag}
		}
	}
	return out, nil
}

func (s *Server) completeMultipartUpload(ctx context.Context, rq *request) error {
	b, k, id := rq.s3.Bucket, rq.s3.Key, rq.s3.UploadID
	dk, st, err := s.uploadKey(ctx, b, k, id)
	if err != nil {
		return err
	}
	defer dk.Destroy()
	body, err := s.requestBody(rq)
	if err != nil {
		return err
	}
	var req s3xml.CompleteMultipartUpload
	if err := s3xml.Decode(body, s3xml.MaxCompleteMultipartUploadBody, &req); err != nil {
		return err
	}
	parts, err := s.resolveParts(ctx, dk, b, k, id)
	if err != nil {
		return err
	}
	layout, complete, etag, err := chooseParts(req.Parts, parts)
	if err != nil {
		return err
	}
	manifest, err := crypto.SealManifest(dk, layout, []byte(etag), nil)
	if err != nil {
		return err
	}
	if err := s.putInternal(ctx, b, manifestKey(st.Token), manifest); err != nil {
		return err
	}
	if _, err := s.opts.Store.CompleteMultipartUpload(ctx, b, k, id, complete, backend.CompleteOptions{}); err != nil {
		return err
	}
	s.cleanupUpload(ctx, b, k, id)
	return s3xml.Write(rq.w, http.StatusOK, s3xml.CompleteMultipartUploadResult{
		Location: "/" + b + "/" + k, Bucket: b, Key: k, ETag: s3xml.ETag(etag)})
}

// chooseParts checks the client's part list against the stored parts and
// returns the object's layout, the backend's part list, and the S3
// multipart ETag over the part ETags.
func chooseParts(want []s3xml.CompletedPart, have map[int]resolvedPart) (crypto.Layout, []backend.CompletePart, string, error) {
	layout := make(crypto.Layout, 0, len(want))
	complete := make([]backend.CompletePart, 0, len(want))
	all := md5.New()
	for i, w := range want {
		p, ok := have[w.PartNumber]
		if !ok || !strings.EqualFold(strings.Trim(string(w.ETag), `"`), hex.EncodeToString(p.etag)) {
			return nil, nil, "", s3err.ErrInvalidPart.WithCause(fmt.Errorf("part %d", w.PartNumber))
		}
		if err := s3compat.CheckCompletedPartSize(p.plainSize, i == len(want)-1); err != nil {
			return nil, nil, "", err
		}
		layout = append(layout, crypto.Part{Number: uint32(w.PartNumber), PlainSize: p.plainSize})
		complete = append(complete, backend.CompletePart{PartNumber: w.PartNumber, ETag: p.ETag})
		all.Write(p.etag)
	}
	return layout, complete, fmt.Sprintf("%x-%d", all.Sum(nil), len(want)), nil
}

// cleanupUpload removes an ended upload's state, best effort: leftovers
// are garbage that nothing reads.
func (s *Server) cleanupUpload(ctx context.Context, bucket, key, uploadID string) {
	dir := uploadDir(key, uploadID)
	s.states.Remove(bucket + "/" + dir)
	if err := s.deletePrefix(ctx, bucket, dir); err != nil {
		s.log.Warn("upload state left behind", "bucket", bucket, "prefix", dir, "error", err.Error())
	}
}

func (s *Server) abortMultipartUpload(ctx context.Context, rq *request) error {
	if err := s.opts.Store.AbortMultipartUpload(ctx, rq.s3.Bucket, rq.s3.Key, rq.s3.UploadID); err != nil {
		return err
	}
	s.cleanupUpload(ctx, rq.s3.Bucket, rq.s3.Key, rq.s3.UploadID)
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listParts(ctx context.Context, rq *request) error {
	b, k, id := rq.s3.Bucket, rq.s3.Key, rq.s3.UploadID
	dk, _, err := s.uploadKey(ctx, b, k, id)
	if err != nil {
		return err
	}
	defer dk.Destroy()
	q := rq.s3.Query
	maxParts, err := s3compat.ParseMaxKeys("max-parts", q.Get("max-parts"))
	if err != nil {
		return err
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return s3err.ErrInvalidArgument.WithMessage("part-number-marker must be a non-negative integer.")
		}
	}
	parts, err := s.resolveParts(ctx, dk, b, k, id)
	if err != nil {
		return err
	}
	out := s3xml.ListPartsResult{Bucket: b, Key: k, UploadID: id, PartNumberMarker: marker,
		MaxParts: maxParts, StorageClass: "STANDARD", Initiator: &owner, Owner: &owner}
	for n := marker + 1; n <= crypto.MaxPartNumber; n++ {
		p, ok := parts[n]
		if !ok {
			continue
		}
		if len(out.Parts) == maxParts {
			out.IsTruncated = true
			break
		}
		out.Parts = append(out.Parts, s3xml.Part{PartNumber: n, LastModified: s3xml.Time{Time: p.LastModified},
			ETag: s3xml.ETag(hex.EncodeToString(p.etag)), Size: p.plainSize})
		out.NextPartNumberMarker = n
	}
	return s3xml.Write(rq.w, http.StatusOK, out)
}

func (s *Server) listMultipartUploads(ctx context.Context, rq *request) error {
	q := rq.s3.Query
	maxUploads, err := s3compat.ParseMaxKeys("max-uploads", q.Get("max-uploads"))
	if err != nil {
		return err
	}
	enc := q.Get("encoding-type")
	if enc != "" && !s3xml.ValidEncodingType(enc) {
		return s3err.ErrInvalidArgument.WithMessage("Invalid Encoding Method specified in Request")
	}
	res, err := s.opts.Store.ListMultipartUploads(ctx, rq.s3.Bucket, backend.ListUploadsOptions{
		Prefix: q.Get("prefix"), KeyMarker: q.Get("key-marker"), UploadIDMarker: q.Get("upload-id-marker"),
		MaxUploads: maxUploads})
	if err != nil {
		return err
	}
	out := s3xml.ListMultipartUploadsResult{Bucket: rq.s3.Bucket, KeyMarker: q.Get("key-marker"),
		UploadIDMarker: q.Get("upload-id-marker"), Prefix: q.Get("prefix"), MaxUploads: maxUploads,
		IsTruncated: res.IsTruncated, NextKeyMarker: res.NextKeyMarker,
		NextUploadIDMarker: res.NextUploadIDMarker, EncodingType: enc}
	for _, u := range res.Uploads {
		if isInternal(u.Key) {
			continue
		}
		out.Uploads = append(out.Uploads, s3xml.Upload{Key: u.Key, UploadID: u.UploadID, Initiator: &owner,
			Owner: &owner, StorageClass: "STANDARD", Initiated: s3xml.Time{Time: u.Initiated}})
	}
	return s3xml.Write(rq.w, http.StatusOK, out)
}

package localstore

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// uploadMeta is upload.json: the upload's key and metadata.
type uploadMeta struct {
	Key       string            `json:"key"`
	Metadata  map[string]string `json:"meta,omitempty"`
	Initiated time.Time         `json:"initiated"`
}

func uploadPath(bucket, id string) string { return uploadsDir + "/" + bucket + "/" + id }

func partName(n int) string { return fmt.Sprintf("p%05d", n) }

// validUploadID reports whether id has the form newUploadID makes, so an
// ID from a client never names another path.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// CreateMultipartUpload records the upload's key, metadata and
// conditions in a new upload directory.
func (s *Store) CreateMultipartUpload(ctx context.Context, bucket, key string,
	opts backend.PutOptions) (string, error) {
	id, err := s.createUpload(bucket, key, opts)
	if err != nil {
		return "", fmt.Errorf("create multipart upload %s/%s: %w", bucket, key, noSpace(err))
	}
	return id, nil
}

func (s *Store) createUpload(bucket, key string, opts backend.PutOptions) (string, error) {
	if opts.IfMatch != "" || opts.IfNoneMatch != "" {
		return "", fmt.Errorf("conditions belong to completion: %w", backend.ErrInvalidArgument)
	}
	md, err := checkPut(key, opts)
	if err != nil {
		return "", err
	}
	var rnd [16]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	js, err := json.Marshal(uploadMeta{Key: key, Metadata: md, Initiated: s.now().UTC()})
	if err != nil {
		return "", err
	}
	t, err := s.createTemp()
	if err != nil {
		return "", err
	}
	if _, err := t.f.Write(js); err != nil {
		t.discard(s)
		return "", err
	}
	if err := t.f.Close(); err != nil {
		s.root.Remove(t.name)
		return "", err
	}
	s.bucketMu.RLock()
	defer s.bucketMu.RUnlock()
	if err := s.checkBucket(bucket); err != nil {
		s.root.Remove(t.name)
		return "", err
	}
	return id, s.commit(t, uploadPath(bucket, id)+"/upload.json")
}

// loadUpload reads an upload's record and checks that it is for key.
func (s *Store) loadUpload(bucket, key, id string) (uploadMeta, error) {
	if err := s.checkBucket(bucket); err != nil {
		return uploadMeta{}, err
	}
	if !validUploadID(id) {
		return uploadMeta{}, backend.ErrNoSuchUpload
	}
	js, err := s.root.ReadFile(uploadPath(bucket, id) + "/upload.json")
	if errors.Is(err, fs.ErrNotExist) {
		return uploadMeta{}, backend.ErrNoSuchUpload
	}
	if err != nil {
		return uploadMeta{}, err
	}
	var m uploadMeta
	if err := json.Unmarshal(js, &m); err != nil {
		return uploadMeta{}, fmt.Errorf("upload record: %w", err)
	}
	if m.Key != key {
		return uploadMeta{}, backend.ErrNoSuchUpload
	}
	return m, nil
}

// UploadPart writes the part to a temp file and renames it into the
// upload's directory, replacing an earlier part of the same number.
func (s *Store) UploadPart(ctx context.Context, bucket, key, uploadID string, partNumber int,
	body io.Reader, size int64) (backend.PartInfo, error) {
	p, err := s.uploadPart(ctx, bucket, key, uploadID, partNumber, body, size)
	if err != nil {
		return backend.PartInfo{}, fmt.Errorf("upload part %d of %s/%s: %w",
			partNumber, bucket, key, noSpace(err))
	}
	return p, nil
}

func (s *Store) uploadPart(ctx context.Context, bucket, key, id string, n int,
	body io.Reader, size int64) (backend.PartInfo, error) {
	if n < 1 || n > backend.MaxParts || size < 0 {
		return backend.PartInfo{}, fmt.Errorf("part %d of size %d: %w", n, size,
			backend.ErrInvalidArgument)
	}
	if _, err := s.loadUpload(bucket, key, id); err != nil {
		return backend.PartInfo{}, err
	}
	t, err := s.createTemp()
	if err != nil {
		return backend.PartInfo{}, err
	}
	size, sum, err := t.writeData(ctxReader{ctx, body}, size)
	if err != nil {
		t.discard(s)
		return backend.PartInfo{}, err
	}
	tr := trailer{Size: size, ETag: hex.EncodeToString(sum), ModNanos: s.now().UnixNano()}
	if err := t.finish(tr, !s.noSync); err != nil {
		s.root.Remove(t.name)
		return backend.PartInfo{}, err
	}
	if err := s.installPart(t, bucket, key, id, n); err != nil {
		return backend.PartInfo{}, err
	}
	return partInfo(n, tr), nil
}

// installPart renames a finished part file into a live upload.
func (s *Store) installPart(t *tempFile, bucket, key, id string, n int) error {
	unlock := s.lockUpload(id)
	defer unlock()
	s.bucketMu.RLock()
	defer s.bucketMu.RUnlock()
	if _, err := s.loadUpload(bucket, key, id); err != nil {
		s.root.Remove(t.name)
		return err
	}
	dir := uploadPath(bucket, id)
	if err := s.root.Rename(t.name, dir+"/"+partName(n)); err != nil {
		s.root.Remove(t.name)
		return err
	}
	return s.syncDir(dir)
}

func partInfo(n int, tr trailer) backend.PartInfo {
	return backend.PartInfo{PartNumber: n, ETag: tr.ETag, Size: tr.Size,
		LastModified: time.Unix(0, tr.ModNanos).UTC()}
}

// CompleteMultipartUpload checks the listed parts, streams them into one
// temp file, installs it as the object under the upload's conditions and
// removes the upload. Memory use is one copy buffer.
func (s *Store) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string,
	parts []backend.CompletePart, opts backend.CompleteOptions) (backend.ObjectInfo, error) {
	info, err := s.completeUpload(ctx, bucket, key, uploadID, parts, opts)
	if err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("complete multipart upload %s/%s: %w",
			bucket, key, noSpace(err))
	}
	return info, nil
}

func (s *Store) completeUpload(ctx context.Context, bucket, key, id string,
	parts []backend.CompletePart, cond backend.CompleteOptions) (backend.ObjectInfo, error) {
	if cond.IfNoneMatch != "" && cond.IfNoneMatch != "*" {
		return backend.ObjectInfo{}, fmt.Errorf("IfNoneMatch must be \"*\": %w",
			backend.ErrInvalidArgument)
	}
	if err := checkPartOrder(parts); err != nil {
		return backend.ObjectInfo{}, err
	}
	unlock := s.lockUpload(id)
	defer unlock()
	up, err := s.loadUpload(bucket, key, id)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	trs, err := s.checkParts(bucket, id, parts)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	t, tr, err := s.assemble(ctx, bucket, id, parts, trs)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	tr.Metadata = up.Metadata
	opts := backend.PutOptions{IfMatch: cond.IfMatch, IfNoneMatch: cond.IfNoneMatch}
	info, err := s.finishAndInstall(t, tr, bucket, key, opts)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	s.root.RemoveAll(uploadPath(bucket, id))
	return info, nil
}

func checkPartOrder(parts []backend.CompletePart) error {
	if len(parts) == 0 {
		return fmt.Errorf("no parts: %w", backend.ErrInvalidArgument)
	}
	for i, p := range parts {
		if p.PartNumber < 1 || p.PartNumber > backend.MaxParts {
			return fmt.Errorf("part number %d: %w", p.PartNumber, backend.ErrInvalidPart)
		}
		if i > 0 && p.PartNumber <= parts[i-1].PartNumber {
			return backend.ErrInvalidPartOrder
		}
	}
	return nil
}

// checkParts reads the trailers of the listed parts and checks their
// ETags, then their sizes.
func (s *Store) checkParts(bucket, id string, parts []backend.CompletePart) ([]trailer, error) {
	trs := make([]trailer, len(parts))
	for i, p := range parts {
		tr, err := s.statData(uploadPath(bucket, id) + "/" + partName(p.PartNumber))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("part %d not uploaded: %w", p.PartNumber, backend.ErrInvalidPart)
		}
		if err != nil {
			return nil, err
		}
		if tr.ETag != trimETag(p.ETag) {
			return nil, fmt.Errorf("part %d: etag does not match: %w", p.PartNumber,
				backend.ErrInvalidPart)
		}
		trs[i] = tr
	}
	// Sizes are checked once every part is known to exist, as S3 does.
	for i, tr := range trs[:len(trs)-1] {
		if tr.Size < s.MinPartSize {
			return nil, fmt.Errorf("part %d of %d bytes: %w", parts[i].PartNumber, tr.Size,
				backend.ErrEntityTooSmall)
		}
	}
	return trs, nil
}

// assemble copies the parts' data into a temp file and returns it with
// the trailer of the object (S3 multipart ETag, no metadata yet).
func (s *Store) assemble(ctx context.Context, bucket, id string, parts []backend.CompletePart,
	trs []trailer) (*tempFile, trailer, error) {
	t, err := s.createTemp()
	if err != nil {
		return nil, trailer{}, err
	}
	etagHash := md5.New()
	var total int64
	for i, p := range parts {
		name := uploadPath(bucket, id) + "/" + partName(p.PartNumber)
		if err := s.appendPart(ctx, t, name, trs[i]); err != nil {
			t.discard(s)
			return nil, trailer{}, err
		}
		sum, err := hex.DecodeString(trs[i].ETag)
		if err != nil {
			t.discard(s)
			return nil, trailer{}, fmt.Errorf("part %d: bad stored etag", p.PartNumber)
		}
		etagHash.Write(sum)
		total += trs[i].Size
	}
	etag := hex.EncodeToString(etagHash.Sum(nil)) + "-" + strconv.Itoa(len(parts))
	return t, trailer{Size: total, ETag: etag, Parts: len(parts), ModNanos: s.now().UnixNano()}, nil
}

// appendPart copies one part's data to the end of t, checking that the
// part file still has the size its trailer promised.
func (s *Store) appendPart(ctx context.Context, t *tempFile, name string, want trailer) error {
	f, tr, err := s.openData(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if tr.ETag != want.ETag {
		return fmt.Errorf("part %s changed while completing: %w", name, backend.ErrInvalidPart)
	}
	n, err := io.Copy(t.f, ctxReader{ctx, io.NewSectionReader(f, 0, tr.Size)})
	if err == nil && n != tr.Size {
		err = fmt.Errorf("part %s: short copy", name)
	}
	return err
}

// AbortMultipartUpload removes the upload's directory.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	unlock := s.lockUpload(uploadID)
	defer unlock()
	if _, err := s.loadUpload(bucket, key, uploadID); err != nil {
		return fmt.Errorf("abort multipart upload %s/%s: %w", bucket, key, err)
	}
	if err := s.root.RemoveAll(uploadPath(bucket, uploadID)); err != nil {
		return fmt.Errorf("abort multipart upload %s/%s: %w", bucket, key, err)
	}
	return nil
}

// ListParts reads the upload's directory and the parts' trailers.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string,
	opts backend.ListPartsOptions) (backend.ListPartsResult, error) {
	res, err := s.listParts(bucket, key, uploadID, opts)
	if err != nil {
		return backend.ListPartsResult{}, fmt.Errorf("list parts of %s/%s: %w", bucket, key, err)
	}
	return res, nil
}

func (s *Store) listParts(bucket, key, id string,
	opts backend.ListPartsOptions) (backend.ListPartsResult, error) {
	max, err := pageSize(opts.MaxParts, 1000)
	if err != nil {
		return backend.ListPartsResult{}, err
	}
	if _, err := s.loadUpload(bucket, key, id); err != nil {
		return backend.ListPartsResult{}, err
	}
	entries, err := fs.ReadDir(s.root.FS(), uploadPath(bucket, id))
	if err != nil {
		return backend.ListPartsResult{}, err
	}
	var res backend.ListPartsResult
	for _, e := range entries { // ReadDir sorts by name: p00001, p00002, ...
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "p"))
		if !strings.HasPrefix(e.Name(), "p") || err != nil || n <= opts.PartNumberMarker {
			continue
		}
		if len(res.Parts) == max {
			res.IsTruncated = true
			res.NextPartNumberMarker = res.Parts[max-1].PartNumber
			break
		}
		tr, err := s.statData(uploadPath(bucket, id) + "/" + e.Name())
		if err != nil {
			return backend.ListPartsResult{}, err
		}
		res.Parts = append(res.Parts, partInfo(n, tr))
	}
	return res, nil
}

// ListMultipartUploads reads every upload record of the bucket and sorts
// them by key, initiation time and ID.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string,
	opts backend.ListUploadsOptions) (backend.ListUploadsResult, error) {
	res, err := s.listUploads(bucket, opts)
	if err != nil {
		return backend.ListUploadsResult{}, fmt.Errorf("list multipart uploads of %s: %w",
			bucket, err)
	}
	return res, nil
}

func (s *Store) listUploads(bucket string,
	opts backend.ListUploadsOptions) (backend.ListUploadsResult, error) {
	max, err := pageSize(opts.MaxUploads, 1000)
	if err != nil {
		return backend.ListUploadsResult{}, err
	}
	all, err := s.readUploads(bucket, opts.Prefix)
	if err != nil {
		return backend.ListUploadsResult{}, err
	}
	start := uploadsStart(all, opts.KeyMarker, opts.UploadIDMarker)
	var res backend.ListUploadsResult
	for _, u := range all[start:] {
		if len(res.Uploads) == max {
			last := res.Uploads[max-1]
			res.IsTruncated, res.NextKeyMarker, res.NextUploadIDMarker = true, last.Key, last.UploadID
			break
		}
		res.Uploads = append(res.Uploads, u)
	}
	return res, nil
}

// readUploads returns the bucket's uploads whose keys start with prefix,
// sorted.
func (s *Store) readUploads(bucket, prefix string) ([]backend.UploadInfo, error) {
	if err := s.checkBucket(bucket); err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(s.root.FS(), uploadsDir+"/"+bucket)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var all []backend.UploadInfo
	for _, e := range entries {
		js, err := s.root.ReadFile(uploadPath(bucket, e.Name()) + "/upload.json")
		var m uploadMeta
		if err != nil || json.Unmarshal(js, &m) != nil || !strings.HasPrefix(m.Key, prefix) {
			continue // completed or aborted meanwhile, or not ours
		}
		all = append(all, backend.UploadInfo{Key: m.Key, UploadID: e.Name(), Initiated: m.Initiated})
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if !a.Initiated.Equal(b.Initiated) {
			return a.Initiated.Before(b.Initiated)
		}
		return a.UploadID < b.UploadID
	})
	return all, nil
}

// uploadsStart returns the index of the first upload after the markers.
func uploadsStart(all []backend.UploadInfo, keyMarker, idMarker string) int {
	if keyMarker == "" {
		return 0
	}
	for i, u := range all {
		if idMarker != "" && u.Key == keyMarker && u.UploadID == idMarker {
			return i + 1
		}
	}
	for i, u := range all {
		if u.Key > keyMarker {
			return i
		}
	}
	return len(all)
}

package localstore

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/cloakproxy/cloak/backend"
)

// An object file (and a part file) holds the stored bytes, then a JSON
// trailer describing them, then a footer: the trailer's length as a
// big-endian uint64 and the 8-byte magic. Writing the trailer last lets a
// put stream its body while hashing it, and keeping data and metadata in
// one file makes them appear together with one rename.
const footerMagic = "cloakls1"

const footerSize = 16

// maxTrailer bounds the trailer a reader accepts.
const maxTrailer = 64 << 10

// trailer is the JSON description stored after the data.
type trailer struct {
	Size     int64             `json:"size"`
	ETag     string            `json:"etag"`
	ModNanos int64             `json:"mtime"`
	Parts    int               `json:"parts,omitempty"`
	Metadata map[string]string `json:"meta,omitempty"`
}

func (t trailer) info(key string) backend.ObjectInfo {
	return backend.ObjectInfo{
		Key: key, Size: t.Size, ETag: t.ETag, PartsCount: t.Parts,
		LastModified: time.Unix(0, t.ModNanos).UTC(), Metadata: t.Metadata,
	}
}

// tempFile is a file being written in the store's temp directory.
type tempFile struct {
	f    *os.File
	name string // path relative to the store root
}

// createTemp creates a new empty temp file.
func (s *Store) createTemp() (*tempFile, error) {
	for range 10 {
		var rnd [12]byte
		rand.Read(rnd[:])
		name := path.Join(tmpDir, "t"+hex.EncodeToString(rnd[:]))
		f, err := s.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create temp file: %w", err)
		}
		return &tempFile{f: f, name: name}, nil
	}
	return nil, errors.New("create temp file: no free name")
}

// discard closes and removes the temp file; used on every failure path.
func (t *tempFile) discard(s *Store) {
	t.f.Close()
	s.root.Remove(t.name)
}

// writeData copies body to the temp file, hashing it. With size >= 0 the
// body must hold exactly size bytes.
func (t *tempFile) writeData(body io.Reader, size int64) (n int64, sum []byte, err error) {
	h := md5.New()
	w := io.MultiWriter(t.f, h)
	if size < 0 {
		n, err = io.Copy(w, body)
	} else {
		n, err = io.Copy(w, io.LimitReader(body, size))
		if err == nil && n < size {
			err = fmt.Errorf("read %d of %d bytes: %w", n, size, backend.ErrIncompleteBody)
		}
		if err == nil {
			err = expectEOF(body, size)
		}
	}
	if err != nil {
		return 0, nil, err
	}
	return n, h.Sum(nil), nil
}

// expectEOF fails if body has bytes past size.
func expectEOF(body io.Reader, size int64) error {
	var one [1]byte
	for range 100 {
		n, err := body.Read(one[:])
		if n > 0 {
			return fmt.Errorf("body longer than its size %d: %w", size,
				backend.ErrInvalidArgument)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("body returned no data and no EOF: %w", io.ErrNoProgress)
}

// finish appends the trailer and footer, syncs and closes the file.
func (t *tempFile) finish(tr trailer, sync bool) error {
	b, err := encodeTrailer(tr)
	if err != nil {
		return err
	}
	if _, err := t.f.Write(b); err != nil {
		return fmt.Errorf("write trailer: %w", err)
	}
	if sync {
		if err := t.f.Sync(); err != nil {
			t.f.Close()
			return fmt.Errorf("sync: %w", err)
		}
	}
	return t.f.Close()
}

// encodeTrailer returns the trailer and footer that follow the data.
func encodeTrailer(tr trailer) ([]byte, error) {
	js, err := json.Marshal(tr)
	if err != nil {
		return nil, fmt.Errorf("encode trailer: %w", err)
	}
	var foot [footerSize]byte
	binary.BigEndian.PutUint64(foot[:8], uint64(len(js)))
	copy(foot[8:], footerMagic)
	return append(js, foot[:]...), nil
}

// openData opens a finished object or part file and reads its trailer.
// The caller closes the file; its first tr.Size bytes are the data.
func (s *Store) openData(name string) (*os.File, trailer, error) {
	f, err := s.root.Open(name)
	if err != nil {
		return nil, trailer{}, err
	}
	tr, err := readTrailer(f)
	if err != nil {
		f.Close()
		return nil, trailer{}, fmt.Errorf("%s: %w", name, err)
	}
	return f, tr, nil
}

// statData reads only the trailer of a finished file.
func (s *Store) statData(name string) (trailer, error) {
	f, tr, err := s.openData(name)
	if err != nil {
		return trailer{}, err
	}
	f.Close()
	return tr, nil
}

func readTrailer(f *os.File) (trailer, error) {
	st, err := f.Stat()
	if err != nil {
		return trailer{}, err
	}
	if !st.Mode().IsRegular() || st.Size() < footerSize {
		return trailer{}, errors.New("not an object file")
	}
	var foot [footerSize]byte
	if _, err := f.ReadAt(foot[:], st.Size()-footerSize); err != nil {
		return trailer{}, fmt.Errorf("read footer: %w", err)
	}
	n := binary.BigEndian.Uint64(foot[:8])
	if string(foot[8:]) != footerMagic || n > maxTrailer || int64(n) > st.Size()-footerSize {
		return trailer{}, errors.New("corrupt object file footer")
	}
	js := make([]byte, n)
	if _, err := f.ReadAt(js, st.Size()-footerSize-int64(n)); err != nil {
		return trailer{}, fmt.Errorf("read trailer: %w", err)
	}
	var tr trailer
	if err := json.Unmarshal(js, &tr); err != nil {
		return trailer{}, fmt.Errorf("decode trailer: %w", err)
	}
	if tr.Size != st.Size()-footerSize-int64(n) {
		return trailer{}, errors.New("object file size does not match its trailer")
	}
	return tr, nil
}

// commit renames the finished temp file to dst (relative to the store
// root), creating dst's directory, and syncs that directory so the rename
// survives a crash. Deleting an object may remove an empty directory
// between MkdirAll and Rename, so that pair is retried.
func (s *Store) commit(t *tempFile, dst string) error {
	dir := path.Dir(dst)
	var err error
	for range 5 {
		if err = s.root.MkdirAll(dir, 0o700); err != nil {
			break
		}
		if err = s.root.Rename(t.name, dst); !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		s.root.Remove(t.name)
		return fmt.Errorf("commit: %w", err)
	}
	return s.syncDir(dir)
}

func (s *Store) syncDir(dir string) error {
	if s.noSync {
		return nil
	}
	d, err := s.root.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}

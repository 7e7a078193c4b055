package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FileSink appends lines to a file, syncing after every batch, and
// rotates it by size: the full file is renamed with the time appended
// to its stem ("audit-20261204T075233.123456789Z.log") and a new one is
// started; the chain simply continues in it. Rotated names sort before
// the live file's, so "audit*.log" lists a log in order.
//
// Several processes may append to one file (O_APPEND keeps each batch
// whole); only the server is expected to rotate it.
type FileSink struct {
	path    string
	maxSize int64
	f       *os.File
	size    int64
	now     func() time.Time
}

// OpenFile opens (creating) the file sink at path. maxSize bounds a file
// before rotation; zero or less never rotates.
func OpenFile(path string, maxSize int64) (*FileSink, error) {
	s := &FileSink{path: path, maxSize: maxSize, now: time.Now}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FileSink) open() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("audit file: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit file: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// Name implements Sink.
func (s *FileSink) Name() string { return "file" }

// Write implements Sink. A failed write is cut off again, so the file
// never keeps part of a batch.
func (s *FileSink) Write(batch []byte) error {
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if s.maxSize > 0 && s.size > 0 && s.size+int64(len(batch)) > s.maxSize {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	n, err := s.f.Write(batch)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if n > 0 {
			_ = s.f.Truncate(s.size)
		}
		return fmt.Errorf("audit file: %w", err)
	}
	s.size += int64(n)
	return nil
}

// RotatedName returns the name a file at path gets when rotated at t.
func RotatedName(path string, t time.Time) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + t.UTC().Format("20060102T150405.000000000Z") + ext
}

func (s *FileSink) rotate() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("audit file: %w", err)
	}
	s.f = nil
	if err := os.Rename(s.path, RotatedName(s.path, s.now())); err != nil {
		return fmt.Errorf("audit file rotation: %w", err)
	}
	return s.open()
}

// Close implements Sink.
func (s *FileSink) Close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

// WriterSink writes lines to an io.Writer such as os.Stdout.
type WriterSink struct {
	W    io.Writer
	Desc string // the name, "stdout" when empty
}

// Name implements Sink.
func (s *WriterSink) Name() string {
	if s.Desc == "" {
		return "stdout"
	}
	return s.Desc
}

// Write implements Sink.
func (s *WriterSink) Write(batch []byte) error {
	_, err := s.W.Write(batch)
	return err
}

// Close implements Sink; it does not close W.
func (s *WriterSink) Close() error { return nil }

// ObjectStore is what the backend sink needs from the store.
type ObjectStore interface {
	// Put stores body under bucket/key, replacing nothing: keys are
	// never reused.
	Put(ctx context.Context, bucket, key string, body []byte) error
	// List returns the keys under prefix in lexical order.
	List(ctx context.Context, bucket, prefix string) ([]string, error)
	// Get reads a whole object.
	Get(ctx context.Context, bucket, key string) ([]byte, error)
}

// ObjectSink keeps records in the backend itself, in batches of up to
// 1 MiB or 5 seconds, one object per batch: bucket/<prefix><writer>/
// <12-digit batch number>.jsonl. Object names sort in chain order per
// writer, so [ReadObjects] reads them back in order.
type ObjectSink struct {
	store  ObjectStore
	bucket string
	prefix string
	writer string
	n      int
	mu     sync.Mutex
}

// NewObjectSink returns a sink writing under bucket/prefix for writer.
func NewObjectSink(store ObjectStore, bucket, prefix, writer string) *ObjectSink {
	return &ObjectSink{store: store, bucket: bucket, prefix: prefix, writer: writer}
}

// Name implements Sink.
func (s *ObjectSink) Name() string { return "backend" }

// Batch implements BatchingSink.
func (s *ObjectSink) Batch() (int, time.Duration) { return 1 << 20, 5 * time.Second }

// Write implements Sink: one object per batch.
func (s *ObjectSink) Write(batch []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := fmt.Sprintf("%s%s/%012d.jsonl", s.prefix, s.writer, s.n+1)
	if err := s.store.Put(ctx, s.bucket, key, bytes.Clone(batch)); err != nil {
		return fmt.Errorf("audit object %s: %w", key, err)
	}
	s.n++
	return nil
}

// Close implements Sink.
func (s *ObjectSink) Close() error { return nil }

// ReadObjects reads every record line kept by ObjectSinks under
// bucket/prefix, each object as one named source, in name order.
func ReadObjects(ctx context.Context, store ObjectStore, bucket, prefix string) ([]Source, error) {
	keys, err := store.List(ctx, bucket, prefix)
	if err != nil {
		return nil, fmt.Errorf("list audit objects: %w", err)
	}
	var out []Source
	for _, k := range keys {
		b, err := store.Get(ctx, bucket, k)
		if err != nil {
			return nil, fmt.Errorf("read audit object %s: %w", k, err)
		}
		out = append(out, Source{Name: bucket + "/" + k, Data: b})
	}
	return out, nil
}

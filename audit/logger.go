package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// A Sink stores batches of record lines. Its methods are called from the
// Logger's one goroutine only.
type Sink interface {
	// Name identifies the sink in logs and metrics: "file", "stdout",
	// "backend".
	Name() string
	// Write stores a batch of complete lines, each ending in "\n". On
	// error nothing of the batch counts as stored: the Logger gives the
	// same bytes again later, so a sink must not leave part of a failed
	// batch behind.
	Write(batch []byte) error
	// Close stores nothing more and releases the sink.
	Close() error
}

// A BatchingSink wants larger, rarer batches: the Logger gives it lines
// once it has Bytes of them or the oldest has waited Delay. Other sinks
// get every batch at once.
type BatchingSink interface {
	Sink
	Batch() (bytes int, delay time.Duration)
}

// Options configure a Logger.
type Options struct {
	// Writer is this process's writer id; it must be unique among the
	// processes writing into the same sinks.
	Writer string
	// Key signs checkpoints. Required.
	Key ed25519.PrivateKey
	// Sinks receive every line. At least one is required.
	Sinks []Sink
	// CheckpointEvery is the number of records between checkpoints;
	// CheckpointInterval the longest time a record waits for one.
	// Defaults 1000 and one minute.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// QueueSize bounds the records waiting to be written; default
	// 10,000. When the queue is full, Log drops the record (and counts
	// it), unless Required is set: then Log waits up to a second.
	QueueSize int
	Required  bool
	// MaxPending bounds the bytes kept for a sink that is failing, to be
	// written once it recovers; beyond it the oldest are dropped.
	// Default 32 MiB.
	MaxPending int
	// Log receives sink failures; slog.Default when nil.
	Log *slog.Logger
	// Now is the clock of records; time.Now when nil.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultQueueSize          = 10_000
	DefaultMaxPending         = 32 << 20
)

// Logger writes records to its sinks from one goroutine, chaining and
// checkpointing them. Log is safe for concurrent use and does not wait
// for the sinks.
type Logger struct {
	opts  Options
	queue chan Record
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	// Owned by the writing goroutine.
	seq            uint64
	prev           string
	sinceCheck     int
	lastCheckpoint time.Time
	sinks          []*sinkState

	dropped atomic.Uint64 // records dropped because the queue was full
}

// sinkState is one sink with the lines it has not stored yet.
type sinkState struct {
	sink    Sink
	pending bytes.Buffer
	since   time.Time // when the oldest pending line was added
	failing atomic.Bool
	written atomic.Uint64 // lines stored
	failed  atomic.Uint64 // failed writes
	dropped atomic.Uint64 // lines dropped after MaxPending
	lines   int           // lines in pending
}

// New starts a Logger. Close it to write the final checkpoint.
func New(opts Options) (*Logger, error) {
	if opts.Writer == "" || opts.Key == nil || len(opts.Sinks) == 0 {
		return nil, errors.New("audit: Writer, Key and Sinks are required")
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Logger{opts: opts, queue: make(chan Record, opts.QueueSize),
		stop: make(chan struct{}), done: make(chan struct{}), lastCheckpoint: opts.Now()}
	for _, s := range opts.Sinks {
		l.sinks = append(l.sinks, &sinkState{sink: s})
	}
	go l.run()
	return l, nil
}

// Log queues r to be written. The chain fields are set by the Logger;
// Time is set when zero. After Close, records are dropped.
func (l *Logger) Log(r Record) {
	if r.Time.IsZero() {
		r.Time = l.opts.Now()
	}
	select {
	case <-l.stop:
		l.dropped.Add(1)
		return
	default:
	}
	select {
	case l.queue <- r:
		return
	default:
	}
	if l.opts.Required {
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case l.queue <- r:
			return
		case <-t.C:
		case <-l.stop:
		}
	}
	l.dropped.Add(1)
}

// Healthy returns nil when every sink stores its lines and the queue has
// room, and an error naming the problem otherwise.
func (l *Logger) Healthy() error {
	var errs []error
	for _, s := range l.sinks {
		if s.failing.Load() {
			errs = append(errs, fmt.Errorf("audit sink %s is failing", s.sink.Name()))
		}
	}
	if len(l.queue) == cap(l.queue) {
		errs = append(errs, errors.New("audit queue is full"))
	}
	return errors.Join(errs...)
}

// Required reports whether the Logger was opened with Required: its
// user should then refuse work while Healthy fails.
func (l *Logger) Required() bool { return l.opts.Required }

// SinkStats describes one sink.
type SinkStats struct {
	Name    string
	Healthy bool
	Written uint64 // lines stored
	Failed  uint64 // failed writes
	Dropped uint64 // lines lost while the sink was failing
}

// Stats returns the state of each sink, the records dropped because the
// queue was full and the records waiting in it.
func (l *Logger) Stats() (sinks []SinkStats, dropped uint64, queued int) {
	for _, s := range l.sinks {
		sinks = append(sinks, SinkStats{Name: s.sink.Name(), Healthy: !s.failing.Load(),
			Written: s.written.Load(), Failed: s.failed.Load(), Dropped: s.dropped.Load()})
	}
	return sinks, l.dropped.Load(), len(l.queue)
}

// Close writes what is queued and a final checkpoint, and closes the
// sinks. It returns the first sink error of the final writes.
func (l *Logger) Close() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	var errs []error
	for _, s := range l.sinks {
		if s.pending.Len() > 0 {
			errs = append(errs, fmt.Errorf("audit sink %s: %d lines not stored", s.sink.Name(), s.lines))
		}
		if err := s.sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("audit sink %s: %w", s.sink.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// run is the writing goroutine.
func (l *Logger) run() {
	defer close(l.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-l.queue:
			l.append(r)
			l.drain(512)
			l.flush(false)
		case <-tick.C:
			if l.sinceCheck > 0 && l.opts.Now().Sub(l.lastCheckpoint) >= l.opts.CheckpointInterval {
				l.checkpoint(false)
			}
			l.flush(false)
		case <-l.stop:
			l.drain(cap(l.queue))
			l.checkpoint(true)
			l.flush(true)
			return
		}
	}
}

// drain appends up to n more queued records without waiting.
func (l *Logger) drain(n int) {
	for range n {
		select {
		case r := <-l.queue:
			l.append(r)
		default:
			return
		}
	}
}

// append chains r and adds its line to every sink's pending bytes,
// checkpointing when CheckpointEvery records have passed.
func (l *Logger) append(r Record) {
	l.seq++
	r.Writer, r.Seq, r.Prev, r.Time = l.opts.Writer, l.seq, l.prev, r.Time.UTC()
	if r.Kind == "" {
		r.Kind = KindRequest
	}
	line, err := json.Marshal(&r)
	if err != nil {
		// Only an invalid time could fail; log it rather than break the
		// chain.
		l.opts.Log.Error("audit record not encodable", slog.String("error", err.Error()))
		l.seq--
		return
	}
	l.prev = lineHash(line)
	now := l.opts.Now()
	for _, s := range l.sinks {
		if s.pending.Len() == 0 {
			s.since = now
		}
		s.pending.Write(line)
		s.pending.WriteByte('\n')
		s.lines++
	}
	if r.Kind == KindCheckpoint {
		l.sinceCheck, l.lastCheckpoint = 0, now
		return
	}
	l.sinceCheck++
	if l.sinceCheck >= l.opts.CheckpointEvery {
		l.checkpoint(false)
	}
}

// checkpoint appends a signed checkpoint record.
func (l *Logger) checkpoint(final bool) {
	r := Record{Writer: l.opts.Writer, Seq: l.seq + 1, Prev: l.prev, Time: l.opts.Now().UTC(),
		Kind: KindCheckpoint, Final: final}
	sign(&r, l.opts.Key)
	l.append(r)
}

// flush gives each sink its pending lines when they are due (all of
// them when force is set).
func (l *Logger) flush(force bool) {
	now := l.opts.Now()
	for _, s := range l.sinks {
		if s.pending.Len() == 0 {
			continue
		}
		if b, ok := s.sink.(BatchingSink); ok && !force {
			size, delay := b.Batch()
			if s.pending.Len() < size && now.Sub(s.since) < delay {
				continue
			}
		}
		l.write(s)
	}
}

func (l *Logger) write(s *sinkState) {
	if err := s.sink.Write(s.pending.Bytes()); err != nil {
		s.failed.Add(1)
		if !s.failing.Swap(true) {
			l.opts.Log.Error("audit sink failed; keeping its records to retry",
				slog.String("sink", s.sink.Name()), slog.String("error", err.Error()))
		}
		l.trim(s)
		return
	}
	if s.failing.Swap(false) {
		l.opts.Log.Info("audit sink recovered", slog.String("sink", s.sink.Name()))
	}
	s.written.Add(uint64(s.lines))
	s.pending.Reset()
	s.lines = 0
}

// trim drops the oldest whole lines of a failing sink beyond MaxPending.
func (l *Logger) trim(s *sinkState) {
	for s.pending.Len() > l.opts.MaxPending {
		line, err := s.pending.ReadBytes('\n')
		if err != nil {
			break
		}
		_ = line
		s.lines--
		s.dropped.Add(1)
	}
	if s.pending.Len() == 0 {
		s.pending.Reset()
	}
}

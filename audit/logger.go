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
	// MaxPending bounds the bytes kept for a sink that is failing or
	// slow, to be written once it recovers; lines beyond it are dropped
	// for that sink (and counted), which verify then shows as a gap.
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

// Logger chains records in one goroutine and hands their lines to each
// sink's own goroutine, so that a slow or hung sink delays no other. Log
// is safe for concurrent use and does not wait for the sinks.
type Logger struct {
	opts  Options
	queue chan Record
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	// Owned by the chaining goroutine.
	seq            uint64
	prev           string
	sinceCheck     int
	lastCheckpoint time.Time

	sinks   []*sinkState
	dropped atomic.Uint64 // records dropped because the queue was full
}

// sinkState is one sink, the lines it has not stored yet and its
// goroutine's state.
type sinkState struct {
	sink  Sink
	max   int
	log   *slog.Logger
	now   func() time.Time
	wake  chan struct{} // lines were added
	final chan struct{} // closed when the chain is complete: write all, stop
	done  chan struct{} // closed when the goroutine has stopped

	mu      sync.Mutex
	pending bytes.Buffer
	lines   int
	since   time.Time // when the oldest pending line was added

	failing atomic.Bool
	written atomic.Uint64 // lines stored
	failed  atomic.Uint64 // failed writes
	dropped atomic.Uint64 // lines dropped while pending was full

	// Owned by the sink's goroutine.
	retryAt time.Time
	backoff time.Duration
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
	for _, sk := range opts.Sinks {
		s := &sinkState{sink: sk, max: opts.MaxPending, log: opts.Log, now: opts.Now,
			wake: make(chan struct{}, 1), final: make(chan struct{}), done: make(chan struct{})}
		l.sinks = append(l.sinks, s)
		go s.run()
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
// room, and an error naming the problem otherwise: a sink whose last
// write failed, or one that hangs so that its lines pile up past half of
// MaxPending.
func (l *Logger) Healthy() error {
	var errs []error
	for _, s := range l.sinks {
		s.mu.Lock()
		behind := s.pending.Len() > s.max/2
		s.mu.Unlock()
		switch {
		case s.failing.Load():
			errs = append(errs, fmt.Errorf("audit sink %s is failing", s.sink.Name()))
		case behind:
			errs = append(errs, fmt.Errorf("audit sink %s is falling behind", s.sink.Name()))
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
	Dropped uint64 // lines lost because the sink fell too far behind
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

// Close writes what is queued and a final checkpoint, waits for each sink
// to store (or fail to store) its lines, and closes the sinks.
func (l *Logger) Close() error {
	l.once.Do(func() { close(l.stop) })
	<-l.done
	var errs []error
	for _, s := range l.sinks {
		<-s.done
		if s.lines > 0 {
			errs = append(errs, fmt.Errorf("audit sink %s: %d lines not stored", s.sink.Name(), s.lines))
		}
		if err := s.sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("audit sink %s: %w", s.sink.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// run is the chaining goroutine.
func (l *Logger) run() {
	defer close(l.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-l.queue:
			l.append(r)
			l.drain(512)
			l.wakeSinks()
		case <-tick.C:
			if l.sinceCheck > 0 && l.opts.Now().Sub(l.lastCheckpoint) >= l.opts.CheckpointInterval {
				l.checkpoint(false)
				l.wakeSinks()
			}
		case <-l.stop:
			l.drain(cap(l.queue))
			l.checkpoint(true)
			for _, s := range l.sinks {
				close(s.final)
			}
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

func (l *Logger) wakeSinks() {
	for _, s := range l.sinks {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// append chains r and adds its line to every sink's pending lines,
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
	for _, s := range l.sinks {
		s.add(line)
	}
	if r.Kind == KindCheckpoint {
		l.sinceCheck, l.lastCheckpoint = 0, l.opts.Now()
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

// add appends a line to the sink's pending lines; beyond MaxPending (a
// sink that fails or hangs) the line is dropped and counted.
func (s *sinkState) add(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending.Len()+len(line)+1 > s.max {
		s.dropped.Add(1)
		return
	}
	if s.lines == 0 {
		s.since = s.now()
	}
	s.pending.Write(line)
	s.pending.WriteByte('\n')
	s.lines++
}

// run is the sink's goroutine: it writes pending lines when they are
// due, retrying a failing sink with backoff, until the chain is final.
func (s *sinkState) run() {
	defer close(s.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.wake:
		case <-tick.C:
		case <-s.final:
			s.write(true)
			return
		}
		s.write(false)
	}
}

// write gives the sink its pending lines when they are due (at once
// when force is set). Lines leave pending only once stored; lines added
// meanwhile stay behind them.
func (s *sinkState) write(force bool) {
	now := s.now()
	if !force && now.Before(s.retryAt) {
		return
	}
	s.mu.Lock()
	if s.lines == 0 {
		s.mu.Unlock()
		return
	}
	if b, ok := s.sink.(BatchingSink); ok && !force && !s.failing.Load() {
		size, delay := b.Batch()
		if s.pending.Len() < size && now.Sub(s.since) < delay {
			s.mu.Unlock()
			return
		}
	}
	batch := bytes.Clone(s.pending.Bytes())
	lines := s.lines
	s.mu.Unlock()

	if err := s.sink.Write(batch); err != nil {
		s.failed.Add(1)
		s.backoff = min(max(2*s.backoff, 250*time.Millisecond), 30*time.Second)
		s.retryAt = s.now().Add(s.backoff)
		if !s.failing.Swap(true) {
			s.log.Error("audit sink failed; keeping its records to retry",
				slog.String("sink", s.sink.Name()), slog.String("error", err.Error()))
		}
		return
	}
	s.backoff, s.retryAt = 0, time.Time{}
	if s.failing.Swap(false) {
		s.log.Info("audit sink recovered", slog.String("sink", s.sink.Name()))
	}
	s.written.Add(uint64(lines))
	s.mu.Lock()
	s.pending.Next(len(batch))
	s.lines -= lines
	if s.lines == 0 {
		s.pending.Reset()
	} else {
		s.since = s.now()
	}
	s.mu.Unlock()
}

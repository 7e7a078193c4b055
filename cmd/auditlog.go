package cmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"time"

	"github.com/cloakproxy/cloak/audit"
	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys"
)

// auditPrefix is where the backend sink keeps its objects in
// audit.bucket.
const auditPrefix = "audit/"

// writerID names a new chain of records: the role, the host, the process
// and a random suffix, so that no two processes ever share a chain.
func writerID(role string) string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%d-%s", role, host, os.Getpid(), hex.EncodeToString(b[:]))
}

// openAudit opens the audit log for a writer: the signing key (created
// on first use, wrapped by wrapper) and the configured sinks. It returns
// nil when the audit log is off. created reports a new signing key.
func openAudit(ctx context.Context, cfg *config.Config, wrapper crypto.KeyWrapper,
	store backend.Store, role string, stdout io.Writer, log *slog.Logger,
) (l *audit.Logger, pub ed25519.PublicKey, created bool, err error) {
	if !cfg.AuditEnabled() {
		return nil, nil, false, nil
	}
	key, created, err := keys.AuditSigningKey(ctx, cfg.AuditKeyFile(), wrapper)
	if err != nil {
		return nil, nil, false, err
	}
	writer := writerID(role)
	var sinks []audit.Sink
	closeAll := func() {
		for _, s := range sinks {
			_ = s.Close()
		}
	}
	if cfg.AuditSink("file") {
		f, err := audit.OpenFile(cfg.AuditFile(), int64(cfg.Audit.MaxFileSize))
		if err != nil {
			return nil, nil, false, err
		}
		sinks = append(sinks, f)
	}
	if cfg.AuditSink("stdout") {
		sinks = append(sinks, &audit.WriterSink{W: stdout})
	}
	if cfg.AuditSink("backend") {
		if store == nil {
			if store, err = openStore(cfg); err != nil {
				closeAll()
				return nil, nil, false, err
			}
		}
		if err := ensureBucket(ctx, store, cfg.Audit.Bucket); err != nil {
			closeAll()
			return nil, nil, false, fmt.Errorf("audit bucket: %w", err)
		}
		sinks = append(sinks,
			audit.NewObjectSink(auditStore{store}, cfg.Audit.Bucket, auditPrefix, writer))
	}
	l, err = audit.New(audit.Options{Writer: writer, Key: key, Sinks: sinks,
		CheckpointEvery:    cfg.Audit.CheckpointRecords,
		CheckpointInterval: time.Duration(cfg.Audit.CheckpointInterval),
		Required:           cfg.Audit.Required, Log: log})
	if err != nil {
		closeAll()
		return nil, nil, false, err
	}
	return l, key.Public().(ed25519.PublicKey), created, nil
}

func ensureBucket(ctx context.Context, store backend.Store, bucket string) error {
	err := store.CreateBucket(ctx, bucket)
	if errors.Is(err, backend.ErrBucketExists) {
		return nil
	}
	return err
}

// auditAdmin records one administrative act in the audit log, in a chain
// of its own that it closes with a final checkpoint: "cloak keys" calls
// it after each act that changes keys, and other administrative commands
// (such as user and policy changes) should call it the same way. rec
// needs Action ("keys rotate") and what the act touched (Bucket, KeyID,
// KeyVersion, Detail); the kind, time, the operating system user and the
// host are filled in. wrapper unwraps the signing key; when nil, the
// configured key provider is opened for it. Nothing is recorded when the
// audit log is off.
func auditAdmin(ctx context.Context, cfg *config.Config, wrapper crypto.KeyWrapper,
	rec audit.Record) error {
	if !cfg.AuditEnabled() {
		return nil
	}
	if wrapper == nil {
		p, _, err := openProvider(ctx, cfg, false)
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		defer p.close()
		wrapper = p
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, _, _, err := openAudit(ctx, cfg, wrapper, nil, "admin", os.Stdout, quiet)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if l == nil {
		return nil
	}
	rec.Kind = audit.KindAdmin
	if rec.User == "" {
		if u, err := user.Current(); err == nil {
			rec.User = u.Username
		}
	}
	if rec.Source == "" {
		rec.Source, _ = os.Hostname()
	}
	l.Log(rec)
	if err := l.Close(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// auditStore adapts a backend.Store to audit.ObjectStore.
type auditStore struct{ s backend.Store }

func (a auditStore) Put(ctx context.Context, bucket, key string, body []byte) error {
	_, err := a.s.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), backend.PutOptions{})
	return err
}

func (a auditStore) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	var keys []string
	token := ""
	for range 100_000 {
		res, err := a.s.ListObjects(ctx, bucket, backend.ListOptions{Prefix: prefix, ContinuationToken: token})
		if err != nil {
			return nil, err
		}
		for _, o := range res.Objects {
			keys = append(keys, o.Key)
		}
		if !res.IsTruncated {
			return keys, nil
		}
		token = res.NextToken
	}
	return nil, errors.New("too many audit objects")
}

func (a auditStore) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	rc, _, err := a.s.GetObject(ctx, bucket, key, 0, -1, backend.GetOptions{})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}

package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/bulk"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/keys"
	"github.com/cloakproxy/cloak/proxy"
	"github.com/cloakproxy/cloak/s3compat/sigv4"
)

// storeTool is what migrate, verify and decrypt share: the configuration,
// the store, the key provider behind a data key cache, and a Server over
// them that serves no HTTP.
type storeTool struct {
	cfg   *config.Config
	store backend.Store
	prov  keyProvider
	srv   *proxy.Server
}

// openStoreTool opens the configured store and key provider. migrating
// says which plaintext objects the Server may read (nil: none).
func openStoreTool(ctx context.Context, cfg *config.Config, migrating func(bucket, key string) bool) (*storeTool, error) {
	store, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	prov, _, err := openProvider(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	var wrapper crypto.KeyWrapper = prov
	if cfg.Keys.CacheSize > 0 {
		wrapper = keys.NewCache(prov, cfg.Keys.CacheSize, time.Duration(cfg.Keys.CacheTTL))
	}
	srv, err := proxy.New(proxy.Options{Store: store, Keys: wrapper, Credentials: sigv4.StaticCredentials{},
		Migrating: migrating})
	if err != nil {
		prov.close()
		return nil, err
	}
	return &storeTool{cfg: cfg, store: store, prov: prov, srv: srv}, nil
}

func (t *storeTool) close() { t.prov.close() }

// toolFlags loads the configuration with a command's own flags, and sets
// up the interrupt handling. It returns a nil config after -h.
func toolFlags(name string, args []string, stderr io.Writer, register func(fs *flag.FlagSet)) (
	*config.Config, []string, context.Context, context.CancelFunc, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	register(fs)
	cfg, err := config.Load(fs, args, os.LookupEnv)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return cfg, fs.Args(), ctx, stop, nil
}

// exitCode reports an error of a tool command and returns its exit code.
func exitCode(name string, err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "cloak %s: %v\n", name, err)
	var usage usageError
	if errors.As(err, &usage) {
		return 2
	}
	return 1
}

// usageError is a command line that cannot run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// runMigrate is "cloak migrate": encrypt plaintext objects in place or
// into another bucket.
func runMigrate(args []string, stdout, stderr io.Writer) int {
	var bucket, prefix, toBucket, state string
	var jobs int
	var dryRun bool
	cfg, _, ctx, stop, err := toolFlags("migrate", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&bucket, "bucket", "", "the `bucket` to migrate (required)")
		fs.StringVar(&prefix, "prefix", "", "migrate only keys with this `prefix`")
		fs.StringVar(&toBucket, "to-bucket", "", "write the encrypted objects to this `bucket` instead of in place")
		fs.IntVar(&jobs, "jobs", 4, "objects migrated at once")
		fs.BoolVar(&dryRun, "dry-run", false, "list what would be encrypted, change nothing")
		fs.StringVar(&state, "state", "", "resume `file` (default <data>/migrate-BUCKET.state)")
	})
	if err != nil {
		return exitCode("migrate", usageErr(err), stderr)
	}
	defer stop()
	if bucket == "" {
		return exitCode("migrate", usageError{"--bucket is required"}, stderr)
	}
	if toBucket == bucket {
		toBucket = ""
	}
	return exitCode("migrate", migrate(ctx, cfg, migrateArgs{bucket, prefix, toBucket, state, jobs, dryRun},
		stdout, stderr), stderr)
}

// usageErr turns a flag parsing error into a usageError.
func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}

type migrateArgs struct {
	bucket, prefix, toBucket, state string
	jobs                            int
	dryRun                          bool
}

func migrate(ctx context.Context, cfg *config.Config, a migrateArgs, stdout, stderr io.Writer) error {
	t, err := openStoreTool(ctx, cfg, func(string, string) bool { return true })
	if err != nil {
		return err
	}
	defer t.close()
	if err := t.store.HeadBucket(ctx, a.bucket); err != nil {
		return err
	}
	if a.toBucket != "" {
		if err := t.store.HeadBucket(ctx, a.toBucket); err != nil {
			return fmt.Errorf("--to-bucket: %w", err)
		}
	}
	out, term := progressOutput(stderr)
	opts := bulk.Options{Op: "migrate", Store: t.store, Buckets: []string{a.bucket}, Prefix: a.prefix,
		Jobs: a.jobs, WithMetadata: true, Progress: out, Terminal: term, Count: true}
	if a.dryRun {
		return migrateDryRun(ctx, opts, stdout)
	}
	opts.State = a.state
	if opts.State == "" {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return err
		}
		opts.State = filepath.Join(cfg.Data, "migrate-"+a.bucket+".state")
	}
	if a.toBucket != "" {
		opts.Op = "migrate to " + a.toBucket
	}
	sum, err := bulk.Run(ctx, opts, func(ctx context.Context, bucket string, obj backend.ObjectInfo) (bool, error) {
		return t.srv.Migrate(ctx, bucket, obj, proxy.MigrateOptions{ToBucket: a.toBucket})
	})
	fmt.Fprintf(stdout, "migrate %s\n  %d encrypted, %d already encrypted or unchanged, %d failed\n",
		sum, sum.Changed, sum.Unchanged, sum.Failed)
	printFailures(stdout, sum)
	if err != nil {
		if !sum.Complete {
			fmt.Fprintf(stdout, "Run the same command again to resume (state in %s).\n", opts.State)
		}
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d objects were not migrated", sum.Failed)
	}
	if a.toBucket == "" && len(cfg.Migrating) > 0 {
		fmt.Fprintf(stdout, "Every object is encrypted: %s can come off the migrating list.\n",
			strings.TrimSuffix(a.bucket+"/"+a.prefix, "/"))
	}
	return nil
}

// migrateDryRun lists the plaintext objects a migration would encrypt.
func migrateDryRun(ctx context.Context, opts bulk.Options, stdout io.Writer) error {
	var n, bytes int64
	opts.Jobs = 1
	sum, err := bulk.Run(ctx, opts, func(ctx context.Context, bucket string, obj backend.ObjectInfo) (bool, error) {
		meta := obj.Metadata
		if meta == nil {
			head, err := opts.Store.HeadObject(ctx, bucket, obj.Key)
			if err != nil {
				return false, err
			}
			meta = head.Metadata
		}
		if _, _, ok, _ := proxy.StoredKey(meta); ok {
			return false, nil
		}
		n++
		bytes += obj.Size
		fmt.Fprintf(stdout, "would encrypt %s/%s (%d bytes)\n", bucket, obj.Key, obj.Size)
		return true, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dry run: %d of %d objects (%d bytes) would be encrypted; nothing was changed\n",
		n, sum.Objects, bytes)
	return nil
}

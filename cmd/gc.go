package cmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/proxy"
)

// runGC is "cloak gc": remove the internal state that ended uploads and
// replaced or deleted multipart objects left behind.
func runGC(args []string, stdout, stderr io.Writer) int {
	var bucket string
	var minAge time.Duration
	var dryRun, force bool
	var jobs int
	cfg, _, ctx, stop, err := toolFlags("gc", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&bucket, "bucket", "", "collect only this `bucket` (default: every bucket)")
		fs.DurationVar(&minAge, "min-age", 24*time.Hour,
			"keep leftovers younger than this `age` (below 1h only with --force)")
		fs.BoolVar(&force, "force", false,
			"allow a --min-age below 1h: only with every server stopped")
		fs.BoolVar(&dryRun, "dry-run", false, "count what would be removed, remove nothing")
		fs.IntVar(&jobs, "jobs", 8, "HEAD requests in flight where listings carry no metadata")
	})
	if err != nil {
		return exitCode("gc", usageErr(err), stderr)
	}
	defer stop()
	switch {
	case minAge < 0:
		return exitCode("gc", usageError{"--min-age must not be negative"}, stderr)
	case minAge < minSafeAge && !force:
		// A CopyObject of a multipart object stores the copy's manifest
		// before the copy itself; a collection in between would take
		// that manifest for garbage.
		return exitCode("gc", usageError{fmt.Sprintf("--min-age below %s can remove the manifest "+
			"of a copy in flight; stop every server and add --force", minSafeAge)}, stderr)
	}
	opts := proxy.GCOptions{MinAge: minAge, DryRun: dryRun, Jobs: jobs}
	return exitCode("gc", collect(ctx, cfg, bucket, opts, stdout), stderr)
}

// minSafeAge is the smallest --min-age allowed while servers may run.
const minSafeAge = time.Hour

func collect(ctx context.Context, cfg *config.Config, bucket string, opts proxy.GCOptions,
	stdout io.Writer) error {
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	buckets, err := bucketList(ctx, store, bucket)
	if err != nil {
		return err
	}
	verb := "removed"
	if opts.DryRun {
		verb = "would remove"
	}
	for _, b := range buckets {
		r, err := proxy.CollectGarbage(ctx, store, b, opts)
		fmt.Fprintf(stdout, "gc %s: %s %d unused manifests and the state of %d ended uploads "+
			"(%d objects); kept %d uploads in progress, %d younger than %s, "+
			"%d of unknown uploads; walked %d objects\n",
			b, verb, r.Manifests, r.Uploads, r.StateObjects, r.LiveUploads, r.Young, opts.MinAge,
			r.Unknown, r.Objects)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	return nil
}

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
	var minAge, abortAfter time.Duration
	var dryRun, force bool
	var jobs int
	cfg, _, ctx, stop, err := toolFlags("gc", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&bucket, "bucket", "", "collect only this `bucket` (default: every bucket)")
		fs.DurationVar(&minAge, "min-age", 24*time.Hour,
			"keep leftovers younger than this `age` (below 1h only with --force)")
		fs.DurationVar(&abortAfter, "abort-uploads-older-than", 0,
			"also abort uploads started longer ago than this `age` and idle for --min-age "+
				"(below 1h only with --force; default: never)")
		fs.BoolVar(&force, "force", false,
			"allow a --min-age (only with every server stopped) or an "+
				"--abort-uploads-older-than below 1h")
		fs.BoolVar(&dryRun, "dry-run", false, "count what would be removed, remove nothing")
		fs.IntVar(&jobs, "jobs", 8, "HEAD requests in flight where listings carry no metadata")
	})
	if err != nil {
		return exitCode("gc", usageErr(err), stderr)
	}
	defer stop()
	switch {
	case minAge < 0 || abortAfter < 0:
		return exitCode("gc", usageError{"--min-age and --abort-uploads-older-than must not be " +
			"negative"}, stderr)
	case abortAfter > 0 && abortAfter < minSafeAge && !force:
		return exitCode("gc", usageError{fmt.Sprintf("--abort-uploads-older-than below %s would "+
			"abort uploads in progress; add --force if that is meant", minSafeAge)}, stderr)
	case minAge < minSafeAge && !force:
		// A CopyObject of a multipart object stores the copy's manifest
		// before the copy itself; a collection in between would take
		// that manifest for garbage.
		return exitCode("gc", usageError{fmt.Sprintf("--min-age below %s can remove the manifest "+
			"of a copy in flight; stop every server and add --force", minSafeAge)}, stderr)
	}
	opts := proxy.GCOptions{MinAge: minAge, DryRun: dryRun, Jobs: jobs, AbortAfter: abortAfter}
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
	verb, abortVerb := "removed", "aborted"
	if opts.DryRun {
		verb, abortVerb = "would remove", "would abort"
	}
	for _, b := range buckets {
		r, err := proxy.CollectGarbage(ctx, store, b, opts)
		fmt.Fprintf(stdout, "gc %s: %s %d unused manifests and the state of %d ended uploads "+
			"(%d objects); kept %d uploads in progress, %d younger than %s, "+
			"%d of unknown uploads; walked %d objects\n",
			b, verb, r.Manifests, r.Uploads, r.StateObjects, r.LiveUploads, r.Young, opts.MinAge,
			r.Unknown, r.Objects)
		if opts.AbortAfter > 0 {
			fmt.Fprintf(stdout, "gc %s: %s %d uploads started over %s ago and idle for %s\n",
				b, abortVerb, r.Aborted, opts.AbortAfter, opts.MinAge)
		}
		if err != nil {
			return fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	return nil
}

package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/cloakproxy/cloak/backend"
	"github.com/cloakproxy/cloak/bulk"
	"github.com/cloakproxy/cloak/config"
	"github.com/cloakproxy/cloak/crypto"
	"github.com/cloakproxy/cloak/proxy"
)

// runVerify is "cloak verify": authenticate every object of a bucket.
func runVerify(args []string, stdout, stderr io.Writer) int {
	var bucket, prefix string
	var jobs int
	var quick bool
	cfg, _, ctx, stop, err := toolFlags("verify", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&bucket, "bucket", "", "the `bucket` to verify (required)")
		fs.StringVar(&prefix, "prefix", "", "verify only keys with this `prefix`")
		fs.IntVar(&jobs, "jobs", 4, "objects verified at once")
		fs.BoolVar(&quick, "quick", false, "check envelopes, wrapped keys, metadata, manifests and "+
			"segment headers only, not every chunk")
	})
	if err != nil {
		return exitCode("verify", usageErr(err), stderr)
	}
	defer stop()
	if bucket == "" {
		return exitCode("verify", usageError{"--bucket is required"}, stderr)
	}
	return exitCode("verify", verify(ctx, cfg, bucket, prefix, jobs, quick, stdout, stderr), stderr)
}

func verify(ctx context.Context, cfg *config.Config, bucket, prefix string, jobs int, quick bool,
	stdout, stderr io.Writer) error {
	t, err := openStoreTool(ctx, cfg, cfg.IsMigrating)
	if err != nil {
		return err
	}
	defer t.close()
	if err := t.store.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	out, term := progressOutput(stderr)
	op := "verify"
	if quick {
		op = "verify (quick)"
	}
	var plaintext atomic.Int64
	sum, err := bulk.Run(ctx, bulk.Options{Op: op, Store: t.store, Buckets: []string{bucket}, Prefix: prefix,
		Jobs: jobs, WithMetadata: true, Progress: out, Terminal: term, Count: true},
		func(ctx context.Context, bucket string, obj backend.ObjectInfo) (bool, error) {
			err := t.srv.Verify(ctx, bucket, obj, quick)
			if errors.Is(err, proxy.ErrPlaintextObject) {
				plaintext.Add(1)
				return false, nil
			}
			if err != nil {
				return false, errors.New(verifyReason(err))
			}
			return true, nil
		})
	fmt.Fprintf(stdout, "%s: %d objects (%d bytes): %d authentic, %d failed, %d plaintext in a migrating prefix\n",
		op, sum.Objects, sum.Bytes, sum.Changed, sum.Failed, plaintext.Load())
	printFailures(stdout, sum)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d objects failed verification", sum.Failed)
	}
	return nil
}

// verifyReason says why an object failed, first in words an operator
// acts on, then the detail.
func verifyReason(err error) string {
	var why string
	switch {
	case errors.Is(err, crypto.ErrKeyDestroyed):
		why = "its master key was destroyed or disabled"
	case errors.Is(err, crypto.ErrUnknownKey):
		why = "its master key is not available to this provider"
	case errors.Is(err, crypto.ErrAuthentication), errors.Is(err, crypto.ErrUnsupportedVersion):
		why = "authentication failed: the stored object was modified, truncated, extended or moved"
	case errors.Is(err, proxy.ErrNotEncrypted):
		why = "not encrypted by Cloak, and not in a migrating prefix"
	default:
		why = "could not be read"
	}
	return why + " (" + err.Error() + ")"
}

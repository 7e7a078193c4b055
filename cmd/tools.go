package cmd

import (
	"context"
	"io"
	"os"

	"github.com/cloakproxy/cloak/backend"
)

// Helpers shared by the commands that work on the store directly (keys,
// migrate, verify, decrypt).

// bucketList returns bucket (after checking it exists), or every bucket
// of the store when bucket is empty.
func bucketList(ctx context.Context, store backend.Store, bucket string) ([]string, error) {
	if bucket != "" {
		if err := store.HeadBucket(ctx, bucket); err != nil {
			return nil, err
		}
		return []string{bucket}, nil
	}
	bs, err := store.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return names, nil
}

// progressOutput returns where bulk runs draw progress (w), and whether w
// is a terminal, so a bar is drawn rather than plain lines.
func progressOutput(w io.Writer) (io.Writer, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return w, false
	}
	st, err := f.Stat()
	return w, err == nil && st.Mode()&os.ModeCharDevice != 0
}

#!/usr/bin/env bash
# Makes sure an rclone binary recent enough to run `rclone serve s3`, built
# from the Go module proxy at the pinned version, exists in the cache, and
# prints its path on stdout. Debian's rclone is too old to serve S3. The
# first build takes several minutes; later runs reuse the cached binary.
# Only the benchmarks (bench/run.sh) need it.
#
#   CLOAK_CACHE  cache root (default: $HOME/.cache/cloak)
set -euo pipefail

RCLONE_MODULE=github.com/rclone/rclone
RCLONE_VERSION=v1.76.0

command -v go >/dev/null || { echo "rclone.sh: Go is required" >&2; exit 1; }

cache="${CLOAK_CACHE:-$HOME/.cache/cloak}"
bindir="$cache/rclone-$RCLONE_VERSION"
bin="$bindir/rclone"

if [ ! -x "$bin" ]; then
	mkdir -p "$bindir"
	echo "rclone.sh: building $RCLONE_MODULE@$RCLONE_VERSION (takes minutes)" >&2
	# Build outside the repository so its go.mod does not apply, into a
	# temporary GOBIN, and move the binary into place only when complete.
	tmpbin=$(mktemp -d "$bindir/.build.XXXXXX")
	trap 'rm -rf "$tmpbin"' EXIT
	(cd "$tmpbin" && GOBIN="$tmpbin" GOFLAGS=-mod=mod go install "$RCLONE_MODULE@$RCLONE_VERSION") >&2
	mv "$tmpbin/rclone" "$bin"
fi

echo "$bin"

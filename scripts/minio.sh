#!/usr/bin/env bash
# Makes sure a MinIO server binary, built from the Go module proxy at the
# pinned version, exists in the cache, and prints its path on stdout.
# The first build takes a few minutes; later runs reuse the cached binary.
#
#   CLOAK_CACHE  cache root (default: $HOME/.cache/cloak)
set -euo pipefail

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

command -v go >/dev/null || { echo "minio.sh: Go is required" >&2; exit 1; }

cache="${CLOAK_CACHE:-$HOME/.cache/cloak}"
bindir="$cache/minio-$MINIO_VERSION"
bin="$bindir/minio"

if [ ! -x "$bin" ]; then
	mkdir -p "$bindir"
	echo "minio.sh: building $MINIO_MODULE@$MINIO_VERSION (takes minutes)" >&2
	# Build outside the repository so its go.mod does not apply, into a
	# temporary GOBIN, and move the binary into place only when complete.
	tmpbin=$(mktemp -d "$bindir/.build.XXXXXX")
	trap 'rm -rf "$tmpbin"' EXIT
	(cd "$tmpbin" && GOBIN="$tmpbin" GOFLAGS=-mod=mod go install "$MINIO_MODULE@$MINIO_VERSION") >&2
	mv "$tmpbin/minio" "$bin"
fi

echo "$bin"

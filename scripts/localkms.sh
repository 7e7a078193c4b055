#!/usr/bin/env bash
# Makes sure a local-kms binary (an implementation of the AWS KMS API that
# keeps its keys on local disk), built from the Go module proxy at the
# pinned version, exists in the cache, and prints its path on stdout.
# keys/awskms/kmstest runs it for the AWS KMS provider's tests.
#
#   CLOAK_CACHE  cache root (default: $HOME/.cache/cloak)
set -euo pipefail

LOCALKMS_MODULE=github.com/nsmithuk/local-kms
LOCALKMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6

command -v go >/dev/null || { echo "localkms.sh: Go is required" >&2; exit 1; }

cache="${CLOAK_CACHE:-$HOME/.cache/cloak}"
bindir="$cache/local-kms-$LOCALKMS_VERSION"
bin="$bindir/local-kms"

if [ ! -x "$bin" ]; then
	mkdir -p "$bindir"
	echo "localkms.sh: building $LOCALKMS_MODULE@$LOCALKMS_VERSION" >&2
	# Build outside the repository so its go.mod does not apply, into a
	# temporary GOBIN, and move the binary into place only when complete.
	tmpbin=$(mktemp -d "$bindir/.build.XXXXXX")
	trap 'rm -rf "$tmpbin"' EXIT
	(cd "$tmpbin" && GOBIN="$tmpbin" GOFLAGS=-mod=mod \
		go install "$LOCALKMS_MODULE@$LOCALKMS_VERSION") >&2
	mv "$tmpbin/local-kms" "$bin"
fi

echo "$bin"

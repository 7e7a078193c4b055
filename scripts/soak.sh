#!/usr/bin/env bash
# Soak test: builds Cloak, finds (or builds) MinIO, and runs bench/soak for
# the given duration (default 1m, as scripts/test.sh does): mixed traffic
# from concurrent clients against "cloak serve" in front of MinIO, with
# MinIO killed and restarted now and then, then every object read back.
# Extra arguments go to the soak program, for example
#   scripts/soak.sh 2h -clients 32 -restart-every 5m
# Exits non-zero if any acknowledged object was lost or corrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-1m}
shift || true
minio=${CLOAK_MINIO_BIN:-$(scripts/minio.sh)}
go build -o bin/cloak .
go run ./bench/soak -cloak bin/cloak -minio "$minio" -duration "$duration" "$@"

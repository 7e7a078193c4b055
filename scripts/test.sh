#!/usr/bin/env bash
# The whole test suite: static checks, then every package's tests
# (fuzz targets run their seed corpora as ordinary tests).
# Installs what it needs; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "test.sh: Go 1.26 or newer is required" >&2; exit 1; }

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

# --- backend: real MinIO for the integration tests (see scripts/minio.sh) ---
echo "== minio"
CLOAK_MINIO_BIN=$(scripts/minio.sh)
export CLOAK_MINIO_BIN CLOAK_REQUIRE_INTEGRATION=1
# --- end backend ---

# --- kms: local-kms for keys/awskms (see scripts/localkms.sh) ---
echo "== local-kms"
CLOAK_LOCALKMS_BIN=$(scripts/localkms.sh)
export CLOAK_LOCALKMS_BIN
# --- end kms ---

# --- hsm: SoftHSM for keys/pkcs11 (see scripts/softhsm.sh) ---
echo "== softhsm"
CLOAK_SOFTHSM_MODULE=$(scripts/softhsm.sh)
export CLOAK_SOFTHSM_MODULE
# --- end hsm ---

# --- tls: openssl s_client for cmd's TLS test (see scripts/openssl.sh) ---
echo "== openssl"
scripts/openssl.sh >/dev/null
# --- end tls ---

# --- clients: real S3 command-line clients (see scripts/clients.sh) ---
echo "== clients"
client_env=$(scripts/clients.sh)
for kv in $client_env; do
	export "$kv"
done
# --- end clients ---

# The race detector needs cgo and a C compiler; without them the tests
# still run, unchecked for data races, and say so.
race=()
if [ "$(go env CGO_ENABLED)" = 1 ] && command -v "$(go env CC)" >/dev/null 2>&1; then
	race=(-race)
else
	echo "test.sh: no C compiler for cgo: running the tests without -race" >&2
fi
echo "== go test ${race[*]}"
go test "${race[@]}" -count=1 -timeout 30m ./...

# --- fuzz: every fuzz target runs briefly, so none rots (see scripts/fuzz.sh) ---
echo "== fuzz"
bash scripts/fuzz.sh "${CLOAK_FUZZTIME:-3s}"
# --- end fuzz ---

# --- soak: a one-minute soak against MinIO with restarts (see scripts/soak.sh) ---
echo "== soak"
bash scripts/soak.sh "${CLOAK_SOAKTIME:-1m}"
# --- end soak ---

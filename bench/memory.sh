#!/usr/bin/env bash
# Measures the memory of a `cloak serve` process (plain HTTP, in front of
# a MinIO server) in three phases and prints, for each, its peak resident
# set (VmHWM from /proc/PID/status, reset between phases through
# /proc/PID/clear_refs) and its peak Go heap (the largest heap the Go
# runtime reported at a garbage collection, GODEBUG=gctrace=1):
#
#   put-5g     one 5 GiB object uploaded in 16 MiB parts, 4 in flight
#   get-5g     the same object read back whole
#   streams16  16 concurrent single PUTs, then GETs, of 256 MiB objects
#
# Data is generated on the fly by bench/loadgen and checked on read;
# nothing the size of an object is written to disk except by MinIO.
#
#   bench/memory.sh            as above
#   bench/memory.sh --quick    512 MiB and 32 MiB instead
#
# Environment: BENCH_PORT (first of three loopback ports, default
# 19200), BENCH_DIR (work directory; removed at the end unless KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."

huge=$((5 << 30)) large=$((256 << 20))
if [ "${1:-}" = "--quick" ]; then
	huge=$((512 << 20)) large=$((32 << 20))
fi
port=${BENCH_PORT:-19200}
work=${BENCH_DIR:-$(mktemp -d /tmp/cloak-memory.XXXXXX)}
mkdir -p "$work/bin"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/bin/cloak" .
go build -o "$work/bin/loadgen" ./bench/loadgen
minio_bin=$(scripts/minio.sh)

access=bench-root
secret=bench-root-secret-0123456789
minio_addr=127.0.0.1:$port
MINIO_ROOT_USER=$access MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off MINIO_UPDATE=off \
	MINIO_CALLHOME_ENABLE=off MINIO_API_DELETE_CLEANUP_INTERVAL=5s \
	"$minio_bin" server --quiet --address "$minio_addr" \
	--console-address 127.0.0.1:$((port + 2)) "$work/minio" >"$work/minio.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$minio_addr/minio/health/ready")" = 200 ] && break
	sleep 0.1
done

cloak_addr=127.0.0.1:$((port + 1))
GODEBUG=gctrace=1 CLOAK_ROOT_ACCESS_KEY=$access CLOAK_ROOT_SECRET_KEY=$secret \
	CLOAK_BACKEND_S3_ACCESS_KEY=$access CLOAK_BACKEND_S3_SECRET_KEY=$secret \
	"$work/bin/cloak" serve --insecure-http --listen "$cloak_addr" --data "$work/cloak" \
	--backend-s3-endpoint "http://$minio_addr" --backend-s3-lookup path --log-level warn \
	>"$work/cloak.log" 2>"$work/cloak.gc" &
cloak_pid=$!
pids+=("$cloak_pid")
for _ in $(seq 600); do
	curl -s -o /dev/null "http://$cloak_addr" && break
	sleep 0.1
done

# phase NAME LOADGEN_ARGS...: reset the peak RSS, run the load, and print
# the peaks seen during it.
phase() {
	local name=$1
	shift
	echo 5 >"/proc/$cloak_pid/clear_refs"
	local from
	from=$(wc -l <"$work/cloak.gc")
	"$work/bin/loadgen" run -endpoint "http://$cloak_addr" -access $access -secret $secret \
		-target cloak -bucket memory -pids "cloak=$cloak_pid" "$@" >&2
	local hwm heap
	hwm=$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "/proc/$cloak_pid/status")
	# gctrace lines hold "A->B->C MB": heap at the start and the end of
	# the cycle, and the live heap after it; the peak is the largest A or B.
	heap=$(tail -n +"$((from + 1))" "$work/cloak.gc" |
		{ grep -o '[0-9]*->[0-9]*->[0-9]* MB' || true; } |
		awk -F'->| ' '{ if ($1 > m) m = $1; if ($2 > m) m = $2 } END { print m + 0 }')
	if [ "$heap" = 0 ]; then
		# No collection ran: the heap never reached the last goal.
		heap="<$(grep -o '[0-9]* MB goal' "$work/cloak.gc" | tail -1 | cut -d' ' -f1)"
	fi
	printf '%-10s peak RSS %5d MiB   peak heap %5s MiB\n' "$name" "$hwm" "$heap"
}

echo "== Cloak memory (object $((huge >> 20)) MiB, streams of $((large >> 20)) MiB); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
phase put-5g -huge "$huge" -workloads mpu1g
phase get-5g -huge "$huge" -workloads gethuge
phase streams16 -large "$large" -large-ops-c16 16 -workloads put64-c16,get64-c16

#!/usr/bin/env bash
# Runs the standard S3 workloads (bench/loadgen) against five targets
# that share one MinIO server, interleaved round by round, and prints the
# medians and the ratios Cloak/MinIO, Cloak/do-nothing proxy and
# Cloak/rclone:
#
#   minio       MinIO directly
#   noproxy     a do-nothing reverse proxy in front of it (bench/noproxy)
#   noproxy-tls the same over TLS (Cloak's certificate), against which
#               cloak-tls is compared
#   cloak-http  Cloak in front of it, plain HTTP on loopback
#   cloak-tls   Cloak in front of it, TLS (self-signed certificate)
#   rclone      rclone serve s3 over a crypt remote over it
#
#   bench/run.sh            full mode: 64 MiB and 1 GiB objects, 3 rounds
#   bench/run.sh --quick    smoke run: small sizes, one round
#
# Environment: ROUNDS (rounds), TARGETS (space-separated subset),
# WORKLOADS (comma-separated subset of the load generator's workloads),
# BENCH_PORT (first of nine loopback ports, default 19100), BENCH_DIR
# (work directory, default a fresh one under /tmp, removed at the end
# unless KEEP=1). Results go to $BENCH_DIR/results.jsonl and the report
# to stdout. PPROF=1 serves Go's profiling handlers of cloak-http on
# 127.0.0.1:BENCH_PORT+6 and of cloak-tls on BENCH_PORT+7 (see
# docs/PERFORMANCE.md, "Profiling Cloak"). docs/PERFORMANCE.md explains
# the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ $quick = 1 ]; then
	rounds=${ROUNDS:-1}
	sizes=(-large $((4 << 20)) -large-ops-c4 4 -large-ops-c16 16 -mib-ops 32
		-huge $((64 << 20)) -range-ops 32 -small-ops 300)
else
	rounds=${ROUNDS:-3}
	sizes=(-large $((64 << 20)) -large-ops-c4 8 -large-ops-c16 16 -mib-ops 256
		-huge $((1 << 30)) -range-ops 256 -small-ops 3000)
fi
targets=${TARGETS:-"minio noproxy noproxy-tls cloak-http cloak-tls rclone"}
port=${BENCH_PORT:-19100}
work=${BENCH_DIR:-$(mktemp -d /tmp/cloak-bench.XXXXXX)}
mkdir -p "$work/bin"

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

echo "== building (work directory $work)" >&2
go build -o "$work/bin/cloak" .
go build -o "$work/bin/loadgen" ./bench/loadgen
go build -o "$work/bin/noproxy" ./bench/noproxy
minio_bin=$(scripts/minio.sh)
case " $targets " in *" rclone "*) rclone_bin=$(scripts/rclone.sh) ;; esac

# wait_http URL [CURL_ARGS...]: poll until URL answers at all (any HTTP
# status), for at most 60 seconds.
wait_http() {
	local url=$1
	shift
	for _ in $(seq 600); do
		if curl -s -o /dev/null "$@" "$url"; then return 0; fi
		sleep 0.1
	done
	echo "run.sh: $url did not come up" >&2
	return 1
}

minio_addr=127.0.0.1:$port
access=bench-root
secret=bench-root-secret-0123456789
echo "== starting MinIO on $minio_addr" >&2
MINIO_ROOT_USER=$access MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off MINIO_UPDATE=off \
	MINIO_CALLHOME_ENABLE=off MINIO_API_DELETE_CLEANUP_INTERVAL=5s \
	"$minio_bin" server --quiet --address "$minio_addr" \
	--console-address 127.0.0.1:$((port + 5)) "$work/minio" >"$work/minio.log" 2>&1 &
minio_pid=$!
pids+=("$minio_pid")
for _ in $(seq 600); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$minio_addr/minio/health/ready")" = 200 ] && break
	sleep 0.1
done

declare -A endpoint pid ca
endpoint[minio]=http://$minio_addr
pid[minio]=$minio_pid

"$work/bin/noproxy" -listen 127.0.0.1:$((port + 1)) -backend "http://$minio_addr" \
	>"$work/noproxy.log" 2>&1 &
pid[noproxy]=$!
pids+=("${pid[noproxy]}")
endpoint[noproxy]=http://127.0.0.1:$((port + 1))

# start_cloak NAME PORT [FLAGS...]
start_cloak() {
	local name=$1 p=$2
	shift 2
	CLOAK_ROOT_ACCESS_KEY=$access CLOAK_ROOT_SECRET_KEY=$secret \
		CLOAK_BACKEND_S3_ACCESS_KEY=$access CLOAK_BACKEND_S3_SECRET_KEY=$secret \
		"$work/bin/cloak" serve --listen 127.0.0.1:"$p" --data "$work/$name" \
		--backend-s3-endpoint "http://$minio_addr" --backend-s3-lookup path "$@" \
		>"$work/$name.log" 2>&1 &
	pid[$name]=$!
	pids+=("${pid[$name]}")
}
pprof_http=() pprof_tls=()
if [ "${PPROF:-0}" = 1 ]; then
	pprof_http=(--metrics-listen 127.0.0.1:$((port + 6)) --metrics-pprof)
	pprof_tls=(--metrics-listen 127.0.0.1:$((port + 7)) --metrics-pprof)
fi
start_cloak cloak-http $((port + 2)) --insecure-http "${pprof_http[@]}"
endpoint[cloak-http]=http://127.0.0.1:$((port + 2))
start_cloak cloak-tls $((port + 3)) "${pprof_tls[@]}"
endpoint[cloak-tls]=https://127.0.0.1:$((port + 3))

if [ -n "${rclone_bin:-}" ]; then
	# AWS_CA_BUNDLE, set on some machines, stops rclone from starting.
	env -u AWS_CA_BUNDLE RCLONE_CONFIG_STORE_TYPE=s3 RCLONE_CONFIG_STORE_PROVIDER=Minio \
		RCLONE_CONFIG_STORE_ENDPOINT="http://$minio_addr" \
		RCLONE_CONFIG_STORE_ACCESS_KEY_ID=$access RCLONE_CONFIG_STORE_SECRET_ACCESS_KEY=$secret \
		RCLONE_CONFIG_SECRET_TYPE=crypt RCLONE_CONFIG_SECRET_REMOTE=store:rclone-crypt \
		RCLONE_CONFIG_SECRET_PASSWORD="$("$rclone_bin" obscure bench-password)" \
		"$rclone_bin" serve s3 secret: --addr 127.0.0.1:$((port + 4)) \
		--auth-key "$access,$secret" --config /dev/null \
		>"$work/rclone.log" 2>&1 &
	pid[rclone]=$!
	pids+=("${pid[rclone]}")
	endpoint[rclone]=http://127.0.0.1:$((port + 4))
	"$work/bin/loadgen" run -endpoint "http://$minio_addr" -access $access -secret $secret \
		-target setup -bucket rclone-crypt -workloads "" >/dev/null 2>&1 || true
fi

wait_http "${endpoint[noproxy]}"
wait_http "${endpoint[cloak-http]}"
wait_http "${endpoint[cloak-tls]}" -k
ca[cloak-tls]=$work/cloak-tls/tls/cert.pem

# The do-nothing proxy over TLS, with the certificate Cloak made.
"$work/bin/noproxy" -listen 127.0.0.1:$((port + 8)) -backend "http://$minio_addr" \
	-cert "$work/cloak-tls/tls/cert.pem" -key "$work/cloak-tls/tls/key.pem" \
	>"$work/noproxy-tls.log" 2>&1 &
pid[noproxy-tls]=$!
pids+=("${pid[noproxy-tls]}")
endpoint[noproxy-tls]=https://127.0.0.1:$((port + 8))
ca[noproxy-tls]=${ca[cloak-tls]}
wait_http "${endpoint[noproxy-tls]}" -k
[ -n "${endpoint[rclone]:-}" ] && wait_http "${endpoint[rclone]}"

# empty_trash: MinIO moves overwritten and deleted data to a trash folder
# and empties it lazily (minutes later), so a long run would fill the
# disk with it. Nothing reads the trash: empty it after each target.
empty_trash() {
	rm -rf "$work/minio/.minio.sys/tmp/.trash/"*
}

results=$work/results.jsonl
echo "== $rounds round(s), targets: $targets; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$rounds"); do
	for t in $targets; do
		watch="$t=${pid[$t]}" tolerate=()
		# rclone serve s3 does not replace objects atomically (a read that
		# overlaps an overwrite may see a partial object), and sends bytes
		# beyond the end of some range responses, which break the
		# connection for the next request. Count those instead of stopping.
		[ "$t" = rclone ] && tolerate=(-tolerate-failures)
		[ "$t" != minio ] && watch="$watch,minio=$minio_pid"
		"$work/bin/loadgen" run -endpoint "${endpoint[$t]}" -access $access -secret $secret \
			-ca "${ca[$t]:-}" -target "$t" -round "$round" -bucket "bench-$t" \
			-pids "$watch" -out "$results" "${sizes[@]}" "${tolerate[@]}" \
			${WORKLOADS:+-workloads "$WORKLOADS"} ||
			echo "run.sh: $t failed in round $round; going on" >&2
		empty_trash
	done
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo
"$work/bin/loadgen" report "$results"

#!/usr/bin/env bash
# Monitoring benchmarks.
#  1. Go benchmarks: samples appended per second, a 1h range query over
#     10k series (through the /api/v1 handler), ingestion of a scrape.
#  2. The cost of monitoring 50 services at a 5s scrape interval: one
#     process serves 50 loopback /metrics targets (~280 series each, like a
#     Go web service); tug's collector scrapes them as 50 service instances
#     in another process, which reports its CPU % of one core and RSS.
# Targets: collector < 5% of one core and < 150 MiB RSS.
#
# Usage: bench/metrics/run.sh            (from anywhere)
# Env:   TARGETS (50), INTERVAL (5s), WARMUP (15s), MEASURE (60s),
#        BENCHTIME (go test -benchtime, default 3s)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$root"

echo "== Go benchmarks"
go test -run '^$' -bench . -benchmem -benchtime "${BENCHTIME:-3s}" ./bench/metrics/

echo "== 50 services at a 5s scrape interval"
go build -o "$tmp/targets" ./bench/metrics/targets
go build -o "$tmp/collector" ./bench/metrics/collector
"$tmp/targets" -n "${TARGETS:-50}" >"$tmp/addrs" 2>"$tmp/targets.err" &
tpid=$!
pids+=("$tpid")
for _ in $(seq 50); do
	[[ $(wc -l <"$tmp/addrs") -ge ${TARGETS:-50} ]] && break
	sleep 0.1
done
"$tmp/collector" -dir "$tmp/tsdb" -pid "$tpid" -interval "${INTERVAL:-5s}" \
	-warmup "${WARMUP:-15s}" -measure "${MEASURE:-60s}" <"$tmp/addrs"

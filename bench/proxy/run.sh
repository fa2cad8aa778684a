#!/usr/bin/env bash
# Proxy benchmark: wrk against a tiny Go backend directly, through nginx
# (one worker, upstream keepalive 64, access log off) and through
# `tug proxy` (access log ON). Requirement: tug >= 0.6x nginx requests/s
# and tug p99 <= 2x nginx p99.
#
# Each target is measured ROUNDS times (default 3), alternating, and the
# medians are compared, so background load on a shared machine hits all
# targets alike.
#
# Usage: bench/proxy/run.sh    (env: DURATION=5s CONNS=64 THREADS=2 ROUNDS=3)
# Root is needed only to apt-get install wrk/nginx when they are missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
BE_PORT=${BE_PORT:-18081}
NGINX_PORT=${NGINX_PORT:-18082}
TUG_PORT=${TUG_PORT:-18083}
export PATH="$PATH:/usr/sbin:/sbin"

install() {
	if command -v "$1" >/dev/null 2>&1; then return; fi
	if [ "$(id -u)" != 0 ]; then echo "run.sh: $1 missing and not root to install it" >&2; exit 1; fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null || {
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
	}
}
install wrk wrk
install nginx nginx
command -v curl >/dev/null || install curl curl

WORK=$(mktemp -d /tmp/tugbench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "building backend and tug..."
(cd "$ROOT" && go build -o "$WORK/backend" ./bench/proxy/backend && scripts/build.sh "$WORK/tug")

"$WORK/backend" -addr "127.0.0.1:$BE_PORT" &
PIDS+=($!)

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	upstream be {
		server 127.0.0.1:$BE_PORT;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / {
			proxy_pass http://be;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$remote_addr;
		}
	}
}
CONF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
PIDS+=($!)

STATE="$WORK/state"
mkdir -p "$STATE"
"$WORK/tug" proxy --state-dir "$STATE" --http "127.0.0.1:$TUG_PORT" 2>"$WORK/tug-proxy.log" &
PIDS+=($!)

wait_for() { # url [curl args...]
	for _ in $(seq 1 100); do
		if curl -fsS -o /dev/null "$@" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "run.sh: $* did not come up" >&2
	cat "$WORK/tug-proxy.log" >&2 || true
	exit 1
}
wait_for "http://127.0.0.1:$BE_PORT/"
wait_for "http://127.0.0.1:$NGINX_PORT/"
wait_for --unix-socket "$STATE/proxy.sock" http://proxy/healthz

cat >"$WORK/table.json" <<JSON
{"version": 1, "routes": [{"host": "127.0.0.1", "service": "bench", "environment": "bench",
  "pools": [{"release": "r1", "weight": 1, "backends": [{"instance": "be-1", "addr": "127.0.0.1:$BE_PORT"}]}]}]}
JSON
curl -fsS --unix-socket "$STATE/proxy.sock" -X PUT -H 'Content-Type: application/json' \
	--data-binary @"$WORK/table.json" http://proxy/table >/dev/null
wait_for "http://127.0.0.1:$TUG_PORT/"

# run name url -> prints "rps p99_ms"
run() {
	local out rps p99 val unit
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$2")
	echo "$out" >"$WORK/wrk-$1.txt"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	val=$(sed -E 's/[a-z]+$//' <<<"$p99")
	unit=$(sed -E 's/^[0-9.]+//' <<<"$p99")
	case "$unit" in
	us) p99=$(awk -v v="$val" 'BEGIN {printf "%.3f", v/1000}') ;;
	ms) p99=$(awk -v v="$val" 'BEGIN {printf "%.3f", v}') ;;
	s) p99=$(awk -v v="$val" 'BEGIN {printf "%.3f", v*1000}') ;;
	esac
	local errs
	errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
	[ -n "$errs" ] && echo "  $1: $errs" >&2
	echo "$rps $p99"
}

echo "warming up..."
wrk -t"$THREADS" -c"$CONNS" -d1s "http://127.0.0.1:$TUG_PORT/" >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d1s "http://127.0.0.1:$NGINX_PORT/" >/dev/null

# The machine may be shared: run ROUNDS rounds, alternating the targets
# so that each sees the same background load, and compare medians.
ROUNDS=${ROUNDS:-3}
echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds (machine: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg))"
declare -a BE_R BE_P NG_R NG_P TUG_R TUG_P
for ((i = 0; i < ROUNDS; i++)); do
	read -r r p < <(run "direct-$i" "http://127.0.0.1:$BE_PORT/"); BE_R+=("$r"); BE_P+=("$p")
	read -r r p < <(run "nginx-$i" "http://127.0.0.1:$NGINX_PORT/"); NG_R+=("$r"); NG_P+=("$p")
	read -r r p < <(run "tug-$i" "http://127.0.0.1:$TUG_PORT/"); TUG_R+=("$r"); TUG_P+=("$p")
	printf 'round %d: direct %s rps p99 %sms | nginx %s rps p99 %sms | tug %s rps p99 %sms\n' \
		"$((i + 1))" "${BE_R[i]}" "${BE_P[i]}" "${NG_R[i]}" "${NG_P[i]}" "${TUG_R[i]}" "${TUG_P[i]}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
be_rps=$(median "${BE_R[@]}"); be_p99=$(median "${BE_P[@]}")
ng_rps=$(median "${NG_R[@]}"); ng_p99=$(median "${NG_P[@]}")
tug_rps=$(median "${TUG_R[@]}"); tug_p99=$(median "${TUG_P[@]}")
sleep 1.2
lines=$(wc -l <"$STATE/proxy/access.log" 2>/dev/null || echo 0)

echo "medians:"
printf '%-28s %12s %10s\n' target requests/s p99_ms
printf '%-28s %12s %10s\n' "direct backend" "$be_rps" "$be_p99"
printf '%-28s %12s %10s\n' "nginx (access log off)" "$ng_rps" "$ng_p99"
printf '%-28s %12s %10s\n' "tug proxy (access log on)" "$tug_rps" "$tug_p99"
rps_ratio=$(awk -v a="$tug_rps" -v b="$ng_rps" 'BEGIN {printf "%.2f", a/b}')
p99_ratio=$(awk -v a="$tug_p99" -v b="$ng_p99" 'BEGIN {printf "%.2f", a/b}')
echo "tug/nginx requests/s: ${rps_ratio}x (need >= 0.60)"
echo "tug/nginx p99:        ${p99_ratio}x (need <= 2.00)"
echo "tug access log lines: $lines"
if awk -v r="$rps_ratio" -v p="$p99_ratio" 'BEGIN {exit !(r >= 0.6 && p <= 2.0)}'; then
	echo "PASS"
else
	echo "FAIL"
	exit 1
fi

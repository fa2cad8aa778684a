#!/usr/bin/env bash
# Proxy benchmark, as users run the proxy: `tug up` (the server, its proxy
# and one deployed service, access log on) beside nginx (one worker,
# upstream keepalive, access log on), both in front of the same backend
# instance, plus `tug proxy` standalone and the backend directly for
# reference. wrk drives each target in turn.
#
# For every target it prints requests/s, p99 and the CPU time per request
# of each process involved (the tug proxy, the tug server, the nginx
# worker), read from /proc/PID/stat before and after each run: on a small
# machine what the server spends per request comes out of the proxy's
# throughput, so it is measured in the same run.
#
# Targets (issue: the data plane at nginx parity as users run it):
#   tug under the server >= 1.0x nginx requests/s, p99 <= 1.2x nginx,
#   server CPU per proxied request <= 3us, proxy's <= nginx worker's.
#
# The standalone proxy also serves a second route, limited.localhost, with
# a rate limit set high enough never to trigger (issue: secrets and
# access): its requests/s must stay within 5% of the same proxy's
# unlimited route, measured in the same rounds. All of wrk's connections
# come from 127.0.0.1, so every request takes the same bucket: the most
# contended case.
#
# Each target is measured ROUNDS times (default 5), alternating, and the
# medians are compared, so background load on a shared machine hits all
# targets alike; the load average is printed before and after.
#
# Usage: bench/proxy/run.sh   (env: DURATION=5s CONNS=64 THREADS=2 ROUNDS=5 STRICT=1)
# STRICT=0 reports without failing when a target is missed.
#
# INSTRUCTIONS=1 bench/proxy/run.sh (env: REQUESTS=10000) instead counts
# the instructions the standalone proxy and an nginx worker (access logs
# on) execute per request, with valgrind's cachegrind, under a bounded
# load: bench/proxy/drive sends REQUESTS and then 6x REQUESTS bodyless
# GETs over 8 connections and the difference is divided by 5x REQUESTS,
# so start-up cancels out. User-space work only (no kernel time), but
# steady on a loaded machine to within about 1%: use it to compare
# changes.
# Root is needed only to apt-get install wrk/nginx when they are missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
STRICT=${STRICT:-1}
export PATH="$PATH:/usr/sbin:/sbin"

install() {
	if command -v "$1" >/dev/null 2>&1; then return; fi
	if [ "$(id -u)" != 0 ]; then echo "run.sh: $1 missing and not root to install it" >&2; exit 1; fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 || {
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
	}
}
install wrk wrk
install nginx nginx
install curl curl

WORK=$(mktemp -d /tmp/tugbench.XXXXXX)
PIDS=()
UP_PID=
cleanup() {
	if [ -n "$UP_PID" ]; then
		kill -INT "$UP_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
	fi
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$WORK/app/.tug/proxy/proxy.pid" ] && kill "$(cat "$WORK/app/.tug/proxy/proxy.pid")" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
TUG_PORT=$(freeport)
SA_PORT=$(freeport)
NGINX_PORT=$(freeport)

echo "building backend and tug..."
(cd "$ROOT" && go build -o "$WORK/backend" ./bench/proxy/backend && scripts/build.sh "$WORK/tug" >/dev/null)

if [ "${INSTRUCTIONS:-0}" = 1 ]; then
	install valgrind valgrind
	(cd "$ROOT" && go build -o "$WORK/drive" ./bench/proxy/drive)
	REQUESTS=${REQUESTS:-10000}
	BE_PORT=$(freeport)
	"$WORK/backend" -addr "127.0.0.1:$BE_PORT" &
	PIDS+=("$!")
	count() { # name n -> instructions of the whole run
		local name=$1 n=$2 port dir pid
		port=$(freeport)
		dir="$WORK/cg-$name-$n"
		mkdir -p "$dir"
		if [ "$name" = tug ]; then
			GODEBUG=asyncpreemptoff=1 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$dir/out" \
				"$WORK/tug" proxy --state-dir "$dir" --http "127.0.0.1:$port" 2>"$dir/log" &
			pid=$!
			for _ in $(seq 1 600); do curl -fsS --unix-socket "$dir/proxy.sock" http://proxy/healthz >/dev/null 2>&1 && break; sleep 0.2; done
			curl -fsS --unix-socket "$dir/proxy.sock" -X PUT -H 'Content-Type: application/json' --data-binary \
				"{\"version\": 1, \"routes\": [{\"host\": \"bench.localhost\", \"service\": \"bench\", \"environment\": \"bench\", \"pools\": [{\"release\": \"r1\", \"weight\": 1, \"backends\": [{\"instance\": \"be-1\", \"addr\": \"127.0.0.1:$BE_PORT\"}]}]}]}" \
				http://proxy/table >/dev/null
		else
			cat >"$dir/nginx.conf" <<CONF
master_process off;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
	access_log $dir/access.log;
	keepalive_requests 1000000;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	upstream be {
		server 127.0.0.1:$BE_PORT;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:$port;
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
			valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$dir/out" \
				nginx -p "$dir" -c "$dir/nginx.conf" 2>"$dir/log" &
			pid=$!
		fi
		for _ in $(seq 1 600); do curl -fsS -o /dev/null -H 'Host: bench.localhost' "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.2; done
		"$WORK/drive" -addr "127.0.0.1:$port" -c 8 -n "$n"
		if [ "$name" = tug ]; then kill -INT "$pid"; else kill -QUIT "$pid"; fi
		wait "$pid" || true
		awk '/^summary:/ {print $2}' "$dir/out"
	}
	echo "instructions per request (cachegrind; $REQUESTS and $((6 * REQUESTS)) requests over 8 connections):"
	for name in tug nginx; do
		a=$(count "$name" "$REQUESTS")
		b=$(count "$name" $((6 * REQUESTS)))
		printf '%-34s %10.0f\n' "$name$([ "$name" = tug ] && echo ' proxy standalone (log on)' || echo ' (access log on)')" \
			"$(awk -v a="$a" -v b="$b" -v n=$((5 * REQUESTS)) 'BEGIN {print (b - a) / n}')"
	done
	exit 0
fi

wait_for() { # what, then curl args
	local what=$1
	shift
	for _ in $(seq 1 300); do
		if curl -fsS -o /dev/null "$@" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "run.sh: $what did not come up" >&2
	tail -n 30 "$WORK"/*.log >&2 || true
	exit 1
}

# 1. tug as users run it: `tug up` deploys the service behind its proxy.
mkdir -p "$WORK/app"
cp "$WORK/backend" "$WORK/app/backend"
cat >"$WORK/app/tug.yaml" <<YAML
version: 1
project: bench
services:
  bench:
    run: ./backend
    health: {path: /, interval: 2s, timeout: 1s}
    replicas: 1
    routes: ["bench.localhost"]
YAML
(cd "$WORK/app" && exec "$WORK/tug" up --http "127.0.0.1:$TUG_PORT" >"$WORK/tug-up.log" 2>&1) &
UP_PID=$!
wait_for "tug up" -H 'Host: bench.localhost' "http://127.0.0.1:$TUG_PORT/"
PROXY_PID=$(cat "$WORK/app/.tug/proxy/proxy.pid")
SERVER_PID=$UP_PID
# The backend instance tug deployed: nginx and the standalone proxy use it too.
BE_ADDR=$(curl -fsS --unix-socket "$WORK/app/.tug/proxy.sock" http://proxy/table |
	python3 -c 'import json,sys; t=json.load(sys.stdin); print(t["routes"][0]["pools"][0]["backends"][0]["addr"])')

# 2. nginx, access log on (its default, unbuffered combined format).
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log $WORK/nginx/access.log;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	upstream be {
		server $BE_ADDR;
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
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_for nginx "http://127.0.0.1:$NGINX_PORT/"
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -n1)

# 3. The proxy standalone (no server), access log on.
mkdir -p "$WORK/sa"
"$WORK/tug" proxy --state-dir "$WORK/sa" --http "127.0.0.1:$SA_PORT" 2>"$WORK/sa-proxy.log" &
SA_PID=$!
PIDS+=("$SA_PID")
wait_for "standalone proxy" --unix-socket "$WORK/sa/proxy.sock" http://proxy/healthz
cat >"$WORK/table.json" <<JSON
{"version": 1, "routes": [{"host": "bench.localhost", "service": "bench", "environment": "bench",
  "pools": [{"release": "r1", "weight": 1, "backends": [{"instance": "be-1", "addr": "$BE_ADDR"}]}]},
 {"host": "limited.localhost", "service": "limited", "environment": "bench",
  "edge": {"rate_limit": {"requests": 1000000000, "per": 1000000000, "burst": 1000000000}},
  "pools": [{"release": "r1", "weight": 1, "backends": [{"instance": "be-1", "addr": "$BE_ADDR"}]}]}]}
JSON
curl -fsS --unix-socket "$WORK/sa/proxy.sock" -X PUT -H 'Content-Type: application/json' \
	--data-binary @"$WORK/table.json" http://proxy/table >/dev/null
wait_for "standalone route" -H 'Host: bench.localhost' "http://127.0.0.1:$SA_PORT/"
wait_for "standalone limited route" -H 'Host: limited.localhost' "http://127.0.0.1:$SA_PORT/"

TICK=$(getconf CLK_TCK)
cpu() { # pid -> CPU seconds (user+system) so far
	awk -v t="$TICK" '{ sub(/^.*\) /, ""); printf "%.4f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# measure name url pids... -> "rps p99_ms requests cpu1 cpu2 ..." (CPU seconds per pid)
measure() {
	local name=$1 url=$2
	shift 2
	local before=() after=() p out rps p99 val unit reqs
	for p in "$@"; do before+=("$(cpu "$p")"); done
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "Host: ${HOST_HEADER:-bench.localhost}" "$url")
	for p in "$@"; do after+=("$(cpu "$p")"); done
	echo "$out" >>"$WORK/wrk-$name.txt"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
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
	[ -n "$errs" ] && echo "  $name: $errs" >&2
	local line="$rps $p99 $reqs"
	local i
	for i in "${!before[@]}"; do line+=" $(awk -v a="${before[i]}" -v b="${after[i]}" 'BEGIN {printf "%.4f", b-a}')"; done
	echo "$line"
}
us_per() { awk -v c="$1" -v n="$2" 'BEGIN {printf "%.1f", (n > 0) ? c * 1e6 / n : 0}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "processes: server $SERVER_PID ($(cat /proc/$SERVER_PID/comm)), its proxy $PROXY_PID, nginx worker $NGINX_WORKER, standalone proxy $SA_PID, backend $BE_ADDR"
echo "warming up..."
for u in "http://127.0.0.1:$TUG_PORT/" "http://127.0.0.1:$NGINX_PORT/" "http://127.0.0.1:$SA_PORT/"; do
	wrk -t"$THREADS" -c"$CONNS" -d1s -H 'Host: bench.localhost' "$u" >/dev/null
done

echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS rounds; machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -a BE_R BE_P NG_R NG_P NG_C TUG_R TUG_P TUG_PC TUG_SC SA_R SA_P SA_C IDLE_SC RL_R RL_P RL_C
for ((i = 0; i < ROUNDS; i++)); do
	read -r r p n < <(measure direct "http://$BE_ADDR/")
	BE_R+=("$r"); BE_P+=("$p")
	# The server's CPU while nginx runs is its idle cost (probes, logs).
	read -r r p n cw cs < <(measure nginx "http://127.0.0.1:$NGINX_PORT/" "$NGINX_WORKER" "$SERVER_PID")
	NG_R+=("$r"); NG_P+=("$p"); NG_C+=("$(us_per "$cw" "$n")"); IDLE_SC+=("$cs")
	read -r r p n cp cs < <(measure tug "http://127.0.0.1:$TUG_PORT/" "$PROXY_PID" "$SERVER_PID")
	TUG_R+=("$r"); TUG_P+=("$p"); TUG_PC+=("$(us_per "$cp" "$n")"); TUG_SC+=("$(us_per "$cs" "$n")")
	read -r r p n cp < <(measure standalone "http://127.0.0.1:$SA_PORT/" "$SA_PID")
	SA_R+=("$r"); SA_P+=("$p"); SA_C+=("$(us_per "$cp" "$n")")
	read -r r p n cp < <(HOST_HEADER=limited.localhost measure limited "http://127.0.0.1:$SA_PORT/" "$SA_PID")
	RL_R+=("$r"); RL_P+=("$p"); RL_C+=("$(us_per "$cp" "$n")")
	printf 'round %d: direct %s rps | nginx %s rps p99 %sms %sus/req | tug %s rps p99 %sms proxy %sus/req server %sus/req | standalone %s rps p99 %sms %sus/req | rate-limited %s rps p99 %sms %sus/req\n' \
		"$((i + 1))" "${BE_R[i]}" "${NG_R[i]}" "${NG_P[i]}" "${NG_C[i]}" "${TUG_R[i]}" "${TUG_P[i]}" "${TUG_PC[i]}" "${TUG_SC[i]}" \
		"${SA_R[i]}" "${SA_P[i]}" "${SA_C[i]}" "${RL_R[i]}" "${RL_P[i]}" "${RL_C[i]}"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

be_rps=$(median "${BE_R[@]}"); be_p99=$(median "${BE_P[@]}")
ng_rps=$(median "${NG_R[@]}"); ng_p99=$(median "${NG_P[@]}"); ng_cpu=$(median "${NG_C[@]}")
tug_rps=$(median "${TUG_R[@]}"); tug_p99=$(median "${TUG_P[@]}")
tug_pcpu=$(median "${TUG_PC[@]}"); tug_scpu=$(median "${TUG_SC[@]}")
sa_rps=$(median "${SA_R[@]}"); sa_p99=$(median "${SA_P[@]}"); sa_cpu=$(median "${SA_C[@]}")
idle_s=$(median "${IDLE_SC[@]}")
rl_rps=$(median "${RL_R[@]}"); rl_p99=$(median "${RL_P[@]}"); rl_cpu=$(median "${RL_C[@]}")

echo
echo "medians (CPU: microseconds of CPU time per request, from /proc):"
printf '%-34s %12s %9s %12s %12s\n' target requests/s p99_ms proxy_us/req server_us/req
printf '%-34s %12s %9s %12s %12s\n' "direct backend" "$be_rps" "$be_p99" - -
printf '%-34s %12s %9s %12s %12s\n' "nginx (access log on)" "$ng_rps" "$ng_p99" "$ng_cpu" -
printf '%-34s %12s %9s %12s %12s\n' "tug up: proxy + server (log on)" "$tug_rps" "$tug_p99" "$tug_pcpu" "$tug_scpu"
printf '%-34s %12s %9s %12s %12s\n' "tug proxy standalone (log on)" "$sa_rps" "$sa_p99" "$sa_cpu" -
printf '%-34s %12s %9s %12s %12s\n' "  the same, rate limit on route" "$rl_rps" "$rl_p99" "$rl_cpu" -
echo "server CPU while nginx ran (its idle cost): ${idle_s}s per $DURATION run"
echo "access log lines: nginx $(wc -l <"$WORK/nginx/access.log"), tug $(cat "$WORK"/app/.tug/proxy/access/*.log 2>/dev/null | wc -l)"

rps_ratio=$(awk -v a="$tug_rps" -v b="$ng_rps" 'BEGIN {printf "%.2f", a/b}')
p99_ratio=$(awk -v a="$tug_p99" -v b="$ng_p99" 'BEGIN {printf "%.2f", a/b}')
sa_ratio=$(awk -v a="$sa_rps" -v b="$ng_rps" 'BEGIN {printf "%.2f", a/b}')
rl_ratio=$(awk -v a="$rl_rps" -v b="$sa_rps" 'BEGIN {printf "%.3f", a/b}')
fail=0
check() { # label ok
	if [ "$2" = 1 ]; then echo "  ok    $1"; else echo "  MISS  $1"; fail=1; fi
}
echo "targets:"
check "tug/nginx requests/s ${rps_ratio}x (>= 1.00)" "$(awk -v r="$rps_ratio" 'BEGIN {print (r >= 1.0)}')"
check "tug/nginx p99 ${p99_ratio}x (<= 1.20)" "$(awk -v r="$p99_ratio" 'BEGIN {print (r <= 1.2)}')"
check "server CPU ${tug_scpu}us per proxied request (<= 3)" "$(awk -v c="$tug_scpu" 'BEGIN {print (c <= 3)}')"
check "proxy CPU ${tug_pcpu}us per request <= nginx worker's ${ng_cpu}us" "$(awk -v a="$tug_pcpu" -v b="$ng_cpu" 'BEGIN {print (a <= b)}')"
check "rate-limited/unlimited route requests/s ${rl_ratio}x (>= 0.95)" "$(awk -v r="$rl_ratio" 'BEGIN {print (r >= 0.95)}')"
echo "standalone tug proxy/nginx requests/s: ${sa_ratio}x"
if [ "$fail" = 1 ]; then
	echo "FAIL"
	[ "$STRICT" = 1 ] && exit 1
else
	echo "PASS"
fi
exit 0

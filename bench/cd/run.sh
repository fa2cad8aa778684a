#!/usr/bin/env bash
# Continuous delivery benchmark: how soon `tug server` starts what a push
# asks for, and how fast it drains a queue of runs.
#
#   (a) push latency: 20 commits pushed one at a time to a bare repository
#       with the hook `tug hook install` writes; for each, the time from
#       `git push` returning to the pipeline's first job starting (the job
#       stamps the clock first thing). Target: median under 0.5 s. Peer: a
#       plain post-receive hook that starts the same command itself in the
#       background, the least any hook-driven CI can do.
#   (b) drain: 100 runs of a one-job pipeline (`true`) queued through the
#       API at once, with server.max_parallel_runs: 4; runs per second from
#       the first request to the last run ending, and the server's peak RSS
#       (VmHWM). Peer: xargs -P4 doing what each run does by hand (a git
#       worktree of the commit, the command, the worktree removed), without
#       any history, queue or API.
#
# Everything is on loopback and in a temporary directory; the server's
# proxy gets a free port.
#
# Usage: bench/cd/run.sh [PUSHES] [RUNS]   (defaults 20 100)
# Env:   TUG=path/to/tug to use a built binary (default: scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
pushes=${1:-20}
runs=${2:-100}
for tool in git curl jq; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	[ -x "$work/tug" ] && "$work/tug" --state-dir "$work/srv/.tug" down >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${TUG:-}" ]; then cp "$TUG" "$work/tug"; else scripts/build.sh "$work/tug"; fi
tug=$work/tug
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
export TUG_STATE_DIR=

stamps=$work/stamps
mkdir -p "$stamps"
git init -q --bare -b main "$work/origin.git"
git clone -q "$work/origin.git" "$work/srv" 2>/dev/null
cat >"$work/srv/tug.yaml" <<YAML
version: 1
project: bench
server: {max_parallel_runs: 4}
pipelines:
  ci:
    on: [push, manual]
    jobs:
      first: {run: "date +%s%N > $stamps/\$TUG_COMMIT"}
  trivial:
    on: [manual]
    jobs:
      only: {run: "true"}
YAML
printf '.tug/\n' >"$work/srv/.gitignore"
(cd "$work/srv" && git add -A && git commit -qm init && git push -q origin main)
git clone -q "$work/origin.git" "$work/dev"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
(cd "$work/srv" && exec "$tug" server --http "127.0.0.1:$(free_port)" >"$work/server.log" 2>&1) &
server_pid=$!
sock=$work/srv/.tug/api.sock
for _ in $(seq 200); do curl -sf --unix-socket "$sock" http://tug/api/health >/dev/null && break; sleep 0.05; done
(cd "$work/srv" && "$tug" hook install --repo "$work/origin.git" >/dev/null)

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# (a) tug: push, note when it returned, wait for the job's stamp.
lat=()
for ((i = 0; i < pushes; i++)); do
	(cd "$work/dev" && git commit -q --allow-empty -m "push $i")
	sha=$(git -C "$work/dev" rev-parse HEAD)
	git -C "$work/dev" push -q origin main 2>/dev/null
	t=$(date +%s%N)
	for _ in $(seq 400); do [ -s "$stamps/$sha" ] && break; sleep 0.01; done
	[ -s "$stamps/$sha" ] || { echo "bench: no job started for push $i" >&2; cat "$work/server.log" >&2; exit 1; }
	lat+=("$(awk -v a="$t" -v b="$(cat "$stamps/$sha")" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
done

# (a) peer: a plain hook that runs the command itself.
git init -q --bare -b main "$work/peer.git"
cat >"$work/peer.git/hooks/post-receive" <<HOOK
#!/bin/sh
while read old new ref; do (date +%s%N > $stamps/peer-\$new) & done
HOOK
chmod +x "$work/peer.git/hooks/post-receive"
git -C "$work/dev" remote add peer "$work/peer.git"
peer=()
for ((i = 0; i < pushes; i++)); do
	(cd "$work/dev" && git commit -q --allow-empty -m "peer $i")
	sha=$(git -C "$work/dev" rev-parse HEAD)
	git -C "$work/dev" push -q peer main 2>/dev/null
	t=$(date +%s%N)
	for _ in $(seq 400); do [ -s "$stamps/peer-$sha" ] && break; sleep 0.01; done
	peer+=("$(awk -v a="$t" -v b="$(cat "$stamps/peer-$sha")" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
done
printf 'push -> first job started, %d pushes (negative: the job started before git push returned)\n' "$pushes"
printf '  tug server + hook: median %.3f s, max %.3f s\n' "$(printf '%s\n' "${lat[@]}" | median)" "$(printf '%s\n' "${lat[@]}" | sort -n | tail -1)"
printf '  plain hook (peer): median %.3f s, max %.3f s\n' "$(printf '%s\n' "${peer[@]}" | median)" "$(printf '%s\n' "${peer[@]}" | sort -n | tail -1)"

# (b) tug: queue RUNS runs at once, wait for the queue to drain.
last=$(curl -sf --unix-socket "$sock" 'http://tug/api/runs?limit=1' | jq '.[0].id')
t0=$(date +%s%N)
pids=()
for ((i = 0; i < runs; i++)); do
	curl -sf --unix-socket "$sock" -X POST -H 'Content-Type: application/json' -d '{"pipeline":"trivial"}' http://tug/api/runs >/dev/null &
	pids+=($!)
	if ((${#pids[@]} == 16)); then wait "${pids[@]}"; pids=(); fi
done
if ((${#pids[@]} > 0)); then wait "${pids[@]}"; fi
want=$((last + runs))
while :; do
	n=$(curl -sf --unix-socket "$sock" "http://tug/api/runs?limit=$runs&pipeline=trivial" | jq '[.[] | select(.status == "success" or .status == "failed" or .status == "cancelled")] | length')
	[ "$n" -ge "$runs" ] && break
	sleep 0.05
done
t1=$(date +%s%N)
failed=$(curl -sf --unix-socket "$sock" "http://tug/api/runs?limit=$runs&pipeline=trivial" | jq '[.[] | select(.status != "success")] | length')
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")

# (b) peer: the same work by hand, 4 at a time.
head=$(git -C "$work/srv" rev-parse HEAD)
p0=$(date +%s%N)
# git's worktree bookkeeping is not safe to change concurrently: add and
# remove under a lock, as tug does per mirror.
seq "$runs" | xargs -P4 -I{} sh -c "flock '$work/peer.lock' git -C '$work/srv' worktree add -q --detach '$work/wt-{}' $head 2>/dev/null && (cd '$work/wt-{}' && bash -eo pipefail -c true) && flock '$work/peer.lock' git -C '$work/srv' worktree remove --force '$work/wt-{}'"
p1=$(date +%s%N)
printf '%d queued runs of a one-job pipeline, max_parallel_runs 4 (runs %d..%d; %d did not succeed)\n' "$runs" $((last + 1)) "$want" "$failed"
awk -v a="$t0" -v b="$t1" -v n="$runs" 'BEGIN { printf "  tug server: %.2f s, %.1f runs/s\n", (b - a) / 1e9, n / ((b - a) / 1e9) }'
awk -v a="$p0" -v b="$p1" -v n="$runs" 'BEGIN { printf "  xargs -P4 worktree+command (peer): %.2f s, %.1f runs/s\n", (b - a) / 1e9, n / ((b - a) / 1e9) }'
printf '  tug server peak RSS (VmHWM): %.1f MiB\n' "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"

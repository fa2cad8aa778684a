#!/usr/bin/env bash
# Cache benchmark: a 50-job pipeline run cold, then again unchanged.
# Target: the unchanged rerun takes < 5% of the cold run and < 0.2 s.
#
# Usage: bench/cache/run.sh [JOBS] [FILES_PER_JOB]   (from the repository root)
# Env:   TUG=path/to/tug to use a built binary (default: scripts/build.sh,
#        the static binary as shipped); WARM_RUNS (default 3).
set -euo pipefail

jobs=${1:-50}
files=${2:-20}
warm_runs=${WARM_RUNS:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tug=${TUG:-}
if [[ -z $tug ]]; then
	tug=$tmp/tug
	"$root/scripts/build.sh" "$tug"
fi

ws=$tmp/ws
mkdir -p "$ws"
{
	echo "version: 1"
	echo "project: cache-bench"
	echo "pipelines:"
	echo "  ci:"
	echo "    jobs:"
	for ((j = 0; j < jobs; j++)); do
		n=$(printf 'j%02d' "$j")
		echo "      $n:"
		echo "        run: mkdir -p out && cat src/$n/*.txt > out/$n.txt"
		echo "        inputs: [\"src/$n/**\"]"
		echo "        artifacts: [out/$n.txt]"
	done
} >"$ws/tug.yaml"
for ((j = 0; j < jobs; j++)); do
	n=$(printf 'j%02d' "$j")
	mkdir -p "$ws/src/$n"
	for ((f = 0; f < files; f++)); do
		head -c 2048 /dev/urandom | base64 >"$ws/src/$n/f$f.txt"
	done
done

state=$tmp/state
now() { date +%s.%N; }

# run LABEL: runs the pipeline, prints the seconds it took, and checks how
# many jobs the cache answered.
run() {
	local t0 t1 cached
	t0=$(now)
	(cd "$ws" && "$tug" run --file "$ws/tug.yaml" --state-dir "$state" --json ci >"$tmp/$1.json" 2>"$tmp/$1.err") || {
		echo "tug run ($1) failed:" >&2
		cat "$tmp/$1.err" >&2
		exit 1
	}
	t1=$(now)
	cached=$(grep -c '"type":"job_finished".*"status":"cached"' "$tmp/$1.json" || true)
	echo "$t0 $t1 $cached"
}

read -r c0 c1 ccached < <(run cold)
cold=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')
if ((ccached != 0)); then
	echo "cold run answered $ccached jobs from the cache" >&2
	exit 1
fi

best=
for ((i = 1; i <= warm_runs; i++)); do
	read -r w0 w1 wcached < <(run "warm$i")
	warm=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", b - a }')
	if ((wcached != jobs)); then
		echo "unchanged rerun $i: only $wcached of $jobs jobs cached" >&2
		exit 1
	fi
	echo "warm run $i: ${warm}s"
	if [[ -z $best ]] || awk -v a="$warm" -v b="$best" 'BEGIN { exit !(a < b) }'; then
		best=$warm
	fi
done

ratio=$(awk -v w="$best" -v c="$cold" 'BEGIN { printf "%.1f", 100 * w / c }')
echo "jobs: $jobs x $files input files"
echo "cold run:          ${cold}s"
echo "unchanged rerun:   ${best}s (best of $warm_runs)"
echo "rerun / cold:      ${ratio}%"
ok=$(awk -v w="$best" -v r="$ratio" 'BEGIN { print (w < 0.2 && r < 5) ? "yes" : "no" }')
echo "target (< 5% and < 0.2 s): $ok"

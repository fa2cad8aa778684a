#!/usr/bin/env bash
# Pipeline overhead benchmark: tug against a plain bash loop running the
# same trivial commands.
#
#   (a) seq10:  10 jobs running `true`, each needing the previous one
#   (b) seq50:  the same with 50 jobs, to tell the cost per job from the
#       fixed cost of starting tug (which `tug version` also shows)
#   (c) dag200: 200 jobs running `true`, with seeded random needs
#
# tug runs off a terminal (plain output) with its state in a temporary
# directory, warmed once; the peer runs each command with
# `bash -eo pipefail -c` in a loop, in dependency order. Prints the median
# wall time and the peak RSS of REPS runs of each side, and tug's overhead
# over the loop in total and per job.
#
# Usage: bench/pipeline/run.sh [REPS]   (default 5)
# Env:   TUG=path/to/tug to use a built binary (default: scripts/build.sh,
#        the static binary as shipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}

if [ ! -x /usr/bin/time ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null ||
			{ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends time >/dev/null; }
	else
		echo "bench: /usr/bin/time is missing (apt-get install time)" >&2
		exit 1
	fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${TUG:-}" ]; then cp "$TUG" "$work/tug"; else scripts/build.sh "$work/tug"; fi

# gen_seq N: N jobs in a chain.
gen_seq() {
	local n=$1 i
	printf 'version: 1\nproject: bench\npipelines:\n  ci:\n    jobs:\n'
	for ((i = 0; i < n; i++)); do
		printf '      j%03d:\n        run: "true"\n' "$i"
		if ((i > 0)); then printf '        needs: [j%03d]\n' $((i - 1)); fi
	done
}

# gen_dag N SEED: N jobs; job i needs up to 3 random earlier jobs.
gen_dag() {
	local n=$1 i k d needs
	RANDOM=$2
	printf 'version: 1\nproject: bench\npipelines:\n  ci:\n    jobs:\n'
	for ((i = 0; i < n; i++)); do
		printf '      j%03d:\n        run: "true"\n' "$i"
		needs=""
		if ((i > 0)); then
			for ((k = RANDOM % 4; k > 0; k--)); do
				d=$((RANDOM % i))
				case ",$needs," in *",j$(printf %03d "$d"),"*) continue ;; esac
				needs+="${needs:+,}j$(printf %03d "$d")"
			done
		fi
		if [ -n "$needs" ]; then printf '        needs: [%s]\n' "$needs"; fi
	done
}

# loop_script N: the peer, a bash loop running the N commands in order
# (job indexes are already a topological order).
loop_script() {
	printf 'for ((i = 0; i < %d; i++)); do bash -eo pipefail -c true; done\n' "$1"
}

# measure CMD...: runs CMD reps times; prints "median_wall_s max_rss_kib".
# Wall time comes from the shell's clock in ns (/usr/bin/time rounds to
# 10 ms); RSS from /usr/bin/time.
measure() {
	local out="$work/time.txt" walls=() rss=0 r t0 t1
	for ((r = 0; r < reps; r++)); do
		t0=$(date +%s%N)
		/usr/bin/time -o "$out" -f "%M" "$@" >/dev/null 2>&1 || { echo "bench: $* failed" >&2; exit 1; }
		t1=$(date +%s%N)
		read -r m <"$out"
		walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
		((m > rss)) && rss=$m
	done
	printf '%s %s\n' "$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p")" "$rss"
}

overhead=()
declare -A over
printf '%-8s %-6s %10s %12s\n' case side wall_s peak_rss_mib
read -r vw vm < <(measure "$work/tug" version)
printf '%-8s %-6s %10s %12.1f\n' startup tug "$vw" "$(awk -v k="$vm" 'BEGIN{print k/1024}')"
for bench in seq10 seq50 dag200; do
	dir="$work/$bench"
	mkdir -p "$dir"
	case $bench in
	seq10) gen_seq 10 >"$dir/tug.yaml"; n=10 ;;
	seq50) gen_seq 50 >"$dir/tug.yaml"; n=50 ;;
	dag200) gen_dag 200 42 >"$dir/tug.yaml"; n=200 ;;
	esac
	loop_script "$n" >"$dir/loop.sh"
	export TUG_STATE_DIR="$dir/state"
	"$work/tug" run -f "$dir/tug.yaml" >/dev/null # warm: state dir, page cache
	read -r tw tm < <(measure "$work/tug" run -f "$dir/tug.yaml")
	read -r bw bm < <(measure bash "$dir/loop.sh")
	printf '%-8s %-6s %10s %12.1f\n' "$bench" tug "$tw" "$(awk -v k="$tm" 'BEGIN{print k/1024}')"
	printf '%-8s %-6s %10s %12.1f\n' "$bench" bash "$bw" "$(awk -v k="$bm" 'BEGIN{print k/1024}')"
	over[$bench]=$(awk -v t="$tw" -v b="$bw" 'BEGIN { printf "%.4f", t - b }')
	overhead+=("$(awk -v t="$tw" -v b="$bw" -v n="$n" -v c="$bench" 'BEGIN { printf "%s: tug - bash = %.1f ms, %.2f ms per job", c, (t - b) * 1000, (t - b) * 1000 / n }')")
done
printf 'overhead over the bash loop (medians):\n'
printf '  %s\n' "${overhead[@]}"
# Overhead = fixed + n * per job, from the two chains.
awk -v a="${over[seq10]}" -v b="${over[seq50]}" -v v="$vw" 'BEGIN {
	per = (b - a) / 40; fixed = a - 10 * per
	printf "  split: %.2f ms per job + %.1f ms fixed (tug version alone: %.1f ms)\n", per * 1000, fixed * 1000, v * 1000
}'

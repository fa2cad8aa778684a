#!/usr/bin/env bash
# Benchmarks `tug scan` (secrets and Go dependencies) over tug's own
# repository against the gitleaks and govulncheck command-line tools,
# built from the Go module proxy, in the same run and on the same offline
# vulnerability database: findings, wall time and peak RSS side by side.
# Target: tug no slower than gitleaks and govulncheck together.
#
# On a shared machine wall time swings with the load: the table also
# shows CPU seconds (user+system), and RUNS=N (default 1, at most 9)
# repeats the three tools in turn and keeps each one's median run.
#
# Usage: [RUNS=N] bench/scan/run.sh [REPO]   (default: this repository)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(realpath "${1:-.}")
GITLEAKS=github.com/zricethezav/gitleaks/v8@v8.30.1
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.10.0
VULNDB=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
RUNS=${RUNS:-1}
[[ $RUNS =~ ^[1-9]$ ]] || { echo "RUNS must be 1 to 9" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

echo "building tug, gitleaks and govulncheck..." >&2
scripts/build.sh "$work/tug" >&2
GOBIN="$work/bin" go install "$GITLEAKS" >&2
GOBIN="$work/bin" go install "$GOVULNCHECK" >&2
"$work/tug" scan --update-db --db-version "$VULNDB" --db "$work/db" >&2

# Scan a snapshot of the repository's HEAD (not a working tree that may
# change while the tools run); its module cache is the user's.
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
	mkdir "$work/repo"
	git -C "$repo" archive HEAD | tar -x -C "$work/repo"
	repo=$work/repo
fi

# measure NAME CMD...: runs CMD once, appending wall seconds, peak RSS
# and CPU seconds to NAME.time.
measure() {
	local name=$1
	shift
	/usr/bin/time -a -f "%e %M %U %S" -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" || true
}
cd "$repo"
for ((i = 1; i <= RUNS; i++)); do
	[[ $RUNS == 1 ]] || echo "run $i of $RUNS..." >&2
	measure gitleaks "$work/bin/gitleaks" dir . --no-banner --exit-code 0 --report-format json --report-path "$work/gitleaks.json"
	measure govulncheck "$work/bin/govulncheck" -db "file://$work/db/go" -format json ./...
	measure tug "$work/tug" scan --only secrets,deps --db "$work/db" --json "$repo"
done

# Findings compared as sets: secrets by rule, file and line; Go
# vulnerabilities by advisory and whether the code reaches them.
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
gl = {(f["RuleID"], f["File"].lstrip("./"), f["StartLine"]) for f in json.load(open(f"{w}/gitleaks.json"))}
dec, txt, pos = json.JSONDecoder(), open(f"{w}/govulncheck.out").read(), 0
reach = {}
while pos < len(txt):
    while pos < len(txt) and txt[pos].isspace():
        pos += 1
    if pos >= len(txt):
        break
    m, pos = dec.raw_decode(txt, pos)
    f = m.get("finding")
    if f:
        reach[f["osv"]] = reach.get(f["osv"], False) or bool(f["trace"][0].get("function"))
gv = set(reach.items())
tug = json.load(open(f"{w}/tug.out"))["findings"]
ts = {(f["rule"], f["path"], f["line"]) for f in tug if f["kind"] == "secret"}
tv = {(f["rule"], f.get("reachable", False)) for f in tug if f["kind"] == "vulnerability"}
def t(name):
    # The median run by wall time (the time file may hold other lines
    # when a tool printed to it: only the 4-number ones are runs).
    runs = []
    for line in open(f"{w}/{name}.time"):
        f = line.split()
        if len(f) == 4:
            runs.append((float(f[0]), int(f[1]) / 1024, float(f[2]) + float(f[3])))
    runs.sort()
    return runs[len(runs) // 2]
rows = [("gitleaks", *t("gitleaks")), ("govulncheck", *t("govulncheck")), ("tug scan", *t("tug"))]
print(f"{'tool':<12} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}")
for n, s, m, c in rows:
    print(f"{n:<12} {s:>8.2f} {c:>8.2f} {m:>13.1f}")
print(f"{'sum of two':<12} {rows[0][1]+rows[1][1]:>8.2f} {rows[0][3]+rows[1][3]:>8.2f}")
print(f"secrets: gitleaks {len(gl)}, tug {len(ts)}, same: {gl == ts}")
print(f"go vulns: govulncheck {len(gv)} ({sum(r for _, r in gv)} reachable), tug {len(tv)}, same: {gv == tv}")
if gl != ts:
    print("  only gitleaks:", sorted(gl - ts)[:10], "\n  only tug:", sorted(ts - gl)[:10])
if gv != tv:
    print("  only govulncheck:", sorted(gv - tv)[:10], "\n  only tug:", sorted(tv - gv)[:10])
PY

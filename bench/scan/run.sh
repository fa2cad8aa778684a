#!/usr/bin/env bash
# Benchmarks `tug scan` (secrets and Go dependencies) over tug's own
# repository against the gitleaks and govulncheck command-line tools,
# built from the Go module proxy, in the same run and on the same offline
# vulnerability database: findings, wall time and peak RSS side by side.
# Target: tug no slower than gitleaks and govulncheck together.
#
# Usage: bench/scan/run.sh [REPO]   (default: this repository)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(realpath "${1:-.}")
GITLEAKS=github.com/zricethezav/gitleaks/v8@v8.30.1
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.10.0
VULNDB=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}

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

# measure NAME CMD...: runs CMD once, recording wall seconds and peak RSS.
measure() {
	local name=$1
	shift
	/usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" || true
}
cd "$repo"
measure gitleaks "$work/bin/gitleaks" dir . --no-banner --exit-code 0 --report-format json --report-path "$work/gitleaks.json"
measure govulncheck "$work/bin/govulncheck" -db "file://$work/db/go" -format json ./...
measure tug "$work/tug" scan --only secrets,deps --db "$work/db" --json "$repo"

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
    s, kb = open(f"{w}/{name}.time").read().split()
    return float(s), int(kb) / 1024
rows = [("gitleaks", *t("gitleaks")), ("govulncheck", *t("govulncheck")), ("tug scan", *t("tug"))]
print(f"{'tool':<12} {'wall s':>8} {'peak RSS MiB':>13}")
for n, s, m in rows:
    print(f"{n:<12} {s:>8.2f} {m:>13.1f}")
print(f"{'sum of two':<12} {rows[0][1]+rows[1][1]:>8.2f}")
print(f"secrets: gitleaks {len(gl)}, tug {len(ts)}, same: {gl == ts}")
print(f"go vulns: govulncheck {len(gv)} ({sum(r for _, r in gv)} reachable), tug {len(tv)}, same: {gv == tv}")
if gl != ts:
    print("  only gitleaks:", sorted(gl - ts)[:10], "\n  only tug:", sorted(ts - gl)[:10])
if gv != tv:
    print("  only govulncheck:", sorted(gv - tv)[:10], "\n  only tug:", sorted(tv - gv)[:10])
PY

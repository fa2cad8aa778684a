#!/usr/bin/env bash
# Runs tug's whole test suite: vet, then every package's tests with the
# race detector, and prints the ten slowest packages at the end. Installs
# the system tools the tests use when they are missing and this runs as
# root (CI); otherwise it only checks for them.
set -euo pipefail
cd "$(dirname "$0")/.."

# installed PACKAGE: is the Debian package there (or, without dpkg, its command)?
installed() {
	if command -v dpkg-query >/dev/null 2>&1; then
		dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
	else
		command -v "$2" >/dev/null 2>&1
	fi
}
need=()
installed busybox-static busybox || need+=(busybox-static)
installed python3-pytest pytest || need+=(python3-pytest)
installed git git || need+=(git)
installed bash bash || need+=(bash)
# Real peers of the monitoring tests: Prometheus scrapes tug, Alertmanager
# takes its alerts.
installed prometheus prometheus || need+=(prometheus)
installed prometheus-alertmanager prometheus-alertmanager || need+=(prometheus-alertmanager)
# Real peers of the backup tests: restic is the repository engine, and
# PostgreSQL 15's server and client programs make the databases backed up
# and the scratch clusters restore tests use.
installed restic restic || need+=(restic)
installed postgresql-15 initdb || need+=(postgresql-15)
# The dashboard's browser test drives headless Chromium.
installed chromium chromium || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing: ${need[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	else
		echo "warning: missing ${need[*]}; some tests may be skipped or fail" >&2
	fi
fi

go vet ./...

# The ten slowest packages, from go test's "ok  PKG  12.3s" lines, so a
# package that slows the suite down is seen when it happens.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$SECONDS
status=0
go test -race -count=1 -timeout 25m ./... 2>&1 | tee "$out" || status=$?
echo
echo "slowest packages:"
awk '($1 == "ok" || $1 == "FAIL") && $3 ~ /^[0-9.]+s$/ { sub(/s$/, "", $3); printf "%8.1fs  %s\n", $3, $2 }' "$out" | sort -rn | head -10
echo "whole suite: $((SECONDS - start))s"
exit "$status"

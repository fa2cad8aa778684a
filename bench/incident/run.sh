#!/usr/bin/env bash
# Incident benchmark: time to detect (MTTD: fault injected → incident
# opened) and time to recover (MTTR: fault injected → every request
# through the proxy succeeds again, by automatic rollback), over 5
# repetitions, as users run tug: `tug server` with its proxy, canary
# services under a steady loopback load, an alert on the 5xx share and a
# rollback remediation. Prometheus, given the same rule over the same
# metrics at the same intervals, is the peer for detection.
#
# Targets: MTTD <= the alert's for + 2 evaluation intervals + 5s;
# MTTR < 60s.
#
# Usage: bench/incident/run.sh   (env: REPS=5)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/build.sh "$work/tug" >&2
CGO_ENABLED=0 go build -o "$work/app" ./e2e/testdata/app
go build -o "$work/driver" ./bench/incident/driver
prom=prometheus
command -v prometheus >/dev/null 2>&1 || { echo "prometheus not installed: no peer (apt-get install prometheus)" >&2; prom=""; }
"$work/driver" -tug "$work/tug" -app "$work/app" -reps "${REPS:-5}" -prometheus "$prom"

#!/usr/bin/env bash
# The dashboard's budgets: 50 services and a day of their metrics (request
# counters, a latency histogram, each instance's CPU, memory and
# restarts, every 15 s) written into the TSDB, 50 pipeline runs, then
# each page drawn 20 times in-process (the dashboard calling the API in
# this process, as the server serves it). Prints each page's median and
# worst server render time and its weight with the stylesheet and the
# script. Budgets: median under 100 ms, page + assets under 150 KB.
#
# Usage: bench/web/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench BenchmarkPages -benchtime 1x ./bench/web/ | grep -v -E '^(goos|goarch|pkg|cpu|PASS|ok|BenchmarkPages)'

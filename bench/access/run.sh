#!/usr/bin/env bash
# What an API token costs: requests with a valid token beside requests
# with wrong ones (a real token's ID with a wrong secret, an unknown
# token, garbage, none), interleaved, over loopback HTTP to the API as its
# TCP listener serves it, every refusal written to the audit log. Prints
# each kind's p50, p99 and max latency in µs; a wrong token should cost
# what a valid one does, within noise (no timing to learn from, nothing
# for a flood to slow down).
#
# Usage: bench/access/run.sh [ROUNDS]   (default 10000 rounds of each kind)
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench BenchmarkTokens -benchtime "${1:-10000}x" ./bench/access/ |
	tr '\t' '\n' | grep -E 'µs|ns/op|Benchmark'

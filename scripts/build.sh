#!/usr/bin/env bash
# Builds tug as it ships: one static binary (tug needs no C library; its
# SQLite is pure Go), with trimmed paths and no symbol table. Version and
# commit come from the build information Go embeds.
#
# Usage: scripts/build.sh [OUT]   (default ./tug)
set -euo pipefail
out=$(realpath -m "${1:-tug}")
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -buildvcs=auto -trimpath -ldflags='-s -w' -o "$out" ./cmd/tug

#!/usr/bin/env bash
# make bench: optimised build, then bench/run.mjs (tenantd, nginx and wrk on loopback ports
# picked at run time). BENCH_QUICK=1 runs each benchmark for a moment only.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" -- --no-print-directory >/dev/null
TENANTD_BUILD_DIR="$BUILD" exec node bench/run.mjs

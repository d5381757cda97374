#!/usr/bin/env bash
# make bench: optimised build, then bench/run.mjs (tenantd, nginx and wrk on loopback ports
# picked at run time). BENCH_QUICK=1 runs each benchmark for a moment only.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc)" -- --no-print-directory >/dev/null
# The table service's baseline: the same daemon with authorization switched off.
NOAUTHZ=${BUILD}-bench-noauthz
cmake -S . -B "$NOAUTHZ" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTD_BENCH_NO_AUTHZ=ON >/dev/null
cmake --build "$NOAUTHZ" -j "$(nproc)" --target tenantd -- --no-print-directory >/dev/null
TENANTD_BUILD_DIR="$BUILD" TENANTD_NOAUTHZ_BIN="$PWD/$NOAUTHZ/tenantd" exec node bench/run.mjs

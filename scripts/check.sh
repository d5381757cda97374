#!/usr/bin/env bash
# The whole test suite: formatting, unit tests and fuzz corpora in the normal and the
# sanitizer build, then the integration tests (real daemon, real AWS SDK, real runtimes)
# against the sanitizer build of the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ASAN_BUILD=${2:-build-asan}
JOBS=$(nproc)

step() { printf '\n=== %s\n' "$*"; }

step "format (clang-format --dry-run)"
unformatted=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror 2>&1 | grep -c 'error:' || true)
if [ "$unformatted" != "0" ]; then
  git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror 2>&1 | head -20
  echo "check: code is not clang-formatted (run: make format)"; exit 1
fi

step "unit tests, fuzz corpora, runtime client ($BUILD)"
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS")

step "unit tests and fuzz corpora under ASan+UBSan ($ASAN_BUILD)"
(cd "$ASAN_BUILD" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$JOBS" -LE runtime)

step "integration tests (daemon: $ASAN_BUILD/tenantd)"
export TENANTD_BIN="$PWD/$ASAN_BUILD/tenantd"
export TENANTD_BUILD_DIR="$PWD/$BUILD"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
node --test --test-concurrency=2 tests/integration/
step "benchmark smoke test (BENCH_QUICK=1: it runs and produces numbers; no timing asserted)"
BENCH_QUICK=1 TENANTD_BUILD_DIR="$BUILD" node bench/run.mjs >/tmp/tenantd-bench-quick.log 2>&1 || {
  tail -40 /tmp/tenantd-bench-quick.log; echo "check: the benchmark harness failed"; exit 1; }
node bench/check-results.mjs

echo
echo "check: all tests passed"

# tenantd: every target installs what it needs first (scripts/deps.sh, idempotent).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan demo check bench fuzz format clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTD_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) -- --no-print-directory

demo: build
	@scripts/demo.sh $(BUILD)

check: build build-asan
	@scripts/check.sh $(BUILD) $(ASAN_BUILD)

bench: deps
	@scripts/bench.sh

FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTD_FUZZ=ON -DTD_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@for f in build-fuzz/fuzz/fuzz_*; do \
	  n=$${f##*/fuzz_}; mkdir -p /tmp/tenantd-fuzz-$$n; \
	  echo "fuzz: $$n ($(FUZZ_SECONDS) s)"; \
	  $$f /tmp/tenantd-fuzz-$$n fuzz/corpus/$$n -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=/tmp/tenantd-fuzz-$$n- 2>&1 | grep -E '^Done|ERROR|SUMMARY' || exit 1; \
	done

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz

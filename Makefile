# Makefile - thin wrappers around scripts/ and meson; the real build is meson + ninja.
BUILD ?= build
BUILD_ASAN ?= build-asan

.PHONY: all build demo check check-fast unit conformance bench bench-raid clean deps

all: build

deps:
	@scripts/install-deps

build: deps
	@scripts/build $(BUILD)

demo: build
	@$(BUILD)/src/cli/softhba demo $(DEMO_ARGS)

# The whole suite, twice: normal build and AddressSanitizer + UBSan build.
check: deps
	@scripts/check

# Normal build only (quicker while developing).
check-fast: deps
	@scripts/check --no-asan

unit: build
	@meson test -C $(BUILD) --print-errorlogs

conformance: build
	@tests/conformance/run-suite --softhba $(BUILD)/src/cli/softhba

bench: build
	@bench/iscsi --softhba $(BUILD)/src/cli/softhba

bench-raid: build
	@bench/raid --softhba $(BUILD)/src/cli/softhba

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

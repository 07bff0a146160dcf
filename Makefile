# Strata — set-up, build, demo, tests. Everything a fresh Debian 12 machine needs is installed here.
SWIFT        ?= swift
CONFIG       ?= debug
DEMO_ROOT    ?= /tmp/strata-demo
# Build and link: C codecs and SQLite. Tests and demo: the peers Strata interoperates with
# (podman, containerd's ctr and docker pull from and push to `strata registry serve`).
APT_PACKAGES := libisal-dev libzstd-dev libsqlite3-dev pkg-config \
                busybox-static skopeo umoci runc docker-registry zstd tar \
                python3 openssl apache2-utils debootstrap \
                podman containerd docker.io tmux \
                containernetworking-plugins iproute2 iptables chromium curl \
                ceph-mon ceph-osd radosgw ceph-common postgresql nginx

# Benchmarks: the peers Strata is measured against, and what builds the workloads.
BENCH_PACKAGES := docker.io podman buildah skopeo umoci runc debootstrap isal e2fsprogs python3 nginx wrk apache2-utils curl

.PHONY: deps bench-deps build run test bench fuzz crash-test stress-test test-sanitize clean

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# A release binary carries the Swift runtime and Foundation inside it: without 24 shared objects
# to load and bind, every command starts in 16 ms instead of 25. Only the product: the test
# support library imports Swift Testing, which a release build does not provide.
RELEASE_FLAGS := --static-swift-stdlib --product strata
BUILD_FLAGS   := $(if $(filter release,$(CONFIG)),$(RELEASE_FLAGS))

build: deps
	$(SWIFT) build -c $(CONFIG) $(BUILD_FLAGS)

run: build
	STRATA=$$($(SWIFT) build -c $(CONFIG) $(BUILD_FLAGS) --show-bin-path)/strata DEMO_ROOT=$(DEMO_ROOT) scripts/demo.sh

test: deps
	$(SWIFT) build --build-tests
	# Dozens of in-process registries share NIO's blocking pool in the test process: one thread
	# per core (the default) would queue their fsyncs and transactions behind each other.
	NIO_SINGLETON_BLOCKING_POOL_THREAD_COUNT=16 $(SWIFT) test --skip-build
	python3 scripts/crash-test.py --strata $$($(SWIFT) build --show-bin-path)/strata --rounds $(or $(CRASH_ROUNDS),100)
	python3 scripts/stress-test.py --strata $$($(SWIFT) build --show-bin-path)/strata --seconds $(or $(STRESS_SECONDS),45)
	SWIFT="$(SWIFT)" FUZZ_SECONDS=$(or $(FUZZ_SECONDS),10) scripts/fuzz.sh

# Every fuzz target under libFuzzer with AddressSanitizer, SECONDS each (default 60), from the
# committed seeds; the working corpus and crashes go to FUZZ_DIR, outside the repository.
fuzz: deps
	SWIFT="$(SWIFT)" FUZZ_SECONDS=$(or $(SECONDS),60) scripts/fuzz.sh

# SIGKILL at random instants of pull, push, build, commit, load, rmi, prune and of the registry
# server's uploads and GC; after each, `system check` must be clean and the retry must succeed.
crash-test: build
	python3 scripts/crash-test.py --strata $$($(SWIFT) build -c $(CONFIG) --show-bin-path)/strata --rounds $(or $(ROUNDS),300)

# Eight processes pull, build, run, rmi and prune against one store for SECONDS (default 300);
# then `system check` must be clean and every image still listed must run.
stress-test: build
	python3 scripts/stress-test.py --strata $$($(SWIFT) build -c $(CONFIG) --show-bin-path)/strata --seconds $(or $(SECONDS),300)

# The transfer pipeline (AsyncBytePipe, PipelinedReader) and the runtime's tests under ThreadSanitizer, then
# AddressSanitizer, each in a build directory of its own.
SANITIZED_TESTS := TransferTests|RuntimeTests|PipelinedReaderTests
test-sanitize: deps
	$(SWIFT) build --build-tests --build-path .build/tsan -Xswiftc -sanitize=thread
	$(SWIFT) test --skip-build --build-path .build/tsan --filter '$(SANITIZED_TESTS)'
	$(SWIFT) build --build-tests --build-path .build/asan -Xswiftc -sanitize=address
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/Support/lsan.supp $(SWIFT) test --skip-build --build-path .build/asan --filter '$(SANITIZED_TESTS)'

bench-deps:
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(APT_PACKAGES) $(BENCH_PACKAGES)"

bench: bench-deps
	$(SWIFT) build -c release $(RELEASE_FLAGS)
	python3 bench/bench.py $(if $(QUICK),--quick) --strata $$($(SWIFT) build -c release $(RELEASE_FLAGS) --show-bin-path)/strata

clean:
	rm -rf .build $(DEMO_ROOT)

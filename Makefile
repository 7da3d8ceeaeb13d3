# msgpush: the two commands are `make run` and `make test`; both install what
# is missing on a Debian/Ubuntu machine first (apt, npm), then build in release.

SHELL := /bin/bash
CARGO ?= cargo
PROFILE_DIR := target/release
DAEMON := $(PROFILE_DIR)/msgpushd

# Debian packages. Building: the extension (php-dev: headers and php-config;
# libclang-dev: bindgen; php-cli), plus node and npm (installed when missing)
# for the socket.io client the daemon embeds. The tests add php-fpm, php-curl,
# the browser test's chromium, a CJK font for its screenshots and nginx,
# systemd for systemd-analyze, redis-server for the cluster tests (each
# starts its own on a free port), and for the packages' tests dpkg-dev (the
# packages' Depends), debootstrap (the root they are installed into) and
# autoconf (phpize); the benchmarks add php-curl and redis-server, the heap
# profile heaptrack. `make deb` adds dpkg-dev.
BUILD_PACKAGES := php-dev php-cli libclang-dev
TEST_PACKAGES := php-fpm php-curl chromium fonts-wqy-zenhei nginx-light systemd redis-server dpkg-dev debootstrap autoconf
BENCH_PACKAGES := php-curl redis-server php-fpm nginx-light
DEB_PACKAGES := dpkg-dev
# What system-packages installs; `make test` and `make bench` ask for more.
PACKAGES = $(BUILD_PACKAGES)
test: PACKAGES = $(BUILD_PACKAGES) $(TEST_PACKAGES)
bench: PACKAGES = $(BUILD_PACKAGES) $(BENCH_PACKAGES)
heap-profile: PACKAGES = $(BUILD_PACKAGES) heaptrack
deb: PACKAGES = $(BUILD_PACKAGES) $(DEB_PACKAGES)

# Where `make run` puts the socket and the token secret: the daemon's default
# paths when run as root, paths in the build directory otherwise.
ifeq ($(shell id -u),0)
RUN_SOCKET ?= /run/msgpush/msgpushd.sock
RUN_SECRET ?= /var/lib/msgpush/token-secret
else
RUN_SOCKET ?= $(CURDIR)/target/msgpushd.sock
RUN_SECRET ?= $(CURDIR)/target/token-secret
endif
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all run check fuzz test bench heap-profile build deps system-packages node-modules install uninstall deb dist clean

all: build

# The demo page mints a login token for any uid, so whoever reaches it can
# read any user's messages: it listens on loopback unless RUN_LISTEN says
# otherwise (`make run RUN_LISTEN=0.0.0.0:2120` opens it to the network).
RUN_LISTEN ?= 127.0.0.1:2120

run: build
	@echo "msgpushd: demo page on http://$(RUN_LISTEN)/ (HTTP push API on 127.0.0.1:2121, socket $(RUN_SOCKET))"
	$(DAEMON) --demo --listen $(RUN_LISTEN) --socket $(RUN_SOCKET) --token-secret-file $(RUN_SECRET)

# Formatting, lints (warnings are errors) and the unit tests: quick, no
# daemon started. The release profile, so that nothing is built twice.
check: build
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	set -o pipefail; $(CARGO) test --release --workspace --lib --bins 2>&1 | tee target/check.log
	set -o pipefail; $(foreach crate,$(VENDORED),$(call vendored_test,$(crate)) 2>&1 | tee -a target/check.log &&) true

# The copies in vendor/ whose own tests `make check` runs (vendor/README.md),
# each against the others it depends on.
VENDORED := engineioxide-core socketioxide-parser-common engineioxide
vendored_flags_engineioxide := --config 'patch.crates-io.engineioxide-core.path="vendor/engineioxide-core"'
vendored_test = $(CARGO) test --release --locked --manifest-path vendor/$(1)/Cargo.toml --target-dir target \
  --all-features $(vendored_flags_$(1))

# The property tests (every parser that reads outside input, under generated
# input) with FUZZ_CASES cases each instead of proptest's 256: minutes. An
# input that fails is shrunk and kept in the crate's proptest-regressions/,
# and tried first by every later run: commit it with the fix.
FUZZ_CASES ?= 1000000
fuzz: build
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release --workspace --lib properties
	$(foreach crate,$(VENDORED),PROPTEST_CASES=$(FUZZ_CASES) $(call vendored_test,$(crate)) properties &&) true

# `check`, then every end-to-end test; --no-fail-fast so that one failing
# test binary does not hide the others. The last line sums up both.
test: check
	rm -f target/test-skips.log
	set -o pipefail; $(CARGO) test --release --workspace --no-fail-fast --test '*' 2>&1 | tee target/test.log
	@cat target/check.log target/test.log | \
	  awk '/^test result:/ { passed += $$4; failed += $$6 } END { printf "%d passed, %d failed", passed, failed }'
	@if [ -s target/test-skips.log ]; then \
	  printf ', %d skipped on this machine:\n' "$$(wc -l < target/test-skips.log)"; sed 's/^/  /' target/test-skips.log; \
	else echo; fi

# Release benchmarks against a fresh msgpushd; writes docs/BENCHMARKS.md.
bench: build
	$(PROFILE_DIR)/msgpush-bench --report docs/BENCHMARKS.md

# Where each connection's memory goes, for the git revisions in REVS (default:
# the working tree); writes docs/memory-per-connection.md, which the next
# `make bench` includes. For example: make heap-profile REVS="a822d57 HEAD".
heap-profile: build
	bench/heap-profile.sh $(REVS)

build: deps
	$(CARGO) build --release --workspace

deps: system-packages node-modules

# Installs only the packages that are missing; `apt-get update` runs once, first.
system-packages:
	@wanted="$(PACKAGES)"; \
	command -v node >/dev/null && command -v npm >/dev/null || wanted="$$wanted nodejs npm"; \
	missing=""; \
	for p in $$wanted; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The socket.io client that msgpushd serves, and the test clients (package-lock.json).
node-modules: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The extension (enabled for every PHP SAPI), msgpushd and its systemd unit.
install: build
	$(SUDO) bash deploy/install.sh install $(PROFILE_DIR)

uninstall:
	$(SUDO) bash deploy/install.sh uninstall

# Debian packages of msgpushd and of the extension (for this PHP), in target/debian/.
deb: build
	bash deploy/deb.sh $(PROFILE_DIR) target/debian

# Prebuilt archives (named as PIE names them) and checksums, in target/dist/.
dist: build
	bash deploy/dist.sh $(PROFILE_DIR) target/dist

clean:
	$(CARGO) clean
	rm -rf node_modules

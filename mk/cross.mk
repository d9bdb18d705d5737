# Cross builds: fully static musl binaries for every AREDN CPU (docs/PACKAGING.md).
#   make cross                      all five: build/cross/<ARCH>/meshchat
#   make cross ARCH=mips_24kc       one (or several: ARCH="x86_64 mips_24kc")
#   make cross-repro                build again in another folder and compare the bytes
# The pinned tools (Rust nightly + rust-src, zig, cargo-zigbuild) install into tools/ on
# first use: see scripts/cross/pins.

CROSS_ARCHS := $(shell awk '!/^\#/ && NF { print $$1 }' scripts/cross/targets)
# ARCH only from the command line: an ARCH in the environment (some build systems set
# one) must not narrow or break `make test`.
ifneq ($(origin ARCH),command line)
ARCH := $(CROSS_ARCHS)
endif

TEST_TARGETS += test-cross

.PHONY: cross cross-serve cross-tools cross-repro cross-sizes test-cross

cross-tools: deps-rust
	@scripts/cross/tools.sh

cross: cross-tools
	scripts/cross/build.sh $(ARCH)

# The same with the web UI embedded, for `serve` (the .deb packages):
# build/cross-serve/<ARCH>/meshchat.
cross-serve: cross-tools
	CROSS_SERVE=1 scripts/cross/build.sh $(ARCH)

# Every binary under qemu-user-static: --version, CGI round trip, sync --once over loopback;
# the size budgets; the x86_64 serve build's embedded UI.
test-cross: deps cross
	$(MAKE) --no-print-directory cross-serve ARCH=x86_64
	python3 tests/packages/cross_test.py $(ARCH)

cross-repro: cross
	scripts/cross/repro.sh $(ARCH)

# What each crate costs in the mips_24kc binary (unstripped build in target-bloat/).
cross-sizes: cross-tools
	python3 scripts/cross/sizes.py $(if $(filter 1,$(words $(ARCH))),$(ARCH),mips_24kc)

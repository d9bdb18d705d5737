# Node packages (docs/PACKAGING.md).
#   make package                  .ipk + .apk for all five: dist/<ARCH>/, dist/SHA256SUMS
#   make package ARCH=mips_24kc   one architecture
# The binaries come from `make cross`; the web UI from www/ (www/icon.svg is required).

TEST_TARGETS += test-package-meta test-package test-feed

.PHONY: package test-package package-repro test-package-meta

# File modes of the node packages and the feed, and the mesh-firewall hook run as AREDN's
# firewall runs it, without cross-built binaries (seconds).
test-package-meta:
	python3 tests/packages/meta_test.py
	python3 tests/packages/firewall_test.py

package: cross
	tools/venv/bin/python scripts/package/build.py $(ARCH)

# Opens every package with standard tools, checks fields, modes, sizes; installs the
# x86_64 ones into a throw-away root with the maintainer scripts; then builds them again
# into another folder and compares the bytes.
test-package: deps package
	python3 tests/packages/package_test.py $(ARCH)
	$(MAKE) --no-print-directory package-repro

package-repro:
	@rm -rf build/dist-repro
	@MESHCHAT_DIST=$(CURDIR)/build/dist-repro tools/venv/bin/python scripts/package/build.py $(ARCH) >/dev/null
	@cd dist && for f in $$(cd ../build/dist-repro && find . -type f | sort); do \
		cmp -s "$$f" "../build/dist-repro/$$f" || { echo "package-repro: $$f differs" >&2; exit 1; }; \
	done
	@echo "package-repro: a second build of the packages gives the same bytes"

# Debian / Raspberry Pi packages (amd64, arm64, armhf) from the same static binaries.
#   make deb      dist/deb/meshchat_<version>_<arch>.deb, dist/deb/SHA256SUMS
DEB_ARCHS := x86_64 aarch64_cortex-a53 arm_cortex-a7_neon-vfpv4
TEST_TARGETS += test-deb

.PHONY: deb test-deb test-feed

deb:
	$(MAKE) --no-print-directory cross-serve ARCH="$(filter $(DEB_ARCHS),$(ARCH))"
	python3 scripts/package/deb.py $(filter $(DEB_ARCHS),$(ARCH))

# dpkg-deb --info/--contents, then dpkg --root installs into a throw-away root.
test-deb: deps deb
	python3 tests/packages/deb_test.py $(filter $(DEB_ARCHS),$(ARCH))
	@rm -rf build/dist-repro/deb
	@MESHCHAT_DIST=$(CURDIR)/build/dist-repro python3 scripts/package/deb.py $(filter $(DEB_ARCHS),$(ARCH)) >/dev/null
	@cd dist/deb && for f in $$(cd ../../build/dist-repro/deb && ls); do \
		cmp -s "$$f" "../../build/dist-repro/deb/$$f" || { echo "deb-repro: $$f differs" >&2; exit 1; }; \
	done
	@echo "deb-repro: a second build of the .deb files gives the same bytes"

# openwrt-feed/net/meshchat/Makefile loaded by GNU make in a stand-in buildroot.
test-feed: deps
	$(MAKE) --no-print-directory cross ARCH=x86_64
	python3 tests/packages/feed_test.py
